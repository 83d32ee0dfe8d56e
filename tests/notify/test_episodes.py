"""What Alertmanager is told for each update of an episode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.alert import AlertStatus, Severity
from streams.notify.episodes import Episodes
from tests.notify.conftest import brushing_alerts

LATER = datetime(2100, 1, 1, tzinfo=UTC)


def test_firing_then_resolved_ends_the_same_label_set() -> None:
    alerts = brushing_alerts()
    firing = next(a for a in alerts if a.status is AlertStatus.FIRING)
    resolved = next(
        a for a in alerts if a.alert_id == firing.alert_id and a.status is AlertStatus.RESOLVED
    )
    episodes = Episodes()
    [fired] = episodes.apply(firing, LATER)
    assert fired.ends_at is None and fired.starts_at == firing.window_end
    assert [p.alert for p in episodes.firing()] == [firing]
    [ended] = episodes.apply(resolved, LATER)
    assert ended.ends_at == resolved.window_end and ended.starts_at == firing.window_end
    assert ended.alert.severity == firing.severity
    assert episodes.firing() == []


def test_an_escalation_resolves_the_old_severity_and_fires_the_new() -> None:
    firing = next(a for a in brushing_alerts() if a.status is AlertStatus.FIRING)
    warning = firing.model_copy(update={"severity": Severity.WARNING})
    critical = firing.model_copy(
        update={
            "severity": Severity.CRITICAL,
            "window_end": firing.window_end + timedelta(minutes=5),
        }
    )
    episodes = Episodes()
    episodes.apply(warning, LATER)
    old, new = episodes.apply(critical, LATER)
    assert (old.alert.severity, old.ends_at) == (Severity.WARNING, critical.window_end)
    assert (new.alert.severity, new.ends_at) == (Severity.CRITICAL, None)
    assert [p.alert.severity for p in episodes.firing()] == [Severity.CRITICAL]


def test_an_update_at_the_same_severity_keeps_its_start() -> None:
    firing = next(a for a in brushing_alerts() if a.status is AlertStatus.FIRING)
    later = firing.model_copy(update={"window_end": firing.window_end + timedelta(minutes=1)})
    episodes = Episodes()
    episodes.apply(firing, LATER)
    [update] = episodes.apply(later, LATER)
    assert update.starts_at == firing.window_end and update.alert is later


def test_times_ahead_of_the_wall_clock_are_clamped_to_it() -> None:
    """Alertmanager would keep an alert resolved 'in the future' firing until then."""
    firing = next(a for a in brushing_alerts() if a.status is AlertStatus.FIRING)
    now = firing.window_end - timedelta(days=1)
    [fired] = Episodes().apply(firing, now)
    assert fired.starts_at == now


def test_a_resolution_without_its_firing_is_still_sent() -> None:
    resolved = next(a for a in brushing_alerts() if a.status is AlertStatus.RESOLVED)
    [post] = Episodes().apply(resolved, LATER)
    assert post.ends_at == resolved.window_end and post.starts_at <= post.ends_at


def test_every_post_of_an_episode_carries_the_labels_it_fired_with() -> None:
    """A label set that changed between posts would be a second alert to Alertmanager, and
    the first would resolve by timeout and page again."""
    alerts = brushing_alerts()
    firing = next(a for a in alerts if a.status is AlertStatus.FIRING)
    moved = firing.evidence.model_copy(update={"category": "elsewhere"})
    update = firing.model_copy(update={"evidence": moved})
    resolved = next(a for a in alerts if a.status is AlertStatus.RESOLVED)
    episodes = Episodes()
    posts = [*episodes.apply(firing, LATER), *episodes.apply(update, LATER)]
    posts += [*episodes.firing(), *episodes.apply(resolved, LATER)]
    assert len(posts) == 4 and all(p.labelled is firing for p in posts)
