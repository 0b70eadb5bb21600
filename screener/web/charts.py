"""Small inline SVG charts rendered on the server (no JavaScript)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from screener.domain import labels
from screener.domain.vocabulary import Action

ACTION_COLOURS: Mapping[Action, str] = {
    Action.ALLOW: "#2e7d32",
    Action.CHALLENGE: "#ef6c00",
    Action.SCREEN: "#1565c0",
    Action.BLOCK: "#c62828",
}


@dataclass(frozen=True)
class Bar:
    label: str
    value: int


def stacked_days(per_day: Mapping[date, Counter[Action]], title: str) -> Markup:
    """Calls per day, one stacked column per day, coloured by the decision."""
    width, height, pad_left, pad_bottom = 720, 240, 48, 28
    days = sorted(per_day)
    peak = max((sum(c.values()) for c in per_day.values()), default=0) or 1
    slot = (width - pad_left - 8) / max(len(days), 1)
    bar_w = max(slot * 0.8, 1.0)
    plot_h = height - pad_bottom - 10
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label={quoteattr(title)} xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{pad_left}" y1="{10 + plot_h}" x2="{width - 4}" y2="{10 + plot_h}" '
        'stroke="#888"/>',
        f'<text x="{pad_left - 6}" y="16" text-anchor="end" font-size="11">{peak}</text>',
        f'<text x="{pad_left - 6}" y="{10 + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    for i, day in enumerate(days):
        x = pad_left + i * slot + (slot - bar_w) / 2
        y = 10.0 + plot_h
        counts = per_day[day]
        for action in Action:
            n = counts.get(action, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{ACTION_COLOURS[action]}"><title>{day.isoformat()} '
                f"{escape(labels.ACTIONS[action])}: {n}</title></rect>"
            )
        if len(days) <= 14 or i % max(len(days) // 10, 1) == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                f'font-size="10">{day:%d %b}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or numeric


def _clip(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


def horizontal_bars(bars: Sequence[Bar], title: str, colour: str = "#1565c0") -> Markup:
    """One labelled horizontal bar per item (labels escaped)."""
    row_h, width, label_w = 22, 720, 300
    height = max(len(bars), 1) * row_h + 8
    peak = max((b.value for b in bars), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label={quoteattr(title)} xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    if not bars:
        parts.append('<text x="4" y="18" font-size="12">No data yet.</text>')
    for i, bar in enumerate(bars):
        y = 4 + i * row_h
        w = (width - label_w - 60) * bar.value / peak
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">'
            f"{escape(_clip(bar.label))}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{colour}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + 15}" font-size="12">{bar.value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped or numeric
