"""Worker processes started by the demo, the tests and the benchmark, and how they stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from streams.settings import Settings


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`python -m streams worker` with these settings, its output appended to `log`, in a
    session of its own so a Ctrl-C at the terminal reaches only whoever started it."""
    return start_child("worker", settings, log)


def start_board(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`python -m streams board`, like `start_worker`."""
    return start_child("board", settings, log)


def start_child(command: str, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`python -m streams <command>` with these settings (see `start_worker`)."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", command],
            env={**os.environ, **settings.as_env()},
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 30) -> None:
    """Signal a child and wait for it; SIGKILL if it is still there after `timeout_s`."""
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(
    base: str, worker: subprocess.Popen[bytes], log: Path, timeout_s: float, name: str = "worker"
) -> None:
    """Wait until the worker (or board) at `base` (its web server's URL) answers `/readyz` with
    200; fail with the tail of its log if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"the {name} exited with {worker.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the {name} was not ready within {timeout_s:.0f}s (log: {log})")
