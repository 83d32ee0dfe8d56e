"""The worker's garbage-collector settings, checked in a fresh interpreter (pytest's own
collector stays as it is)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import gc, json, sys
from streams.worker.gc_tuning import tune_gc
before = gc.get_threshold()
kept = [{"i": i} for i in range(1000)]
tune_gc(int(sys.argv[1]))
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def probe(threshold: int) -> dict[str, list[int] | int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(threshold)], capture_output=True, text=True, check=True
    )
    result: dict[str, list[int] | int] = json.loads(out.stdout)
    return result


def test_a_threshold_freezes_what_exists_and_collects_the_young_less_often() -> None:
    got = probe(50_000)
    before, after = got["before"], got["after"]
    assert isinstance(before, list) and isinstance(after, list)
    assert after == [50_000, before[1], before[2]]
    assert isinstance(got["frozen"], int) and got["frozen"] >= 1000  # the app's objects and more


def test_zero_leaves_pythons_collector_alone() -> None:
    got = probe(0)
    assert got["after"] == got["before"]
    assert got["frozen"] == 0


def test_the_setting_refuses_a_negative_threshold() -> None:
    from pydantic import ValidationError

    from streams.settings import Settings

    with pytest.raises(ValidationError, match="gc_gen0_threshold"):
        Settings(gc_gen0_threshold=-1)
