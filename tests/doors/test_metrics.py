"""GET /metrics: the Prometheus text format read back with prometheus_client's own parser and
compared with what Redis holds; API-token authentication; internal keys left out; names escaped;
the cap on series; the one-second cache; the Redis round trips of a scrape; and the ops files
(scrape config, alert rules, Grafana dashboard) naming only metrics a real scrape has."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import ClassVar

import pytest
import redis as redis_py
import redis.cluster
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from streams_app.conf import app_settings
from streams_app.gateway.groups import GroupStore
from streams_app.gateway.keys import dead_letter_key, display_name, key_bytes
from streams_app.gateway.metrics_io import MetricsStore
from streams_app.gateway.worker_io import WorkerIO
from streams_app.models import ApiToken, AuditEvent
from streams_app.web.metrics import forget_cached_metrics
from streams_app.worker.config import WorkerConfig
from streams_app.worker.counters import WorkerCounters
from streams_app.worker.heartbeat import Heartbeat
from tests.conftest import member_of
from tests.support.redis_server import free_port

pytestmark = pytest.mark.django_db

OPS = Path(__file__).resolve().parents[2] / "ops"
META = {"weatherstreams_metrics_series_dropped", "weatherstreams_metrics_truncated"}
# What a scrape may send Redis besides its reads: our own INFO, redis-py's health checks and, on a
# cluster, its slot-map questions.
NOT_A_SCRAPE = {"info", "ping", "cluster|slots", "cluster|shards", "cluster|nodes", "command", "command|docs"}


@pytest.fixture(autouse=True)
def no_cache(settings):
    """Every test scrapes Redis afresh unless it sets a cache window itself."""
    settings.WEATHERSTREAMS_METRICS_CACHE_SECONDS = 0
    forget_cached_metrics()
    yield
    forget_cached_metrics()


@pytest.fixture
def viewer_key(db, django_user_model) -> str:
    """A token of a user in no role (a viewer): enough to scrape."""
    viewer = member_of(None, django_user_model, "prometheus")
    _, key = ApiToken.objects.issue(user=viewer, name="prometheus")
    return key


@pytest.fixture
def scraper(viewer_key, redis_client) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {viewer_key}")


Samples = dict[tuple[str, frozenset], float]


def scrape(client: Client) -> tuple[Samples, str]:
    """Every sample of one scrape, by (sample name, labels), and the text as sent."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    body = response.content.decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, f"a series twice: {key}"
            samples[key] = sample.value
    return samples, body


def labels(**values: str) -> frozenset:
    return frozenset(values.items())


def of(samples: Samples, name: str) -> dict[frozenset, float]:
    return {found: value for (sample, found), value in samples.items() if sample == name}


def xadd(client, stream: str, entry_id: str = "*", **fields: str) -> str:
    new_id = client.xadd(key_bytes(stream), fields or {"temperature": "20", "humidity": "50"}, id=entry_id)
    return new_id.decode()


def beat(app_redis, *, name: str, group: str, processed: int, failed: int, dead_lettered: int) -> None:
    """A heartbeat as a worker writes it: its Heartbeat's status, through WorkerIO.beat."""
    config = WorkerConfig(
        name=name,
        streams=("chennai",),
        group=group,
        count=10,
        block_ms=100,
        claim_idle_ms=30_000,
        max_deliveries=5,
        start_id="$",
        dead_letter_template=app_settings().dead_letter_stream,
    )
    counters = WorkerCounters(processed=processed, failed=failed, dead_lettered=dead_lettered)
    io = WorkerIO(app_redis)
    heartbeat = Heartbeat(
        config,
        io,
        counters=counters,
        host="test",
        pid=4242,
        lock_token=f"token-{name}",
        entries_in_hand=dict,
        on_name_lost=lambda: None,
    )
    heartbeat.state = "running"
    io.beat(
        group=group,
        name=name,
        status=heartbeat.status(),
        ttl_ms=60_000,
        lock_token=f"token-{name}",
        lock_ttl_ms=60_000,
    )


def busy_redis(redis_client, app_redis) -> None:
    """Two streams, groups with lag and pending entries, consumers, dead letters and workers:
    one alive, one gone (its heartbeat expired), one stopped cleanly."""
    for number in range(5):
        xadd(redis_client, "chennai", f"{1_700_000_000_000 + number}-0")
    groups = GroupStore(app_redis)
    groups.create_group("chennai", "mygroup", start_id="0")  # with ENTRIESREAD: Redis knows the lag
    redis_client.xreadgroup(b"mygroup", b"alice", {b"chennai": b">"}, count=2)
    redis_client.xreadgroup(b"mygroup", b"bob", {b"chennai": b">"}, count=1)
    for _ in range(2):
        xadd(redis_client, dead_letter_key("chennai"), error="boom")
    xadd(redis_client, "coimbatore", "1700000100000-0")
    groups.create_group("coimbatore", "mygroup", start_id="$")
    beat(app_redis, name="alice", group="mygroup", processed=7, failed=2, dead_lettered=1)
    beat(app_redis, name="carol", group="mygroup", processed=3, failed=0, dead_lettered=0)
    WorkerIO(app_redis).retire(
        group="mygroup", name="carol", lock_token="token-carol", status={"state": "stopped", "processed": "3"}
    )
    redis_client.zadd("weatherstreams:workers", {"mygroup\tdave": time.time() - 600})  # gone: no heartbeat hash


def redis_groups(redis_client, stream: str) -> dict[str, dict]:
    return {row["name"].decode(): row for row in redis_client.xinfo_groups(stream)}


# --- values match Redis -----------------------------------------------------------------------


def test_a_scrape_says_what_redis_holds(scraper, redis_client, app_redis):
    busy_redis(redis_client, app_redis)

    samples, _ = scrape(scraper)

    for stream in ("chennai", "coimbatore"):
        info = redis_client.xinfo_stream(stream)
        where = labels(stream=stream)
        assert samples["weatherstreams_stream_length", where] == redis_client.xlen(stream) == info["length"]
        last_ms = int(info["last-entry"][0].decode().split("-")[0])
        assert samples["weatherstreams_stream_last_entry_timestamp_seconds", where] == last_ms / 1000
        assert samples["weatherstreams_dead_letters", where] == redis_client.xlen(dead_letter_key(stream))
        for group, row in redis_groups(redis_client, stream).items():
            at = labels(stream=stream, group=group)
            assert row["lag"] is not None
            assert samples["weatherstreams_group_lag", at] == row["lag"]
            assert samples["weatherstreams_group_pending", at] == row["pending"]
            for consumer in redis_client.xinfo_consumers(stream, group):
                at_consumer = labels(stream=stream, group=group, consumer=consumer["name"].decode())
                assert samples["weatherstreams_consumer_pending", at_consumer] == consumer["pending"]
    assert samples["weatherstreams_dead_letters", labels(stream="chennai")] == 2
    assert samples["weatherstreams_group_lag", labels(stream="chennai", group="mygroup")] == 2
    assert samples["weatherstreams_group_pending", labels(stream="chennai", group="mygroup")] == 3
    assert of(samples, "weatherstreams_consumer_pending") == {
        labels(stream="chennai", group="mygroup", consumer="alice"): 2,
        labels(stream="chennai", group="mygroup", consumer="bob"): 1,
    }

    alice, carol, dave = (labels(worker=name, group="mygroup") for name in ("alice", "carol", "dave"))
    assert of(samples, "weatherstreams_worker_up") == {alice: 1, carol: 0, dave: 0}
    assert samples["weatherstreams_worker_processed_total", alice] == 7
    assert samples["weatherstreams_worker_failed_total", alice] == 2
    assert samples["weatherstreams_worker_dead_lettered_total", alice] == 1
    assert samples["weatherstreams_worker_processed_total", carol] == 3  # stopped: its last word
    assert ("weatherstreams_worker_processed_total", dave) not in samples  # gone: its counters with it
    seen = float(redis_client.hget("weatherstreams:worker:mygroup:alice", "last_seen"))
    assert samples["weatherstreams_worker_last_seen_timestamp_seconds", alice] == pytest.approx(seen)
    assert samples["weatherstreams_metrics_truncated", frozenset()] == 0
    assert samples["weatherstreams_metrics_series_dropped", frozenset()] == 0


def test_an_empty_redis_scrapes_to_the_two_notes_only(scraper, redis_client):
    samples, body = scrape(scraper)

    assert set(samples) == {(name, frozenset()) for name in META}
    assert "# TYPE weatherstreams_group_lag gauge" in body  # every family is declared, even empty


def test_a_lag_redis_cannot_tell_has_no_sample(scraper, redis_client):
    # The tutorial's flow in redis-cli: Redis 7.0 says nil for the lag (see tests/doors/test_lag.py).
    redis_client.execute_command("XADD", "chennai", "1", "temperature", "29", "humidity", "10")
    redis_client.execute_command("XGROUP", "CREATE", "chennai", "mygroup", "$")
    for _ in range(5):
        redis_client.execute_command("XADD", "chennai", "*", "temperature", "21", "humidity", "10")
    redis_client.execute_command("XREADGROUP", "GROUP", "mygroup", "alice", "COUNT", "2", "STREAMS", "chennai", ">")
    redis_client.execute_command("XGROUP", "CREATE", "chennai", "caught-up", "$")  # at the end: 0, no count needed
    known = redis_groups(redis_client, "chennai")["mygroup"]["lag"]

    samples, _ = scrape(scraper)

    expected = {labels(stream="chennai", group="caught-up"): 0}
    if known is not None:  # an engine that tracks the lag in this flow: its own figure is the sample
        expected[labels(stream="chennai", group="mygroup")] = known
    assert of(samples, "weatherstreams_group_lag") == expected
    assert samples["weatherstreams_group_pending", labels(stream="chennai", group="mygroup")] == 2


# --- authentication -----------------------------------------------------------------------------


def test_anonymous_gets_401_with_a_bearer_challenge(redis_client):
    response = Client().get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"].startswith("text/plain")
    assert "Authorization: Bearer" in response.content.decode()
    assert len(response.content) < 200


@pytest.mark.parametrize("scheme", ["Bearer", "Token", "bearer"])
def test_a_bad_token_gets_401_in_either_form(redis_client, viewer_key, scheme):
    for key in ("not-a-token", viewer_key + "x", ""):
        response = Client(HTTP_AUTHORIZATION=f"{scheme} {key}").get("/metrics")
        assert response.status_code == 401
        assert b"weatherstreams_" not in response.content


def test_a_bad_token_gets_a_short_text_answer_with_a_challenge(redis_client):
    response = Client(HTTP_AUTHORIZATION="Bearer not-a-token").get("/metrics")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("scheme", ["Bearer", "Token"])
def test_a_viewers_token_scrapes_in_either_form(redis_client, viewer_key, scheme):
    xadd(redis_client, "chennai")

    samples, _ = scrape(Client(HTTP_AUTHORIZATION=f"{scheme} {viewer_key}"))

    assert samples["weatherstreams_stream_length", labels(stream="chennai")] == 1


def test_an_inactive_users_token_gets_401(redis_client, viewer_key):
    viewer = ApiToken.objects.select_related("user").get(name="prometheus").user
    viewer.is_active = False
    viewer.save()

    assert Client(HTTP_AUTHORIZATION=f"Bearer {viewer_key}").get("/metrics").status_code == 401


def test_a_scrape_records_nothing_in_the_audit_trail(scraper, redis_client, app_redis):
    busy_redis(redis_client, app_redis)
    before = AuditEvent.objects.count()

    scrape(scraper)
    scrape(scraper)

    assert AuditEvent.objects.count() == before


def test_only_get_is_allowed(scraper, redis_client):
    response = scraper.post("/metrics")

    assert response.status_code == 405
    assert response["Allow"] == "GET"


def test_redis_down_is_a_short_503(scraper, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"

    response = scraper.get("/metrics")

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert "Redis is unavailable" in response.content.decode()
    assert "Traceback" not in response.content.decode()


# --- what is shown, and how -------------------------------------------------------------------


def test_internal_keys_are_left_out(scraper, redis_client, app_redis):
    busy_redis(redis_client, app_redis)
    for internal in ("weatherstreams:processed:mygroup", "weatherstreams:asgi:x", "rq:events", "chennai:dead"):
        xadd(redis_client, internal)
    assert redis_client.type(dead_letter_key("chennai")) == b"stream"

    samples, _ = scrape(scraper)

    shown = {dict(found).get("stream") for (_, found) in samples} - {None}
    assert shown == {"chennai", "coimbatore"}


def test_names_are_escaped_and_shown_as_the_app_shows_them(scraper, redis_client):
    odd = 'we"ird\\name\nwith a newline'
    latin1 = "café".encode("latin-1").decode("utf-8", "surrogateescape")  # bytes that are not UTF-8
    for name in (odd, latin1):
        xadd(redis_client, name)
    redis_client.xgroup_create(key_bytes(odd), b'g"1\\', id="0")
    redis_client.xreadgroup(b'g"1\\', b"c\nc", {key_bytes(odd): b">"}, count=1)

    samples, body = scrape(scraper)

    assert display_name(odd) == 'we"ird\\name\\x0awith a newline'
    assert samples["weatherstreams_stream_length", labels(stream=display_name(odd))] == 1
    assert samples["weatherstreams_stream_length", labels(stream="caf\\xe9")] == 1
    assert samples[
        "weatherstreams_consumer_pending", labels(stream=display_name(odd), group='g"1\\', consumer="c\\x0ac")
    ]
    # As sent: quotes and backslashes escaped, no raw newline inside a label.
    assert 'weatherstreams_stream_length{stream="we\\"ird\\\\name\\\\x0awith a newline"} 1.0' in body
    assert 'weatherstreams_stream_length{stream="caf\\\\xe9"} 1.0' in body


def test_two_names_shown_alike_make_one_series_and_the_other_is_counted_as_dropped(scraper, redis_client):
    raw_byte = b"caf\xe9"  # not UTF-8: shown as caf\xe9
    spelt_out = b"caf\\xe9"  # the same text, typed
    redis_client.xadd(raw_byte, {"temperature": "1"})
    redis_client.xadd(spelt_out, {"temperature": "1"})
    redis_client.xadd(spelt_out, {"temperature": "2"})

    samples, _ = scrape(scraper)  # which itself refuses a series twice

    assert len(of(samples, "weatherstreams_stream_length")) == 1
    assert samples["weatherstreams_metrics_series_dropped", frozenset()] == 3
    assert samples["weatherstreams_metrics_truncated", frozenset()] == 1


def test_the_cap_on_series_cuts_whole_streams_and_says_so(scraper, redis_client, settings):
    for number in range(6):
        xadd(redis_client, f"city-{number}")  # three series each: length, last entry, dead letters
    everything, _ = scrape(scraper)
    shown_all = {key for key in everything if key[0] not in META}
    assert len(shown_all) == 18

    settings.WEATHERSTREAMS_METRICS_MAX_SERIES = 7
    samples, _ = scrape(scraper)

    shown = {key for key in samples if key[0] not in META}
    assert len(shown) == 6 and shown < shown_all
    streams = {dict(found)["stream"] for _, found in shown}
    assert len(streams) == 2 and all(len([key for key in shown if dict(key[1])["stream"] == s]) == 3 for s in streams)
    assert samples["weatherstreams_metrics_series_dropped", frozenset()] == 12
    assert samples["weatherstreams_metrics_truncated", frozenset()] == 1


def test_the_cap_leaves_consumers_out_before_workers_groups_and_streams(scraper, redis_client, app_redis, settings):
    busy_redis(redis_client, app_redis)
    everything, _ = scrape(scraper)
    consumers = len(of(everything, "weatherstreams_consumer_pending"))
    total = len([key for key in everything if key[0] not in META])

    settings.WEATHERSTREAMS_METRICS_MAX_SERIES = total - consumers
    samples, _ = scrape(scraper)

    assert of(samples, "weatherstreams_consumer_pending") == {}
    assert {key for key in samples if key[0] not in META} == {
        key for key in everything if key[0] not in META and key[0] != "weatherstreams_consumer_pending"
    }
    assert samples["weatherstreams_metrics_series_dropped", frozenset()] == consumers


def test_a_rendering_is_reused_within_the_cache_window(scraper, redis_client, settings):
    xadd(redis_client, "chennai")
    settings.WEATHERSTREAMS_METRICS_CACHE_SECONDS = 3600
    _, first_body = scrape(scraper)
    xadd(redis_client, "madurai")
    xadd(redis_client, "chennai")

    second, second_body = scrape(scraper)

    assert second_body == first_body
    assert ("weatherstreams_stream_length", labels(stream="madurai")) not in second

    settings.WEATHERSTREAMS_METRICS_CACHE_SECONDS = 0  # the window has passed
    third, _ = scrape(scraper)

    assert third["weatherstreams_stream_length", labels(stream="madurai")] == 1
    assert third["weatherstreams_stream_length", labels(stream="chennai")] == 2


@pytest.mark.parametrize(
    ("name", "value"), [("WEATHERSTREAMS_METRICS_MAX_SERIES", 0), ("WEATHERSTREAMS_METRICS_CACHE_SECONDS", -1)]
)
def test_metrics_settings_out_of_range_are_refused(settings, name, value):
    setattr(settings, name, value)

    with pytest.raises(ImproperlyConfigured, match=name):
        app_settings()


# --- what a scrape costs Redis ------------------------------------------------------------------


def primaries(redis_client) -> list[redis_py.Redis]:
    """A plain client on each primary holding the app's streams (the one Redis, or each of a cluster's)."""
    if isinstance(redis_client, redis.cluster.RedisCluster):
        return [redis_py.Redis(host=node.host, port=node.port) for node in redis_client.get_primaries()]
    return [redis_client]


def command_calls(nodes: list[redis_py.Redis]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for node in nodes:
        for name, stats in node.info("commandstats").items():
            command = name.removeprefix("cmdstat_")
            totals[command] = totals.get(command, 0) + int(stats["calls"])
    return totals


def test_a_scrape_sends_only_its_reads_once_each(scraper, redis_client, app_redis):
    busy_redis(redis_client, app_redis)
    nodes = primaries(redis_client)
    scrape(scraper)  # the client is connected and knows the cluster's slots
    before = command_calls(nodes)

    scrape(scraper)

    after = command_calls(nodes)
    sent = {name: after[name] - before.get(name, 0) for name in after if after[name] != before.get(name, 0)}
    for name in NOT_A_SCRAPE:
        sent.pop(name, None)
    streams, groups, workers = 2, 2, 3  # chennai, coimbatore; mygroup on each; alice, carol, dave
    assert sent == {
        "scan": len(nodes),  # a small keyspace: one SCAN call per primary
        "xinfo|stream": streams,
        "xinfo|groups": streams,
        "xlen": streams,
        "xinfo|consumers": groups,
        "zcard": 1,
        "zrevrange": 1,
        "hgetall": workers,
    }


class CountingConnection(redis_py.Connection):
    """A real connection that counts what it sends, one packed send per round trip, by server port."""

    sends: ClassVar[dict[int, int]] = {}

    def send_packed_command(self, command, check_health=True):
        CountingConnection.sends[self.port] = CountingConnection.sends.get(self.port, 0) + 1
        return super().send_packed_command(command, check_health)


def test_a_scrape_is_the_scan_and_two_pipelines(redis_client, app_redis, streams_url):
    busy_redis(redis_client, app_redis)
    on_cluster = isinstance(redis_client, redis.cluster.RedisCluster)
    connect = redis.cluster.RedisCluster.from_url if on_cluster else redis_py.Redis.from_url
    client = connect(streams_url, connection_class=CountingConnection)
    store = MetricsStore(client)
    read = {"max_streams": 100, "max_workers": 100, "max_consumer_reads": 100, "dead_letter_template": "{stream}:dead"}
    store.read(**read)  # connections made, handshakes done
    CountingConnection.sends.clear()

    reading = store.read(**read)

    client.close()
    assert [state.summary.name for state in reading.streams] == ["chennai", "coimbatore"]
    nodes = len(primaries(redis_client))
    # Per node: its SCAN call, then at most one round trip for each of the two pipelines.
    assert all(sends <= 3 for sends in CountingConnection.sends.values()), CountingConnection.sends
    assert len(CountingConnection.sends) == nodes  # every primary was scanned
    if not on_cluster:
        assert sum(CountingConnection.sends.values()) == 3


# --- the ops files ------------------------------------------------------------------------------


def used_metric_names(text: str) -> set[str]:
    return set(re.findall(r"\bweatherstreams_[a-z0-9_]+", text))


def test_the_ops_yaml_parses_and_has_three_alerts():
    yaml = pytest.importorskip("yaml")
    scrape_config = yaml.safe_load((OPS / "prometheus" / "scrape.yml").read_text())
    [job] = scrape_config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]
    assert scrape_config["rule_files"] == ["alerts.yml"]
    alerts = yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    assert len(rules) == 3
    assert all({"alert", "expr", "labels", "annotations"} <= set(rule) for rule in rules)
    exprs = " ".join(rule["expr"] for rule in rules)
    assert {"weatherstreams_group_lag", "weatherstreams_dead_letters", "weatherstreams_worker_up"} <= used_metric_names(
        exprs
    )


def test_the_dashboard_is_grafana_json_over_our_metrics():
    dashboard = json.loads((OPS / "grafana" / "weatherstreams.json").read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"]
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(exprs) >= 9 and all(used_metric_names(expr) for expr in exprs)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)


def test_every_metric_the_ops_files_name_is_in_a_real_scrape(scraper, redis_client, app_redis):
    busy_redis(redis_client, app_redis)
    samples, _ = scrape(scraper)
    scraped = {name for name, _ in samples}

    for path in (OPS / "prometheus" / "alerts.yml", OPS / "grafana" / "weatherstreams.json"):
        used = used_metric_names(path.read_text())
        assert used and used <= scraped, f"{path.name} names {sorted(used - scraped)}, which no scrape has"
