"""The consumer-group worker (`manage.py run_consumer`): its loop, stop handling, heartbeat,
event sampling, handlers and configuration. Nothing here knows about Django."""

from streams_app.worker.loop import Message, Worker, WorkerConfig, WorkerRefused

__all__ = ["Message", "Worker", "WorkerConfig", "WorkerRefused"]
