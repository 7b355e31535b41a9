"""What a tab is sent of a feed's messages, without sockets: no entry twice after a snapshot,
a resync instead of a silently incomplete picture, and the figures the messages carry."""

from __future__ import annotations

import asyncio
import json

from streams_app.domain.ids import StreamId
from streams_app.gateway.live_io import LiveReader
from streams_app.gateway.types import Entry
from streams_app.live.consumers import StreamTailConsumer
from streams_app.live.feeds import SUBSCRIBER_QUEUE, StreamTailFeed
from streams_app.live.messages import RESYNC, StreamRates, processed_message, tail_entries


def entries(*ids: str) -> list[Entry]:
    return [Entry(entry_id, {"temperature": "20"}) for entry_id in ids]


def tab_that_was_sent(last_id: str | None) -> StreamTailConsumer:
    tab = StreamTailConsumer()
    tab.last_sent = StreamId.parse(last_id) if last_id else None
    return tab


def test_a_message_wholly_new_to_a_tab_is_sent_as_the_shared_text():
    message = tail_entries(entries("6-0", "7-0"))
    assert tab_that_was_sent("5-0").filter(message) is message
    assert tab_that_was_sent(None).filter(message) is message


def test_entries_a_tab_already_showed_in_its_snapshot_are_not_sent_again():
    tab = tab_that_was_sent("5-0")
    assert tab.filter(tail_entries(entries("4-0", "5-0", "6-0"))) == {
        "type": "entries",
        "entries": [{"id": "6-0", "fields": {"temperature": "20"}}],
    }
    assert tab.last_sent == StreamId.parse("6-0")
    assert tab.filter(tail_entries(entries("5-0", "6-0"))) is None


def test_a_tab_that_falls_behind_is_told_to_resynchronise_and_its_inbox_emptied():
    feed = StreamTailFeed(("tail", "chennai"), LiveReader(client=None), "chennai")
    inbox = feed.subscribe()
    for n in range(SUBSCRIBER_QUEUE + 1):
        feed.publish(tail_entries(entries(f"{n + 1}-0")))

    assert asyncio.run(inbox.get()) is RESYNC
    assert inbox.queue.empty()


def test_a_stream_rate_is_its_growth_per_second_between_refreshes_kept_for_a_minute():
    rates = StreamRates(history_length=3)
    assert rates.observe("chennai", 10, now=100.0) == [0.0]
    assert rates.observe("chennai", 30, now=102.0) == [0.0, 10.0]
    assert rates.observe("chennai", 25, now=103.0) == [0.0, 10.0, 0.0]  # shrank (XTRIM): never a negative rate
    assert rates.observe("chennai", 28, now=104.0) == [10.0, 0.0, 3.0]
    assert StreamRates().history_length == 60


def test_processing_reports_are_merged_keeping_entries_of_the_page_stream_only():
    report = Entry(
        "9-0",
        {
            "consumer": "alice",
            "processed": "3",
            "failed": "1",
            "entries": json.dumps([{"stream": "chennai", "id": "1-0"}, {"stream": "coimbatore", "id": "2-0"}]),
        },
    )
    unreadable = Entry("10-0", {"consumer": "bob", "processed": "2", "entries": "not json"})

    assert processed_message([report, unreadable], stream="chennai") == {
        "type": "processed",
        "entries": [{"stream": "chennai", "id": "1-0", "consumer": "alice", "reported": "9-0"}],
        "processed": 5,
        "failed": 1,
    }
