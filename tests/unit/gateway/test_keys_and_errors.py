"""Key names and error translation: a stream's companion keys carry its name (as a hash tag, see
test_key_scheme.py) and the app's own keys its prefix; keys that are not UTF-8 round-trip;
Redis being away, busy or loading is RedisUnavailable, WRONGTYPE is a Conflict, anything else
is left for the caller (None); and a store whose Redis is not there, or is busy running a
script, raises RedisUnavailable."""

from __future__ import annotations

import contextlib
import threading

import pytest
import redis

# How redis-py itself turns an error reply into an exception (the class, and the text it keeps).
from redis._parsers.base import BaseParser

from streams_app.errors import BadInput, Conflict, NotFound, RedisUnavailable
from streams_app.gateway import keys
from streams_app.gateway.clients import connect
from streams_app.gateway.errors import redis_call, translate_redis_error
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.heartbeats import HeartbeatStore
from streams_app.gateway.retention import RetentionStore
from streams_app.gateway.stats import StatsStore
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import EntryBatch
from tests.support.redis_server import free_port
from tests.support.workers import wait_until

STREAM = "chennai"

# --- keys -------------------------------------------------------------------------------------


def test_the_companion_keys_of_a_stream_contain_its_name():
    companions = [
        keys.dead_letter_key(STREAM, "{stream}:dead"),
        keys.errors_key(STREAM, "processors"),
        keys.stats_key(STREAM, 29_000_000),
        keys.stats_index_key(STREAM),
    ]

    assert all(STREAM in key for key in companions)
    assert len(set(companions)) == len(companions)
    assert all(key.startswith(f"{keys.APP_PREFIX}:") for key in companions[1:])


def test_the_dead_letter_key_follows_its_template_with_the_stream_as_its_hash_tag():
    assert keys.dead_letter_key(STREAM, "{stream}:dead") == "{chennai}:dead"
    assert keys.dead_letter_key(STREAM, "dead-letters:{stream}") == "dead-letters:{chennai}"
    assert keys.dead_letter_key(STREAM) == keys.dead_letter_key(STREAM, keys.DEAD_LETTER_TEMPLATE)


def test_companion_keys_differ_per_stream_group_and_minute():
    assert keys.errors_key(STREAM, "a") != keys.errors_key(STREAM, "b")
    assert keys.errors_key(STREAM, "a") != keys.errors_key("madurai", "a")
    assert keys.stats_key(STREAM, 1) != keys.stats_key(STREAM, 2)
    assert keys.stats_key(STREAM, 1) != keys.stats_key("madurai", 1)
    assert keys.stats_index_key(STREAM) != keys.stats_index_key("madurai")


def test_the_apps_own_keys_start_with_its_prefix():
    own = [
        keys.heartbeat_key("processors", "alice"),
        keys.workers_index_key(),
        keys.name_lock_key("processors", "alice"),
        keys.processed_events_key("processors"),
        keys.jobs_index_key(),
        keys.CHANNEL_LAYER_PREFIX,
    ]

    assert keys.APP_PREFIX == "weatherstreams"
    assert all(key.startswith("weatherstreams:") for key in own)
    assert len(set(own)) == len(own)
    assert "alice" in own[0] and "processors" in own[0]
    assert keys.heartbeat_key("processors", "alice") != keys.name_lock_key("processors", "alice")


def test_a_key_that_is_not_utf8_round_trips_and_is_shown_with_escapes():
    raw = b"caf\xe9\n"
    name = keys.key_from_bytes(raw)

    assert keys.key_bytes(name) == raw
    assert keys.display_name(name) == "caf\\xe9\\x0a"
    assert keys.display_name("Zürich") == "Zürich"


def test_a_name_with_a_lone_surrogate_is_shown_escaped_and_is_bad_input_as_a_key():
    assert keys.display_name("a\ud800b\x00") == "a\\ud800b\\x00"

    with pytest.raises(BadInput, match="lone surrogate") as refused:
        keys.key_bytes("a\ud800")
    assert "a\\ud800" in refused.value.message


TEMPLATE = "{stream}:dead"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("weatherstreams:processed:mygroup", "the app's own keys"),
        ("weatherstreams:asgi", "channel layer"),
        ("weatherstreams:asgispecific.abc!def", "channel layer"),
        ("rq:results:4f0c", "RQ's keys"),
        ("rq:queue:default", "RQ's keys"),
        ("{chennai}:dead", "the dead-letter stream of “chennai”"),
        ("{caf\udce9}:dead", "the dead-letter stream of “caf\\xe9”"),
        ("{eu}.chennai:dead", "the dead-letter stream of “{eu}.chennai”"),
        ("{chennai:dead}:dead", "the dead-letter stream of “chennai:dead”"),
        ("weatherstreams:{chennai}:errors:mygroup", "the app's own keys"),
        # the previous scheme's, until migrate_keys has moved them
        ("chennai:dead", "the dead-letter stream of “chennai”"),
        ("caf\udce9:dead", "the dead-letter stream of “caf\\xe9”"),
        ("chennai:dead:dead", "the dead-letter stream of “chennai:dead”"),
    ],
)
def test_the_apps_and_rqs_own_keys_say_why_they_are_not_user_streams(name, reason):
    assert reason in keys.internal_reason(name, TEMPLATE)
    assert keys.is_internal_key(name, TEMPLATE)


@pytest.mark.parametrize(
    "name", ["chennai", "weatherstreams", "rq", "RQ:x", "rqueue:x", ":dead", "dead", "chennai:deadline"]
)
def test_user_streams_are_not_internal(name):
    assert keys.internal_reason(name, TEMPLATE) is None


def test_dead_letter_streams_follow_the_configured_template():
    assert keys.dead_letter_source("dlq.{chennai}", "dlq.{stream}") == "chennai"
    assert keys.dead_letter_source("dlq.chennai", "dlq.{stream}") == "chennai"  # the previous scheme
    assert keys.dead_letter_source("chennai:dead", "dlq.{stream}") is None
    assert keys.dead_letter_source("{chennai}:dead", "dlq.{stream}") is None
    assert keys.dead_letter_source("x|chennai|chennai", "x|{stream}|{stream}") == "chennai"
    assert keys.dead_letter_source("x|chennai|madurai", "x|{stream}|{stream}") is None
    assert keys.dead_letter_source("anything", "{stream}") is None  # a template with no fixed part names none
    for stream in ("chennai", "a:b", "caf\udce9"):
        assert keys.dead_letter_source(keys.dead_letter_key(stream, TEMPLATE), TEMPLATE) == stream


# --- translate_redis_error --------------------------------------------------------------------


def as_redis_py_raises(reply: str) -> redis.ResponseError:
    return BaseParser.parse_error(reply)


@pytest.mark.parametrize(
    "error",
    [
        redis.ConnectionError("Connection refused"),
        redis.TimeoutError("Timeout reading from socket"),
        redis.exceptions.AuthenticationError("invalid password"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError("timed out"),
        as_redis_py_raises("LOADING Redis is loading the dataset in memory"),
        as_redis_py_raises("BUSY Redis is busy running a script. You can only call SCRIPT KILL or FUNCTION KILL."),
        as_redis_py_raises("CLUSTERDOWN The cluster is down"),
        as_redis_py_raises("TRYAGAIN Multiple keys request during rehashing of slot"),
        as_redis_py_raises("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
        # What redis-py's cluster client raises itself, as it gives up routing:
        redis.exceptions.SlotNotCoveredError("Command # 1 (XADD chennai) does not map to a covered slot"),
        redis.exceptions.ClusterError("TTL exhausted."),
        redis.exceptions.RedisClusterException("Redis Cluster cannot be connected. Please provide at least one node"),
    ],
    ids=[
        "connection", "timeout", "auth", "refused", "timeout-builtin", "loading", "busy",
        "clusterdown", "tryagain", "masterdown", "slot-not-covered", "ttl-exhausted", "no-node",
    ],
)  # fmt: skip
def test_redis_being_away_busy_or_loading_is_redis_unavailable(error):
    assert isinstance(translate_redis_error(error), RedisUnavailable)


def test_the_unavailable_messages_say_why():
    assert "credentials" in translate_redis_error(redis.exceptions.AuthenticationError("nope")).message
    assert "loading" in translate_redis_error(as_redis_py_raises("LOADING Redis is loading")).message
    assert "BUSY" in translate_redis_error(as_redis_py_raises("BUSY Redis is busy running a script.")).message


def test_an_exhausted_stream_is_a_conflict():
    error = as_redis_py_raises("ERR The stream has exhausted the last possible ID, unable to add more items")

    translated = translate_redis_error(error)

    assert isinstance(translated, Conflict) and "last possible ID" in translated.message


def test_wrongtype_is_a_conflict():
    error = as_redis_py_raises("WRONGTYPE Operation against a key holding the wrong kind of value")

    assert isinstance(translate_redis_error(error), Conflict)


@pytest.mark.parametrize(
    "error",
    [
        as_redis_py_raises("ERR unknown command 'NOPE'"),
        as_redis_py_raises("NOGROUP No such key 'x' or consumer group 'g'"),
        ValueError("a programming error"),
        KeyError("x"),
        # Our mistakes on a cluster are bugs to see, not a cluster that is away:
        redis.exceptions.RedisClusterException("ERROR: Calling pipelined function evalsha is blocked"),
        as_redis_py_raises("CROSSSLOT Keys in request don't hash to the same slot"),
    ],
    ids=["err", "nogroup", "value-error", "key-error", "script-in-cluster-pipeline", "crossslot"],
)
def test_other_errors_are_left_to_the_caller(error):
    assert translate_redis_error(error) is None


def test_a_domain_error_is_its_own_translation():
    error = NotFound("gone")
    assert translate_redis_error(error) is error


def test_redis_call_raises_the_domain_error_and_keeps_the_redis_error_as_its_cause():
    @redis_call
    def failing():
        raise redis.ConnectionError("Connection refused")

    with pytest.raises(RedisUnavailable) as raised:
        failing()
    assert isinstance(raised.value.__cause__, redis.ConnectionError)


def test_redis_call_lets_domain_and_programming_errors_through_unchanged():
    refusal = BadInput("no", field="x")

    @redis_call
    def refusing():
        raise refusal

    @redis_call
    def buggy():
        raise ZeroDivisionError

    with pytest.raises(BadInput) as raised:
        refusing()
    assert raised.value is refusal
    with pytest.raises(ZeroDivisionError):
        buggy()


# --- a Redis that is not there or cannot answer -----------------------------------------------


@pytest.fixture
def nowhere():
    """A client on a port where nothing listens."""
    client = connect(f"redis://127.0.0.1:{free_port()}/0", retries=0)
    yield client
    client.close()


@pytest.mark.parametrize(
    "call",
    [
        lambda client: StreamStore(client).key_type(STREAM),
        lambda client: StreamStore(client).add_entry(STREAM, [("n", "1")]),
        lambda client: list(StreamStore(client).add_entries(STREAM, [EntryBatch(ids=None, columns=[("n", ["1"])])])),
        lambda client: StreamStore(client).scan_stream_keys(),
        lambda client: GroupStore(client).groups(STREAM),
        lambda client: GroupStore(client).delete_consumer(STREAM, "g", "alice"),
        lambda client: HeartbeatStore(client).workers(),
        lambda client: RetentionStore(client).trim(STREAM, maxlen=1),
        lambda client: StatsStore(client).minutes(STREAM, fields=["temperature"]),
    ],
    ids=[
        "key_type",
        "add_entry",
        "add_entries",
        "scan",
        "groups",
        "delete_consumer",
        "workers",
        "trim",
        "stats",
    ],
)
def test_a_store_call_where_nothing_listens_is_redis_unavailable(nowhere, call):
    with pytest.raises(RedisUnavailable, match="Redis is unavailable"):
        call(nowhere)


@pytest.mark.single_node  # makes the one Redis node busy (and kills its script there)
def test_a_store_call_while_redis_runs_a_long_script_is_redis_unavailable(redis_server, redis_client):
    """A real BUSY reply: Redis answers other clients with BUSY once a script has run past
    busy-reply-threshold, until it is killed."""
    [(_, threshold)] = redis_client.config_get("busy-reply-threshold").items()
    redis_client.config_set("busy-reply-threshold", 20)
    runner = redis.Redis.from_url(redis_server.url)
    outcome: list[BaseException] = []

    def run_forever() -> None:
        try:
            runner.eval("while true do end", 0)
        except redis.ResponseError as error:  # killed
            outcome.append(error)

    thread = threading.Thread(target=run_forever, daemon=True)
    thread.start()
    store_client = connect(redis_server.url)
    try:
        store = StreamStore(store_client)

        def busy_refusal() -> RedisUnavailable | None:
            try:
                store.key_type(STREAM)
            except RedisUnavailable as error:
                return error
            return None

        refusal = wait_until(busy_refusal, timeout=5, what="Redis to answer BUSY")
        assert "BUSY" in refusal.message
    finally:
        # Whatever happened above, the shared server must be free again for the next test.
        wait_until(lambda: _kill_script(redis_client) or not thread.is_alive(), timeout=10, what="the script killed")
        redis_client.config_set("busy-reply-threshold", threshold)
        runner.close()
    assert outcome and "killed" in str(outcome[0]).lower()
    assert store.key_type(STREAM) == "none"  # the same client works again
    store_client.close()


def _kill_script(client: redis.Redis) -> None:
    with contextlib.suppress(redis.ResponseError):  # NOTBUSY: no script running (yet, or any more)
        client.script_kill()


@pytest.mark.parametrize(
    "reply",
    [
        "CLUSTERDOWN The cluster is down",
        "TRYAGAIN Multiple keys request during rehashing of slot",
        "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        "READONLY You can't write against a read only replica.",
        "OOM command not allowed when used memory > 'maxmemory'.",
    ],
)
def test_replies_redis_py_raises_as_their_own_classes_mean_redis_is_unavailable(reply):

    assert isinstance(translate_redis_error(BaseParser.parse_error(reply)), RedisUnavailable)
