"""Backtests: recorded events replayed under two rule sets, their episodes compared per rule.

Both runs are the replay (the worker's own step over the events), with time run on past the
last event so open episodes resolve. An episode of one run matches one of the other when they
are of the same rule and anchor and overlap in time; what is left is "only baseline" (what the
candidate would no longer raise) and "only candidate" (what it would raise anew). Matched
episodes give the change in time to detect: the candidate's first firing boundary minus the
baseline's.
"""

from __future__ import annotations

import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas import Alert, AlertStatus, RuleName
from schemas.verdict import Judgement
from streams.core.clock import to_ms
from streams.core.rulebook import RuleBook
from streams.replay import ErrorSink, Line, replay_records
from streams.settings import Settings


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert episode of a run: from its first firing boundary to its resolution."""

    rule: str
    anchor_id: str
    alert_id: str
    start_ms: int
    end_ms: int | None
    """None: still firing where the run stopped."""

    def overlaps(self, other: Episode) -> bool:
        return (self.end_ms is None or other.start_ms <= self.end_ms) and (
            other.end_ms is None or self.start_ms <= other.end_ms
        )


def episodes_of(alerts: Iterable[Alert]) -> list[Episode]:
    """The live episodes the alerts describe (shadow ones are another topic's)."""
    start: dict[str, Alert] = {}
    end: dict[str, int] = {}
    for alert in alerts:
        if alert.shadow:
            continue
        start.setdefault(alert.alert_id, alert)
        if alert.status == AlertStatus.RESOLVED:
            end[alert.alert_id] = to_ms(alert.window_end)
    return [
        Episode(a.rule.value, a.anchor_id, i, to_ms(a.window_end), end.get(i))
        for i, a in start.items()
    ]


@dataclass
class RuleComparison:
    """One rule's episodes under both rule sets."""

    baseline: int = 0
    candidate: int = 0
    both: int = 0
    only_baseline: int = 0
    only_candidate: int = 0
    detect_change_s: list[float] = field(default_factory=list)
    """Per matched pair: the candidate's first firing minus the baseline's, in seconds."""
    judged: Counter[str] = field(default_factory=Counter)
    """Episodes with an analyst's verdict, by what the candidate does to them and the
    verdict: `confirmed_lost` (abuse it would miss), `false_alarm_saved`, `confirmed_kept`,
    `false_alarm_kept`, `confirmed_gained` and `false_alarm_gained` (judged episodes only
    the candidate raises: judged under other rules than the baseline)."""

    def summary(self) -> dict[str, Any]:
        changes = self.detect_change_s
        return {
            "baseline": self.baseline,
            "candidate": self.candidate,
            "both": self.both,
            "only_baseline": self.only_baseline,
            "only_candidate": self.only_candidate,
            "median_detect_change_s": statistics.median(changes) if changes else None,
            "detected_earlier": sum(1 for c in changes if c < 0),
            "detected_later": sum(1 for c in changes if c > 0),
            **{key: self.judged[key] for key in JUDGED},
        }


JUDGED = tuple(
    f"{verdict}_{fate}"
    for fate in ("lost", "saved", "kept", "gained")
    for verdict in ("confirmed", "false_alarm")
    if (verdict, fate) not in {("confirmed", "saved"), ("false_alarm", "lost")}
)
"""What a candidate does to judged episodes: abuse lost, false alarms saved, both kept, both
gained."""


def compare(
    baseline: Sequence[Episode],
    candidate: Sequence[Episode],
    verdicts: Mapping[str, Judgement] | None = None,
) -> dict[str, RuleComparison]:
    """Per rule: episodes of each run, matched one to one by anchor and overlap, earliest
    first; with `verdicts` (by alert id), what becomes of the judged ones (`unsure` is not
    scored)."""
    verdicts = verdicts or {}
    rules: dict[str, RuleComparison] = defaultdict(RuleComparison)
    for name in RuleName:  # every rule, also one neither run raised
        rules[name.value] = RuleComparison()
    waiting: dict[tuple[str, str], list[Episode]] = defaultdict(list)
    for episode in sorted(candidate, key=lambda e: e.start_ms):
        rules[episode.rule].candidate += 1
        waiting[(episode.rule, episode.anchor_id)].append(episode)
    for episode in sorted(baseline, key=lambda e: e.start_ms):
        row = rules[episode.rule]
        row.baseline += 1
        pool = waiting[(episode.rule, episode.anchor_id)]
        match = next((c for c in pool if c.overlaps(episode)), None)
        judged = _scored(verdicts.get(episode.alert_id))
        if match is None:
            row.only_baseline += 1
            if judged:
                row.judged[f"{judged}_{'lost' if judged == 'confirmed' else 'saved'}"] += 1
            continue
        if judged:
            row.judged[f"{judged}_kept"] += 1
        pool.remove(match)
        row.both += 1
        row.detect_change_s.append((match.start_ms - episode.start_ms) / 1000)
    for (rule, _), pool in waiting.items():
        rules[rule].only_candidate += len(pool)
        for episode in pool:
            judged = _scored(verdicts.get(episode.alert_id))
            if judged:
                rules[rule].judged[f"{judged}_gained"] += 1
    return dict(sorted(rules.items()))


def _scored(verdict: Judgement | None) -> str | None:
    if verdict is Judgement.CONFIRMED:
        return "confirmed"
    if verdict is Judgement.FALSE_ALARM:
        return "false_alarm"
    return None


@dataclass
class Backtest:
    """What a backtest found."""

    rules: dict[str, RuleComparison]
    baseline: list[Episode]
    candidate: list[Episode]
    events: int
    skipped: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": {name: row.summary() for name, row in self.rules.items()},
            "events": self.events,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 2),
        }


def backtest(
    lines: Sequence[Line],
    settings: Settings,
    baseline: RuleBook,
    candidate: RuleBook,
    on_error: ErrorSink | None = None,
    verdicts: Mapping[str, Judgement] | None = None,
    unread: int = 0,
) -> Backtest:
    """Replay `lines` under each book (skipped lines reported once, from the first run);
    `verdicts` by alert id score the judged episodes (the replay's ids are the worker's).
    `unread`: lines of the file that were not replay lines (reported as they were read),
    counted with the skipped ones."""
    began = time.monotonic()
    skipped = 0

    def report(line: int, reason: str) -> None:
        nonlocal skipped
        skipped += 1
        if on_error is not None:
            on_error(line, reason)

    ours = episodes_of(replay_records(lines, settings, on_error=report, flush=True, book=baseline))
    theirs = episodes_of(replay_records(lines, settings, flush=True, book=candidate))
    return Backtest(
        compare(ours, theirs, verdicts), ours, theirs, len(lines) - skipped, skipped + unread,
        time.monotonic() - began,
    )  # fmt: skip


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds in `90s`, `30m`, `6h`, `7d` or a sum of them (`1h30m`); raises ValueError."""
    parts = re.findall(r"(\d+)\s*([smhd])", text.strip().lower())
    if not parts or re.sub(r"\s|\d+\s*[smhd]", "", text.strip().lower()):
        raise ValueError(f"not a duration: {text!r} (say 90s, 30m, 6h or 7d)")
    return sum(int(n) * _UNITS[unit] for n, unit in parts)
