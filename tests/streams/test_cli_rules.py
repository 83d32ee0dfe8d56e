"""`livewatch rules` and `livewatch backtest` as a person runs them (no broker needed for
what is checked before one is reached)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from streams.core.rules import DEFAULT_RULES_PATH
from streams.devtools.sim.generator import SimConfig, Simulation
from tests import factories
from tests.streams.test_runtime_rules import without_complaints


def livewatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        env={"PATH": "/usr/bin:/bin", "LIVEWATCH_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_publish_refuses_a_bad_file_naming_line_and_field(tmp_path: Path) -> None:
    """A rules file that would not validate is refused before anything is sent."""
    bad = tmp_path / "bad.yaml"
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8").replace("\n  z: 1.645 ", "\n  z: -1 ")
    bad.write_text(text, encoding="utf-8")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith("  z: -1"))
    done = livewatch("rules", "publish", str(bad))
    assert done.returncode == 2
    assert f"bad.yaml:{line}: refund_after_order_spike.z" in done.stderr


def test_backtest_json_counts_episodes_per_rule(tmp_path: Path) -> None:
    """`backtest --json` on a file: one object with every rule's episodes under each set."""
    events = tmp_path / "events.jsonl"
    sim = Simulation(SimConfig(seed=5, anchors=200, hours=8.0))
    events.write_text(
        "".join(json.dumps({"topic": k, "value": v}) + "\n" for k, v in sim.events()),
        encoding="utf-8",
    )
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(without_complaints(), encoding="utf-8")
    done = livewatch("backtest", str(events), "--rules", str(candidate), "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)["rules"]
    complaints = found["quality_complaints"]
    assert complaints["baseline"] >= 2
    assert complaints["only_baseline"] == complaints["baseline"]
    assert complaints["candidate"] == 0
    spikes = found["refund_after_order_spike"]
    assert spikes["baseline"] == spikes["candidate"] == spikes["both"] >= 1


def test_backtest_needs_one_source(tmp_path: Path) -> None:
    """Neither a file nor --from-topics (or both) is a usage error, said plainly."""
    done = livewatch("backtest", "--rules", str(DEFAULT_RULES_PATH))
    assert done.returncode == 2
    assert "give an EVENTS file or --from-topics" in done.stderr


def test_backtest_counts_a_line_that_is_not_a_replay_line_as_skipped(tmp_path: Path) -> None:
    """As `replay` does: reported as skipped, with its number, and counted."""
    events = tmp_path / "events.jsonl"
    good = json.dumps({"topic": "orders", "value": factories.order()})
    events.write_text(f"{good}\nnot json\n", encoding="utf-8")
    done = livewatch("backtest", str(events), "--rules", str(DEFAULT_RULES_PATH), "--json")
    assert done.returncode == 0, done.stderr
    assert "line 2: skipped: not a replay line" in done.stderr
    found = json.loads(done.stdout)
    assert (found["events"], found["skipped"]) == (1, 1)


def test_backtest_reads_the_partition_count_it_is_given(tmp_path: Path) -> None:
    """A line read from partition 11 of 12: skipped at the default 8, with the count named,
    and read with `--partitions 12`; with --from-topics the topics give the count."""
    events = tmp_path / "events.jsonl"
    line = {"topic": "orders", "value": factories.order(), "partition": 11}
    events.write_text(json.dumps(line) + "\n", encoding="utf-8")
    command = ("backtest", str(events), "--rules", str(DEFAULT_RULES_PATH), "--json")
    default = livewatch(*command)
    assert default.returncode == 0, default.stderr
    assert "line 1: skipped: partition: 11 is not one of the 8 partitions" in default.stderr
    assert json.loads(default.stdout)["skipped"] == 1
    given = livewatch(*command, "--partitions", "12")
    assert given.returncode == 0, given.stderr
    assert (json.loads(given.stdout)["events"], json.loads(given.stdout)["skipped"]) == (1, 0)
    topics = livewatch(
        "backtest", "--from-topics", "--rules", str(DEFAULT_RULES_PATH), "--partitions", "12"
    )
    assert topics.returncode == 2
    assert "--partitions is for a file" in topics.stderr
