"""Episodes: one firing, optional escalation, one resolved; hysteresis and cooldown."""

from __future__ import annotations

from streams.core.lifecycle import Signal, advance, alert_id
from streams.core.rules import Lifecycle
from streams.core.state import Episode

MIN = 60_000
POLICY = Lifecycle(resolve_after_s=600, cooldown_s=1800)
FIRE = Signal(crossing=True, holding=True, severity="warning")
CRIT = Signal(crossing=True, holding=True, severity="critical")
HOLD = Signal(crossing=False, holding=True, severity="warning")
CALM = Signal(crossing=False, holding=False, severity="warning")


def step(episode: Episode | None, signal: Signal, minute: int) -> tuple[Episode | None, str | None]:
    return advance(episode, signal, "rule", "a-1", minute * MIN, MIN, POLICY)


def test_full_episode() -> None:
    """Fire, hold through a dip above the resolve threshold, resolve after 10 calm minutes."""
    ep, t = step(None, FIRE, 5)
    assert t == "fired" and ep is not None
    assert ep.alert_id == alert_id("rule", "a-1", 5 * MIN)
    assert step(ep, FIRE, 6)[1] is None  # still crossing: no storm
    assert step(ep, HOLD, 7)[1] is None  # between the thresholds: hysteresis holds
    assert step(ep, CALM, 8)[1] is None  # calm starts
    assert step(ep, CALM, 17)[1] is None  # 9 minutes calm
    ep, t = step(ep, CALM, 18)
    assert t == "resolved" and ep is not None and ep.status == "resolved"


def test_calm_is_reset_by_a_relapse() -> None:
    ep, _ = step(None, FIRE, 0)
    step(ep, CALM, 1)
    step(ep, HOLD, 5)  # back over the resolve threshold
    assert step(ep, CALM, 12)[1] is None  # calm counts again from minute 12
    assert step(ep, CALM, 22)[1] == "resolved"


def test_escalation_keeps_the_id() -> None:
    ep, _ = step(None, FIRE, 0)
    assert ep is not None
    first = ep.alert_id
    ep, t = step(ep, CRIT, 1)
    assert t == "escalated" and ep is not None and ep.alert_id == first
    assert step(ep, FIRE, 2)[1] is None  # no de-escalation storm


def test_cooldown_blocks_a_new_episode() -> None:
    ep, _ = step(None, FIRE, 0)
    ep, _ = step(ep, CALM, 1)
    ep, t = step(ep, CALM, 11)
    assert t == "resolved"
    assert step(ep, FIRE, 20)[1] is None  # 9 minutes after resolution: cooling down
    ep2, t = step(ep, FIRE, 41)
    assert t == "fired" and ep2 is not None
    assert ep is not None and ep2.alert_id != alert_id("rule", "a-1", 0)


def test_ids_are_deterministic_and_distinct() -> None:
    assert alert_id("r", "a", 1) == alert_id("r", "a", 1)
    assert len({alert_id("r", "a", 1), alert_id("r", "b", 1), alert_id("q", "a", 1),
                alert_id("r", "a", 2)}) == 4  # fmt: skip
