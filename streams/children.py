"""Worker processes started by the demo, the tests and the benchmark, and how they stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streams.settings import Settings


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """`python -m streams worker` with these settings, its output appended to `log`, in a
    session of its own so a Ctrl-C at the terminal reaches only whoever started it."""
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "streams", "worker"],
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
