"""Inline SVG bar charts for the /hss pages: no JavaScript, nothing loaded from anywhere."""

from __future__ import annotations

from html import escape

ROW = 26  # px per bar
LABEL_W = 300  # px for the labels
BAR_W = 460  # px for the bars (a signed chart splits it at zero)
VALUE_W = 80
POSITIVE, NEGATIVE, MUTED, ACCENT = "#2e7d32", "#c62828", "#b0bec5", "#1565c0"


def _frame(title: str, rows: int, body: str) -> str:
    height = rows * ROW + 34
    width = LABEL_W + BAR_W + VALUE_W
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="13">'
        f'<title>{escape(title)}</title><text x="0" y="16" font-weight="bold">{escape(title)}</text>{body}</svg>'
    )


def _label(y: float, text: str) -> str:
    shown = text if len(text) <= 42 else text[:40] + "…"
    return f'<text x="{LABEL_W - 8}" y="{y + 17}" text-anchor="end"><title>{escape(text)}</title>{escape(shown)}</text>'


def signed_bars(title: str, items: list[tuple[str, float]], unit: str = "") -> str:
    """Contributions around zero: green to the right, red to the left, scaled to the largest magnitude."""
    if not items:
        return _frame(title, 1, '<text x="0" y="44">nothing to show</text>')
    scale = max(abs(v) for _, v in items) or 1.0
    half = BAR_W / 2
    zero = LABEL_W + half
    parts = [f'<line x1="{zero}" y1="26" x2="{zero}" y2="{26 + len(items) * ROW}" stroke="#555"/>']
    for i, (name, value) in enumerate(items):
        y = 26 + i * ROW
        length = abs(value) / scale * (half - 4)
        x = zero if value >= 0 else zero - length
        color = POSITIVE if value >= 0 else NEGATIVE
        parts.append(_label(y, name))
        parts.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{max(length, 1):.1f}" height="{ROW - 8}" fill="{color}"/>')
        parts.append(f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 17}">{value:+.3f}{escape(unit)}</text>')
    return _frame(title, len(items), "".join(parts))


def bars(
    title: str,
    items: list[tuple[str, float]],
    *,
    low: float = 0.0,
    high: float = 1.0,
    muted: set[str] | None = None,
    marker: tuple[str, float] | None = None,
) -> str:
    """Values on a fixed axis [low, high] (AUCs on 0..1); `muted` labels grey, `marker` a dashed line."""
    if not items:
        return _frame(title, 1, '<text x="0" y="44">nothing to show</text>')
    span = (high - low) or 1.0

    def x_of(value: float) -> float:
        return LABEL_W + max(0.0, min(1.0, (value - low) / span)) * BAR_W

    parts = []
    for i, (name, value) in enumerate(items):
        y = 26 + i * ROW
        color = MUTED if muted and name in muted else ACCENT
        parts.append(_label(y, name))
        width = max(x_of(value) - LABEL_W, 1)
        parts.append(f'<rect x="{LABEL_W}" y="{y + 4}" width="{width:.1f}" height="{ROW - 8}" fill="{color}"/>')
        parts.append(f'<text x="{LABEL_W + BAR_W + 6}" y="{y + 17}">{value:.3f}</text>')
    if marker is not None:
        label, value = marker
        x = x_of(value)
        bottom = 26 + len(items) * ROW
        parts.append(
            f'<line x1="{x:.1f}" y1="24" x2="{x:.1f}" y2="{bottom}" stroke="{NEGATIVE}" stroke-dasharray="4 3"/>'
        )
        parts.append(f'<text x="{x + 4:.1f}" y="22" fill="{NEGATIVE}" font-size="11">{escape(label)}</text>')
    return _frame(title, len(items), "".join(parts))
