"""Sizes a reader can hold in their head: the limits the codebase keeps (docs/architecture.md).
A function that outgrows them is split before it lands."""

from __future__ import annotations

import ast
from pathlib import Path

STREAMS = Path(__file__).resolve().parents[1] / "streams"
FUNCTION_LINES = 120
CREATE_APP_LINES = 80


def function_lengths() -> dict[str, int]:
    found = {}
    for path in sorted(STREAMS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                name = f"{path.relative_to(STREAMS.parent)}:{node.name}"
                found[name] = max(found.get(name, 0), node.end_lineno - node.lineno + 1)
    return found


def test_no_function_in_streams_is_over_120_lines() -> None:
    lengths = function_lengths()
    assert len(lengths) > 300  # the walk found the package
    assert {n: k for n, k in lengths.items() if k > FUNCTION_LINES} == {}


def test_create_app_is_wiring_only() -> None:
    assert function_lengths()["streams/worker/app.py:create_app"] <= CREATE_APP_LINES
