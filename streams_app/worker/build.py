"""A worker put together from the app's settings, as `manage.py run_consumer` runs it: its
config with the defaults of `streams_app.conf`, its own Redis client, its handler (imported
by dotted path) and its WorkerIO. The one module of the worker that knows about Django."""

from __future__ import annotations

import inspect
import logging
import sys
import time
from collections.abc import Sequence

from django.utils.module_loading import import_string

from streams_app.conf import app_settings
from streams_app.errors import BadInput, RedisUnavailable
from streams_app.gateway.clients import worker_client
from streams_app.gateway.stats import StatsStore
from streams_app.gateway.worker_io import WorkerIO
from streams_app.worker.config import WorkerConfig
from streams_app.worker.loop import Worker
from streams_app.worker.message import Handler

log = logging.getLogger("streams_app.worker")
START_RETRY_SECONDS = 1.0


def worker_config(*, name: str, streams: Sequence[str] | None = None, **overrides: object) -> WorkerConfig:
    """A WorkerConfig with the app's defaults (group, cities, batch size, ...), `overrides` taking precedence."""
    conf = app_settings()
    defaults = {
        "group": conf.group,
        "count": conf.worker_count,
        "block_ms": conf.worker_block_ms,
        "claim_idle_ms": conf.worker_claim_idle_ms,
        "max_deliveries": conf.worker_max_deliveries,
        "start_id": conf.worker_start_id,
        "dead_letter_template": conf.dead_letter_stream,
    }
    chosen = tuple(dict.fromkeys(streams or conf.cities))
    return WorkerConfig(name=name, streams=chosen, **{**defaults, **overrides})


def load_handler(dotted_path: str, stats: StatsStore) -> Handler:
    """The handler at `dotted_path`: a callable as it is, a class instantiated once (given
    `stats` if it takes them); BadInput if it cannot be imported or called."""
    try:
        target = import_string(dotted_path)
    except ImportError as error:
        raise BadInput(f"Cannot import the handler {dotted_path}: {error}", field="handler") from error
    if inspect.isclass(target):
        # The default processor keeps its statistics in the same Redis.
        parameters = inspect.signature(target).parameters
        return target(stats) if "stats" in parameters else target()
    if not callable(target):
        raise BadInput(f"{dotted_path} is not callable.", field="handler")
    return target


def build_worker(config: WorkerConfig, *, handler_path: str) -> Worker:
    """A worker on its own client of the app's Redis, with the handler at `handler_path`."""
    client = _client_once_redis_answers(config)
    return Worker(config, load_handler(handler_path, StatsStore(client)), WorkerIO(client))


def _client_once_redis_answers(config: WorkerConfig):
    """The worker's client, once Redis says what it is (one node or a cluster): a worker started
    before its Redis waits for it, as a running worker does when Redis goes away."""
    said = False
    while True:
        try:
            return worker_client(block_ms=config.block_ms)
        except RedisUnavailable as error:
            if not said:
                log.warning("Waiting for Redis before starting: %s", error.message)
                said = True
            time.sleep(START_RETRY_SECONDS)


def run_worker_process(config: WorkerConfig, *, handler_path: str) -> int:
    """Run one worker as this process's job, its log on stdout, until it stops; returns the exit code.

    Raises BadInput for a handler that cannot be loaded, WorkerRefused when its name is taken.
    """
    configure_logging(config.name)
    worker = build_worker(config, handler_path=handler_path)
    worker.install_signal_handlers()
    return worker.run()


def configure_logging(name: str) -> None:
    """The worker's log lines go to stdout, each with the time and the worker's name."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(f"%(asctime)s {name} %(levelname)s %(message)s", "%H:%M:%S"))
    worker_logger = logging.getLogger("streams_app.worker")
    worker_logger.handlers[:] = [handler]
    worker_logger.setLevel(logging.INFO)
    worker_logger.propagate = False
