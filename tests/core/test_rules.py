"""The rules file: defaults load, and every error names its line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.core.rules import (
    DEFAULT_RULES_PATH,
    ComplaintCategory,
    RulesError,
    load_rules,
    parse_rules,
)

DEFAULT_TEXT = DEFAULT_RULES_PATH.read_text()


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_default_rules_load() -> None:
    rules = load_rules()
    assert rules.version == 1
    assert rules.refund_after_order_spike.category("apparel").baseline_rate > (
        rules.refund_after_order_spike.category("electronics").baseline_rate
    )
    # an unlisted category falls back to default
    assert (
        rules.refund_after_order_spike.category("toys")
        == (rules.refund_after_order_spike.categories["default"])
    )


BROKEN = [
    # (replace this, with that, field named in the error, text on the reported line)
    ("min_orders_long: 60", "min_orders_long: -3", "refund_after_order_spike.min_orders_long",
     "min_orders_long"),
    ("min_orders_long: 60", "min_orders_long: lots", "refund_after_order_spike.min_orders_long",
     "min_orders_long"),
    ("apparel:     {baseline_rate: 0.25", "apparel:     {baseline_rat: 0.25",
     "categories.apparel.baseline_rat", "apparel:"),
    ("electronics: {baseline_rate: 0.07", "gadgets: {baseline_rate: 0.07",
     "categories.gadgets", "gadgets:"),
    ("resolve_ratio: 0.75", "resolve_ratio: 1.5", "refund_after_order_spike.resolve_ratio",
     "resolve_ratio: 1.5"),
    ("  min_count: 6 ", "  min_cout: 6 ", "quality_complaints.min_cout", "min_cout"),
    ("version: 1", "version: 2", "version", "version: 2"),
    ("windows_s: [300, 600]", "windows_s: [300, 300]",
     "order_concentration.repeat_buyers.windows_s", "windows_s: [300, 300]"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "field", "line_text"), BROKEN)
def test_error_names_line_and_field(old: str, new: str, field: str, line_text: str) -> None:
    """A bad value is refused with `file:line: field: reason`, at the line that holds it."""
    assert old in DEFAULT_TEXT
    text = DEFAULT_TEXT.replace(old, new, 1)
    with pytest.raises(RulesError) as info:
        parse_rules(text, "rules.yaml")
    message = str(info.value)
    assert f"rules.yaml:{_line_of(text, line_text)}: " in message
    assert field in message


def test_yaml_syntax_error_names_line() -> None:
    text = "version: 1\nrefund_after_order_spike:\n  categories: [unclosed\n"
    with pytest.raises(RulesError, match=r"rules.yaml:\d+: not valid YAML"):
        parse_rules(text, "rules.yaml")


def test_missing_default_category_is_refused() -> None:
    text = DEFAULT_TEXT.replace("    default:     {baseline_rate: 0.11, ceiling: 0.50}\n", "")
    with pytest.raises(RulesError, match="categories must include a 'default' entry"):
        parse_rules(text, "rules.yaml")


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"nope\.yaml: cannot read"):
        load_rules(tmp_path / "nope.yaml")


def test_not_a_mapping() -> None:
    with pytest.raises(RulesError, match=r"rules\.yaml:1: the rules file must be a mapping"):
        parse_rules("- just\n- a list\n", "rules.yaml")


def test_a_chance_is_given_per_window_or_per_day_not_both() -> None:
    both = DEFAULT_TEXT.replace(
        "    false_alarms_per_anchor_day: 2.88e-4",
        "    false_alarms_per_anchor_day: 2.88e-4\n    chance: 1.0e-6",
    )
    with pytest.raises(RulesError, match="early: Value error, give chance or false_alarms"):
        parse_rules(both, "r.yaml")
    early = load_rules().refund_after_order_spike.early
    assert early is not None and early.after_concentration is not None
    assert early.window_chance() == pytest.approx(1e-6)  # 2.88e-4 a day over 288 windows
    assert early.after_concentration.window_chance(early.window_s) == pytest.approx(1e-4)


def test_the_lowest_bars_the_rules_shortcuts_read() -> None:
    """`lowest_count` is the smallest count any category is held to, and `lowest_refunds` the
    fewest early refunds any count of the early path keeps: a verdict below them is quiet
    without the figures that name the category or the early counts."""
    rules = load_rules(None)
    quality = rules.quality_complaints
    assert quality is not None
    assert quality.lowest_count() == quality.min_count == 6
    stricter = quality.model_copy(
        update={"categories": {**quality.categories, "food": ComplaintCategory(min_count=2)}}
    )
    assert stricter.lowest_count() == 2
    assert {stricter.thresholds(c)[0] for c in ("food", "beauty", "toys", None)} == {2, 6}
    early = rules.refund_after_order_spike.early
    assert early is not None
    assert early.min_refunds == 6 and early.lowest_refunds() == 4
    alone = early.model_copy(
        update={"after_concentration": None, "repeat_buyers": None, "quality_claims": None}
    )
    assert alone.lowest_refunds() == 6
