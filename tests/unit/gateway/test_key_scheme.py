"""The key scheme for Redis Cluster: every companion of a stream (dead letters, handler errors,
statistics and their index) hashes to the stream's slot, computed offline as Redis does
(redis.crc.key_slot on the exact bytes); a stream that holds a {tag} keeps it; names that
braces cannot wrap (`{}`, `}`, empty) get a computed tag; names that are not UTF-8 work; the
previous scheme's keys are still recognised. And on a real cluster-enabled redis-server, the
scripts that take several keys (re-drive, the statistics merge) run where the previous names
were CROSSSLOT."""

from __future__ import annotations

import time

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured
from redis.crc import key_slot

from streams_app.conf import app_settings
from streams_app.gateway import keys
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.stats import MinuteAggregate, StatsStore
from streams_app.key_templates import dead_letter_template_problem
from tests.support.redis_server import RedisServer, free_port

NAMES = [
    "chennai",
    "coimbatore",
    "a:b",
    "Zürich",
    "x" * 64,
    "{eu}.chennai",  # holds a tag: keeps it
    "pre{eu}post",
    "a{b",  # a `{` without a `}`: no tag, and braces can wrap it
    "{",
    "{{x}}",
    "}{x}",  # a `}` before the first `{` does not count: tag x
    "{}",  # an empty tag: Redis hashes the whole name, and braces cannot wrap it
    "{}{x}",  # Redis looks at the first `{` only: the whole name again
    "a{}b",
    "}",
    "x}y",
    "caf\udce9",  # the byte 0xE9, not UTF-8
    "\udcff}\udcfe",
    "new\nline",
]
TEMPLATES = [keys.DEAD_LETTER_TEMPLATE, "dlq.{stream}", "{stream}:dead:{stream}", "dead-letters:{stream}"]
GROUPS = ["mygroup", "g{x}", "{a}", "a:b"]


def slot(name: str) -> int:
    """The slot Redis Cluster gives the key's exact bytes."""
    return key_slot(keys.key_bytes(name))


def companions(stream: str) -> list[str]:
    return [
        *(keys.dead_letter_key(stream, template) for template in TEMPLATES),
        *(keys.errors_key(stream, group) for group in GROUPS),
        keys.stats_key(stream, 29_000_000),
        keys.stats_index_key(stream),
    ]


@pytest.mark.parametrize("stream", NAMES, ids=repr)
def test_every_companion_hashes_to_its_streams_slot(stream):
    assert {slot(key) for key in companions(stream)} == {slot(stream)}
    assert keys.slot_of(stream) == slot(stream)


def test_the_companions_of_a_stream_read_as_the_issue_names_them():
    assert keys.dead_letter_key("chennai") == "{chennai}:dead"
    assert keys.errors_key("chennai", "mygroup") == "weatherstreams:{chennai}:errors:mygroup"
    assert keys.stats_key("chennai", 29_000_000) == "weatherstreams:{chennai}:stats:29000000"
    assert keys.stats_index_key("chennai") == "weatherstreams:{chennai}:stats"
    assert keys.dead_letter_key("chennai", "dlq.{stream}") == "dlq.{chennai}"


def test_a_stream_that_holds_a_tag_keeps_it_and_its_whole_name():
    assert keys.dead_letter_key("{eu}.chennai") == "{eu}.chennai:dead"
    assert keys.errors_key("{eu}.chennai", "g") == "weatherstreams:{eu}.chennai:errors:g"
    assert slot(keys.dead_letter_key("{eu}.chennai")) == slot("eu") == slot("{eu}.madurai")


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("chennai", None),
        ("{eu}.chennai", "eu"),
        ("a{b", None),
        ("{", None),
        ("{}", None),
        ("{}{x}", None),
        ("}{x}", "x"),
        ("{{x}}", "{x"),
        ("a{b}c{d}", "b"),
        ("", None),
    ],
)
def test_the_hash_tag_is_what_redis_hashes(name, tag):
    assert keys.hash_tag(name) == tag
    hashed = name if tag is None else tag
    assert slot(name) == key_slot(hashed.encode())


@pytest.mark.parametrize("stream", ["{}", "}", "a{}b", "x}y", "\udcff}\udcfe", ""], ids=repr)
def test_a_name_braces_cannot_wrap_gets_a_computed_tag_of_its_slot(stream):
    prefix = keys.slot_prefix(stream)

    assert prefix.startswith("{~") and prefix.endswith("}" + stream)
    assert slot(prefix) == slot(stream)
    assert keys.slot_prefix(stream) == prefix  # the same every time


@pytest.mark.parametrize("stream", [n for n in NAMES if n], ids=repr)
def test_a_dead_letter_stream_names_its_stream_under_every_template(stream):
    for template in TEMPLATES:
        dead = keys.dead_letter_key(stream, template)
        assert keys.dead_letter_source(dead, template) == stream, template
        assert keys.internal_reason(dead, template) == f"the dead-letter stream of “{keys.display_name(stream)}”"


def test_companions_differ_between_streams():
    every = [key for stream in NAMES for key in companions(stream)]
    assert len(set(every)) == len(every)


def test_the_known_sharers_are_a_name_and_the_same_name_in_braces():
    # `{chennai}` holds the tag chennai and keeps its name, which is how chennai's companions
    # start: both streams would share them. No name the app accepts holds braces.
    assert keys.dead_letter_key("{chennai}") == keys.dead_letter_key("chennai")
    assert keys.dead_letter_source("{chennai}:dead") == "chennai"


def test_the_previous_schemes_dead_letter_streams_are_still_internal():
    assert keys.dead_letter_source("chennai:dead") == "chennai"
    assert keys.previous_dead_letter_source("chennai:dead") == "chennai"
    assert keys.internal_reason("chennai:dead") == "the dead-letter stream of “chennai”"
    assert keys.dead_letter_source("dlq.chennai", "dlq.{stream}") == "chennai"
    assert keys.internal_reason("chennai:deadline") is None


def test_the_previous_schemes_names():
    assert keys.previous_dead_letter_key("chennai") == "chennai:dead"
    assert keys.previous_errors_key("chennai", "mygroup") == "weatherstreams:errors:mygroup:chennai"
    assert keys.previous_stats_key("chennai", 5) == "weatherstreams:stats:chennai:5"
    assert keys.previous_stats_index_key("chennai") == "weatherstreams:stats:chennai"
    assert keys.slot_of("chennai:dead") != keys.slot_of("chennai")  # why they had to move


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{stream}:dead", None),
        ("dlq.{stream}", None),
        ("dead", "must contain {stream}"),
        ("{dlq}.{stream}", "no braces but {stream}"),
        ("{{x}}{stream}", "no braces but {stream}"),
        ("{stream}", "needs more than {stream}"),
    ],
)
def test_a_dead_letter_template_must_name_the_stream_and_set_no_tag_of_its_own(settings, template, problem):
    found = dead_letter_template_problem(template)
    assert found is None if problem is None else problem in found
    settings.WEATHERSTREAMS_DEAD_LETTER_STREAM = template
    if problem is None:
        assert app_settings().dead_letter_stream == template
    else:
        with pytest.raises(ImproperlyConfigured, match="WEATHERSTREAMS_DEAD_LETTER_STREAM"):
            app_settings()


# --- on a real cluster-enabled redis-server -----------------------------------------------------


class ClusterNode(RedisServer):
    """A redis-server in cluster mode that owns every slot: it answers every key itself (no MOVED),
    and refuses a script whose keys are in different slots (CROSSSLOT), as a cluster does. It
    takes 2 s to start: a new primary waits that long before it takes writes."""

    def command(self) -> list[str]:
        nodes = str(self.directory / "nodes.conf")
        # Its own bus port: the default (port + 10000) is out of range for a high free port.
        bus = ["--cluster-port", str(free_port())]
        return [*super().command(), "--cluster-enabled", "yes", "--cluster-config-file", nodes, *bus]

    def start(self) -> ClusterNode:
        super().start()
        client = redis.Redis(port=self.port)
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        deadline = time.monotonic() + 10
        while client.cluster("info")["cluster_state"] != "ok":
            assert time.monotonic() < deadline, "the one-node cluster did not come up"
            time.sleep(0.02)
        client.close()
        return self


@pytest.fixture(scope="module")
def cluster_node():
    with ClusterNode(persistent=False) as node:
        yield node


@pytest.fixture
def cluster_client(cluster_node):
    client = redis.Redis(port=cluster_node.port)
    client.flushall()
    yield client
    client.close()


@pytest.mark.parametrize("stream", ["chennai", "{eu}.chennai", "a{}b", "caf\udce9"], ids=repr)
def test_redis_computes_the_same_slots(cluster_client, stream):
    for key in [stream, *companions(stream)]:
        assert cluster_client.execute_command("CLUSTER", "KEYSLOT", keys.key_bytes(key)) == slot(key)


def test_the_previous_names_are_crossslot_in_a_script(cluster_client):
    with pytest.raises(redis.ResponseError, match="same slot"):
        cluster_client.eval("return 1", 2, "chennai", keys.previous_dead_letter_key("chennai"))


@pytest.mark.parametrize("stream", ["chennai", "{eu}.chennai", "a{}b"], ids=repr)
def test_redrive_and_the_statistics_merge_run_on_a_cluster(cluster_client, stream):
    dead = keys.dead_letter_key(stream)
    dead_id = cluster_client.xadd(dead, {"stream": keys.key_bytes(stream), "id": "1-0", "orig:t": "20"}).decode()

    [(moved_id, new_id)] = GroupStore(cluster_client).redrive(dead, stream, [dead_id])

    assert moved_id == dead_id and cluster_client.xlen(dead) == 0
    assert cluster_client.xrange(keys.key_bytes(stream)) == [(new_id.encode(), {b"t": b"20"})]
    aggregate = MinuteAggregate(city=stream, minute=7)
    aggregate.add({"temperature": 21.5})
    stats = StatsStore(cluster_client)
    stats.merge([aggregate])
    [minute] = stats.minutes(stream, fields=["temperature"])
    assert (minute.minute, minute.count, minute.fields["temperature"].mean) == (7, 1, 21.5)
