"""MkDocs hook: a page holding `<!-- schema: NAME -->` gets the field reference of
`schemas/json/NAME.schema.json` there, so the docs cannot drift from the checked-in JSON
Schema (itself checked against the pydantic models by tests/schemas/test_export.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "json"
MARKER = re.compile(r"<!-- schema: ([a-z_]+) -->")


def on_page_markdown(markdown: str, **_: Any) -> str:
    return MARKER.sub(lambda m: reference(m.group(1)), markdown)


def reference(name: str) -> str:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    defs = schema.get("$defs", {})
    lines = [_table(schema, defs)]
    for def_name, sub in sorted(defs.items()):
        if "properties" in sub:
            lines += [
                f"**`{def_name}`**: {_one_line(sub.get('description', ''))}",
                "",
                _table(sub, defs),
            ]
    return "\n\n".join(lines)


def _table(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    """Fields, types and whether required; descriptions where the model gives any."""
    required = set(schema.get("required", []))
    props = schema["properties"]
    described = any(spec.get("description") for spec in props.values())
    head = "| field | type | required |" + (" description |" if described else "")
    rows = [head, "|---|---|---|" + ("---|" if described else "")]
    for field, spec in props.items():
        row = f"| `{field}` | {_type(spec, defs)} | {'yes' if field in required else 'no'} |"
        if described:
            row += f" {_one_line(spec.get('description', ''))} |"
        rows.append(row)
    return "\n".join(rows)


def _type(spec: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in spec:
        target = spec["$ref"].rsplit("/", 1)[-1]
        sub = defs.get(target, {})
        if "enum" in sub:
            return " / ".join(f"`{v}`" for v in sub["enum"])
        return f"`{target}`"
    if "anyOf" in spec:
        return " or ".join(_type(s, defs) for s in spec["anyOf"])
    if "const" in spec:
        return f"`{spec['const']}`"
    kind = spec.get("type", "any")
    if kind == "object" and "additionalProperties" in spec:
        inner = spec["additionalProperties"]
        value = _type(inner, defs) if isinstance(inner, dict) else "any"
        return f"object of {value}"
    if kind == "array" and "items" in spec:
        return f"array of {_type(spec['items'], defs)}"
    fmt = spec.get("format")
    return f"{kind} ({fmt})" if fmt else str(kind)


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")
