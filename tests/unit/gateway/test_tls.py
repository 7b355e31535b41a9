"""REDIS_URL=rediss://…?ssl_ca_certs=… on a real TLS-only redis-server (no plain port; its
certificate signed by a CA made for this module): the app's own clients, sync and asyncio,
know it is one node and pass the start-up checks; a reading added through the domain reads
back through browsing; the live reader's XREAD BLOCK wakes for a new entry; a real worker
process processes and acks an entry. A client that does not trust the CA, or speaks plain
redis:// to the TLS port, is RedisUnavailable in one line; a password works over TLS, as do
client certificates for a server that asks for them."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC

import pytest
import redis
import redis.asyncio as aioredis

from streams_app.domain.browsing import entries_page, parse_range_request
from streams_app.domain.readings import reading_add
from streams_app.errors import RedisUnavailable
from streams_app.gateway.clients import (
    app_client,
    cluster_mode,
    connect,
    connect_async,
    live_client,
    server_is_cluster,
    startup_problem,
    worker_client,
)
from streams_app.gateway.live_io import LiveReader
from streams_app.gateway.stores import stream_store
from streams_app.gateway.streams import StreamStore
from streams_app.gateway.types import StreamId
from tests.support.redis_server import RedisServer
from tests.support.tls import TlsFiles, make_tls_files
from tests.support.workers import WorkerProcess, processed_count, wait_until

CITY = "chennai"
PASSWORD = "a-tls-secret"
KEY_PASSPHRASE = "a-key-passphrase"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tls_files):
    """A redis-server that speaks TLS only; `url` is rediss://127.0.0.1:P/0?ssl_ca_certs=…&ssl_cert_reqs=required."""
    with RedisServer(tls=tls_files, persistent=False) as server:
        yield server


@pytest.fixture
def tls_client(tls_server):
    """A plain redis-py client of the TLS server (trusting the CA), the server empty at the start of the test."""
    client = redis.Redis.from_url(tls_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def on_tls(settings, tls_server, tls_client) -> str:
    """The app's streams (REDIS_URL) on the TLS server, its cluster mode asked of the server."""
    settings.REDIS_URL = tls_server.url
    settings.REDIS_CLUSTER = None
    return tls_server.url


def untrusting(url: str) -> str:
    """`url` without ssl_ca_certs: the server's certificate must then chain to a CA the machine trusts."""
    address, _, _ = url.partition("?")
    return f"{address}?ssl_cert_reqs=required"


def assert_one_clean_line(message: str, *secrets: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message
    for secret in secrets:
        assert secret not in message


def test_the_server_has_no_plain_port_and_connect_reaches_it_over_tls(tls_server, tls_client):
    assert tls_client.config_get("port") == {"port": "0"}
    assert tls_client.config_get("tls-port") == {"tls-port": str(tls_server.port)}

    client = connect(tls_server.url)
    try:
        assert client.ping()
        assert client.connection_pool.connection_class is redis.SSLConnection
    finally:
        client.close()


def test_the_app_knows_a_tls_node_is_one_node_and_starts_on_it(on_tls):
    assert server_is_cluster(on_tls) is False  # INFO cluster answered over TLS (None: it could not be asked)
    assert cluster_mode() is False
    assert startup_problem() is None
    assert isinstance(app_client(), redis.Redis)
    worker = worker_client(block_ms=2000)
    try:
        assert worker.ping()
    finally:
        worker.close()


def test_a_reading_added_through_the_domain_reads_back_through_browsing(on_tls, tls_client):
    entry_id = reading_add(store=stream_store(), city=CITY, temperature="26", humidity="10")

    request = parse_range_request({}, tz=UTC, default_count=50, max_count=1000)
    page = entries_page(store=stream_store(), name=CITY, request=request, tz=UTC)

    assert [(entry.id, entry.fields) for entry in page.entries] == [(entry_id, {"temperature": "26", "humidity": "10"})]
    assert tls_client.xlen(CITY) == 1


def test_the_live_reader_wakes_from_xread_block_for_a_new_entry(on_tls, tls_client):
    async def scenario() -> None:
        shared = live_client()
        assert isinstance(shared, aioredis.Redis)
        await shared.aclose()
        reader = LiveReader(connect_async(on_tls))
        try:
            position = await reader.last_id(CITY)
            read = asyncio.ensure_future(reader.read_after(CITY, position, count=10, block_ms=10_000))
            deadline = time.monotonic() + 10
            while tls_client.info("clients")["blocked_clients"] < 1:  # the XREAD is out, blocking
                assert time.monotonic() < deadline and not read.done(), "the live reader never blocked"
                await asyncio.sleep(0.01)
            added = tls_client.xadd(CITY, {"temperature": "27", "humidity": "11"}).decode()
            entries = await asyncio.wait_for(read, 10)
        finally:
            await reader.close()
        assert [(entry.id, entry.fields) for entry in entries] == [(added, {"temperature": "27", "humidity": "11"})]

    asyncio.run(scenario())


# A real worker process: the system lanes run it (the in-process lanes start no processes).
@pytest.mark.system
@pytest.mark.processes
def test_a_worker_process_on_rediss_processes_and_acks_an_entry(tls_server, tls_client):
    added = tls_client.xadd(CITY, {"temperature": "21", "humidity": "10"}).decode()
    # What the record handler processed is kept on the TLS server too.
    worker = WorkerProcess("alice", "--stream", CITY, "--start-id", "0", redis_url=tls_server.url)
    try:
        worker.wait_for_output("is consuming")
        wait_until(lambda: processed_count(tls_client) == 1, what="alice to process the entry")

        def acked() -> bool:
            group = tls_client.xinfo_groups(CITY)[0]
            return group["pending"] == 0 and group["last-delivered-id"].decode() == added

        wait_until(acked, what="alice to ack the entry")
        assert "Traceback" not in worker.output
    finally:
        worker.stop()


# --- wrong trust, wrong scheme -----------------------------------------------------------


@pytest.mark.parametrize(
    ("url_of", "says"),
    [
        pytest.param(
            lambda server: untrusting(server.url),
            ["TLS certificate is not trusted", "ssl_ca_certs="],
            id="ca-not-trusted",
        ),
        pytest.param(lambda server: f"redis://127.0.0.1:{server.port}/0", ["rediss://"], id="plain-redis-url"),
    ],
)
def test_a_client_that_cannot_speak_to_the_tls_server_is_told_what_to_fix_and_writes_nothing(
    tls_server, tls_client, url_of, says
):
    client = connect(url_of(tls_server))
    try:
        with pytest.raises(RedisUnavailable) as refused:
            reading_add(store=StreamStore(client), city=CITY, temperature="26", humidity="10")
    finally:
        client.close()

    assert_one_clean_line(refused.value.message)
    assert all(words in refused.value.message for words in says), refused.value.message
    assert tls_client.xlen(CITY) == 0


def test_a_worker_that_does_not_trust_the_ca_is_told_why(settings, tls_server):
    settings.REDIS_URL = untrusting(tls_server.url)
    settings.REDIS_CLUSTER = None

    with pytest.raises(RedisUnavailable) as refused:
        worker_client(block_ms=2000)

    assert_one_clean_line(refused.value.message)
    assert "TLS certificate is not trusted" in refused.value.message


def test_a_worker_start_up_message_never_shows_the_key_passphrase(settings, tls_server, tls_files):
    settings.REDIS_URL = (
        f"{untrusting(tls_server.url)}&ssl_certfile={tls_files.client_cert}"
        f"&ssl_keyfile={tls_files.client_key}&ssl_password={KEY_PASSPHRASE}"
    )
    settings.REDIS_CLUSTER = None

    with pytest.raises(RedisUnavailable) as refused:
        worker_client(block_ms=2000)

    assert_one_clean_line(refused.value.message, KEY_PASSPHRASE)


# --- a password, client certificates ------------------------------------------------------


@pytest.fixture(scope="module")
def guarded_tls_server(tls_files):
    """A TLS-only server that also wants PASSWORD: rediss://:PASSWORD@127.0.0.1:P/0?ssl_ca_certs=…"""
    with RedisServer(tls=tls_files, persistent=False) as server:
        with redis.Redis.from_url(server.url) as admin:
            admin.config_set("requirepass", PASSWORD)
        yield server.url.replace("rediss://", f"rediss://:{PASSWORD}@", 1)


def test_a_password_and_tls_together(guarded_tls_server):
    client = connect(guarded_tls_server)
    try:
        store = StreamStore(client)
        entry_id = reading_add(store=store, city=CITY, temperature="26", humidity="10")
        assert store.entry(CITY, StreamId.parse(entry_id)).fields == {"temperature": "26", "humidity": "10"}
    finally:
        client.close()


def test_a_wrong_password_over_tls_is_refused_credentials_and_an_untrusted_ca_never_shows_it(guarded_tls_server):
    wrong = connect(guarded_tls_server.replace(PASSWORD, "wrong", 1))
    untrusted = connect(untrusting(guarded_tls_server))
    try:
        with pytest.raises(RedisUnavailable) as refused:
            StreamStore(wrong).key_type(CITY)
        with pytest.raises(RedisUnavailable) as distrusted:
            StreamStore(untrusted).key_type(CITY)
    finally:
        wrong.close()
        untrusted.close()

    assert refused.value.message == "Redis refused the credentials in REDIS_URL."
    assert_one_clean_line(distrusted.value.message, PASSWORD)
    assert "TLS certificate is not trusted" in distrusted.value.message and "ssl_ca_certs=" in distrusted.value.message


@pytest.fixture(scope="module")
def certificate_server(tls_files):
    """A TLS-only server that wants a client certificate signed by the test CA (tls-auth-clients yes)."""
    with RedisServer(tls=tls_files, tls_auth_clients="yes", persistent=False) as server:
        yield server


def test_a_server_that_wants_client_certificates_takes_them_from_the_url(certificate_server):
    assert "ssl_certfile=" in certificate_server.url and "ssl_keyfile=" in certificate_server.url
    with_certificate = connect(certificate_server.url)
    without = connect(certificate_server.url.partition("&ssl_certfile=")[0])
    try:
        assert StreamStore(with_certificate).key_type(CITY) == "none"
        with pytest.raises(RedisUnavailable) as refused:
            StreamStore(without).key_type(CITY)
    finally:
        with_certificate.close()
        without.close()

    assert_one_clean_line(refused.value.message)
