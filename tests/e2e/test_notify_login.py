"""`livewatch notify` logs in to an Alertmanager that requires it (basic auth from settings, a
password file, or a URL's own credentials), never shows the password, and pages what a newer
worker publishes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from streams.codecs import encode
from streams.settings import Settings
from streams.topics import create_topics
from tests.e2e.test_notify import Notifier, publish, until
from tests.notify.conftest import brushing_alerts
from tests.notify.processes import AlertmanagerProcess, Webhook

pytestmark = pytest.mark.kafka

USER, PASSWORD = "livewatch", "am-password"
HASHED = "$2b$04$79DGVOu6AWp5Te50ROWwNedFimVi8.po7LOj8WHFnDQd9VaaGsfnS"
"""bcrypt of PASSWORD (cost 4: a test), as Alertmanager's web config wants it."""


@pytest.mark.parametrize("how", ["settings", "url", "wrong"])
async def test_the_notifier_logs_in_and_keeps_the_password_out_of_sight(
    settings: Settings, tmp_path: Path, how: str
) -> None:
    await create_topics(settings)
    hook = Webhook()
    await hook.start()
    manager = AlertmanagerProcess(tmp_path, hook.url, basic_auth=(USER, PASSWORD, HASHED))
    manager.start()
    secret = tmp_path / "am-password"
    secret.write_text(("nope" if how == "wrong" else PASSWORD) + "\n")
    given = manager.url
    if how == "url":
        given = manager.url.replace("http://", f"http://{USER}:{PASSWORD}@")
    notifier = Notifier(settings, given, tmp_path / "notify.log")
    if how != "url":
        notifier.env |= {"LIVEWATCH_ALERTMANAGER_USERNAME": USER,
                         "LIVEWATCH_ALERTMANAGER_PASSWORD_FILE": str(secret)}  # fmt: skip
    try:
        notifier.start()
        await notifier.ready()
        fire = brushing_alerts(3)[0]
        await publish(settings, [fire])
        outcome = "rejected" if how == "wrong" else "sent"
        posted = ("livewatch_notify_alerts_posted_total",
                  (("alertmanager", manager.url), ("outcome", outcome)))  # fmt: skip
        for _ in range(150):
            if (await notifier.metrics()).get(posted, 0) >= 1:
                break
            await asyncio.sleep(0.2)
        found = await notifier.metrics()
        assert found.get(posted, 0) >= 1, found
        if how != "wrong":
            await until(lambda: bool(hook.alerts()), "the page", hook)
        shown = notifier.log.read_text() + repr(found)
        assert PASSWORD not in shown
        if how == "url":
            assert "plaintext" in shown or "carries a password" in shown
    finally:
        if notifier.proc is not None:
            notifier.kill()
        manager.stop()
        await hook.stop()


async def test_a_newer_workers_alert_is_paged_by_this_notifier(
    settings: Settings, tmp_path: Path
) -> None:
    """A rolling upgrade: a newer worker publishes a rule this notifier does not know, with a
    field it does not have; the running notifier still pages it through a real Alertmanager."""
    await create_topics(settings)
    hook = Webhook()
    await hook.start()
    manager = AlertmanagerProcess(tmp_path, hook.url)
    manager.start()
    notifier = Notifier(settings, manager.url, tmp_path / "notify.log")
    newer = json.loads(encode(brushing_alerts(3)[0]))
    newer |= {"rule": "repeat_buyer_ring", "ring": {"buyers": 5}}
    try:
        notifier.start()
        await notifier.ready()
        await publish(settings, [json.dumps(newer).encode()])
        await until(lambda: bool(hook.alerts()), "the page", hook)
        [page] = hook.alerts()
        assert page["labels"]["rule"] == "repeat_buyer_ring"
        assert page["labels"]["alert_id"] == newer["alert_id"]
    finally:
        if notifier.proc is not None:
            notifier.kill()
        manager.stop()
        await hook.stop()
