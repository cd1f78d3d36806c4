"""Inline SVG bar charts for the /hss pages: no JavaScript, nothing loaded from anywhere.

The geometry is computed here; templates/chart.svg draws it, escaping every label."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from hss_airflow.web.templating import render_markup

ROW = 26  # px per bar
LABEL_W = 300  # px for the labels
BAR_W = 460  # px for the bars (a signed chart splits it at zero)
VALUE_W = 80
POSITIVE, NEGATIVE, MUTED, ACCENT = "#2e7d32", "#c62828", "#b0bec5", "#1565c0"


def _chart(title: str, rows: list[dict[str, Any]], *, under: Any = None, over: Any = None) -> Markup:
    """`under`: a line drawn before the bars (the zero axis); `over`: one drawn on top (a marker)."""
    return render_markup(
        "chart.svg",
        title=title,
        width=LABEL_W + BAR_W + VALUE_W,
        height=max(len(rows), 1) * ROW + 34,
        rows=rows,
        under=under,
        over=over,
        label_x=LABEL_W - 8,
        value_x=LABEL_W + BAR_W + 6,
    )


def _row(i: int, label: str, x: float, width: float, color: str, value: str) -> dict[str, Any]:
    y = 26 + i * ROW
    return {
        "label": label,
        "shown": label if len(label) <= 42 else label[:40] + "…",
        "text_y": y + 17,
        "bar": {"x": f"{x:.1f}", "y": y + 4, "width": f"{max(width, 1):.1f}", "height": ROW - 8, "fill": color},
        "value": value,
    }


def signed_bars(title: str, items: list[tuple[str, float]], unit: str = "") -> Markup:
    """Contributions around zero: green to the right, red to the left, scaled to the largest magnitude."""
    if not items:
        return _chart(title, [])
    scale = max(abs(v) for _, v in items) or 1.0
    half = BAR_W / 2
    zero = LABEL_W + half
    rows = []
    for i, (name, value) in enumerate(items):
        length = abs(value) / scale * (half - 4)
        x = zero if value >= 0 else zero - length
        rows.append(_row(i, name, x, length, POSITIVE if value >= 0 else NEGATIVE, f"{value:+.3f}{unit}"))
    return _chart(title, rows, under={"x": zero, "y1": 26, "y2": 26 + len(items) * ROW, "stroke": "#555"})


def bars(
    title: str,
    items: list[tuple[str, float]],
    *,
    low: float = 0.0,
    high: float = 1.0,
    muted: set[str] | None = None,
    marker: tuple[str, float] | None = None,
) -> Markup:
    """Values on a fixed axis [low, high] (AUCs on 0..1); `muted` labels grey, `marker` a dashed line."""
    if not items:
        return _chart(title, [])
    span = (high - low) or 1.0

    def x_of(value: float) -> float:
        return LABEL_W + max(0.0, min(1.0, (value - low) / span)) * BAR_W

    rows = [
        _row(i, name, LABEL_W, x_of(value) - LABEL_W, MUTED if muted and name in muted else ACCENT, f"{value:.3f}")
        for i, (name, value) in enumerate(items)
    ]
    over = None
    if marker is not None:
        label, value = marker
        x = x_of(value)
        over = {"x": f"{x:.1f}", "y1": 24, "y2": 26 + len(items) * ROW, "stroke": NEGATIVE, "dash": "4 3"}
        over |= {"label": label, "label_x": f"{x + 4:.1f}"}
    return _chart(title, rows, over=over)
