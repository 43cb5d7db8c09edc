"""Charts as inline SVG written from Python: the report needs no script, no library and no
network to draw them. Each bar carries a <title> (the browser's tooltip) with its exact value."""

import math
from html import escape

PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)
OTHER_COLOR = "#d4d4d4"
WIDTH, HEIGHT = 860, 260
LEFT, RIGHT, TOP, BOTTOM = 70, 16, 12, 44


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _ticks(maximum: float, count: int = 4) -> list[float]:
    """Round values from 0 up to at least `maximum`, about `count` steps apart."""
    if maximum <= 0:
        return [0.0]
    magnitude = 10 ** math.floor(math.log10(maximum / count))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= maximum / count)
    return [i * step for i in range(math.ceil(maximum / step) + 1)]


def short(value: float) -> str:
    """A number in a few characters: 1.2k, 3.4M, 0.05."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _svg(body: list[str], label: str, height: int = HEIGHT) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {height}" width="100%" role="img"'
        f' aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(body)
        + "</svg>"
    )


def _y_axis(maximum: float, plot_height: int, unit: str) -> tuple[list[str], float]:
    ticks = _ticks(maximum)
    top = max(ticks[-1], maximum) or 1.0
    body = []
    for tick in ticks:
        y = TOP + plot_height - tick / top * plot_height
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(unit)}{short(tick)}</text>"
        )
    return body, top


def stacked_bars(
    categories: list[str], series: list[tuple[str, str, list[float]]], unit: str, label: str
) -> str:
    """Vertical bars per category (a date), stacked by series (name, color, values)."""
    plot_height = HEIGHT - TOP - BOTTOM
    totals = [sum(values[i] for _, _, values in series) for i in range(len(categories))]
    body, top = _y_axis(max(totals, default=0), plot_height, unit)
    slot = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    for i, category in enumerate(categories):
        x, base = LEFT + i * slot + slot * 0.12, TOP + plot_height
        for name, fill, values in series:
            if values[i] <= 0:
                continue
            height = values[i] / top * plot_height
            base -= height
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{slot * 0.76:.1f}"'
                f' height="{height:.1f}" fill="{fill}"><title>{escape(category)} {escape(name)}:'
                f" {escape(unit)}{values[i]:,.6g}</title></rect>"
            )
        if len(categories) <= 12 or i % max(1, len(categories) // 10) == 0:
            body.append(
                f'<text x="{x + slot * 0.38:.1f}" y="{HEIGHT - BOTTOM + 16}"'
                f' text-anchor="middle" class="tick">{escape(category[5:])}</text>'
            )
    return _svg(body, label)


def horizontal_bars(rows: list[tuple[str, float, str]], unit: str, label: str) -> str:
    """One bar per (label, value, shown text), longest first as given."""
    bar, gap, name_width = 22, 8, 190
    height = TOP + len(rows) * (bar + gap) + 8
    maximum = max((value for _, value, _ in rows), default=0) or 1.0
    body = []
    for i, (name, value, shown) in enumerate(rows):
        y = TOP + i * (bar + gap)
        width = value / maximum * (WIDTH - name_width - 150)
        body.append(
            f'<text x="{name_width - 8}" y="{y + 15}" text-anchor="end" class="name">'
            f"{escape(name)}</text>"
            f'<rect x="{name_width}" y="{y}" width="{max(width, 1):.1f}" height="{bar}"'
            f' fill="{color(0)}"><title>{escape(name)}: {escape(shown)}</title></rect>'
            f'<text x="{name_width + width + 6:.1f}" y="{y + 15}" class="value">'
            f"{escape(shown)}</text>"
        )
    return _svg(body, label, height)


def histogram(buckets: list[tuple[str, int]], label: str) -> str:
    """Counts per ordered bucket, on a log scale (the late tail is small but matters)."""
    plot_height = HEIGHT - TOP - BOTTOM
    top = math.log10(max((count for _, count in buckets), default=1) + 1) or 1.0
    slot = (WIDTH - LEFT - RIGHT) / max(len(buckets), 1)
    body = []
    for power in range(int(top) + 1):
        y = TOP + plot_height - power / top * plot_height
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{short(10 ** power)}</text>"
        )
    for i, (name, count) in enumerate(buckets):
        height = math.log10(count + 1) / top * plot_height
        x = LEFT + i * slot + slot * 0.1
        body.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_height - height:.1f}" width="{slot * 0.8:.1f}"'
            f' height="{height:.1f}" fill="{color(4)}"><title>{escape(name)}: {count:,} events'
            f"</title></rect>"
            f'<text x="{x + slot * 0.4:.1f}" y="{TOP + plot_height - height - 4:.1f}"'
            f' text-anchor="middle" class="value">{count:,}</text>'
            f'<text x="{x + slot * 0.4:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle"'
            f' class="tick">{escape(name)}</text>'
        )
    return _svg(body, label)


def legend(entries: list[tuple[str, str]]) -> str:
    return '<ul class="legend">' + "".join(
        f'<li><span style="background:{fill}"></span>{escape(name)}</li>'
        for name, fill in entries
    ) + "</ul>"
