"""Which detection core runs: the mypyc-compiled modules, or the Python sources.

`make venv` compiles the core with mypyc (`streams.devtools.compile_core`): the same code, about
a third less time per event, the same alerts. The extension modules sit next to their sources and
Python imports an extension before a source, so a source edited after the build would silently
not run. `streams/__init__` calls `select` first: it reads the build's manifest (a hash of every
source it compiled) and, when a source changed, an extension is missing or `LIVEWATCH_COMPILED=0`
is set, has every one of these modules imported from its source instead. All or none: compiled
modules reach each other's classes directly, not through `sys.modules`, so the two kinds cannot
be mixed. The choice is in the worker's `livewatch_build_info` (`core`).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

MODULES: tuple[str, ...] = (
    "streams.core.attribution",
    "streams.core.clock",
    "streams.core.detector",
    "streams.core.dict_stores",
    "streams.core.evaluate",
    "streams.core.facts",
    "streams.core.lifecycle",
    "streams.core.order_index",
    "streams.core.pace",
    "streams.core.partition",
    "streams.core.rates",
    "streams.core.registry",
    "streams.core.repeat_buyers",
    "streams.core.rulebook",
    "streams.core.sketches",
    "streams.core.state",
    "streams.core.windows",
    "streams.placement",
    "streams.wire_facts",
    "streams.worker.stores",
    "streams.worker.table_writes",
    "streams.worker.worker",
)
"""The per-event and per-boundary path, and the replay's stores. Not compiled:
`streams.core.rules` (pydantic models, which mypyc cannot build on). Classes that tests
subclass say so (`mypyc_attr(allow_interpreted_subclasses=True)`). `streams.core.sketches`
loops over its bytearrays by index: mypyc 2.4 fails on iterating one."""

ROOT = Path(__file__).resolve().parent.parent
"""The folder that holds the `streams` package."""
MANIFEST = "streams/compiled.json"
"""Written by the build, next to the extensions (not in git)."""
ENV = "LIVEWATCH_COMPILED"


@dataclass(frozen=True, slots=True)
class Choice:
    compiled: bool
    reason: str
    """Why the sources run, when they do (empty when compiled)."""

    @property
    def label(self) -> str:
        return "compiled" if self.compiled else "python"


def source_of(module: str, root: Path = ROOT) -> Path:
    return root.joinpath(*module.split(".")).with_suffix(".py")


def extension_of(module: str, root: Path = ROOT) -> Path:
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    return root.joinpath(*module.split(".")).with_name(module.rsplit(".", 1)[1] + suffix)


def digests(modules: Sequence[str] = MODULES, root: Path = ROOT) -> dict[str, str]:
    """Each module's source hash: what a build was made from."""
    return {m: hashlib.sha256(source_of(m, root).read_bytes()).hexdigest() for m in modules}


def choose(root: Path = ROOT, env: Mapping[str, str] = os.environ) -> Choice:
    """Whether the compiled modules under `root` may run, and if not why."""
    if env.get(ENV, "1") == "0":
        return Choice(False, f"{ENV}=0")
    manifest = root / MANIFEST
    if not manifest.exists():
        return Choice(False, "not built (make venv builds it)")
    try:
        built = json.loads(manifest.read_text())["sources"]
    except (ValueError, KeyError, TypeError):
        return Choice(False, f"{MANIFEST} unreadable: make venv builds it again")
    for module in MODULES:
        if not extension_of(module, root).exists():
            return Choice(False, f"{module} not built: make venv builds it")
    for module, digest in digests(root=root).items():
        if built.get(module) != digest:
            path = source_of(module, root).relative_to(root)
            return Choice(False, f"{path} changed since the build: make venv builds it again")
    return Choice(True, "")


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled set's modules at their sources, ahead of the extensions."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        return importlib.util.spec_from_file_location(fullname, source_of(fullname, self.root))


CHOICE: Choice | None = None


def select() -> Choice:
    """Decide once per process, before any module of the set is imported."""
    global CHOICE
    if CHOICE is None:
        CHOICE = choose()
        if not CHOICE.compiled:
            sys.meta_path.insert(0, _SourceFinder(ROOT))
    return CHOICE
