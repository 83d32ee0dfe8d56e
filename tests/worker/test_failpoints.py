"""Failpoints stay out of the way unless armed, and refuse a spec they cannot follow."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams.worker.failpoints import ENV, TABLE_APPLY, failpoint


def test_unarmed_failpoints_are_none() -> None:
    assert failpoint(TABLE_APPLY, {}) is None
    assert failpoint(TABLE_APPLY, {ENV: "some-other@3"}) is None


@pytest.mark.parametrize("spec", [f"{TABLE_APPLY}", f"{TABLE_APPLY}@", f"{TABLE_APPLY}@0",
                                  f"{TABLE_APPLY}@x"])  # fmt: skip
def test_a_bad_count_is_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=ENV):
        failpoint(TABLE_APPLY, {ENV: spec})


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown failpoint"):
        failpoint("nowhere")


def test_an_armed_failpoint_kills_its_process_at_the_nth_pass() -> None:
    code = (
        "from streams.worker.failpoints import failpoint, TABLE_APPLY\n"
        "reached = failpoint(TABLE_APPLY)\n"
        "for i in range(1, 6):\n"
        "    print(i, flush=True)\n"
        "    reached()\n"
    )
    env = {**os.environ, ENV: f"{TABLE_APPLY}@3"}
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert run.returncode == -9
    assert run.stdout.split() == ["1", "2", "3"]
