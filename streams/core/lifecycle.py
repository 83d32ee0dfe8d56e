"""Alert episodes per (rule, anchor): fire once, escalate, resolve with hysteresis and cooldown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from schemas import AlertStatus, RuleName, Severity
from streams.core.clock import bucket_start
from streams.core.rules import Lifecycle
from streams.core.state import Episode

ALERT_NAMESPACE = uuid.UUID("6f1c3f0e-8d0b-4d7e-9a51-6c1d7b0e5a21")
SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}

Transition = Literal["fired", "escalated", "resolved"]


def alert_id(rule: RuleName, anchor_id: str, started_ms: int, shadow: bool = False) -> str:
    """Deterministic episode id: a restart or a replay of the same events gives the same id.
    A shadow episode's differs from a live one's of the same start (they are not one)."""
    name = f"shadow\x1f{rule}" if shadow else str(rule)
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{name}\x1f{anchor_id}\x1f{started_ms}"))


@dataclass(frozen=True, slots=True)
class Signal:
    """A rule's judgement at one moment: over the firing threshold, and over the resolve one."""

    crossing: bool
    holding: bool
    severity: Severity


def advance(
    episode: Episode | None,
    signal: Signal,
    rule: RuleName,
    anchor_id: str,
    now_ms: int,
    step_ms: int,
    policy: Lifecycle,
    shadow: bool = False,
) -> tuple[Episode | None, Transition | None]:
    """Next episode state and the transition to publish, if any.

    An episode starts at the step-aligned bucket of the moment it first crosses, which keys its id;
    it resolves after `resolve_after_s` below the resolve threshold, and a new one may only start
    `cooldown_s` after that.
    """
    if episode is None or episode.status == AlertStatus.RESOLVED:
        if not signal.crossing:
            return episode, None
        ended = episode.ended_ms if episode is not None else None
        if ended is not None and now_ms - ended < policy.cooldown_s * 1000:
            return episode, None
        started = bucket_start(now_ms, step_ms)
        return Episode(
            alert_id(rule, anchor_id, started, shadow), started, severity=signal.severity
        ), "fired"
    if signal.holding:
        episode.calm_since_ms = None
        if signal.crossing and SEVERITY_RANK[signal.severity] > SEVERITY_RANK[episode.severity]:
            episode.severity = signal.severity
            return episode, "escalated"
        return episode, None
    if episode.calm_since_ms is None:
        episode.calm_since_ms = now_ms
    if now_ms - episode.calm_since_ms >= policy.resolve_after_s * 1000:
        return close(episode, now_ms), "resolved"
    return episode, None


def close(episode: Episode, now_ms: int) -> Episode:
    """Resolve an episode at `now_ms`: calm long enough (`advance`), or its rule turned off."""
    episode.status = AlertStatus.RESOLVED
    episode.ended_ms = now_ms
    return episode
