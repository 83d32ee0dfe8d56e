"""The rule registry: every rule the alert schema names is evaluated, once, in a fixed order."""

from __future__ import annotations

from schemas import RuleName
from streams.core.registry import REGISTRY
from streams.core.rules import load_rules


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
