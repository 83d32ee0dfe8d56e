"""The quality suite's shapes: each pooled apart and together, each with its own normal days."""

from __future__ import annotations

import pytest

from streams.devtools.sim.suite import SuiteConfig, run_suite


def test_unknown_shapes_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="shapes are mix, rings, fresh"):
        SuiteConfig(shapes=("rings", "flash"))


def test_runs_count_each_kind_of_normal_day_once() -> None:
    config = SuiteConfig(seeds=(1, 2), normal_days=(5,), shapes=("mix", "rings", "fresh"))
    assert config.runs() == 2 * 3 + 2  # plain and sales days


def test_shapes_are_pooled_apart_and_together() -> None:
    config = SuiteConfig(
        seeds=(3,), anchors=60, hours=3.0, normal_days=(4,), normal_anchors=40,
        shapes=("mix", "rings"),
    )  # fmt: skip
    result = run_suite(config)
    assert set(result.shapes) == {"mix", "rings"}
    for rule, score in result.report.rules.items():
        assert score.labels == sum(r.rules[rule].labels for r in result.shapes.values())
    assert any(name.startswith("ring ") for name in result.report.behaviours)
    assert set(result.normal_day_alerts) == {"4 (plain)", "4 (sales day)"}
