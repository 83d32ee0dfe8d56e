"""What an analyst narrows the board to: a rule, a severity, a category, an anchor id search."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.alert import RuleName, Severity
from streams.board.ledger import Episode

MAX_QUERY = 128


class FilterError(ValueError):
    """A filter value the board does not know (shown to the analyst as a 400)."""


@dataclass(frozen=True, slots=True)
class Filter:
    rule: str | None = None
    severity: str | None = None
    category: str | None = None
    q: str = ""
    """Part of an anchor id, case-insensitive."""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Filter:
        rule = query.get("rule") or None
        severity = query.get("severity") or None
        if rule is not None and rule not in {r.value for r in RuleName}:
            raise FilterError(
                f"unknown rule {rule!r}; one of {', '.join(r.value for r in RuleName)}"
            )
        if severity is not None and severity not in {s.value for s in Severity}:
            raise FilterError(
                f"unknown severity {severity!r}; one of {', '.join(s.value for s in Severity)}"
            )
        return cls(rule, severity, (query.get("category") or "").strip() or None,
                   (query.get("q") or "").strip()[:MAX_QUERY])  # fmt: skip

    @property
    def any(self) -> bool:
        return bool(self.rule or self.severity or self.category or self.q)

    def as_query(self) -> dict[str, str]:
        """The non-empty fields, for links that keep the filter."""
        fields = {"rule": self.rule, "severity": self.severity, "category": self.category,
                  "q": self.q}  # fmt: skip
        return {k: v for k, v in fields.items() if v}

    def _anchor(self, anchor_id: str) -> bool:
        return not self.q or self.q.casefold() in anchor_id.casefold()

    def episode(self, e: Episode) -> bool:
        return (
            self._anchor(e.anchor_id)
            and (self.rule is None or e.rule == self.rule)
            and (self.severity is None or e.severity == self.severity)
            and (self.category is None or e.category == self.category)
        )

    def anchor(self, row: Mapping[str, Any], firing: list[Episode]) -> bool:
        """A row of the riskiest anchors (a worker's `/anchors`), with its firing episodes:
        a rule or severity filter keeps the anchors with such an episode firing."""
        return (
            self._anchor(str(row.get("anchor_id", "")))
            and (self.rule is None or self.rule in row.get("firing", ()))
            and (self.severity is None or any(e.severity == self.severity for e in firing))
            and (self.category is None or row.get("category") == self.category)
        )
