"""The worker's configuration comes from the app's settings in one place (worker_config), and
the worker's modules but build.py import nothing of Django."""

from __future__ import annotations

import subprocess
import sys

from streams_app.worker.build import worker_config
from tests.support.workers import ROOT


def test_the_defaults_are_the_apps_settings(settings):
    settings.WEATHERSTREAMS_GROUP = "othergroup"
    settings.WEATHERSTREAMS_CITIES = ["madurai", "salem", "madurai"]
    settings.WEATHERSTREAMS_WORKER_COUNT = 7
    settings.WEATHERSTREAMS_WORKER_MAX_DELIVERIES = 9
    settings.WEATHERSTREAMS_DEAD_LETTER_STREAM = "dead:{stream}"

    config = worker_config(name="alice")

    assert config.streams == ("madurai", "salem")
    assert (config.group, config.count, config.max_deliveries) == ("othergroup", 7, 9)
    assert config.dead_letter_stream("salem") == "dead:{salem}"  # the stream's name as its hash tag


def test_what_is_given_wins_over_the_settings():
    config = worker_config(name="bob", streams=["chennai", "chennai"], count=3, block_ms=10, start_id="0")
    assert (config.streams, config.count, config.block_ms, config.start_id) == (("chennai",), 3, 10, "0")
    assert config.dead_letter_stream("chennai") == "{chennai}:dead"


def test_the_worker_knows_nothing_of_django():
    modules = [
        "streams_app.worker",
        "streams_app.worker.loop",
        "streams_app.worker.processing",
        "streams_app.worker.heartbeat",
        "streams_app.worker.handlers",
    ]
    code = (
        f"import sys\nfor name in {modules!r}: __import__(name)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
