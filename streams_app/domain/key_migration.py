"""Moving the keys of the previous key scheme to their names in this one (`manage.py migrate_keys`).

The previous version named a stream's companions after the stream without a hash tag
(`chennai:dead`, `weatherstreams:errors:<group>:chennai`, `weatherstreams:stats:chennai:<minute>`
and the index `weatherstreams:stats:chennai`); this one puts them in the stream's hash slot
(see gateway.keys). The app reads the new names only, so after an upgrade the old keys are
moved once: dead-letter streams renamed (or appended to the new one when workers wrote there
already), error hashes and statistics merged into the new ones. Running it again finds
nothing to do; a dry run only lists the moves.

The previous version only ever wrote these keys for streams whose names hold no braces (its
workers took names of letters, digits and _ - . :), and every new name holds one, so a key of
one scheme is never mistaken for a key of the other.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from streams_app.errors import Conflict
from streams_app.gateway.key_migration import KeyMigrationStore
from streams_app.gateway.keys import (
    APP_PREFIX,
    PREVIOUS_ERRORS_PREFIX,
    PREVIOUS_STATS_PREFIX,
    RQ_PREFIX,
    STREAM_PLACEHOLDER,
    dead_letter_key,
    display_name,
    errors_key,
    previous_dead_letter_source,
    stats_index_key,
    stats_key,
)

DEAD_LETTERS, ERRORS, STATS_MINUTE, STATS_INDEX = "dead letters", "errors", "statistics", "statistics index"
KINDS = (DEAD_LETTERS, ERRORS, STATS_MINUTE, STATS_INDEX)
# What each kind of key holds, for the summary line.
KIND_LABELS = {
    DEAD_LETTERS: ("dead-letter stream", "dead-letter streams"),
    ERRORS: ("error hash", "error hashes"),
    STATS_MINUTE: ("statistics minute", "statistics minutes"),
    STATS_INDEX: ("statistics index", "statistics indexes"),
}
ON_A_CLUSTER = (
    "REDIS_URL points at a Redis Cluster, where the previous version never ran: run migrate_keys on the "
    "single Redis it used, before moving the data to the cluster."
)


@dataclass(frozen=True, slots=True)
class KeyMove:
    kind: str  # one of KINDS
    old: str
    new: str
    stream: str
    minute: int | None = None  # statistics minutes only


@dataclass(frozen=True, slots=True)
class LeftKey:
    """A key that looks like the previous scheme's but is not moved, and why."""

    key: str
    why: str


@dataclass(slots=True)
class KeyMigration:
    """What a run found: the moves (made, or only planned in a dry run) and the keys left alone."""

    dry_run: bool
    moves: list[KeyMove] = field(default_factory=list)
    left: list[LeftKey] = field(default_factory=list)
    items: int = 0  # entries, fields and members moved

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(move.kind for move in self.moves)
        return {kind: found[kind] for kind in KINDS if found[kind]}


def keys_migrate(*, store: KeyMigrationStore, dead_letter_template: str, dry_run: bool = False) -> KeyMigration:
    """Move every key of the previous scheme to its new name (only list them if `dry_run`);
    `dead_letter_template` is the one the previous version wrote dead letters with."""
    if store.is_cluster():
        raise Conflict(ON_A_CLUSTER)
    migration = KeyMigration(dry_run=dry_run)
    _plan_dead_letters(store, dead_letter_template, migration)
    _plan_errors(store, migration)
    _plan_stats(store, migration)
    if dry_run:
        return migration
    for move in migration.moves:  # minutes before indexes: each minute lists itself in the new index
        migration.items += _move(store, move)
    return migration


def migration_summary(migration: KeyMigration) -> str:
    """One line: how many keys of each kind moved (or would), and whether any are left."""
    total = len(migration.moves)
    left = (
        f"{len(migration.left)} left in the old scheme (see above)."
        if migration.left
        else "nothing left in the old scheme."
    )
    if not total:
        return f"Nothing to move: {left}"
    kinds = ", ".join(f"{count} {KIND_LABELS[kind][count != 1]}" for kind, count in migration.counts.items())
    keys = f"{total} key{'s' if total != 1 else ''}"
    if migration.dry_run:
        return f"Would move {keys}: {kinds}; run without --dry-run to move them."
    return f"Moved {keys}: {kinds} ({migration.items} entries, fields and members); {left}"


def describe_move(move: KeyMove, *, dry_run: bool) -> str:
    """One line of the command's output: which key moved (or would) where."""
    verb = "would move" if dry_run else "moved"
    return f"{verb} {move.kind} of “{display_name(move.stream)}”: {display_name(move.old)} → {display_name(move.new)}"


# --- finding the previous scheme's keys ----------------------------------------------------------


def _plan_dead_letters(store: KeyMigrationStore, template: str, migration: KeyMigration) -> None:
    pattern = _glob_escape(template).replace(_glob_escape(STREAM_PLACEHOLDER), "*")
    for key in store.scan(pattern, "stream"):
        stream = previous_dead_letter_source(key, template)
        # Keys under the app's and RQ's prefixes were never dead letters (internal_reason says so first).
        if stream is None or not _previous_name(stream) or key.startswith((APP_PREFIX + ":", RQ_PREFIX + ":")):
            continue
        _plan(store, migration, KeyMove(DEAD_LETTERS, key, dead_letter_key(stream, template), stream), "stream")


def _plan_errors(store: KeyMigrationStore, migration: KeyMigration) -> None:
    for key in store.scan(PREVIOUS_ERRORS_PREFIX + "*", "hash"):
        rest = key[len(PREVIOUS_ERRORS_PREFIX) :]
        # Group and stream names may both hold ":": every split is a reading of the key.
        readings = [
            (rest[:at], rest[at + 1 :])
            for at, char in enumerate(rest)
            if char == ":" and _previous_name(rest[:at]) and _previous_name(rest[at + 1 :])
        ]
        if not readings:
            continue  # not a key the previous scheme wrote
        existing = [(group, stream) for group, stream in readings if group in store.group_names(stream)]
        if len(readings) > 1 and len(existing) != 1:
            migration.left.append(LeftKey(key, _ambiguous_errors_key(readings)))
            continue
        [(group, stream)] = readings if len(readings) == 1 else existing
        _plan(store, migration, KeyMove(ERRORS, key, errors_key(stream, group), stream), "hash")


def _ambiguous_errors_key(readings: list[tuple[str, str]]) -> str:
    shown = "; ".join(f"group “{display_name(group)}” of “{display_name(stream)}”" for group, stream in readings)
    return f"could be the errors of {shown} (not one of them exists alone; it expires within 7 days)"


def _plan_stats(store: KeyMigrationStore, migration: KeyMigration) -> None:
    for key in store.scan(PREVIOUS_STATS_PREFIX + "*", "hash"):
        stream, _, minute = key[len(PREVIOUS_STATS_PREFIX) :].rpartition(":")
        if _previous_name(stream) and minute.isascii() and minute.isdigit():
            move = KeyMove(STATS_MINUTE, key, stats_key(stream, int(minute)), stream, int(minute))
            _plan(store, migration, move, "hash")
    for key in store.scan(PREVIOUS_STATS_PREFIX + "*", "zset"):
        stream = key[len(PREVIOUS_STATS_PREFIX) :]
        if _previous_name(stream):
            _plan(store, migration, KeyMove(STATS_INDEX, key, stats_index_key(stream), stream), "zset")


def _plan(store: KeyMigrationStore, migration: KeyMigration, move: KeyMove, kind: str) -> None:
    """Plan `move`, unless its new name holds another type of value (then it is left, and said)."""
    found = store.key_type(move.new)
    if found not in {"none", kind}:
        migration.left.append(LeftKey(move.old, f"its new name {display_name(move.new)} holds a {found}"))
        return
    migration.moves.append(move)


def _previous_name(name: str) -> bool:
    """Whether the previous scheme can have written keys for a stream (or group) of this name."""
    return bool(name) and "{" not in name and "}" not in name


def _glob_escape(text: str) -> str:
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


def _move(store: KeyMigrationStore, move: KeyMove) -> int:
    if move.kind == DEAD_LETTERS:
        return store.move_stream(move.old, move.new)
    if move.kind == ERRORS:
        return store.move_hash(move.old, move.new)
    if move.kind == STATS_MINUTE:
        assert move.minute is not None
        return store.move_stats_minute(move.old, move.new, stats_index_key(move.stream), move.minute)
    return store.move_sorted_set(move.old, move.new)
