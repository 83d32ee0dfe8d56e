"""The checked-in JSON Schema files must match the models."""

from __future__ import annotations

import json
from pathlib import Path

from schemas.export import JSON_DIR, export, rendered


def test_checked_in_schemas_match_models() -> None:
    """Run `livewatch schemas export` after changing a model; this test says which file is stale."""
    stale = [
        name
        for name, text in rendered().items()
        if not (JSON_DIR / name).exists() or (JSON_DIR / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale schema files (run `livewatch schemas export`): {stale}"


def test_no_orphan_schema_files() -> None:
    """Every file under schemas/json belongs to a model."""
    assert {p.name for p in JSON_DIR.glob("*.schema.json")} == set(rendered())


def test_export_writes_valid_json(tmp_path: Path) -> None:
    """Exported files parse as JSON Schema documents with the draft declared."""
    for path in export(tmp_path):
        schema = json.loads(path.read_text())
        assert schema["$schema"].endswith("2020-12/schema")
        assert schema["type"] == "object"
