"""`livewatch demo` runs the whole pipeline and stops everything it started on Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from streams.devtools.kafka_local import KafkaLocal, free_port

pytestmark = pytest.mark.kafka


def java_under(state_dir: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-f", f"java.*{state_dir}"], capture_output=True, text=True)
    return out.stdout.split()


def terminal_sigint() -> None:
    """Ctrl-C as at a terminal: a background job of a shell (`pytest &`, some CI runners)
    starts its children with SIGINT ignored, and the demo would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_demo_shows_alerts_and_cleans_up_on_ctrl_c(tmp_path: Path) -> None:
    state = tmp_path / "kafka"
    out = tmp_path / "demo.out"
    env = dict(
        os.environ, LIVEWATCH_DATA_DIR=str(tmp_path / "data"), LIVEWATCH_WEB_PORT=str(free_port()),
        LIVEWATCH_BOARD_PORT=str(free_port()),
    )  # fmt: skip
    with out.open("wb") as handle:
        demo = subprocess.Popen(
            [sys.executable, "-m", "streams", "demo", "--rate", "3000", "--anchors", "120",
             "--hours", "6", "--duration", "180", "--kafka-state-dir", str(state)],
            stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
            preexec_fn=terminal_sigint,
        )  # fmt: skip
    try:
        # Which alert comes first depends on the time of day the simulation starts at (anchors
        # are live at different hours): wait for a refund spike, not for the first alert.
        deadline = time.monotonic() + 170
        wanted = "alert firing refund_after_order_spike"
        while time.monotonic() < deadline and wanted not in out.read_text():
            assert demo.poll() is None, out.read_text()
            time.sleep(0.5)
        text = out.read_text()
        assert wanted in text, text
        assert re.search(r"metrics: http://127\.0\.0\.1:\d+/metrics", text)
        worker_pid = int(re.search(r"worker pid (\d+)", text).group(1))  # type: ignore[union-attr]
        board_url = re.search(r"risk board: (http://127\.0\.0\.1:\d+/)", text)
        assert board_url, text
        # The board has read the alert the demo printed (it may have resolved since).
        firing = 'livewatch_board_alerts_received_total{status="firing"}'
        for _ in range(60):
            with urllib.request.urlopen(board_url.group(1) + "metrics", timeout=10) as resp:
                metrics = resp.read().decode()
            if firing in metrics:
                break
            time.sleep(0.5)
        assert firing in metrics, metrics
        board_pid = int(re.search(r"board pid (\d+)", text).group(1))  # type: ignore[union-attr]
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
        assert "local Kafka stopped" in out.read_text()
        assert java_under(state) == []
        for pid in (worker_pid, board_pid):
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        # Whatever happened above, nothing the demo started outlives the test.
        for found in re.finditer(r"(?:worker|board) pid (\d+)", out.read_text()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(found.group(1)), signal.SIGKILL)
        KafkaLocal(state_dir=state).down()
