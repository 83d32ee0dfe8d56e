"""Rule sets over event time: the rules file, then the versions published to the rules topic.

A published rule set holds from an event-time boundary it carries (`effective_ms`), chosen
when it is published. The detector asks the book which set holds at each boundary it
evaluates, so the worker and the replay, given the same records of the rules topic, judge
every boundary under the same set and print the same alerts, however late a worker read the
record. A shadow set is judged beside the live one on the same state; its alerts are marked
and go elsewhere.

Records are `{"version", "kind": "live"|"shadow", "effective_ms", "published_by",
"published_at_ms", "source", "rules": YAML text}` keyed `<kind>/<version>`, so the compacted
topic keeps every version (a rollback republishes an old one under a new version). A shadow
record whose `rules` is null withdraws the shadow set from its boundary on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from streams.core.rules import Rules, RulesError, parse_rules

Kind = Literal["live", "shadow"]
KINDS: tuple[Kind, ...] = ("live", "shadow")


@dataclass(frozen=True, slots=True)
class RuleSet:
    """One record of the rules topic, validated."""

    version: int
    kind: Kind
    effective_ms: int
    """The first boundary evaluated under it."""
    rules: Rules | None
    """None: a shadow set withdrawn."""
    text: str | None
    """The YAML as published (what the replay and `rules rollback` use again)."""
    source: str = ""
    published_by: str = ""
    published_at_ms: int = 0

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.version:08d}"

    def to_record(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "kind": self.kind,
            "effective_ms": self.effective_ms,
            "published_by": self.published_by,
            "published_at_ms": self.published_at_ms,
            "source": self.source,
            "rules": self.text,
        }


def decode_rule_set(value: bytes | str | dict[str, Any]) -> RuleSet:
    """A rules-topic record, validated as a rules file is (raises RulesError naming the
    version, the line and the field)."""
    try:
        d = json.loads(value) if isinstance(value, bytes | str) else value
    except ValueError as exc:
        raise RulesError(f"rules record: not JSON: {exc}") from exc
    if not isinstance(d, dict):
        raise RulesError("rules record: not a JSON object")
    version = d.get("version")
    if type(version) is not int or version < 1:
        raise RulesError(f"rules record: version must be a whole number >= 1, got {version!r}")
    kind = d.get("kind")
    if kind not in KINDS:
        raise RulesError(f"rules record v{version}: kind must be live or shadow, got {kind!r}")
    effective = d.get("effective_ms")
    if type(effective) is not int:
        raise RulesError(f"rules record v{version}: effective_ms must be whole milliseconds")
    text = d.get("rules")
    if text is None and kind == "live":
        raise RulesError(f"rules record v{version}: a live record needs its rules")
    if text is not None and not isinstance(text, str):
        raise RulesError(f"rules record v{version}: rules must be the YAML text")
    source = str(d.get("source") or "")
    rules = parse_rules(text, f"rules v{version} ({source or 'topic'})") if text else None
    return RuleSet(
        version, kind, effective, rules, text, source, str(d.get("published_by") or ""),
        int(d.get("published_at_ms") or 0),
    )  # fmt: skip


@dataclass
class RuleBook:
    """The rules file (version 0, from the beginning of time) and the rule sets published
    since, by kind. At a boundary, the set in force is the highest version whose boundary has
    come: a rollback (a new version) wins over the version it undoes from its own boundary."""

    base: Rules
    sets: dict[Kind, list[RuleSet]] = field(default_factory=lambda: {"live": [], "shadow": []})
    """Accepted sets by kind, by version."""

    def add(self, rule_set: RuleSet) -> bool:
        """Take a validated set; False when its version was known already (a re-read)."""
        known = self.sets[rule_set.kind]
        if any(s.version == rule_set.version for s in known):
            return False
        known.append(rule_set)
        known.sort(key=lambda s: s.version)
        return True

    @property
    def published(self) -> bool:
        """Whether anything beyond the rules file is known."""
        return bool(self.sets["live"] or self.sets["shadow"])

    def _at(self, kind: Kind, boundary_ms: int) -> RuleSet | None:
        for rule_set in reversed(self.sets[kind]):
            if rule_set.effective_ms <= boundary_ms:
                return rule_set
        return None

    def live_at(self, boundary_ms: int) -> tuple[int, Rules]:
        """(version, rules) judging the boundary."""
        found = self._at("live", boundary_ms)
        if found is None or found.rules is None:
            return 0, self.base
        return found.version, found.rules

    def shadow_at(self, boundary_ms: int) -> tuple[int, Rules] | None:
        """(version, rules) of the shadow set beside it, None when there is none."""
        found = self._at("shadow", boundary_ms)
        if found is None or found.rules is None:
            return None
        return found.version, found.rules

    def next_change(self, after_ms: int) -> int | None:
        """The earliest boundary time after `after_ms` at which a known set takes effect (the
        set in force can change there, and nowhere else)."""
        return min(
            (
                s.effective_ms
                for sets in self.sets.values()
                for s in sets
                if s.effective_ms > after_ms
            ),
            default=None,
        )

    def latest(self, kind: Kind) -> RuleSet | None:
        """The last version published of a kind (in force once its boundary comes)."""
        known = self.sets[kind]
        return known[-1] if known else None

    def next_version(self) -> int:
        return 1 + max((s.version for sets in self.sets.values() for s in sets), default=0)


def book_from_records(base: Rules, records: list[dict[str, Any]]) -> tuple[RuleBook, list[str]]:
    """A book from the rules topic's records in order; the refusals, as the worker logs them
    (a refused record changes nothing, in the worker and here alike)."""
    book = RuleBook(base)
    refused = []
    for record in records:
        try:
            book.add(decode_rule_set(record))
        except RulesError as exc:
            refused.append(str(exc))
    return book, refused
