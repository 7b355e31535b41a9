"""Filters over the fields of stream entries, such as `temperature > 40 and note ~ "storm"`:
parsed (a tokenizer and a recursive descent into a small tree, never `eval`) and compiled
once into a Python predicate over an entry's fields.

Grammar (the words `and`, `or`, `not` in any case; `not` binds tighter than `and`, which binds
tighter than `or`):

    filter     := any_of
    any_of     := all_of ("or" all_of)*
    all_of     := negation ("and" negation)*
    negation   := "not" negation | "(" any_of ")" | comparison
    comparison := field operator value
    field      := name | quoted            a quoted field name may hold anything: "wind speed"
    operator   := "=" | "!=" | "<" | "<=" | ">" | ">=" | "~"
    value      := number | quoted          text must be quoted: note ~ "storm"
    name       := a letter or _, then letters, digits, _ . - :
    number     := [+-] digits [. digits] [e [+-] digits], or [+-] . digits
    quoted     := "..." or '...', with the escapes \\" \\' \\\\ \\n \\r \\t \\uXXXX

What a comparison means:

- A number compares numerically with a field whose value is a number (written as above:
  `40`, `40.0` and `4e1` are equal); with any other value it compares as text, the number as
  written. Quoted text always compares as text: `code = "007"` does not match `7`.
- Text compares exactly and by code point (`=` and `<` are case-sensitive); `~` ("contains")
  ignores case and always compares text.
- A comparison on a field the entry does not have is false, whichever the operator (`!=` too).
- `not` is the plain complement: `not temperature > 40` matches every entry that
  `temperature > 40` does not, so also the entries without a temperature (write
  `temperature <= 40` for those that have one). `field ~ ""` is true exactly when the entry
  has the field.

A filter that cannot be parsed is BadInput (field "filter") whose `position` is where the
problem starts, in characters counted from 0.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from streams_app.domain.filter_syntax import (  # noqa: F401 - the filter's words, re-exported
    FIELD,
    KEYWORDS,
    MAX_FILTER_CHARS,
    MAX_NESTING,
    OPERATORS,
    AllOf,
    AnyOf,
    Comparison,
    Node,
    Not,
    Value,
    _Parser,
    as_number,
)

# Answers a compiled filter keeps, for values up to this long, and at most this many in all
# (its comparisons share them), so the filters kept compiled hold a few MB at the very most.
REMEMBERED_VALUE_CHARS = 40
REMEMBERED_VALUES = 4096
COMPILED_FILTERS = 64

Fields = Mapping[str, str]
Predicate = Callable[[Fields], bool]

_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """A parsed filter: its text as given, its tree, `matches(fields)` (the compiled predicate)
    and the names of the fields it reads (`matches` needs no others)."""

    text: str
    tree: Node
    matches: Predicate
    fields: frozenset[str]


def parse_filter(text: str | None) -> EntryFilter | None:
    """The filter `text` stands for; None when it is empty or blank. BadInput (field "filter",
    with the position) when it cannot be parsed."""
    if text is None or text.strip() == "":
        return None
    return _parse_and_compile(text)


@lru_cache(maxsize=COMPILED_FILTERS)
def _parse_and_compile(text: str) -> EntryFilter:
    tree = _Parser(text).parse()
    return EntryFilter(text=text, tree=tree, matches=compile_tree(tree), fields=frozenset(fields_read(tree)))


def fields_read(tree: Node) -> set[str]:
    """The names of the fields a filter's comparisons read."""
    if isinstance(tree, Comparison):
        return {tree.field}
    if isinstance(tree, Not):
        return fields_read(tree.operand)
    return set().union(*(fields_read(node) for node in tree.operands))


# --- compiling ----------------------------------------------------------------------------


class _Room:
    """How many more answers a compiled filter may remember."""

    __slots__ = ("left",)

    def __init__(self, left: int) -> None:
        self.left = left


def compile_tree(tree: Node, *, room: _Room | None = None) -> Predicate:
    """The predicate a filter's tree stands for, as nested closures (one call per node)."""
    room = room or _Room(REMEMBERED_VALUES)
    if isinstance(tree, Comparison):
        return _compile_comparison(tree, room)
    if isinstance(tree, Not):
        operand = compile_tree(tree.operand, room=room)
        return lambda fields: not operand(fields)
    operands = [compile_tree(node, room=room) for node in tree.operands]
    if isinstance(tree, AllOf):
        return _all_of(operands)
    return _any_of(operands)


def _all_of(operands: Sequence[Predicate]) -> Predicate:
    if len(operands) == 2:
        first, second = operands
        return lambda fields: first(fields) and second(fields)

    def all_match(fields: Fields) -> bool:
        # A loop over the operands, not nested closures: a long chain must not recurse deeply.
        return all(operand(fields) for operand in operands)

    return all_match


def _any_of(operands: Sequence[Predicate]) -> Predicate:
    if len(operands) == 2:
        first, second = operands
        return lambda fields: first(fields) or second(fields)

    def any_matches(fields: Fields) -> bool:
        return any(operand(fields) for operand in operands)

    return any_matches


def _compile_comparison(comparison: Comparison, room: _Room) -> Predicate:
    name, written = comparison.field, comparison.value.text
    if comparison.op == "~":
        needle = written.casefold()
        return _remembering(name, lambda value: needle in value.casefold(), room)
    compare = _COMPARE[comparison.op]
    number = comparison.value.number
    if number is None:

        def compare_text(fields: Fields) -> bool:
            value = fields.get(name)
            return value is not None and compare(value, written)

        return compare_text

    def compare_number(value: str) -> bool:
        found = as_number(value)
        return compare(value, written) if found is None else compare(found, number)

    return _remembering(name, compare_number, room)


def _remembering(name: str, test: Callable[[str], bool], room: _Room) -> Predicate:
    """The predicate "the field `name` is there and passes `test`", remembering the answer for
    short values: readings repeat a few hundred values (21.5, 60), and a lookup costs far less
    than reading a number or folding case again."""
    answers: dict[str, bool] = {}

    def passes(fields: Fields) -> bool:
        value = fields.get(name)
        if value is None:
            return False
        answer = answers.get(value)
        if answer is None:
            answer = test(value)
            if room.left > 0 and len(value) <= REMEMBERED_VALUE_CHARS:
                room.left -= 1  # a race between threads may let a few more in: no matter
                answers[value] = answer
        return answer

    return passes
