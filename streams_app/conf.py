"""Every app setting with its default, in one place; read through `app_settings()` (so tests
may override them). Nothing else reads the app's settings or repeats a default."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from streams_app.key_templates import DEAD_LETTER_TEMPLATE, dead_letter_template_problem

DEFAULTS = {
    "WEATHERSTREAMS_GROUP": "mygroup",
    "WEATHERSTREAMS_CITIES": ["chennai", "coimbatore"],
    # pages and the API: entries, pending entries and dead letters a page (and the most a page may ask for)
    "WEATHERSTREAMS_PAGE_SIZE": 50,
    "WEATHERSTREAMS_MAX_PAGE_SIZE": 1000,
    "WEATHERSTREAMS_STREAMS_PER_PAGE": 50,
    "WEATHERSTREAMS_JOBS_PER_PAGE": 20,
    "WEATHERSTREAMS_FIELD_PREVIEW_CHARS": 120,
    "WEATHERSTREAMS_STATISTICS_MINUTES": 10,  # per-minute statistics a stream page shows
    # entries a filtered page (stream page, API) reads at most before it answers with what it found
    "WEATHERSTREAMS_FILTER_SCAN_BUDGET": 10_000,
    # entries the stream page's whole-range chart reads at most (a longer range is charted in part, and says so)
    "WEATHERSTREAMS_CHART_SCAN_LIMIT": 200_000,
    # live pages: rows a tail keeps, rows it starts with, processed entries a group page starts with
    "WEATHERSTREAMS_LIVE_ROWS": 200,
    "WEATHERSTREAMS_LIVE_SNAPSHOT_ROWS": 50,
    "WEATHERSTREAMS_LIVE_PROCESSED_ROWS": 20,
    # Live sockets (tails, group pages, dashboards, job pages together) one user may hold open in
    # one server process: more than a person watches, while distinct tails cost a blocking Redis
    # connection each, so a script opening thousands is stopped.
    "WEATHERSTREAMS_LIVE_SOCKETS_PER_USER": 50,
    # A live page whose socket has taken nothing for this long (one message not yet out of the
    # server: the page stopped reading) is let go of and closed with 4408; it reconnects to a fresh
    # snapshot when it reads again. Before that, once it is SUBSCRIBER_QUEUE messages (or 1 MiB)
    # behind, nothing more is kept for it (live/feeds.py): its memory is bounded either way.
    "WEATHERSTREAMS_LIVE_SEND_TIMEOUT_SECONDS": 5.0,
    # run_consumer's defaults (each can be given on the command line too)
    "WEATHERSTREAMS_WORKER_COUNT": 100,
    "WEATHERSTREAMS_WORKER_BLOCK_MS": 2000,
    "WEATHERSTREAMS_WORKER_CLAIM_IDLE_MS": 30_000,
    "WEATHERSTREAMS_WORKER_MAX_DELIVERIES": 5,
    "WEATHERSTREAMS_WORKER_START_ID": "$",
    "WEATHERSTREAMS_WORKER_HANDLER": "streams_app.worker.handlers.WeatherProcessor",
    # {stream} stands for the stream's name as a hash tag ({chennai}:dead): see gateway.keys.dead_letter_key
    "WEATHERSTREAMS_DEAD_LETTER_STREAM": DEAD_LETTER_TEMPLATE,
    # GET /metrics: the most samples one scrape shows, and how long a rendering is reused (per process)
    "WEATHERSTREAMS_METRICS_MAX_SERIES": 10_000,
    "WEATHERSTREAMS_METRICS_CACHE_SECONDS": 1.0,
}


@dataclass(frozen=True)
class AppSettings:
    redis_url: str
    redis_cluster: bool | None  # REDIS_CLUSTER: True forces cluster mode, False forbids it, None: ask the server
    queue_redis_url: str  # QUEUE_REDIS_URL: RQ's and the channel layer's Redis (one node)
    queue_redis_url_given: bool
    group: str
    cities: tuple[str, ...]
    page_size: int
    max_page_size: int
    streams_per_page: int
    jobs_per_page: int
    field_preview_chars: int
    statistics_minutes: int
    filter_scan_budget: int
    chart_scan_limit: int
    live_rows: int
    live_snapshot_rows: int
    live_processed_rows: int
    live_sockets_per_user: int
    live_send_timeout_seconds: float
    worker_count: int
    worker_block_ms: int
    worker_claim_idle_ms: int
    worker_max_deliveries: int
    worker_start_id: str
    worker_handler: str
    dead_letter_stream: str
    metrics_max_series: int
    metrics_cache_seconds: float


def app_settings() -> AppSettings:
    values = {name: getattr(settings, name, default) for name, default in DEFAULTS.items()}
    if not 1 <= values["WEATHERSTREAMS_PAGE_SIZE"] <= values["WEATHERSTREAMS_MAX_PAGE_SIZE"]:
        raise ImproperlyConfigured("WEATHERSTREAMS_PAGE_SIZE must be between 1 and WEATHERSTREAMS_MAX_PAGE_SIZE.")
    if values["WEATHERSTREAMS_FILTER_SCAN_BUDGET"] < 1:
        raise ImproperlyConfigured("WEATHERSTREAMS_FILTER_SCAN_BUDGET must be at least 1.")
    if values["WEATHERSTREAMS_CHART_SCAN_LIMIT"] < 1:
        raise ImproperlyConfigured("WEATHERSTREAMS_CHART_SCAN_LIMIT must be at least 1.")
    if problem := dead_letter_template_problem(values["WEATHERSTREAMS_DEAD_LETTER_STREAM"]):
        raise ImproperlyConfigured(f"WEATHERSTREAMS_DEAD_LETTER_STREAM {problem}")
    if not values["WEATHERSTREAMS_LIVE_SEND_TIMEOUT_SECONDS"] > 0:
        raise ImproperlyConfigured("WEATHERSTREAMS_LIVE_SEND_TIMEOUT_SECONDS must be more than 0.")
    if not values["WEATHERSTREAMS_METRICS_MAX_SERIES"] >= 1:
        raise ImproperlyConfigured("WEATHERSTREAMS_METRICS_MAX_SERIES must be at least 1.")
    if not values["WEATHERSTREAMS_METRICS_CACHE_SECONDS"] >= 0:
        raise ImproperlyConfigured("WEATHERSTREAMS_METRICS_CACHE_SECONDS must be 0 (no cache) or more.")
    return AppSettings(
        redis_url=settings.REDIS_URL,
        redis_cluster=getattr(settings, "REDIS_CLUSTER", None),
        queue_redis_url=getattr(settings, "QUEUE_REDIS_URL", settings.REDIS_URL),
        queue_redis_url_given=getattr(settings, "QUEUE_REDIS_URL_GIVEN", False),
        group=values["WEATHERSTREAMS_GROUP"],
        cities=tuple(values["WEATHERSTREAMS_CITIES"]),
        page_size=values["WEATHERSTREAMS_PAGE_SIZE"],
        max_page_size=values["WEATHERSTREAMS_MAX_PAGE_SIZE"],
        streams_per_page=values["WEATHERSTREAMS_STREAMS_PER_PAGE"],
        jobs_per_page=values["WEATHERSTREAMS_JOBS_PER_PAGE"],
        field_preview_chars=values["WEATHERSTREAMS_FIELD_PREVIEW_CHARS"],
        statistics_minutes=values["WEATHERSTREAMS_STATISTICS_MINUTES"],
        filter_scan_budget=values["WEATHERSTREAMS_FILTER_SCAN_BUDGET"],
        chart_scan_limit=values["WEATHERSTREAMS_CHART_SCAN_LIMIT"],
        live_rows=values["WEATHERSTREAMS_LIVE_ROWS"],
        live_snapshot_rows=values["WEATHERSTREAMS_LIVE_SNAPSHOT_ROWS"],
        live_processed_rows=values["WEATHERSTREAMS_LIVE_PROCESSED_ROWS"],
        live_sockets_per_user=values["WEATHERSTREAMS_LIVE_SOCKETS_PER_USER"],
        live_send_timeout_seconds=values["WEATHERSTREAMS_LIVE_SEND_TIMEOUT_SECONDS"],
        worker_count=values["WEATHERSTREAMS_WORKER_COUNT"],
        worker_block_ms=values["WEATHERSTREAMS_WORKER_BLOCK_MS"],
        worker_claim_idle_ms=values["WEATHERSTREAMS_WORKER_CLAIM_IDLE_MS"],
        worker_max_deliveries=values["WEATHERSTREAMS_WORKER_MAX_DELIVERIES"],
        worker_start_id=values["WEATHERSTREAMS_WORKER_START_ID"],
        worker_handler=values["WEATHERSTREAMS_WORKER_HANDLER"],
        dead_letter_stream=values["WEATHERSTREAMS_DEAD_LETTER_STREAM"],
        metrics_max_series=values["WEATHERSTREAMS_METRICS_MAX_SERIES"],
        metrics_cache_seconds=values["WEATHERSTREAMS_METRICS_CACHE_SECONDS"],
    )
