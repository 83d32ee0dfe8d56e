"""docs/settings.md against `Settings`: every setting is in the table, and every name in the
table is a setting, so the reference cannot drift from the code in either direction."""

from __future__ import annotations

import re
from pathlib import Path

from streams.settings import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"
NOT_FIELDS = {
    "LIVEWATCH_<SECRET>_FILE",  # any secret from a file (see `Settings` validators)
    "LIVEWATCH_REFUND_ROUTING",  # the former name of LIVEWATCH_ROUTING, still read
}


def first_cells() -> list[list[str]]:
    """The backticked names in the first cell of each row of the settings table."""
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith("| `")]
    return [re.findall(r"`([^`]+)`", row.split("|")[1]) for row in rows]


def test_every_setting_is_in_the_reference() -> None:
    cells = first_cells()
    full = {name for cell in cells for name in cell if name.startswith("LIVEWATCH_")}
    missing = []
    for field in Settings.model_fields:
        env = f"LIVEWATCH_{field.upper()}"
        if env in full:
            continue
        # "`LIVEWATCH_WEB_HOST` / `_WEB_PORT`": a row names its siblings by their suffix
        if not any(
            cell[0].startswith("LIVEWATCH_")
            and any(short.startswith("_") and env.endswith(short) for short in cell[1:])
            for cell in cells
        ):
            missing.append(env)
    assert missing == []


def test_every_name_in_the_reference_is_a_setting() -> None:
    fields = {f"LIVEWATCH_{name.upper()}" for name in Settings.model_fields}
    named = {cell[0] for cell in first_cells() if cell and cell[0].startswith("LIVEWATCH_")}
    assert named - fields - NOT_FIELDS == set()
    assert "LIVEWATCH_FETCH_MAX_WAIT_MS" in named
