"""Trimming a stream by length (MAXLEN) or by age (MINID), approximate by default, never
silently dropping entries a consumer group still has pending."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo

from streams_app.domain.ids import StreamId, parse_lower_bound
from streams_app.domain.names import display_name
from streams_app.errors import BadInput, Conflict
from streams_app.gateway import StreamStore
from streams_app.gateway.retention import RetentionStore

STRATEGIES = {
    "maxlen": "keep the newest N entries (MAXLEN)",
    "minid": "drop entries older than an ID or date-time (MINID)",
}


@dataclass(frozen=True, slots=True)
class TrimPlan:
    stream: str
    strategy: str
    maxlen: int | None
    minid: str | None
    approximate: bool
    # group -> its oldest pending entry that the trim would remove
    pending_at_risk: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        how = (
            f"MAXLEN {'~ ' if self.approximate else ''}{self.maxlen}"
            if self.strategy == "maxlen"
            else (f"MINID {'~ ' if self.approximate else ''}{self.minid}")
        )
        return f"XTRIM {display_name(self.stream)} {how}"


def trim_plan(
    *,
    store: StreamStore,
    retention: RetentionStore,
    stream: str,
    strategy: str,
    threshold: str,
    approximate: bool,
    tz: tzinfo,
) -> TrimPlan:
    """Validate a trim and find the groups whose pending entries it would remove."""
    store.require_stream(stream)
    strategy = (strategy or "").strip().lower()
    threshold = (threshold or "").strip()
    if strategy not in STRATEGIES:
        raise BadInput(
            "Choose how to trim: maxlen (keep the newest N) or minid (drop older than an ID).", field="strategy"
        )
    pending = retention.oldest_pending(stream)
    if strategy == "maxlen":
        try:
            maxlen = int(threshold)
        except ValueError:
            raise BadInput(
                f"MAXLEN must be a whole number of entries to keep; got “{threshold}”.", field="threshold"
            ) from None
        if maxlen < 0:
            raise BadInput("MAXLEN cannot be negative.", field="threshold")
        first_kept = retention.first_kept_by_maxlen(stream, maxlen)
        boundary = StreamId.parse(first_kept) if first_kept else None
        at_risk = {g: oldest for g, oldest in pending.items() if boundary is None or StreamId.parse(oldest) < boundary}
        return TrimPlan(stream, strategy, maxlen, None, approximate, at_risk)
    if not threshold:
        raise BadInput("MINID needs an ID or a date-time: entries older than it are removed.", field="threshold")
    lowest_kept = parse_lower_bound(threshold, tz, field="threshold")
    if lowest_kept is None:
        raise BadInput(f"“{threshold}” is not a usable MINID.", field="threshold")
    at_risk = {g: oldest for g, oldest in pending.items() if StreamId.parse(oldest) < lowest_kept}
    return TrimPlan(stream, strategy, None, str(lowest_kept), approximate, at_risk)


def trim_confirmation_check(plan: TrimPlan, *, confirm_pending: bool) -> None:
    """Conflict (field `confirm`) if the trim would remove pending entries and that was not confirmed."""
    if plan.pending_at_risk and not confirm_pending:
        groups = ", ".join(
            f"{group} (oldest pending {oldest})" for group, oldest in sorted(plan.pending_at_risk.items())
        )
        raise Conflict(
            f"This trim would remove entries still pending in {groups}: their consumers would never process them. "
            "Tick the box to trim anyway.",
            field="confirm",
        )


def trim_apply(*, retention: RetentionStore, plan: TrimPlan, confirm_pending: bool) -> int:
    """Run the trim; nothing is removed unless the pending entries it would remove were confirmed."""
    trim_confirmation_check(plan, confirm_pending=confirm_pending)
    return retention.trim(plan.stream, maxlen=plan.maxlen, minid=plan.minid, approximate=plan.approximate)
