"""Back-pressure and fan-out cost in the live room, in-process: a tab's inbox is bounded in
messages and bytes and emptied when it overflows; a tab stuck in one send is let go of and closed
with 4408 after the message saying why; the feed's window grows with what a fan-out costs; a tab in
step with its feed is sent each message as the one event built for every tab."""

from __future__ import annotations

import asyncio

import pytest

from streams_app.gateway.live_io import LiveReader
from streams_app.gateway.types import Entry
from streams_app.live import feeds
from streams_app.live.consumers import StreamTailConsumer
from streams_app.live.feeds import SUBSCRIBER_QUEUE, SUBSCRIBER_QUEUE_BYTES, StreamTailFeed
from streams_app.live.messages import CLOSE_TOO_SLOW, RESYNC, tail_entries
from streams_app.live.sockets import SERVER_SEND
from tests.unit.live.sockets import SignedInUser, WithUser, open_socket, receive_until, run_live
from weatherstreams.asgi import with_server_send

STREAM = "chennai"


def entries(*ids: str, note: str = "") -> list[Entry]:
    return [Entry(entry_id, {"temperature": "20", **({"note": note} if note else {})}) for entry_id in ids]


def tail_feed() -> StreamTailFeed:
    return StreamTailFeed(("tail", STREAM), LiveReader(client=None), STREAM)


def test_an_overflowing_inbox_is_emptied_at_once_and_keeps_nothing_until_the_tab_resynchronises():
    feed = tail_feed()
    inbox = feed.subscribe()
    for n in range(SUBSCRIBER_QUEUE + 5):
        feed.publish(tail_entries(entries(f"{n + 1}-0")))

    assert inbox.overflowed
    assert inbox.queue.empty() and inbox.queued_bytes == 0, "the messages are let go of before the tab reads"
    assert asyncio.run(inbox.get()) is RESYNC
    feed.publish(tail_entries(entries("999-0")))
    assert inbox.queue.qsize() == 1, "once told, the tab is fed again"


def test_an_inbox_is_bounded_in_bytes_too():
    feed = tail_feed()
    inbox = feed.subscribe()
    big = "x" * 100_000
    published = 0
    while not inbox.overflowed:
        feed.publish(tail_entries(entries(f"{published + 1}-0", note=big)))
        published += 1

    assert published < SUBSCRIBER_QUEUE
    assert published * 100_000 < 2 * SUBSCRIBER_QUEUE_BYTES


def test_a_tab_stuck_in_one_send_past_the_timeout_is_let_go_of_once_and_one_that_is_not_sending_never():
    async def scenario() -> None:
        feed = tail_feed()
        stuck_calls, idle_calls = [], []
        stuck = feed.subscribe(send_timeout=0.05, on_stuck=lambda: stuck_calls.append(1))
        idle = feed.subscribe(send_timeout=0.05, on_stuck=lambda: idle_calls.append(1))
        stuck.sending_since = asyncio.get_running_loop().time()  # its relay is in a send that does not end
        for n in range(SUBSCRIBER_QUEUE + 1):
            feed.publish(tail_entries(entries(f"{n + 1}-0")))
        assert stuck.overflowed and idle.overflowed
        assert not stuck_calls, "not yet: the send began a moment ago"
        await asyncio.sleep(0.1)
        for n in range(3):
            feed.publish(tail_entries(entries(f"{1000 + n}-0")))
        assert stuck_calls == [1]
        assert idle_calls == [], "a tab between sends is only behind: it gets a resync when it reads"

    asyncio.run(scenario())


def test_the_feed_window_is_the_coalescing_floor_and_grows_with_what_a_fan_out_costs_up_to_a_ceiling():
    feed = tail_feed()
    assert feed.window == feeds.COALESCE_SECONDS
    feed.fanout_seconds = 0.002
    assert feed.window == feeds.COALESCE_SECONDS
    feed.fanout_seconds = 0.020
    assert feed.window == pytest.approx(feeds.FANOUT_WINDOW_FACTOR * 0.020)
    feed.fanout_seconds = 5.0
    assert feed.window == feeds.COALESCE_SECONDS_MAX


def test_each_feed_message_carries_the_one_asgi_event_every_tab_hands_to_the_server():
    message = tail_entries(entries("6-0", "7-0"))
    assert message.frame == {"type": "websocket.send", "text": message.text}
    assert message.type == "entries"


def test_a_tab_in_step_with_its_feed_is_sent_each_message_as_is_until_its_next_snapshot():
    tab = StreamTailConsumer()
    tab.last_sent = None
    first = tail_entries(entries("6-0"))
    assert tab.filter(first) is first and tab.in_step
    later = tail_entries(entries("7-0", "8-0"))
    assert tab.filter(later) is later


def test_the_asgi_application_hands_websockets_the_server_send_in_their_scope():
    seen = {}

    async def inner(scope, receive, send):
        seen.update(scope)

    async def server_send(event):
        pass

    asyncio.run(with_server_send(inner)({"type": "websocket"}, None, server_send))
    assert seen[SERVER_SEND] is server_send


class StuckServerSend:
    """A page that stopped reading: the server's `send` of live messages never completes."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.blocked = 0

    async def __call__(self, scope, receive, send):
        async def never(event):
            self.blocked += 1
            await asyncio.Event().wait()

        await self.inner({**scope, SERVER_SEND: never}, receive, send)


@pytest.mark.django_db(transaction=True)
def test_a_tab_that_stops_reading_is_closed_with_4408_after_a_message_saying_why(redis_client, settings):
    settings.WEATHERSTREAMS_LIVE_SEND_TIMEOUT_SECONDS = 0.2
    redis_client.xadd(STREAM, {"temperature": "20"})
    from channels.routing import URLRouter

    from streams_app.live.routing import websocket_urlpatterns

    application = StuckServerSend(WithUser(URLRouter(websocket_urlpatterns), SignedInUser()))

    async def scenario() -> None:
        async with open_socket(application, f"/ws/streams/{STREAM}/tail/") as socket:
            assert (await socket.receive_json_from(timeout=5))["type"] == "snapshot"
            redis_client.xadd(STREAM, {"temperature": "21"})
            while not application.blocked:
                await asyncio.sleep(0.01)
            # Keep the feed publishing: the stuck tab's inbox overflows (1 MiB), then the timeout passes.
            for _ in range(40):
                pipe = redis_client.pipeline(transaction=False)
                for _ in range(10):
                    pipe.xadd(STREAM, {"temperature": "22", "note": "x" * 20_000})
                pipe.execute()
                await asyncio.sleep(0.015)
            said = await receive_until(socket, lambda message: message["type"] == "error")
            assert "stopped reading" in said[-1]["message"]
            closed = await socket.receive_output(timeout=5)
            assert closed == {"type": "websocket.close", "code": CLOSE_TOO_SLOW}
            assert not registry_subscribers(), "its inbox was let go of"

    run_live(scenario)


def registry_subscribers() -> int:
    from streams_app.live.registry import registry

    return sum(len(feed.subscriptions) for feed in registry().feeds.values())
