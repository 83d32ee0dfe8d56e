"""Paths and tools for the deployment-file tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def tool(name: str) -> str:
    """A command the test needs; .ci/run installs it (Debian prometheus, alertmanager)."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run .ci/run or apt-get install the package")
    return found
