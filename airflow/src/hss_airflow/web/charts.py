"""Inline SVG charts for the /hss pages: no JavaScript, nothing loaded from anywhere.

Bar charts (templates/chart.svg) for the results, line charts over time (templates/lines.svg) for the
Operations page. The geometry is computed here; the templates draw it, escaping every label."""

from __future__ import annotations

import math
import time
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


# --- line charts: one or several series over time (the Operations page) ------------------------------------

PLOT_X, PLOT_W, PLOT_H, PLOT_TOP = 56, 560, 170, 8  # px: the y labels left of PLOT_X, the time labels below
LEGEND_ROW, LEGEND_COLS, MAX_LINES = 18, 2, 12
PALETTE = ("#1565c0", "#2e7d32", "#c62828", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#9e9d24", "#546e7a")


def number(value: float) -> str:
    """Short axis and legend numbers: 0.042, 3.5, 120, 1.2k, 3.4M."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:.3g}M"
    if size >= 1e4:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}" if size >= 0.001 or value == 0 else f"{value:.1e}"


def _nice_top(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times 10^n at or above `value`: round axis labels."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= value * (1 - 1e-9))


def lines(
    title: str,
    series: list[tuple[str, list[tuple[float, float]]]],
    *,
    start: float,
    end: float,
    step: float,
    unit: str = "",
) -> Markup:
    """`series`: (name, [(unix seconds, value)]) each, drawn over [start, end]. A gap of more than 1.5 steps
    breaks a line (no sample there), a lone point is a dot; the legend gives each line's last value."""
    drawn = sorted(series)[:MAX_LINES]
    values = [v for _, points in drawn for _, v in points]
    low = min(0.0, *values) if values else 0.0
    high = _nice_top(max(values, default=1.0) - low) + low if values else 1.0
    span, width = (high - low) or 1.0, (end - start) or 1.0

    def xy(t: float, v: float) -> str:
        return f"{PLOT_X + (t - start) / width * PLOT_W:.1f},{PLOT_TOP + (high - v) / span * PLOT_H:.1f}"

    shown = []
    for i, (name, unsorted) in enumerate(drawn):
        points = sorted(unsorted)
        runs: list[list[str]] = []
        last_t = None
        for t, v in points:
            if last_t is None or t - last_t > 1.5 * step:
                runs.append([])
            runs[-1].append(xy(t, v))
            last_t = t
        last = f"{number(points[-1][1])}{unit}" if points else "\u2013"
        shown.append(
            {
                "name": name,
                "label": f"{name if len(name) <= 34 else name[:33] + '…'}: {last}",
                "color": PALETTE[i % len(PALETTE)],
                "paths": [" ".join(run) for run in runs if len(run) > 1],
                "dots": [run[0].split(",") for run in runs if len(run) == 1],
                "legend_x": PLOT_X + (i % LEGEND_COLS) * (PLOT_W // LEGEND_COLS),
                "legend_y": PLOT_TOP + PLOT_H + 40 + (i // LEGEND_COLS) * LEGEND_ROW,
            }
        )
    stamp = "%m-%d %H:%M" if end - start > 6 * 3600 else "%H:%M"
    return render_markup(
        "lines.svg",
        title=title,
        width=PLOT_X + PLOT_W + 10,
        height=PLOT_TOP
        + PLOT_H
        + 30
        + (max(1, -(-len(shown) // LEGEND_COLS)) + (len(series) > MAX_LINES)) * LEGEND_ROW
        + 8,
        plot={"x": PLOT_X, "right": PLOT_X + PLOT_W, "top": PLOT_TOP, "bottom": PLOT_TOP + PLOT_H},
        grid=[
            {"y": f"{PLOT_TOP + PLOT_H * (1 - k / 4):.1f}", "label": number(low + span * k / 4) + unit}
            for k in range(5)
        ],
        times=[
            {
                "x": f"{PLOT_X + PLOT_W * k / 2:.1f}",
                "anchor": ("start", "middle", "end")[k],
                "label": time.strftime(stamp, time.gmtime(start + width * k / 2)) + (" UTC" if k == 2 else ""),
            }
            for k in range(3)
        ],
        series=shown,
        hidden=len(series) - len(drawn),
    )
