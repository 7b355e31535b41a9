"""Trimming a stream by length (MAXLEN) or by age (MINID), approximate by default, never
silently dropping entries a consumer group still has pending."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo

from streams_app.domain.ids import StreamId, parse_lower_bound
from streams_app.domain.names import display_name
from streams_app.errors import BadInput, Conflict
from streams_app.gateway import StreamStore
from streams_app.gateway.retention import MAX_TRIM_COUNT, RetentionStore

_COUNT_TEXT = re.compile(r"[0-9]{1,20}")

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
    # groups among those whose check ran out of budget (their pending entries may be safe)
    pending_unchecked: frozenset[str] = frozenset()

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
    """Validate a trim and find the groups whose pending entries it would remove, reading none of
    the entries it would remove (see RetentionStore.maxlen_removes)."""
    store.require_stream(stream)
    strategy = (strategy or "").strip().lower()
    threshold = (threshold or "").strip()
    if strategy not in STRATEGIES:
        raise BadInput(
            "Choose how to trim: maxlen (keep the newest N) or minid (drop older than an ID).", field="strategy"
        )
    if strategy == "maxlen":
        maxlen = parse_maxlen(threshold)
        pending = retention.oldest_pending(stream)
        checks = retention.maxlen_removes(stream, maxlen, pending)
        at_risk = {group: pending[group] for group, check in checks.items() if check.removes is not False}
        unchecked = frozenset(group for group, check in checks.items() if check.removes is None)
        return TrimPlan(stream, strategy, maxlen, None, approximate, at_risk, unchecked)
    if not threshold:
        raise BadInput("MINID needs an ID or a date-time: entries older than it are removed.", field="threshold")
    lowest_kept = parse_lower_bound(threshold, tz, field="threshold")
    if lowest_kept is None:
        raise BadInput(f"“{display_name(threshold)}” is not a usable MINID.", field="threshold")
    pending = retention.oldest_pending(stream)
    at_risk = {g: oldest for g, oldest in pending.items() if StreamId.parse(oldest) < lowest_kept}
    return TrimPlan(stream, strategy, None, str(lowest_kept), approximate, at_risk)


def parse_maxlen(threshold: str, *, field: str = "threshold") -> int:
    """MAXLEN: a whole number of entries to keep, 0 to 9223372036854775807 (what Redis accepts)."""
    if not _COUNT_TEXT.fullmatch(threshold):
        raise BadInput(
            f"MAXLEN must be a whole number of entries to keep; got “{display_name(threshold)[:40]}”.", field=field
        )
    maxlen = int(threshold)
    if maxlen > MAX_TRIM_COUNT:
        raise BadInput(f"MAXLEN can be at most {MAX_TRIM_COUNT}; got {threshold}.", field=field)
    return maxlen


def trim_confirmation_check(plan: TrimPlan, *, confirm_pending: bool) -> None:
    """Conflict (field `confirm`) if the trim would remove pending entries and that was not confirmed."""
    if plan.pending_at_risk and not confirm_pending:
        groups = ", ".join(
            f"{display_name(group)} (oldest pending {oldest}"
            + (", not checked to the end" if group in plan.pending_unchecked else "")
            + ")"
            for group, oldest in sorted(plan.pending_at_risk.items())
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
