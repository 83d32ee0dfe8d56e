"""The local Kafka harness starts a real broker, answers, is idempotent and stops cleanly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from streams.devtools.kafka_local import EPHEMERAL_RANGE, KafkaLocal, broker_answers, free_port
from streams.settings import Settings
from streams.topics import create_topics
from tests.topic_configs import topic_config


def _java_pids_under(state_dir: Path) -> list[int]:
    """Java processes whose command line names this state directory."""
    out = subprocess.run(["pgrep", "-f", f"java.*{state_dir}"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


@pytest.mark.kafka
def test_up_answers_then_down_leaves_no_process(tmp_path: Path) -> None:
    """`up` returns once the broker answers metadata; a second `up` reuses it; `down` stops it."""
    broker = KafkaLocal(state_dir=tmp_path / "k", port=free_port())
    try:
        bootstrap = broker.up()
        pid = broker.pid()
        assert pid is not None
        assert broker_answers(bootstrap)
        assert broker.status().startswith("running")
        assert broker.up() == bootstrap  # harmless second call
        assert broker.pid() == pid
    finally:
        assert broker.down()
    assert broker.pid() is None
    assert broker.status() == "stopped"
    assert not broker_answers(bootstrap, timeout_s=1.0)
    assert _java_pids_under(tmp_path / "k") == []
    assert not broker.down()  # stopping twice is harmless too


@pytest.mark.kafka
def test_cli_up_status_down(tmp_path: Path) -> None:
    """The `livewatch kafka` commands wrap the same harness."""
    state = tmp_path / "cli"
    port = str(free_port())
    base = [sys.executable, "-m", "streams", "kafka"]
    env = dict(os.environ)
    try:
        up = subprocess.run(
            [*base, "up", "--state-dir", str(state), "--port", port],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert up.returncode == 0, up.stderr
        assert up.stdout.strip() == f"127.0.0.1:{port}"
        status = subprocess.run(
            [*base, "status", "--state-dir", str(state)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert status.returncode == 0
        assert status.stdout.startswith("running")
    finally:
        down = subprocess.run(
            [*base, "down", "--state-dir", str(state)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
    assert down.stdout.strip() == "stopped"
    stopped = subprocess.run(
        [*base, "status", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert stopped.returncode == 3
    assert _java_pids_under(state) == []


@pytest.mark.kafka
def test_a_cluster_id_starting_with_a_dash_formats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kafka's ids are URL-safe base64: about one in 64 starts with '-', which the storage tool
    would read as an option if it were passed as a separate argument."""
    import streams.devtools.kafka_local as kafka_local

    monkeypatch.setattr(kafka_local, "_cluster_id", lambda: "-bcdefghijklmnopqrstuv")
    broker = KafkaLocal(state_dir=tmp_path / "dash", port=free_port())
    try:
        assert broker_answers(broker.up())
    finally:
        broker.down()


@pytest.mark.kafka
async def test_records_stamped_long_ago_are_kept(settings: Settings) -> None:
    """The local broker deletes nothing by age: the simulator's fixed day is stamped on its
    records, and a retention of a week deleted them on the session broker once that day was a
    week old (its retention check runs every five minutes)."""
    await create_topics(settings)
    assert (await topic_config(settings, settings.topic_orders))["retention.ms"] == "-1"


def test_a_free_port_is_below_the_ports_outgoing_connections_take() -> None:
    """A port chosen for a process to listen on must not be one an outgoing connection can
    be given meanwhile: below the kernel's ephemeral range, and nothing bound to it."""
    low = int(EPHEMERAL_RANGE.read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(low - 10_000 <= port < low for port in ports), (low, ports)
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))
