"""Filters over entries: the grammar (precedence, numbers against text, missing fields,
quoting), every refusal with its position, the compiled predicate against a plain reading of
the tree, and filtered paging as a property: following `next` returns exactly what a filter
over one XRANGE of the range returns, whatever the page size and scan budget."""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams_app.domain.browsing import RangeRequest, entries_page, parse_range_request
from streams_app.domain.filters import (
    MAX_FILTER_CHARS,
    MAX_NESTING,
    AllOf,
    AnyOf,
    Comparison,
    Node,
    Not,
    Value,
    as_number,
    parse_filter,
)
from streams_app.errors import BadInput
from streams_app.gateway import Entry


def tree(text: str) -> Node:
    parsed = parse_filter(text)
    assert parsed is not None
    return parsed.tree


def matches(text: str, fields: dict[str, str]) -> bool:
    parsed = parse_filter(text)
    assert parsed is not None
    return parsed.matches(fields)


def cmp(field: str, op: str, text: str, number=None) -> Comparison:
    return Comparison(field, op, Value(text, number))


# --- the grammar ---------------------------------------------------------------------------


def test_an_empty_or_blank_filter_is_no_filter():
    assert parse_filter(None) is None
    assert parse_filter("") is None
    assert parse_filter("  \t ") is None


def test_not_binds_tighter_than_and_which_binds_tighter_than_or():
    assert tree("a = 1 or b = 2 and c = 3") == AnyOf(
        (cmp("a", "=", "1", 1), AllOf((cmp("b", "=", "2", 2), cmp("c", "=", "3", 3))))
    )
    assert tree("not a = 1 and b = 2") == AllOf((Not(cmp("a", "=", "1", 1)), cmp("b", "=", "2", 2)))
    assert tree("not (a = 1 and b = 2)") == Not(AllOf((cmp("a", "=", "1", 1), cmp("b", "=", "2", 2))))
    assert tree("(a = 1 or b = 2) and c = 3") == AllOf(
        (AnyOf((cmp("a", "=", "1", 1), cmp("b", "=", "2", 2))), cmp("c", "=", "3", 3))
    )
    assert tree("a=1 and b=2 and c=3") == AllOf((cmp("a", "=", "1", 1), cmp("b", "=", "2", 2), cmp("c", "=", "3", 3)))
    assert tree("not not a ~ 'x'") == Not(Not(cmp("a", "~", "x")))


def test_precedence_decides_what_matches():
    fields = {"a": "1", "b": "0", "c": "0"}
    assert matches("a = 1 or b = 1 and c = 1", fields)  # a = 1 or (b = 1 and c = 1)
    assert not matches("(a = 1 or b = 1) and c = 1", fields)
    assert not matches("not a = 1 or b = 1", fields)  # (not a = 1) or b = 1
    assert matches("not (a = 2 or b = 1)", fields)


def test_keywords_in_any_case_but_field_names_as_written():
    assert tree("A = 1 AND b = 2 Or NOT c = 3") == AnyOf(
        (AllOf((cmp("A", "=", "1", 1), cmp("b", "=", "2", 2))), Not(cmp("c", "=", "3", 3)))
    )
    assert not matches("Temperature > 1", {"temperature": "20"})


def test_every_operator():
    fields = {"t": "20"}
    expected = {"=": False, "!=": True, "<": True, "<=": True, ">": False, ">=": False}
    for op, result in expected.items():
        assert matches(f"t {op} 25", fields) is result, op
    assert matches("t <= 20 and t >= 20 and t = 20", fields)
    assert matches("t~2", fields) and not matches("t ~ 3", fields)


def test_spaces_are_optional_between_tokens():
    assert tree("temperature>-5") == cmp("temperature", ">", "-5", -5)
    assert tree("(a<=1)or(b!=2)") == AnyOf((cmp("a", "<=", "1", 1), cmp("b", "!=", "2", 2)))


# --- numbers and text ----------------------------------------------------------------------


def test_numbers_compare_numerically_where_the_value_is_a_number():
    assert matches("t > 9", {"t": "10"})  # as text, "10" < "9"
    assert matches("t = 40", {"t": "40.0"}) and matches("t = 40", {"t": "4e1"}) and matches("t = 40", {"t": "+40"})
    assert matches("t < -4.5", {"t": "-5"}) and matches("t > .5", {"t": "0.75"}) and matches("t >= 1e3", {"t": "1000"})
    assert matches("code = 7", {"code": "007"})


def test_a_value_that_is_not_a_number_compares_as_text():
    assert matches("t > 9", {"t": "abc"})  # "abc" > "9" by code point
    assert not matches("t = 40", {"t": "forty"})
    assert matches("t != 40", {"t": "forty"})
    # Spaces, nan, inf and digits of other scripts are not numbers.
    for value in [" 40", "40 ", "nan", "inf", "1_000", "٤٠"]:
        assert as_number(value) is None, value
    assert not matches("t = 40", {"t": " 40"})


def test_quoted_text_always_compares_as_text():
    assert not matches('code = "007"', {"code": "7"})
    assert matches('code = "007"', {"code": "007"})
    assert not matches('t > "9"', {"t": "10"})  # "10" < "9" as text


def test_large_integers_compare_exactly():
    assert not matches("n = 12345678901234567891", {"n": "12345678901234567890"})
    assert matches("n > 12345678901234567890", {"n": "12345678901234567891"})
    assert as_number("1" * 5000) == float("inf")  # more digits than Python turns into an int at once


def test_text_comparisons_are_exact_and_contains_ignores_case():
    assert not matches('city = "Chennai"', {"city": "chennai"})
    assert matches('note ~ "STORM"', {"note": "a storm is coming"})
    assert matches('note ~ "straße"', {"note": "STRASSE closed"})  # case folding, not just lowering
    assert matches("note ~ 40", {"note": "t40x"})  # a number, as written, is contained as text
    assert matches('city < "d"', {"city": "chennai"}) and not matches('city < "C"', {"city": "chennai"})


# --- missing fields ------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">=", "~"])
def test_a_missing_field_never_matches(op):
    assert not matches(f"temperature {op} 40", {"humidity": "10"})
    assert not matches(f'temperature {op} "x"', {})


def test_not_is_the_complement_so_it_matches_entries_without_the_field():
    assert matches("not temperature > 40", {"humidity": "10"})
    assert matches("not temperature > 40", {"temperature": "12"})
    assert not matches("not temperature > 40", {"temperature": "41"})
    # To require the field, compare it: `temperature <= 40`; `field ~ ""` says it is there.
    assert not matches("temperature <= 40", {"humidity": "10"})
    assert matches('note ~ ""', {"note": ""}) and not matches('note ~ ""', {})
    assert matches('not note ~ ""', {}) and not matches('not note ~ ""', {"note": "x"})


# --- quoting -------------------------------------------------------------------------------


def test_quoted_field_names_and_escapes():
    assert tree('"wind speed" > 3') == cmp("wind speed", ">", "3", 3)
    assert tree("'and' = 1") == cmp("and", "=", "1", 1)  # a keyword as a field name
    assert tree(r'note = "say \"hi\"\n\t\\ \u00b0C"') == cmp("note", "=", 'say "hi"\n\t\\ °C')
    assert tree(r"note = 'it\'s'") == cmp("note", "=", "it's")
    assert tree('note = "it\'s"') == cmp("note", "=", "it's")
    assert tree('note = ""') == cmp("note", "=", "")
    assert tree("température > 30 and wind.speed_max-1:x < 2") == AllOf(
        (cmp("température", ">", "30", 30), cmp("wind.speed_max-1:x", "<", "2", 2))
    )
    assert matches('"wind speed" > 3', {"wind speed": "4.5"})


def test_a_long_chain_of_comparisons_does_not_recurse():
    chain = " or ".join(f"f={n}" for n in range(220))
    assert len(chain) <= MAX_FILTER_CHARS
    assert len(tree(chain).operands) == 220
    assert matches(chain, {"f": "219"}) and not matches(chain, {"f": "220"})


# --- refusals and their positions -------------------------------------------------------------

REFUSALS = [
    # (filter, position, words the message holds)
    ("temperature > warm", 14, 'quote text, as in "warm"'),
    ("temperature >", 13, "found the end of the filter"),
    ("temperature 40", 12, "Expected an operator"),
    ("temperature", 11, "Expected an operator"),
    ("> 40", 0, "Expected a field name"),
    ("40 < temperature", 0, "Expected a field name, found the number 40"),
    ("a = 1 b = 2", 6, "Expected and, or, or the end"),
    ("a = 1 and", 9, "Expected a field name, found the end"),
    ("a = 1 or or b = 2", 9, "Expected a field name"),
    ("(a = 1", 6, "Expected “)” to close the “(” at position 0"),
    ("((a = 1) or b = 2", 17, "close the “(” at position 0"),
    ("a = 1)", 5, "closes no “(”"),
    ("()", 1, "Expected a field name"),
    ('note ~ "storm', 7, "never closed"),
    ("note ~ 'storm\\'", 7, "never closed"),
    ('note ~ "a\\qb"', 9, "“\\q” is not an escape"),
    ('note ~ "\\u12"', 8, "four hexadecimal digits"),
    ("a == 1", 2, "write = to compare"),
    ("a ! 1", 2, "write != (not equal) or the word not"),
    ("a = 1 && b = 2", 6, "write the word and"),
    ("a = 1 || b = 2", 6, "write the word or"),
    ("a = 12abc", 4, "“12abc” is not a number"),
    ("a = 1.2.3", 4, "is not a number"),
    ("a = #", 4, "Unexpected character “#”"),
    ("a = 1 and not", 13, "Expected a field name"),
    ("a = and", 4, 'quote text, as in "and"'),
    ('"a" "b"', 4, "Expected an operator"),
]


@pytest.mark.parametrize(("text", "position", "words"), REFUSALS)
def test_a_bad_filter_is_refused_with_the_position_of_the_problem(text, position, words):
    with pytest.raises(BadInput) as refused:
        parse_filter(text)
    error = refused.value
    assert error.field == "filter"
    assert error.position == position, error.message
    assert words in error.message
    assert f"(at position {position} of the filter)" in error.message


def test_too_long_and_too_deep_are_refused_where_they_start():
    with pytest.raises(BadInput) as refused:
        parse_filter("a = 1 or " * (MAX_FILTER_CHARS // 9) + "a = 1")
    assert refused.value.position == MAX_FILTER_CHARS and "too long" in refused.value.message
    deep = "(" * (MAX_NESTING + 1) + "a = 1" + ")" * (MAX_NESTING + 1)
    with pytest.raises(BadInput) as refused:
        parse_filter(deep)
    assert refused.value.position == MAX_NESTING and "nests too deeply" in refused.value.message
    assert parse_filter("(" * MAX_NESTING + "a = 1" + ")" * MAX_NESTING) is not None
    with pytest.raises(BadInput) as refused:
        parse_filter("not " * (MAX_NESTING + 1) + "a = 1")
    assert refused.value.position == 4 * MAX_NESTING


def test_range_requests_refuse_a_bad_filter_and_keep_a_good_one_as_given():
    with pytest.raises(BadInput) as refused:
        parse_range_request({"filter": "t >"}, tz=UTC, default_count=50, max_count=1000)
    assert refused.value.field == "filter" and refused.value.position == 3
    request = parse_range_request({"filter": " t > 1 "}, tz=UTC, default_count=50, max_count=1000)
    assert request.filter == " t > 1 " and request.query_params()["filter"] == " t > 1 "
    blank = parse_range_request({"filter": "  "}, tz=UTC, default_count=50, max_count=1000)
    assert blank.filter == "" and "filter" not in blank.query_params()


# --- the compiled predicate against a plain reading of the tree -------------------------------


def evaluate(node: Node, fields: dict[str, str]) -> bool:
    """The documented meaning, read straight off the tree (no closures, no remembered answers)."""
    if isinstance(node, Not):
        return not evaluate(node.operand, fields)
    if isinstance(node, AllOf):
        return all(evaluate(operand, fields) for operand in node.operands)
    if isinstance(node, AnyOf):
        return any(evaluate(operand, fields) for operand in node.operands)
    value = fields.get(node.field)
    if value is None:
        return False
    if node.op == "~":
        return node.value.text.casefold() in value.casefold()
    left, right = value, node.value.text
    if node.value.number is not None and as_number(value) is not None:
        left, right = as_number(value), node.value.number
    return {
        "=": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }[node.op]


FIELD_NAMES = ["t", "h", "note", "wind speed"]
VALUES = ["-5", "0", "7", "007", "20.5", "40", "4e1", "41", "abc", "Storm", "storm warning", "", " 40", "∞"]


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@st.composite
def filters(draw, depth: int = 3):
    """A filter's text, drawn as a tree and written out (with parentheses where they are needed)."""
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        name = draw(st.sampled_from(FIELD_NAMES))
        field = name if name.isidentifier() else quoted(name)
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "~"]))
        if draw(st.booleans()):
            value = draw(st.sampled_from(["-5", "0", "7", "20.5", "40", "41", "1e1", ".5"]))
        else:
            value = quoted(draw(st.sampled_from(VALUES)))
        return f"{field} {op} {value}"
    kind = draw(st.sampled_from(["not", "and", "or"]))
    if kind == "not":
        return f"not ({draw(filters(depth=depth - 1))})"
    parts = draw(st.lists(filters(depth=depth - 1), min_size=2, max_size=3))
    return f" {kind} ".join(f"({part})" for part in parts)


entry_fields = st.dictionaries(st.sampled_from(FIELD_NAMES), st.sampled_from(VALUES), max_size=4)


@given(text=filters(), fields=st.lists(entry_fields, min_size=1, max_size=10))
@example(text="not (t > 40)", fields=[{}, {"t": "40"}, {"t": "41"}])
def test_the_compiled_filter_means_what_its_tree_says(text, fields):
    parsed = parse_filter(text)
    assert parsed is not None
    for entry in fields * 2:  # twice: remembered answers must be the same answers
        assert parsed.matches(entry) is evaluate(parsed.tree, entry), (text, entry)
    assert parsed.fields <= set(FIELD_NAMES)


def test_remembered_answers_are_bounded_and_stay_right(monkeypatch):
    from streams_app.domain import filters

    monkeypatch.setattr(filters, "REMEMBERED_VALUES", 3)
    predicate = filters.compile_tree(tree('t > 5 and note ~ "x"'))
    for _ in range(2):
        for n in range(20):
            assert predicate({"t": str(n), "note": "X" * (n % 3)}) is (n > 5 and n % 3 > 0)
    assert predicate({"t": "6", "note": "x" * 100}) and not predicate({"t": "6", "note": "y" * 100})


# --- filtered paging ------------------------------------------------------------------------

KEY = "filtered"


@st.composite
def streams(draw):
    """Entries as (ID, fields): a few milliseconds with one or many entries each."""
    milliseconds = draw(st.lists(st.integers(1, 30), max_size=8, unique=True).map(sorted))
    entries = []
    for ms in milliseconds:
        for seq in range(draw(st.integers(1, 25))):
            fields = draw(st.dictionaries(st.sampled_from(["t", "h", "note"]), st.sampled_from(VALUES), max_size=3))
            entries.append((f"{ms}-{seq}", fields or {"other": "x"}))
    return entries[:120]


def load(redis_client, entries) -> None:
    redis_client.delete(KEY)
    pipe = redis_client.pipeline(transaction=False)
    for entry_id, fields in entries:
        pipe.xadd(KEY, fields, id=entry_id)
    if not entries:  # an empty stream, not a missing key
        pipe.xadd(KEY, {"v": "x"}, id="1-0")
        pipe.xdel(KEY, "1-0")
    pipe.execute()


def brute_force(redis_client, text: str, order: str, start: str, end: str) -> list[str]:
    """The matching entries of the range: one XRANGE (or XREVRANGE), filtered entry by entry."""
    rows = redis_client.xrange(KEY, start, end) if order == "asc" else redis_client.xrevrange(KEY, end, start)
    parsed = parse_filter(text)
    assert parsed is not None
    return [entry.id for entry in (Entry.from_redis(*row) for row in rows) if evaluate(parsed.tree, entry.fields)]


def follow(store, request: RangeRequest, *, budget: int, forward: bool = True):
    pages = []
    while request is not None:
        page = entries_page(store=store, name=KEY, request=request, tz=UTC, scan_budget=budget)
        assert page.scanned is not None and page.scanned <= budget
        assert len(page.entries) <= request.count
        pages.append(page)
        request = page.next_request if forward else page.previous_request
        assert len(pages) <= 2000, "`next` never ends"
    return pages


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=120, deadline=None)
@given(
    entries=streams(),
    text=filters(depth=2),
    count=st.integers(1, 12),
    budget=st.integers(1, 60),
    order=st.sampled_from(["asc", "desc"]),
    bounds=st.sampled_from([("-", "+"), ("3", "+"), ("-", "20"), ("5-3", "25-10"), ("31", "+")]),
)
@example(
    entries=[(f"5-{n}", {"t": "41"}) for n in range(30)],
    text="t > 40",
    count=3,
    budget=4,
    order="asc",
    bounds=("-", "+"),
)
@example(
    entries=[(f"5-{n}", {"t": str(n)}) for n in range(30)],
    text="t = 29",
    count=1,
    budget=5,
    order="desc",
    bounds=("-", "+"),
)
def test_following_next_yields_exactly_the_matching_entries_once_in_order(
    store, redis_client, entries, text, count, budget, order, bounds
):
    load(redis_client, entries)
    start, end = bounds
    expected = brute_force(redis_client, text, order, start, end)
    request = RangeRequest(start=start, end=end, order=order, count=count, filter=text)
    pages = follow(store, request, budget=budget)
    assert [entry.id for page in pages for entry in page.entries] == expected
    assert pages[0].previous_request is None
    for page in pages:
        if page.next_request is None:
            assert page.scanned_to is None and not page.stopped_at_budget
        else:
            # The next page starts after where this one's scan stopped.
            assert page.next_request.after == page.scanned_to
            assert page.stopped_at_budget or len(page.entries) == count
            if page.stopped_at_budget:
                assert page.continue_request == page.next_request
    # Without a budget to stop it, a page is full but for the last.
    whole = follow(store, request, budget=10_000)
    assert all(len(page.entries) == count for page in whole[:-1])
    assert [entry.id for page in whole for entry in page.entries] == expected

    # Back from the last page by `previous`: every match before it, once each.
    back = follow(store, pages[-1].previous_request, budget=budget, forward=False) if pages[-1].previous_request else []
    before_last = [entry.id for page in reversed(back) for entry in page.entries]
    assert before_last + [entry.id for entry in pages[-1].entries] == expected


def test_a_page_stops_at_its_budget_and_says_how_far_it_read(store, redis_client):
    load(redis_client, [(f"{ms}-0", {"t": "41" if ms in (7, 95) else "20"}) for ms in range(1, 101)])
    request = RangeRequest(count=5, filter="t > 40")
    first = entries_page(store=store, name=KEY, request=request, tz=UTC, scan_budget=30)
    assert [entry.id for entry in first.entries] == ["7-0"]
    assert first.scanned == 30 and first.scanned_to == "30-0" and first.stopped_at_budget
    assert first.next_request == request.next_page("30-0") == first.continue_request
    middle = entries_page(store=store, name=KEY, request=first.next_request, tz=UTC, scan_budget=30)
    assert middle.entries == [] and middle.scanned_to == "60-0" and middle.previous_request is not None
    last = entries_page(store=store, name=KEY, request=middle.next_request, tz=UTC, scan_budget=30)
    assert last.scanned_to == "90-0"
    end = entries_page(store=store, name=KEY, request=last.next_request, tz=UTC, scan_budget=30)
    assert [entry.id for entry in end.entries] == ["95-0"] and end.next_request is None and end.scanned == 10
    assert end.scanned_to is None and not end.stopped_at_budget


def test_a_budget_that_ends_with_the_range_leaves_no_next(store, redis_client):
    load(redis_client, [(f"{ms}-0", {"t": "20"}) for ms in range(1, 31)])
    page = entries_page(store=store, name=KEY, request=RangeRequest(filter="t > 40"), tz=UTC, scan_budget=30)
    assert page.scanned == 30 and page.next_request is None and page.scanned_to is None


def test_unfiltered_pages_say_nothing_of_scanning(store, redis_client):
    load(redis_client, [(f"{ms}-0", {"t": "20"}) for ms in range(1, 11)])
    page = entries_page(store=store, name=KEY, request=RangeRequest(count=3), tz=UTC, scan_budget=1)
    assert len(page.entries) == 3 and page.scanned is None and page.scanned_to is None and not page.filtered


def test_field_names_that_are_not_text_are_matched_as_they_are_shown(store, redis_client):
    redis_client.xadd(KEY, {b"t\xff": b"41", b"h": b"\xfe"}, id="1-0")
    redis_client.xadd(KEY, {"t": "41"}, id="2-0")
    found = entries_page(store=store, name=KEY, request=RangeRequest(filter=r'"t\\xff" > 40'), tz=UTC)
    assert [entry.id for entry in found.entries] == ["1-0"]
    values = entries_page(store=store, name=KEY, request=RangeRequest(filter=r'h = "\\xfe"'), tz=UTC)
    assert [entry.id for entry in values.entries] == ["1-0"]
    lone = entries_page(store=store, name=KEY, request=RangeRequest(filter=r'"\ud800" = 1 or t = 41'), tz=UTC)
    assert [entry.id for entry in lone.entries] == ["2-0"]
