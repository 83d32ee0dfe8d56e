"""MkDocs hook: a page holding `<!-- settings -->` gets the settings reference there, a table
per program, generated from `Settings`' fields, defaults and docstrings (grouped as
`streams.settings.SECTIONS` says), so the docs cannot drift from the code."""

from __future__ import annotations

import re
from typing import Any

from pydantic import SecretStr

from streams.settings import SECTIONS, Settings

MARKER = "<!-- settings -->"


def on_page_markdown(markdown: str, **_: Any) -> str:
    return markdown.replace(MARKER, reference()) if MARKER in markdown else markdown


def reference() -> str:
    parts = []
    for title, names in SECTIONS.items():
        rows = ["| variable | default | meaning |", "|---|---|---|"]
        rows += [_row(name) for name in names]
        parts += [f"## {title}", "\n".join(rows)]
    return "\n\n".join(parts)


def _row(name: str) -> str:
    field = Settings.model_fields[name]
    meaning = re.sub(r"\s+", " ", field.description or "").strip().replace("|", "\\|")
    return f"| `LIVEWATCH_{name.upper()}` | {_default(field.default)} | {meaning} |"


def _default(value: Any) -> str:
    if value is None or value == "" or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"
