"""The rule registry: every rule the alert schema names is evaluated, once, in a fixed order."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from schemas import RuleName
from streams.core import detector, registry
from streams.core.evaluate import Held, Verdict, held, whole_steps
from streams.core.registry import REGISTRY, RuleSpec
from streams.core.rulebook import RuleBook, RuleSet
from streams.core.rules import load_rules
from streams.core.state import AnchorState
from streams.devtools.sim.generator import DEFAULT_START, SimConfig, Simulation
from streams.replay import CHUNK, replay_records
from streams.settings import Settings


def test_every_rule_name_has_one_entry_in_schema_order() -> None:
    assert [spec.name for spec in REGISTRY] == list(RuleName)


def test_a_rule_switched_off_or_left_out_is_not_evaluated() -> None:
    rules = load_rules(None)
    on = {spec.name for spec in REGISTRY if spec.enabled(rules) is not None}
    assert on == set(RuleName)
    off = rules.model_copy(
        update={
            "quality_complaints": rules.quality_complaints.model_copy(update={"enabled": False}),
            "order_concentration": None,
        }
    )
    assert [spec.name for spec in REGISTRY if spec.enabled(off) is not None] == [
        RuleName.REFUND_AFTER_ORDER_SPIKE
    ]


@pytest.mark.python_core
@pytest.mark.parametrize(("seed", "published"), [(3, False), (8, False), (5, True)])
def test_a_rule_that_cannot_cross_with_what_the_anchor_holds_is_quiet(
    seed: int, published: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate before the rules (`RuleSpec.floor` against `evaluate.held`) only skips
    verdicts that would have been quiet: with every floor at zero and every boundary of every
    anchor walked, every rule is judged; on the simulator's traffic every verdict the gate
    skips is quiet, and the alerts are those of the detector with the gate (which also skips
    the boundaries where no rule could cross). `published`: with lower floors published from
    the second hour, a shadow set with them from the third, the rules file back live from the
    fourth and the shadow withdrawn in the sixth, read in large chunks (an hour of traffic:
    several sets take effect inside one evaluation)."""
    records = list(Simulation(SimConfig(seed=seed, anchors=200, hours=8.0)).events())
    book = _history() if published else None
    gated = _alerts(records, book)
    seen: Counter[str] = Counter()

    def ungated(spec: RuleSpec) -> RuleSpec:
        def judge(state: AnchorState, end_ms: int, w: Any, rule: Any, watching: bool,
                  pace: Any) -> Verdict:  # fmt: skip
            verdict = spec.judge(state, end_ms, w, rule, watching, pace)
            burst_ms = whole_steps(spec.burst_s(rule), w) if spec.burst_s else 0
            if watching or spec.can_cross(
                rule, held(state, end_ms + w.step_ms, w.step_ms, burst_ms)
            ):
                seen["judged"] += 1
            else:
                seen["gated"] += 1
                assert not verdict.signal.crossing, (spec.name, state.anchor_id, end_ms)
            return verdict

        return RuleSpec(spec.name, spec.settings, judge, lambda rule: Held(0, 0, 0))

    monkeypatch.setattr(registry, "REGISTRY", tuple(ungated(spec) for spec in REGISTRY))
    # and every boundary walked while the anchor holds a bucket, whatever the gate says
    monkeypatch.setattr(detector.Detector, "_first_crossing", lambda self, state, nxt, bound: nxt)
    assert _alerts(records, _history() if published else None) == gated
    assert seen["gated"] > seen["judged"] > 0
    assert any(alert["status"] == "firing" for alert in gated)


def _alerts(records: list[Any], book: RuleBook | None = None) -> list[dict[str, Any]]:
    """The replay's alerts but their wall-clock stamp."""
    found = replay_records(records, Settings(), book=book, chunk=5_000 if book else CHUNK)
    return [a.model_dump(exclude={"emitted_at"}) for a in found]


def _history() -> RuleBook:
    base = load_rules()
    spike, concentration = base.refund_after_order_spike, base.order_concentration
    assert concentration is not None
    lower = base.model_copy(
        update={
            "refund_after_order_spike": spike.model_copy(update={"min_orders_long": 30}),
            "order_concentration": concentration.model_copy(update={"min_orders": 10}),
        }
    )
    hour = int(DEFAULT_START.timestamp() * 1000) + 90_000  # between boundaries
    book = RuleBook(base)
    for version, kind, hours, rules in [
        (1, "live", 2, lower), (2, "shadow", 3, lower), (3, "live", 4, base), (4, "shadow", 6, None)
    ]:  # fmt: skip
        book.add(RuleSet(version, kind, hour + hours * 3_600_000, rules, None))
    return book
