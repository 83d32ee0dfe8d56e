"""The `livewatch` command refuses bad configuration at start-up, before touching Kafka."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_worker_refuses_a_bad_rules_file(tmp_path: Path) -> None:
    """Exit 2 with the file, line and field named; no broker is needed to find out."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\n"
        "refund_after_order_spike:\n"
        "  categories:\n"
        "    default: {baseline_rate: 2, ceiling: 0.5}\n"
        "quality_complaints: {}\n"
    )
    env = dict(os.environ, LIVEWATCH_RULES_PATH=str(rules), LIVEWATCH_KAFKA_BOOTSTRAP="127.0.0.1:1")
    result = subprocess.run(
        [sys.executable, "-m", "streams", "worker"], capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{rules}:4: refund_after_order_spike.categories.default.baseline_rate" in result.stderr


def test_bad_setting_is_refused_with_its_name() -> None:
    env = dict(os.environ, LIVEWATCH_PARTITIONS="zero")
    result = subprocess.run(
        [sys.executable, "-m", "streams", "worker"], capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "error: LIVEWATCH_PARTITIONS: Input should be a valid integer" in result.stderr


def test_notify_without_an_alertmanager_says_how_to_give_one() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LIVEWATCH_ALERTMANAGER_URLS"}
    result = subprocess.run(
        [sys.executable, "-m", "streams", "notify"], capture_output=True, text=True, env=env,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--alertmanager URL" in result.stderr and "LIVEWATCH_ALERTMANAGER_URLS" in result.stderr


def _run(program: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIVEWATCH_")}
    return subprocess.run(
        [sys.executable, "-m", "streams", program], capture_output=True, text=True,
        env={**clean, "LIVEWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1", **env}, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("program", "host_var", "token_var"),
    [
        ("worker", "LIVEWATCH_WEB_HOST", "LIVEWATCH_API_TOKEN"),
        ("notify", "LIVEWATCH_WEB_HOST", "LIVEWATCH_API_TOKEN"),
        ("board", "LIVEWATCH_BOARD_HOST", "LIVEWATCH_BOARD_TOKEN"),
    ],
)
def test_listening_beyond_loopback_without_a_token_is_refused(
    program: str, host_var: str, token_var: str
) -> None:
    """Anyone who reaches the port would read abuse figures: exit 2 naming both settings and
    how to make a token, before anything listens."""
    result = _run(program, **{host_var: "0.0.0.0", "LIVEWATCH_ALERTMANAGER_URLS": "http://am"})
    assert result.returncode == 2, result.stderr
    assert f"{host_var}=0.0.0.0 listens beyond loopback and {token_var} is not set" in (
        result.stderr
    )
    assert f"{token_var}_FILE" in result.stderr


def test_a_token_read_from_a_file_passes_the_check(tmp_path: Path) -> None:
    """The notifier gets past the listening check with its token in a file (and stops at the
    next one: no Alertmanager given)."""
    token = tmp_path / "token"
    token.write_text("s3cret-from-a-file\n")
    result = _run("notify", LIVEWATCH_WEB_HOST="0.0.0.0", LIVEWATCH_API_TOKEN_FILE=str(token))
    assert result.returncode == 2
    assert "listens beyond loopback" not in result.stderr
    assert "--alertmanager URL" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout


GC_PROBE = """
import gc, json, sys
from streams.cli import cli
code = None
try:
    cli(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "young": gc.get_threshold()[0]}), file=sys.stderr)
"""


@pytest.mark.parametrize("command", ["replay", "backtest"])
def test_the_offline_replays_collect_garbage_as_the_worker_does(
    command: str, tmp_path: Path
) -> None:
    """A replay allocates as the worker does; with Python's default collector the `mix` took
    17.2 and 16.1 s against 13.9 and 12.4 s at the worker's threshold
    (docs/performance-history.md)."""
    import json

    from streams.core.rules import DEFAULT_RULES_PATH

    events = tmp_path / "events.jsonl"
    events.write_text("")
    args = [command, str(events)]
    if command == "backtest":
        args += ["--rules", str(DEFAULT_RULES_PATH)]
    env = dict(os.environ, LIVEWATCH_GC_GEN0_THRESHOLD="12345")
    result = subprocess.run(
        [sys.executable, "-c", GC_PROBE, *args], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    found = json.loads(result.stderr.strip().splitlines()[-1])
    assert found == {"code": 0, "young": 12345}, result.stderr


def test_replay_reads_the_partition_count_it_is_given(tmp_path: Path) -> None:
    """A line read from partition 11 of 12: refused at the default 8 partitions, with the
    count named, and read with `--partitions 12`."""
    from tests import factories

    line = {"topic": "orders", "value": factories.order(), "partition": 11}
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(line) + "\n")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LIVEWATCH_")}
    command = [sys.executable, "-m", "streams", "replay", str(events)]
    default = subprocess.run(command, capture_output=True, text=True, env=clean, timeout=60)
    assert "line 1: skipped: partition: 11 is not one of the 8 partitions" in default.stderr
    given = subprocess.run(
        [*command, "--partitions", "12"], capture_output=True, text=True, env=clean, timeout=60
    )
    assert given.returncode == 0, given.stderr
    assert "0 alerts, 0 lines skipped" in given.stderr
