"""The detection-quality suite: seeded simulations replayed and scored, pooled over seeds.

One seed is one sample of traffic; thresholds tuned on it fit its noise. The suite runs the
`mix` on several seeds and normal days of 1,000 anchors, so a rules file is judged on all of
them at once: what `livewatch quality` prints and `tests/devtools/sim/test_quality.py` checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas import Alert, RuleName
from streams.core.rules import Rules
from streams.devtools.sim.evaluation import Report, evaluate, pool
from streams.devtools.sim.generator import NORMAL_DAYS, SHAPES, SimConfig, Simulation
from streams.placement import Placement, RefundKey
from streams.replay import replay_records
from streams.settings import Settings

RULES = tuple(r.value for r in RuleName)


@dataclass(frozen=True)
class SuiteConfig:
    seeds: tuple[int, ...] = (1, 2, 3, 4, 5)
    anchors: int = 300
    hours: float = 8.0
    normal_days: tuple[int, ...] = ()
    """Seeds of normal days (1,000 anchors, 24 hours, no misbehaviour) that must stay quiet."""
    normal_anchors: int = 1000
    refunds_by: RefundKey = "anchor"
    """How the mix's refunds are keyed (which partitions they land on), when `placement` is
    not given."""
    placement: Placement | None = None
    """How the producers key and partition every topic (mix runs and normal days)."""
    refund_anchor: bool = True
    """Whether the mix's refunds name their anchor and session."""
    refund_delays: tuple[str, ...] = ("minutes",)
    """Refund-delay profiles (`SimConfig.refund_delay`): every seed runs under each, and the
    normal days too, all pooled into one report."""
    burst_scale: float = 1.0
    """`SimConfig.burst_scale` of the mix runs."""
    shapes: tuple[str, ...] = ("mix",)
    """Traffic shapes (`generator.SHAPES`): every seed runs under each, and the normal days
    under each shape's own normal traffic (a sales day for the new shapes), all pooled."""

    def __post_init__(self) -> None:
        unknown = [s for s in self.shapes if s not in SHAPES]
        if unknown or not self.shapes:
            raise ValueError(f"shapes are {', '.join(SHAPES)}, got {', '.join(unknown)}")

    def runs(self) -> int:
        """Simulations the suite replays: mix runs, then normal days of each kind."""
        days = len({NORMAL_DAYS[s] for s in self.shapes}) * len(self.normal_days)
        return (len(self.seeds) * len(self.shapes) + days) * len(self.refund_delays)


@dataclass
class SuiteResult:
    report: Report
    shapes: dict[str, Report] = field(default_factory=dict)
    """Each shape's runs pooled on their own."""
    normal_day_alerts: dict[int | str, int] = field(default_factory=dict)
    """Seed of a normal day (with its refund-delay profile when there are several) -> firing
    alerts it raised (any is a false alert)."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.report.to_json(),
            "shapes": {name: r.to_json() for name, r in self.shapes.items()},
            "normal_day_alerts": {str(k): v for k, v in self.normal_day_alerts.items()},
        }


def run_suite(
    config: SuiteConfig,
    rules: Rules | None = None,
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
) -> SuiteResult:
    """Replay each seed's simulation through the detector (as `livewatch replay` does) and
    score it against its labels. False alerts carry their seed: anchor ids repeat across seeds."""
    settings = settings or Settings()
    placement = config.placement or Placement.of(refunds=config.refunds_by)

    def scored() -> Iterable[tuple[str, Report]]:
        for shape in config.shapes:
            for delay in config.refund_delays:
                for seed in config.seeds:
                    sim = Simulation(
                        SimConfig(
                            seed=seed,
                            anchors=config.anchors,
                            hours=config.hours,
                            scenarios=SHAPES[shape],
                            refund_anchor=config.refund_anchor,
                            refund_delay=delay,
                            burst_scale=config.burst_scale,
                        )
                    )
                    alerts = _alerts(sim, settings, rules, placement)
                    report = evaluate(sim.truth(), alerts, RULES)
                    for alert in report.false_alerts:
                        alert["seed"] = str(seed)
                        alert["refund_delay"] = delay
                        alert["shape"] = shape
                    if progress:
                        progress(f"{shape} seed {seed} ({delay})")
                    yield shape, report

    reports = list(scored())
    result = SuiteResult(pool((r for _, r in reports), RULES))
    for shape in config.shapes:
        result.shapes[shape] = pool((r for s, r in reports if s == shape), RULES)
    days = dict.fromkeys(NORMAL_DAYS[s] for s in config.shapes)
    for scenarios in days:
        for delay in config.refund_delays:
            for seed in config.normal_days:
                sim = Simulation(
                    SimConfig(
                        seed=seed, anchors=config.normal_anchors, hours=24, scenarios=scenarios,
                        refund_delay=delay,
                    )
                )  # fmt: skip
                found = _alerts(sim, settings, rules, config.placement or Placement())
                firing = [a for a in found if a.status.value == "firing"]
                key = _day_key(seed, delay, scenarios, config, len(days) > 1)
                result.normal_day_alerts[key] = len(firing)
                if progress:
                    progress(f"normal day {seed} ({delay})")
    return result


def _day_key(
    seed: int, delay: str, scenarios: tuple[str, ...], config: SuiteConfig, several: bool
) -> int | str:
    """A normal day's name in the result: its seed, with what tells it from the others."""
    parts = [delay] if len(config.refund_delays) > 1 else []
    if several:
        parts.append("sales day" if len(scenarios) > 1 else "plain")
    return f"{seed} ({', '.join(parts)})" if parts else seed


def _alerts(
    sim: Simulation, settings: Settings, rules: Rules | None, placement: Placement
) -> list[Alert]:
    return list(replay_records(sim.events(), settings, rules=rules, placement=placement))
