"""Rule sets over event time in the replay (the worker's own step): a set switches at its
boundary, a shadow set leaves the live alerts as they were, and a backtest compares two."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
import yaml

from schemas import Alert, AlertStatus, RuleName
from schemas.verdict import Judgement
from streams.backtest import backtest, parse_duration
from streams.codecs import encode
from streams.core.clock import to_ms
from streams.core.rulebook import RuleBook, decode_rule_set
from streams.core.rules import DEFAULT_RULES_PATH, load_rules
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.replay import Line, replay_records
from streams.settings import Settings

SETTINGS = Settings(partitions=4)
BASE = load_rules()
QC = RuleName.QUALITY_COMPLAINTS.value


def without_complaints() -> str:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text(encoding="utf-8"))
    data["quality_complaints"]["enabled"] = False
    return yaml.safe_dump(data, sort_keys=False)


@cache
def records() -> list[Any]:
    """Eight hours of the mix on 200 anchors: refund spikes, concentration and two complaint
    storms."""
    return list(Simulation(SimConfig(seed=5, anchors=200, hours=8.0)).events())


def book(kind: str = "live", effective_ms: int = 0) -> RuleBook:
    found = RuleBook(BASE)
    found.add(decode_rule_set({"version": 1, "kind": kind, "effective_ms": effective_ms,
                               "rules": without_complaints()}))  # fmt: skip
    return found


@cache
def baseline() -> list[Alert]:
    return list(replay_records(records(), SETTINGS, flush=True))


def run(rules: RuleBook) -> list[Alert]:
    return list(replay_records(records(), SETTINGS, flush=True, book=rules))


def content(alert: Alert) -> bytes:
    """An alert's bytes but its wall-clock stamp."""
    return encode(alert.model_copy(update={"emitted_at": alert.window_end}))


def test_a_set_holds_from_its_boundary_on() -> None:
    """Quality complaints turned off from a boundary between the two storms: the alerts
    before it are the rules file's, the first storm's open episode resolves at the boundary
    (`rule_disabled`), the second never fires, and the other rules are untouched."""
    storms = sorted(
        (to_ms(a.window_end), a.anchor_id) for a in baseline()
        if a.rule.value == QC and a.status == AlertStatus.FIRING
    )  # fmt: skip
    assert len(storms) >= 2, storms
    boundary = storms[0][0] + 120_000  # the first storm firing, the second not yet
    assert boundary < storms[1][0]
    alerts = run(book(effective_ms=boundary))
    before = [a for a in baseline() if to_ms(a.window_end) < boundary]
    assert [content(a) for a in alerts if to_ms(a.window_end) < boundary] == [
        content(a) for a in before
    ]
    after = [a for a in alerts if to_ms(a.window_end) >= boundary]
    assert all(a.rules_version == 1 for a in after)
    complaints = [a for a in after if a.rule.value == QC]
    assert [(a.anchor_id, a.status, a.evidence.window) for a in complaints] == [
        (storms[0][1], AlertStatus.RESOLVED, "rule_disabled")
    ]
    others = [(a.alert_id, a.status) for a in alerts if a.rule.value != QC]
    assert others == [(a.alert_id, a.status) for a in baseline() if a.rule.value != QC]


def test_a_shadow_set_leaves_the_live_alerts_as_they_were() -> None:
    """A shadow set from the start: the live alerts are byte for byte the rules file's (but
    the wall-clock stamp); the shadow's are marked, have ids of their own, and are the live
    episodes less the complaint storms."""
    alerts = run(book("shadow"))
    live = [a for a in alerts if not a.shadow]
    shadow = [a for a in alerts if a.shadow]
    assert [content(a) for a in live] == [content(a) for a in baseline()]
    assert shadow and not {a.alert_id for a in shadow} & {a.alert_id for a in live}

    def episodes(found: list[Alert]) -> list[tuple[str, str, Any, str]]:
        return sorted((a.rule.value, a.anchor_id, a.window_end, a.status.value) for a in found)

    assert episodes(shadow) == episodes([a for a in live if a.rule.value != QC])
    assert any(a.rule.value == QC for a in live)


def test_a_backtest_without_complaints_loses_every_storm_and_nothing_else() -> None:
    """Per rule: every baseline complaint episode is only the baseline's; refund spikes and
    concentration are the same episodes, detected at the same time."""
    lines = [Line(kind, value) for kind, value in records()]
    found = backtest(lines, SETTINGS, RuleBook(BASE), book()).to_json()["rules"]
    assert found[QC]["baseline"] >= 2
    assert (found[QC]["candidate"], found[QC]["only_baseline"]) == (0, found[QC]["baseline"])
    for rule in (RuleName.REFUND_AFTER_ORDER_SPIKE.value, RuleName.ORDER_CONCENTRATION.value):
        row = found[rule]
        assert row["baseline"] >= 1
        assert row["baseline"] == row["candidate"] == row["both"]
        assert (row["only_baseline"], row["only_candidate"]) == (0, 0)
        assert row["median_detect_change_s"] == 0


def test_durations() -> None:
    """`--since` reads as a person writes it."""
    assert [parse_duration(t) for t in ("90s", "30m", "6h", "7d", "1h30m")] == [
        90, 1800, 21600, 604800, 5400,
    ]  # fmt: skip
    for bad in ("", "6", "6 hours", "h"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)


def test_a_backtest_scores_judged_episodes() -> None:
    """Verdicts on baseline episodes (by their alert ids, which the replay shares with the
    worker): a complaint storm judged a false alarm is saved by a candidate without
    complaints; a refund spike judged confirmed is kept."""
    storm = next(a for a in baseline() if a.rule.value == QC)
    spike = next(a for a in baseline() if a.rule == RuleName.REFUND_AFTER_ORDER_SPIKE)
    verdicts = {storm.alert_id: Judgement.FALSE_ALARM, spike.alert_id: Judgement.CONFIRMED}
    lines = [Line(kind, value) for kind, value in records()]
    found = backtest(lines, SETTINGS, RuleBook(BASE), book(), verdicts=verdicts).to_json()
    assert found["rules"][QC]["false_alarm_saved"] == 1
    assert found["rules"][RuleName.REFUND_AFTER_ORDER_SPIKE.value]["confirmed_kept"] == 1
    assert sum(row["confirmed_lost"] for row in found["rules"].values()) == 0
