"""Figures as people read them: durations, shares and ages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def duration(seconds: float | None) -> str:
    """4.2 s, 3 min 5 s, 2 h 10 min, 3 d 4 h; an em dash for no figure."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


@register.filter
def percent(share: float | None) -> str:
    """0.953 → 95.3 %; an em dash for no figure (nothing ended, no capacity)."""
    return "—" if share is None else f"{share * 100:.1f} %"


@register.filter
def chart_rows(chart: dict) -> list[list]:
    """A chart's data as table rows: its label, then one value per series (a chart's text
    alternative shows exactly what it draws)."""
    series = list(chart["series"].values())
    return [[label, *(values[i] for values in series)]
            for i, label in enumerate(chart["labels"])]
