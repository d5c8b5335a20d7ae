"""A line chart as inline SVG, rendered on the server (pure; no script, no CDN)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from html import escape

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")  # fmt: skip


def days_between(first: str, last: str) -> list[str]:
    start, end = _dt.date.fromisoformat(first), _dt.date.fromisoformat(last)
    return [(start + _dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def line_chart(series: Mapping[str, Mapping[str, float]], days: list[str], *, unit: str,
               width: int = 760, height: int = 260, label: str = "Usage per group",
               legend_width: int = 150) -> str:  # fmt: skip
    """One polyline per series over ``days``; every text is escaped. ``label`` names the chart
    for screen readers (its aria-label: ``"<label> (<unit>)"``); the legend is on the right,
    ``legend_width`` wide."""
    left, right, top, bottom = 60, legend_width, 10, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([v for s in series.values() for v in s.values()] + [0.0]) or 1.0
    step = plot_w / max(len(days) - 1, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(label)} ({escape(unit)})" class="vh-usage-chart">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
             'stroke="#999"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#999"/>',
             f'<text x="{left - 6}" y="{top + 10}" text-anchor="end" font-size="11">'
             f'{peak:.3g}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>',
             f'<text x="{left}" y="{height - 8}" font-size="11">{escape(days[0])}</text>',
             f'<text x="{left + plot_w}" y="{height - 8}" text-anchor="end" font-size="11">'
             f'{escape(days[-1])}</text>']  # fmt: skip
    for index, (name, values) in enumerate(sorted(series.items())):
        colour = COLOURS[index % len(COLOURS)]
        points = " ".join(
            f"{left + i * step:.1f},{top + plot_h - values.get(day, 0.0) / peak * plot_h:.1f}"
            for i, day in enumerate(days)
        )
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                     f'points="{points}" data-group="{escape(name)}"/>')  # fmt: skip
        y = top + 14 * index + 10
        parts.append(f'<rect x="{width - right + 10}" y="{y - 8}" width="10" height="10" '
                     f'fill="{colour}"/><text x="{width - right + 24}" y="{y + 1}" '
                     f'font-size="11">{escape(name)}</text>')  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)
