"""Template filters for the consumer-group and worker pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def duration_ms(value: int | float | None) -> str:
    """A duration in milliseconds, short and readable: 850 ms, 12.3 s, 4 min 05 s, 2 h 03 min, 3 d 04 h."""
    if value is None or value == "":
        return "—"
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return "—"
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"
