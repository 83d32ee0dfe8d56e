"""docs/settings.md is generated from `Settings` (docs/hooks/settings_reference.py): every
setting is in one section, has a description, and is in the generated reference, which the
page includes; `mkdocs build --strict` (make docs) renders it."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from streams.settings import SECTIONS, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "settings_reference", DOCS / "hooks" / "settings_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_in_exactly_one_section() -> None:
    listed = [name for names in SECTIONS.values() for name in names]
    assert sorted(listed) == sorted(Settings.model_fields)
    assert len(listed) == len(set(listed))


def test_every_setting_says_what_it_does() -> None:
    assert [n for n, f in Settings.model_fields.items() if not (f.description or "").strip()] == []


def test_the_page_shows_every_setting_with_its_default() -> None:
    reference = hook()
    page = reference.on_page_markdown((DOCS / "settings.md").read_text())
    assert reference.MARKER not in page
    rows = dict(re.findall(r"^\| `(LIVEWATCH_[A-Z0-9_]+)` \| ([^|]+) \|", page, re.M))
    assert set(rows) == {f"LIVEWATCH_{name.upper()}" for name in Settings.model_fields}
    assert rows["LIVEWATCH_FETCH_MAX_WAIT_MS"].strip() == "`200`"
    assert rows["LIVEWATCH_API_TOKEN"].strip() == "unset"
    assert rows["LIVEWATCH_DATA_DIR"].strip() == "`livewatch-data`"
