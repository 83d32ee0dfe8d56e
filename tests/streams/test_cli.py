"""The `livewatch` command refuses bad configuration at start-up, before touching Kafka."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


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
