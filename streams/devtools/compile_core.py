"""Compile the detection core with mypyc (`make venv` runs it; `python -m
streams.devtools.compile_core [--clean]`).

mypyc, which comes with mypy, turns the typed core into C extensions: the replay of the
simulator's mix takes about a third less time with the same alerts. The extensions go next to
their sources; the manifest it writes last is what `streams.compiled` checks before it lets them
run, so a build that failed half-way, or a source edited since, runs the sources instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from streams.compiled import MANIFEST, MODULES, ROOT, digests, extension_of, source_of

GROUP = "streams.core._compiled"
"""The shared library of the whole set (`streams/core/_compiled__mypyc...so`)."""


def clean(root: Path = ROOT) -> None:
    """Remove the manifest first (the sources run from then on), then the extensions."""
    (root / MANIFEST).unlink(missing_ok=True)
    for module in MODULES:
        extension_of(module, root).unlink(missing_ok=True)
    package, name = GROUP.rsplit(".", 1)
    for lib in root.joinpath(*package.split(".")).glob(f"{name}__mypyc*"):
        lib.unlink()


def build(root: Path = ROOT) -> None:
    from mypyc.build import mypycify
    from setuptools import setup  # type: ignore[import-untyped]

    clean(root)
    sources = digests(root=root)
    paths = [str(source_of(m, root).relative_to(root)) for m in MODULES]
    with tempfile.TemporaryDirectory(prefix="livewatch-mypyc-") as temp:
        # setuptools reads the pyproject.toml of the folder it runs in: build from one that
        # has none, with the packages reached through links.
        work = Path(temp)
        for package in ("streams", "schemas"):
            (work / package).symlink_to(root / package)
        cwd = Path.cwd()
        os.chdir(work)
        try:
            setup(
                name="livewatch-core",
                ext_modules=mypycify(paths, opt_level="3", group_name=GROUP),
                script_args=["-q", "build_ext", "--inplace", "--build-temp", str(work / "build")],
            )
        finally:
            os.chdir(cwd)
        shutil.rmtree(work / "build", ignore_errors=True)
    missing = [m for m in MODULES if not extension_of(m, root).exists()]
    if missing:
        raise SystemExit(f"mypyc built no extension for {', '.join(missing)}")
    (root / MANIFEST).write_text(json.dumps({"sources": sources}, indent=1) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Compile the detection core with mypyc.")
    parser.add_argument("--clean", action="store_true", help="remove the build: run the sources")
    args = parser.parse_args(argv)
    if args.clean:
        clean()
    else:
        build()
    print("streams core: " + ("python (cleaned)" if args.clean else "compiled"), file=sys.stderr)


if __name__ == "__main__":
    main()
