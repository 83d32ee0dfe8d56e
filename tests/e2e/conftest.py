"""Fixtures of the end-to-end tests: worker processes that are always stopped by their pid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.settings import Settings
from tests.streams.worker_process import WorkerProcess


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Workers started by a test; each is stopped at the end, whatever happened."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(settings: Settings, tmp_path: Path, workers: list[WorkerProcess]) -> WorkerProcess:
    """One worker for this test's settings, not started yet."""
    process = WorkerProcess(settings, tmp_path / "worker.log")
    workers.append(process)
    return process
