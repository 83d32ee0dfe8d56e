"""The compiled core runs only when it was built from the sources present, and gives the
alerts the sources give."""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streams import compiled
from streams.devtools.sim.generator import SimConfig, Simulation

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A copy of the sources with a build's manifest and (empty) extensions."""
    shutil.copytree(ROOT / "streams", tmp_path / "streams", ignore=shutil.ignore_patterns("*.so"))
    (tmp_path / compiled.MANIFEST).write_text(
        json.dumps({"sources": compiled.digests(root=tmp_path)})
    )
    for module in compiled.MODULES:
        compiled.extension_of(module, tmp_path).touch()
    return tmp_path


def test_a_build_of_the_sources_present_runs(built: Path) -> None:
    assert compiled.choose(built, env={}) == compiled.Choice(True, "")
    assert compiled.extension_of("streams.core.detector", built).name.endswith(
        importlib.machinery.EXTENSION_SUFFIXES[0]
    )


def test_a_source_edited_since_the_build_runs_the_sources(built: Path) -> None:
    with compiled.source_of("streams.core.evaluate", built).open("a") as f:
        f.write("\n# edited\n")
    choice = compiled.choose(built, env={})
    assert not choice.compiled
    assert "streams/core/evaluate.py changed since the build" in choice.reason


@pytest.mark.parametrize("case", ["no manifest", "bad manifest", "an extension missing", "env"])
def test_the_sources_run_without_a_whole_build(built: Path, case: str) -> None:
    env = {compiled.ENV: "0"} if case == "env" else {}
    if case == "no manifest":
        (built / compiled.MANIFEST).unlink()
    elif case == "bad manifest":
        (built / compiled.MANIFEST).write_text("{")
    elif case == "an extension missing":
        compiled.extension_of("streams.placement", built).unlink()
    choice = compiled.choose(built, env=env)
    assert not choice.compiled and choice.reason
    assert choice.label == "python"


def _replay(path: Path, env: dict[str, str], *args: str) -> tuple[str, list[str]]:
    """The replay's alerts (but their wall-clock stamp) in a process of its own, and which
    core it ran."""
    code = (
        "import sys; from streams import compiled; from streams.cli import main; "
        "print(compiled.select().label, file=sys.stderr); sys.argv = sys.argv[1:]; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "livewatch", "replay", str(path), *args],
        cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    alerts = []
    for line in done.stdout.splitlines():
        alert: dict[str, Any] = json.loads(line)
        alert.pop("emitted_at")
        alerts.append(json.dumps(alert, sort_keys=True))
    return done.stderr.splitlines()[0], alerts


@pytest.mark.parametrize(
    ("seed", "args"),
    [(2, ()), (6, ("--partitioner", "crc32", "--orders-by", "order_id", "--flush"))],
)
def test_the_compiled_core_gives_the_alerts_of_the_sources(
    tmp_path: Path, seed: int, args: tuple[str, ...]
) -> None:
    """`make venv` builds it, so the test environment runs it: this fails when it does not."""
    choice = compiled.select()
    assert choice.compiled, f"the tests run the core's sources: {choice.reason}"
    path = tmp_path / "events.jsonl"
    events = Simulation(SimConfig(seed=seed, anchors=150, hours=6.0)).events()
    path.write_text("".join(json.dumps({"topic": t, "value": v}) + "\n" for t, v in events))
    core, alerts = _replay(path, {}, *args)
    source_core, source_alerts = _replay(path, {compiled.ENV: "0"}, *args)
    assert (core, source_core) == ("compiled", "python")
    assert alerts == source_alerts
    assert any('"status": "firing"' in a for a in alerts)
