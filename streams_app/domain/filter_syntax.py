"""The syntax of entry filters (see domain/filters.py for what they mean): the tree a filter
is parsed into, its tokens, and the recursive-descent parser. Errors are BadInput (field
"filter") with the position, in characters from 0, where the problem starts."""

from __future__ import annotations

import re
from dataclasses import dataclass

from streams_app.errors import BadInput

MAX_FILTER_CHARS = 2000
MAX_NESTING = 50  # parentheses and `not`s inside each other
KEYWORDS = ("and", "or", "not")
OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "~")  # two-character ones first: the tokenizer tries them in order
FIELD = "filter"

# A number, in a filter and in a field's value: ASCII digits only, no spaces, no nan or inf.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_NAME_CHARS = "_.-:"
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


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
