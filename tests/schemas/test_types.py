"""The event times' respelling: its shortcut for RFC 3339 text changes no answer."""

from __future__ import annotations

import itertools

from schemas.types import _respelled, offset_as_rfc3339, rfc3339_offset

DAYS = ("2026-11-28T14:04:13", "2026-11-28 14:04:13", "2026-11-28t14:04:13.5")
FRACTIONS = ("", ".1", ".030017", ".123456789")
ENDINGS = (
    "Z", "z", " Z", "+08:00", "-05:30", " +08:00", "+0800", " +0800", "+08", " +0800 CST",
    " +0000 UTC m=+0.001", " UTC", "UTC", " GMT", "", "+8:00", "+08:0", "Z+08:00", "m=+0.5Z",
)  # fmt: skip


def test_the_shortcut_takes_only_text_the_respelling_leaves_as_it_is() -> None:
    """Every text the shortcut lets through would come out of the searches unchanged, and
    the shortcut takes the forms most producers write."""
    taken = 0
    for day, fraction, ending in itertools.product(DAYS, FRACTIONS, ENDINGS):
        value = day + fraction + ending
        if rfc3339_offset(value):
            taken += 1
            assert _respelled(value) == value, value
        assert offset_as_rfc3339(value) == _respelled(value), value
    assert taken == len(DAYS) * len(FRACTIONS) * 4  # "Z", "+08:00", "-05:30", "m=+0.5Z"
    assert offset_as_rfc3339("2026-11-28 14:04:13 UTC") == "2026-11-28 14:04:13Z"
    assert offset_as_rfc3339("2026-11-28T14:04:13 +08:00") == "2026-11-28T14:04:13+08:00"
