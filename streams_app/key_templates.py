"""What a dead-letter template is (WEATHERSTREAMS_DEAD_LETTER_STREAM, run_consumer's
--dead-letter): plain values, read by conf and by gateway.keys, which builds the names."""

from __future__ import annotations

STREAM_PLACEHOLDER = "{stream}"
DEAD_LETTER_TEMPLATE = f"{STREAM_PLACEHOLDER}:dead"


def dead_letter_template_problem(template: str) -> str | None:
    """What is wrong with a dead-letter template (None: nothing): it must name `{stream}`, and have
    no other braces (they would set the hash tag, or were str.format fields) and a fixed part."""
    if STREAM_PLACEHOLDER not in template:
        return "must contain {stream}."
    fixed = template.replace(STREAM_PLACEHOLDER, "")
    if "{" in fixed or "}" in fixed:
        return "may hold no braces but {stream}: the stream's name is the dead letters' hash tag."
    if not fixed:
        return "needs more than {stream}: the dead letters would be a stream of their own, looking like a user's."
    return None
