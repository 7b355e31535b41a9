"""Paging as a property: for any stream, page size, order and bounds, following `next`
returns exactly what one XRANGE (or XREVRANGE) of the whole range returns, and following
`previous` back from the last page gives the same pages in reverse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from streams_app.domain.browsing import RangeRequest, entries_page

KEY = "paging"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@st.composite
def streams(draw, max_entries: int = 150):
    """Entry IDs, ascending: a few milliseconds, each with one or many entries."""
    milliseconds = draw(st.lists(st.integers(1, 40), min_size=0, max_size=12, unique=True).map(sorted))
    ids: list[str] = []
    for ms in milliseconds:
        first_seq = draw(st.sampled_from([0, 0, 1, 7]))
        many = draw(st.integers(1, 40))
        ids.extend(f"{ms}-{first_seq + seq}" for seq in range(many))
        if len(ids) >= max_entries:
            break
    return ids[:max_entries]


@st.composite
def bound_pairs(draw):
    """Bounds as a user types them, with the text Redis's own XRANGE takes for the same range.

    Returns (start, end, redis_start, redis_end)."""

    def one(is_start: bool):
        kind = draw(st.sampled_from(["edge", "ms", "ms-seq", "exclusive", "datetime"]))
        ms = draw(st.integers(0, 42))
        seq = draw(st.integers(0, 45))
        if kind == "edge":
            text = draw(st.sampled_from(["-", "+"]))
            return text, text
        if kind == "ms":
            return str(ms), str(ms)
        if kind == "ms-seq":
            return f"{ms}-{seq}", f"{ms}-{seq}"
        if kind == "exclusive":
            return f"({ms}-{seq}", f"({ms}-{seq}"
        # A date-time to the millisecond, read in UTC: the same range as its bare millisecond.
        moment = EPOCH + timedelta(milliseconds=ms)
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], str(ms)

    start, redis_start = one(True)
    end, redis_end = one(False)
    return start, end, redis_start, redis_end


def load(redis_client, ids: list[str]) -> None:
    redis_client.delete(KEY)
    pipe = redis_client.pipeline(transaction=False)
    for entry_id in ids:
        pipe.xadd(KEY, {"v": entry_id}, id=entry_id)
    if not ids:  # an empty stream, not a missing key
        pipe.xadd(KEY, {"v": "x"}, id="1-0")
        pipe.xdel(KEY, "1-0")
    pipe.execute()


def one_read(redis_client, order: str, redis_start: str, redis_end: str) -> list[str]:
    """The whole range in one XRANGE/XREVRANGE."""
    try:
        if order == "asc":
            rows = redis_client.xrange(KEY, redis_start, redis_end)
        else:
            rows = redis_client.xrevrange(KEY, redis_end, redis_start)
    except redis.ResponseError as error:
        # Only an exclusive bound past the very first ID (`(0-0` as an end) is refused:
        # nothing can lie in such a range.
        assert "(0-0" in (redis_start, redis_end), error
        return []
    return [raw_id.decode() for raw_id, _ in rows]


def pages_forward(store, request: RangeRequest) -> tuple[list[list[str]], list]:
    pages, results = [], []
    while request is not None:
        page = entries_page(store=store, name=KEY, request=request, tz=UTC)
        pages.append([entry.id for entry in page.entries])
        results.append(page)
        request = page.next_request
        assert len(pages) <= 1000
    return pages, results


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150, deadline=None)
@given(
    ids=streams(),
    count=st.integers(1, 60),
    order=st.sampled_from(["asc", "desc"]),
    bounds=bound_pairs(),
)
@example(ids=[f"5-{seq}" for seq in range(1000)], count=7, order="asc", bounds=("-", "+", "-", "+"))
@example(ids=[f"5-{seq}" for seq in range(1000)], count=60, order="desc", bounds=("5-13", "5", "5-13", "5"))
@example(ids=["1-0", "1-1", "2-0"], count=1, order="desc", bounds=("(1-0", "+", "(1-0", "+"))
def test_following_next_and_previous_reads_the_range_exactly_once(store, redis_client, ids, count, order, bounds):
    start, end, redis_start, redis_end = bounds
    load(redis_client, ids)
    expected = one_read(redis_client, order, redis_start, redis_end)

    request = RangeRequest(start=start, end=end, order=order, count=count)
    pages, results = pages_forward(store, request)
    assert [entry for page in pages for entry in page] == expected
    # Pages are full but for the last; an empty range is one empty page.
    assert all(len(page) == count for page in pages[:-1])
    assert pages[-1] or len(pages) == 1
    assert results[0].previous_request is None

    # Back from the last page: the same pages, in reverse, and the first has no previous.
    back = [pages[-1]]
    request = results[-1].previous_request
    while request is not None:
        page = entries_page(store=store, name=KEY, request=request, tz=UTC)
        back.append([entry.id for entry in page.entries])
        request = page.previous_request
        assert len(back) <= len(pages) + 1
    assert back == pages[::-1]


def follow_api(api, url: str) -> list[list[str]]:
    pages = []
    while url is not None:
        response = api.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        pages.append([entry["id"] for entry in body["entries"]])
        url = body["next"]
        assert len(pages) <= 1000
    return pages


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40, deadline=None)
@given(
    ids=streams(max_entries=80),
    count=st.integers(1, 60),
    order=st.sampled_from(["asc", "desc"]),
    bounds=bound_pairs(),
)
@example(ids=[f"5-{seq}" for seq in range(80)], count=3, order="desc", bounds=("5-2", "+", "5-2", "+"))
def test_following_next_through_the_api_reads_the_range_exactly_once(api, redis_client, ids, count, order, bounds):
    start, end, redis_start, redis_end = bounds
    load(redis_client, ids)
    expected = one_read(redis_client, order, redis_start, redis_end)
    query = urlencode({"start": start, "end": end, "order": order, "count": count})
    pages = follow_api(api, f"/api/streams/{quote(KEY)}/entries?{query}")
    assert [entry for page in pages for entry in page] == expected
    assert all(len(page) == count for page in pages[:-1])
