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
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from streams_app.errors import BadInput

MAX_FILTER_CHARS = 2000
MAX_NESTING = 50  # parentheses and `not`s inside each other
KEYWORDS = ("and", "or", "not")
OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "~")  # two-character ones first: the tokenizer tries them in order
FIELD = "filter"
# Answers a compiled filter keeps, for values up to this long, and at most this many in all
# (its comparisons share them), so the filters kept compiled hold a few MB at the very most.
REMEMBERED_VALUE_CHARS = 40
REMEMBERED_VALUES = 4096
COMPILED_FILTERS = 64

Fields = Mapping[str, str]
Predicate = Callable[[Fields], bool]

# A number, in a filter and in a field's value: ASCII digits only, no spaces, no nan or inf.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NAME_CHARS = "_.-:"
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_COMPARE: dict[str, Callable[[object, object], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


# --- the tree -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Value:
    """The literal of a comparison: its text as written, and its number when it was a bare number."""

    text: str
    number: int | float | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    field: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class AllOf:
    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    operands: tuple[Node, ...]


Node = Comparison | Not | AllOf | AnyOf


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


def as_number(text: str) -> int | float | None:
    """The number `text` is (an int when written without a fraction or exponent), or None."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    if match.group(1) is None and "." not in text:
        try:
            return int(text)
        except ValueError:  # more digits than Python converts at once: as a float, near enough
            pass
    return float(text)


# --- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # name, quoted, number, op, (, ), and, or, not, end
    text: str  # the value (a name, the unescaped text, the operator) or the source for a number
    position: int

    def described(self) -> str:
        if self.kind == "end":
            return "the end of the filter"
        if self.kind == "quoted":
            return f"the quoted text “{_shorten(self.text)}”"
        if self.kind == "number":
            return f"the number {self.text}"
        if self.kind == "name":
            return f"the word “{_shorten(self.text)}”"
        return f"“{self.text}”"


def _error(message: str, position: int) -> BadInput:
    return BadInput(f"{message} (at position {position} of the filter).", field=FIELD, position=position)


def _shorten(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_name_start(char: str) -> bool:
    return char.isalpha() or char == "_"


def _is_name_char(char: str) -> bool:
    return char.isalnum() or char in _NAME_CHARS


def _tokens(text: str) -> list[_Token]:
    if len(text) > MAX_FILTER_CHARS:
        raise _error(f"The filter is too long: at most {MAX_FILTER_CHARS:,} characters", MAX_FILTER_CHARS)
    found: list[_Token] = []
    at, end = 0, len(text)
    while at < end:
        char = text[at]
        if char.isspace():
            at += 1
        elif char in "()":
            found.append(_Token(char, char, at))
            at += 1
        elif char in "\"'":
            value, after = _quoted(text, at)
            found.append(_Token("quoted", value, at))
            at = after
        elif number := _number_at(text, at):
            found.append(_Token("number", number, at))
            at += len(number)
        elif _is_name_start(char):
            start = at
            while at < end and _is_name_char(text[at]):
                at += 1
            word = text[start:at]
            kind = word.lower() if word.lower() in KEYWORDS else "name"
            found.append(_Token(kind, word, start))
        elif op := next((op for op in OPERATORS if text.startswith(op, at)), None):
            if text.startswith("==", at):
                raise _error("“==” is not an operator: write = to compare", at)
            found.append(_Token("op", op, at))
            at += len(op)
        elif char == "!":
            raise _error("“!” alone is not an operator: write != (not equal) or the word not", at)
        elif char in "&|":
            word = "and" if char == "&" else "or"
            raise _error(f"“{char}” is not an operator: write the word {word}", at)
        else:
            shown = char if char.isprintable() else repr(char)
            raise _error(f'Unexpected character “{shown}”: quote text, as in note ~ "{shown}"', at)
    found.append(_Token("end", "", end))
    return found


def _number_at(text: str, at: int) -> str | None:
    """The number that starts at `at`, if one does; BadInput for a number run into letters (`12abc`)."""
    char = text[at]
    if not (char.isdigit() or char in "+-."):
        return None
    match = _NUMBER.match(text, at)
    if match is None:
        return None
    number = match.group()
    after = match.end()
    if after < len(text) and (_is_name_char(text[after]) or text[after] == "."):
        stop = after
        while stop < len(text) and (_is_name_char(text[stop]) or text[stop] == "."):
            stop += 1
        word = text[at:stop]
        raise _error(f'“{_shorten(word)}” is not a number: quote text, as in "{_shorten(word)}"', at)
    return number


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The unescaped text of the quoted string opening at `start`, and the position after it."""
    quote = text[start]
    parts: list[str] = []
    at = start + 1
    while at < len(text):
        char = text[at]
        if char == quote:
            return "".join(parts), at + 1
        if char != "\\":
            parts.append(char)
            at += 1
            continue
        escape = text[at + 1 : at + 2]
        if escape in _ESCAPES:
            parts.append(_ESCAPES[escape])
            at += 2
        elif escape == "u":
            digits = text[at + 2 : at + 6]
            if len(digits) != 4 or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise _error("“\\u” must be followed by four hexadecimal digits, as in \\u00b0", at)
            parts.append(chr(int(digits, 16)))
            at += 6
        elif escape == "":
            break  # a backslash at the very end: the quote is never closed
        else:
            raise _error(
                f"“\\{escape}” is not an escape: use \\\" \\' \\\\ \\n \\r \\t or \\uXXXX (write \\\\ for a backslash)",
                at,
            )
    raise _error(f"The quoted text that starts with {quote} is never closed", start)


# --- parsing ------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def parse(self) -> Node:
        tree = self.any_of()
        token = self.current
        if token.kind == ")":
            raise _error("This “)” closes no “(”", token.position)
        if token.kind != "end":
            raise _error(f"Expected and, or, or the end of the filter, found {token.described()}", token.position)
        return tree

    def any_of(self) -> Node:
        operands = [self.all_of()]
        while self.current.kind == "or":
            self.take()
            operands.append(self.all_of())
        return operands[0] if len(operands) == 1 else AnyOf(tuple(operands))

    def all_of(self) -> Node:
        operands = [self.negation()]
        while self.current.kind == "and":
            self.take()
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else AllOf(tuple(operands))

    def negation(self) -> Node:
        token = self.current
        if token.kind not in ("not", "("):
            return self.comparison()
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _error(
                f"The filter nests too deeply: at most {MAX_NESTING} parentheses and nots inside each other",
                token.position,
            )
        self.take()
        if token.kind == "not":
            tree: Node = Not(self.negation())
        else:
            tree = self.any_of()
            closing = self.current
            if closing.kind != ")":
                raise _error(
                    f"Expected “)” to close the “(” at position {token.position}, found {closing.described()}",
                    closing.position,
                )
            self.take()
        self.depth -= 1
        return tree

    def comparison(self) -> Comparison:
        field = self.take()
        if field.kind not in ("name", "quoted"):
            hint = ": a comparison starts with a field, as in temperature > 40" if field.kind != "end" else ""
            raise _error(f"Expected a field name, found {field.described()}{hint}", field.position)
        op = self.take()
        if op.kind != "op":
            raise _error(
                f"Expected an operator (= != < <= > >= ~) after the field “{_shorten(field.text)}”, "
                f"found {op.described()}",
                op.position,
            )
        value = self.take()
        if value.kind == "number":
            return Comparison(field.text, op.text, Value(value.text, as_number(value.text)))
        if value.kind == "quoted":
            return Comparison(field.text, op.text, Value(value.text))
        hint = ""
        if value.kind in ("name", "and", "or", "not"):
            hint = f': quote text, as in "{_shorten(value.text)}" (a field compares with a value, not with a field)'
        raise _error(
            f"Expected a number or quoted text after “{op.text}”, found {value.described()}{hint}", value.position
        )


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
