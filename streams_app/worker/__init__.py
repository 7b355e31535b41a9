"""The consumer-group worker (`manage.py run_consumer`): its loop, stop handling, heartbeat,
event sampling, handlers and configuration. Nothing here knows about Django, but for
build.py, which puts a worker together from the app's settings."""

from streams_app.worker.config import WorkerConfig
from streams_app.worker.loop import Worker
from streams_app.worker.message import Message
from streams_app.worker.naming import WorkerRefused

__all__ = ["Message", "Worker", "WorkerConfig", "WorkerRefused"]
