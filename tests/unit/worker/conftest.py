"""The `workers` fixture: in-process workers on the suite's real Redis (see in_process.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.worker.in_process import InProcessWorkers


@pytest.fixture
def workers(redis_client) -> Iterator[InProcessWorkers]:
    found = InProcessWorkers(redis_client)
    yield found
    found.stop_all()
