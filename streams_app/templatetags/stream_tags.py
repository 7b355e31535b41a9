"""Template filters for stream names, entry IDs and field values."""

from __future__ import annotations

import re

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from streams_app.domain.ids import StreamId
from streams_app.domain.names import display_name, url_token

register = template.Library()


@register.filter
def id_time(entry_id: str | None) -> str:
    """The moment an entry ID stands for, in the site's time zone, to the millisecond."""
    if not entry_id:
        return ""
    try:
        moment = StreamId.parse(entry_id).time
    except (ValueError, TypeError):
        return ""
    if moment is None:
        return ""
    local = timezone.localtime(moment)
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


@register.filter
def stream_token(name: str) -> str:
    return url_token(name)


@register.filter
def stream_display(name: str) -> str:
    return display_name(name)


# Where a long name may wrap on a phone: after the separators names are made of (a word-break
# rule would split inside a word; these are the name's own joints).
_JOINTS = re.compile(r"([_.:/\-])")


@register.filter
def breakable(name: str) -> SafeString:
    """The name, escaped, with a line-break opportunity (<wbr>) after each _ . : / -."""
    return mark_safe(_JOINTS.sub(r"\1<wbr>", escape(name)))  # escaped first; only <wbr> is added


@register.filter
def is_cut(value: str, limit: int) -> bool:
    return len(value) > int(limit)


@register.filter
def preview(value: str, limit: int) -> str:
    """A long value cut to `limit` characters, with an ellipsis."""
    limit = int(limit)
    return value if len(value) <= limit else value[: limit - 1] + "…"


@register.filter
def minute_time(minute: int) -> str:
    """A minute since the epoch, in the site's time zone."""
    from datetime import UTC, datetime

    return timezone.localtime(datetime.fromtimestamp(int(minute) * 60, tz=UTC)).strftime("%Y-%m-%d %H:%M")
