"""Writes every wire model's JSON Schema to `schemas/json/`, for consumers in other languages."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.alert import Alert
from schemas.events import Complaint, Order, Refund
from schemas.verdict import Verdict

JSON_DIR = Path(__file__).parent / "json"

MODELS: dict[str, type[BaseModel]] = {
    "order": Order,
    "refund": Refund,
    "complaint": Complaint,
    "alert": Alert,
    "verdict": Verdict,
}


def render(model: type[BaseModel]) -> str:
    """The schema text for one model, stable byte for byte across runs."""
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    """File name to schema text for every model."""
    return {f"{name}.schema.json": render(model) for name, model in MODELS.items()}


def export(directory: Path = JSON_DIR) -> list[Path]:
    """Write every schema file; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, text in rendered().items():
        path = directory / filename
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
