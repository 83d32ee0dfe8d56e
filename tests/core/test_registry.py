"""The rule registry: every rule the alert schema names is evaluated, once, in a fixed order."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from schemas import RuleName
from streams.core import detector, registry
from streams.core.evaluate import Held, Verdict, held
from streams.core.registry import REGISTRY, RuleSpec
from streams.core.rules import load_rules
from streams.core.state import AnchorState
from streams.devtools.sim.generator import SimConfig, Simulation
from streams.replay import replay_records
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


@pytest.mark.parametrize("seed", [3, 8])
def test_a_rule_that_cannot_cross_with_what_the_anchor_holds_is_quiet(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate before the rules (`RuleSpec.floor` against `evaluate.held`) only skips
    verdicts that would have been quiet: with every floor at zero and every boundary of every
    anchor walked, every rule is judged; on the simulator's traffic every verdict the gate
    skips is quiet, and the alerts are those of the detector with the gate (which also skips
    the boundaries where no rule could cross)."""
    records = list(Simulation(SimConfig(seed=seed, anchors=200, hours=8.0)).events())
    gated = _alerts(records)
    seen: Counter[str] = Counter()

    def ungated(spec: RuleSpec) -> RuleSpec:
        def judge(state: AnchorState, end_ms: int, w: Any, rule: Any, watching: bool,
                  pace: Any) -> Verdict:  # fmt: skip
            verdict = spec.judge(state, end_ms, w, rule, watching, pace)
            if watching or spec.can_cross(rule, held(state, end_ms + w.step_ms)):
                seen["judged"] += 1
            else:
                seen["gated"] += 1
                assert not verdict.signal.crossing, (spec.name, state.anchor_id, end_ms)
            return verdict

        return RuleSpec(spec.name, spec.settings, judge, lambda rule: Held(0, 0))

    monkeypatch.setattr(registry, "REGISTRY", tuple(ungated(spec) for spec in REGISTRY))
    # and every boundary walked while the anchor holds a bucket, whatever the gate says
    monkeypatch.setattr(detector.Detector, "_first_crossing", lambda self, state, nxt, bound: nxt)
    assert _alerts(records) == gated
    assert seen["gated"] > seen["judged"] > 0
    assert any(alert["status"] == "firing" for alert in gated)


def _alerts(records: list[Any]) -> list[dict[str, Any]]:
    """The replay's alerts but their wall-clock stamp."""
    return [a.model_dump(exclude={"emitted_at"}) for a in replay_records(records, Settings())]
