"""The rule book: which rule set judges a boundary, and records of the rules topic validated
as a rules file is."""

from __future__ import annotations

import json
from typing import Any

import pytest

from streams.core.rulebook import RuleBook, RuleSet, book_from_records, decode_rule_set
from streams.core.rules import DEFAULT_RULES_PATH, RulesError, load_rules

TEXT = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
BASE = load_rules()


def record(
    version: int, effective_ms: int, kind: str = "live", text: str | None = TEXT
) -> dict[str, Any]:
    return {"version": version, "kind": kind, "effective_ms": effective_ms, "rules": text,
            "published_by": "test", "published_at_ms": 1, "source": "t.yaml"}  # fmt: skip


class TestRuleBook:
    def test_the_rules_file_holds_until_the_first_boundary(self) -> None:
        """Before a published set's boundary the rules file (version 0) judges; from it on,
        the set does."""
        book = RuleBook(BASE)
        book.add(decode_rule_set(record(1, 600_000)))
        assert book.live_at(540_000) == (0, BASE)
        version, rules = book.live_at(600_000)
        assert version == 1 and rules is not BASE

    def test_a_rollback_wins_from_its_own_boundary(self) -> None:
        """The highest version whose boundary has come holds: a later version undoes an
        earlier one from its boundary, not before."""
        book = RuleBook(BASE)
        for rs in (record(1, 60_000), record(2, 120_000), record(3, 180_000)):
            book.add(decode_rule_set(rs))
        assert [book.live_at(t)[0] for t in (0, 60_000, 150_000, 180_000)] == [0, 1, 2, 3]

    def test_a_shadow_set_until_withdrawn(self) -> None:
        """A shadow set runs from its boundary until a withdrawal's."""
        book = RuleBook(BASE)
        book.add(decode_rule_set(record(1, 60_000, "shadow")))
        book.add(decode_rule_set(record(2, 120_000, "shadow", None)))
        assert book.shadow_at(0) is None
        assert book.shadow_at(60_000) is not None
        assert book.shadow_at(120_000) is None
        assert book.live_at(120_000) == (0, BASE)

    def test_a_version_read_again_is_taken_once(self) -> None:
        """A follower that reads the topic again (a reconnect) adds nothing twice."""
        book = RuleBook(BASE)
        assert book.add(decode_rule_set(record(1, 0)))
        assert not book.add(decode_rule_set(record(1, 0)))
        assert book.next_version() == 2


class TestDecode:
    def test_a_bad_field_is_named_with_its_version_and_line(self) -> None:
        """A record that reached the topic without the publisher's check is refused as a
        rules file is: the version, the line and the field."""
        bad = TEXT.replace("\n  z: 1.645 ", "\n  z: -1 ")
        assert bad != TEXT
        line = next(i for i, text in enumerate(bad.splitlines(), 1) if text.startswith("  z: -1"))
        with pytest.raises(
            RulesError, match=rf"rules v4 \(t.yaml\):{line}: refund_after_order_spike.z"
        ):
            decode_rule_set(json.dumps(record(4, 0, text=bad)))

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (b"not json", "not JSON"),  # bytes that are not JSON at all
            (b"[1]", "not a JSON object"),  # JSON, but not a record
            (
                json.dumps({**record(1, 0), "version": 0}),
                "version must be",
            ),  # version 0 is the file's
            (json.dumps({**record(1, 0), "kind": "canary"}), "kind must be live or shadow"),
            (json.dumps({**record(1, 0), "effective_ms": "soon"}), "effective_ms"),
            (json.dumps(record(1, 0, text=None)), "a live record needs its rules"),
        ],
    )
    def test_malformed_records_are_refused(self, value: bytes | str, message: str) -> None:
        """Whatever reaches the topic, a record is either a valid set or refused with why."""
        with pytest.raises(RulesError, match=message):
            decode_rule_set(value)

    def test_the_record_round_trips(self) -> None:
        """What the publisher writes is what the workers read."""
        rs = decode_rule_set(record(7, 120_000, "shadow"))
        assert isinstance(rs, RuleSet) and rs.key == "shadow/00000007"
        assert decode_rule_set(rs.to_record()) == rs


def test_refused_records_change_nothing() -> None:
    """A broken record between good ones is refused and the others hold as if it were not
    there (the worker and the replay alike)."""
    broken = record(2, 60_000, text="version: 1\nrefund_after_order_spike: {}\n")
    book, refused = book_from_records(BASE, [record(1, 0), broken, record(3, 120_000)])
    assert len(refused) == 1 and "rules v2" in refused[0]
    assert [book.live_at(t)[0] for t in (0, 60_000, 120_000)] == [1, 1, 3]
