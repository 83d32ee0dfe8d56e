"""Test-session fixtures: one real local Apache Kafka broker for the whole run, test settings,
and worker processes that are always stopped by their pid."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams import compiled
from streams.devtools.kafka_local import KafkaLocal, free_port
from streams.settings import Settings
from tests.streams.worker_process import WorkerProcess


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A `python_core` test patches functions of the core, which compiled classes do not allow:
    where the compiled core runs, the test runs in a pytest of its own on the sources
    (`LIVEWATCH_COMPILED=0`), and its result there is the result here."""
    if pyfuncitem.get_closest_marker("python_core") is None or not compiled.select().compiled:
        return None
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", pyfuncitem.nodeid],
        cwd=pyfuncitem.config.rootpath,
        env={**os.environ, compiled.ENV: "0"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"on the core's sources:\n{done.stdout[-6000:]}{done.stderr[-2000:]}")
    return True


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a real broker: `LIVEWATCH_KAFKA_BOOTSTRAP`, or one started here."""
    given = os.environ.get("LIVEWATCH_KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    broker = KafkaLocal(state_dir=tmp_path_factory.mktemp("kafka"), port=free_port())
    bootstrap = broker.up()
    try:
        yield bootstrap
    finally:
        broker.down()


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> Settings:
    """Settings on the test broker with topic names and app id unique to this test."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        app_id=f"livewatch-test-{tag}",
        topic_orders=f"orders-{tag}",
        topic_refunds=f"refunds-{tag}",
        topic_complaints=f"complaints-{tag}",
        topic_alerts=f"alerts-{tag}",
        topic_alerts_shadow=f"alerts-shadow-{tag}",
        topic_verdicts=f"verdicts-{tag}",
        topic_deadletter=f"deadletter-{tag}",
        partitions=4,
        store="memory://",
        data_dir=tmp_path / "data",
        web_port=free_port(),
    )


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
