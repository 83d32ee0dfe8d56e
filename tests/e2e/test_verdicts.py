"""Analysts' verdicts on a real broker with a worker and the board: recorded in headless
Chromium and by the command, each lands on the verdicts topic once, survives a board restart,
and gives the precision `livewatch verdicts report` prints; a backtest scores them."""

from __future__ import annotations

import base64
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from pydantic import SecretStr
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from schemas import Alert, AlertStatus
from schemas.verdict import Verdict
from streams.devtools.children import start_board, stop, wait_ready
from streams.devtools.kafka_local import free_port
from streams.settings import Settings
from streams.topics import create_topics, read_values
from tests.e2e.test_board import browser, feed, texts
from tests.e2e.test_runtime_rules import livewatch
from tests.streams.test_runtime_rules import without_complaints
from tests.streams.worker_process import WorkerProcess, produce, read_alerts

pytestmark = pytest.mark.kafka
__all__ = ["browser"]  # the fixture, used by name

TOKEN = "verdicts-e2e-token"


class BoardProcess:
    """`livewatch board` with a token, started and stopped by the test (by its pid)."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.port = free_port()
        self.settings = settings.model_copy(update={
            "board_port": self.port, "board_token": SecretStr(TOKEN),
            "board_workers": f"http://127.0.0.1:{settings.web_port}",
        })  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = start_board(self.settings, self.log)
        wait_ready(self.base, self.proc, self.log, 60, name="board")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


def queue(driver: WebDriver) -> list[str]:
    """The alert ids of the review queue's rows."""
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll('tr[data-alert-id]'), r => r.dataset.alertId);"
    )
    return [str(i) for i in found or []]


async def firing(settings: Settings, anchors: set[str]) -> dict[str, Alert]:
    """The first firing alert of each rule on these anchors, once all have one."""

    def found(alerts: list[Alert]) -> dict[str, Alert]:
        first: dict[str, Alert] = {}
        for a in alerts:
            if a.status == AlertStatus.FIRING and a.anchor_id in anchors:
                first.setdefault(f"{a.anchor_id}/{a.rule.value}", a)
        return first

    got = await read_alerts(
        settings, lambda alerts: {k.split("/")[0] for k in found(alerts)} >= anchors, 180
    )
    return found(got)


async def test_verdicts_from_the_browser_and_the_command(
    settings: Settings, worker: WorkerProcess, browser: WebDriver, tmp_path: Path
) -> None:
    await create_topics(settings)
    worker.start()
    await produce(settings, feed())
    episodes = await firing(settings, {"brusher", "defective"})
    brushing = episodes["brusher/refund_after_order_spike"]
    storm = episodes["defective/quality_complaints"]
    board = BoardProcess(settings, tmp_path / "board.log")
    try:
        board.start()
        # A browser sends the board's login as basic auth: the user name is the judge.
        login = base64.b64encode(f"alice:{TOKEN}".encode()).decode()
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd(
            "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {login}"}}
        )
        wait = WebDriverWait(browser, 60, poll_frequency=0.5)
        browser.get(board.base + "/review")
        wait.until(lambda d: brushing.alert_id in queue(d))
        browser.find_element(By.CSS_SELECTOR, f'tr[data-alert-id="{brushing.alert_id}"] a').click()
        wait.until(lambda d: texts(d, "h1 .anchor-id") == [brushing.alert_id])
        browser.find_element(By.ID, "verdict-confirmed").click()
        browser.find_element(By.ID, "verdict-note").send_keys("ring of 15 buyers, all refunded")
        browser.find_element(By.ID, "verdict-save").click()
        wait.until(lambda d: "Recorded." in texts(d, ".saved"))
        current = browser.find_element(By.ID, "current-verdict")
        assert current.get_attribute("data-verdict") == "confirmed"
        assert "by alice" in current.text
        browser.refresh()  # a reload after the post does not post again (303)
        assert browser.find_element(By.ID, "current-verdict").get_attribute(
            "data-verdict") == "confirmed"  # fmt: skip
        # The command, as a case management system would run it.
        said = livewatch(settings, "verdicts", "add", storm.alert_id, "false_alarm",
                         "--by", "bob", "--note", "a bad batch, not abuse")  # fmt: skip
        assert f"{storm.alert_id}: false_alarm by bob" in said
        # Once each on the topic.
        values = await read_values(settings, settings.topic_verdicts)
        recorded = [Verdict.model_validate_json(v) for v in values]
        assert Counter(v.alert_id for v in recorded) == {brushing.alert_id: 1, storm.alert_id: 1}
        # A restarted board reads them back.
        board.stop()
        board.start()
        browser.get(f"{board.base}/episode?id={storm.alert_id}")
        current = browser.find_element(By.ID, "current-verdict")
        assert current.get_attribute("data-verdict") == "false_alarm"
        assert "by bob" in current.text and "a bad batch" in current.text
        browser.get(board.base + "/review")
        queued = queue(browser)
        assert brushing.alert_id not in queued and storm.alert_id not in queued
    finally:
        board.stop()
    report = json.loads(livewatch(settings, "verdicts", "report", "--json"))
    spikes, complaints = (
        report["rules"]["refund_after_order_spike"],
        report["rules"]["quality_complaints"],
    )
    assert (spikes["confirmed"], spikes["false_alarm"], spikes["precision"]) == (1, 0, 1.0)
    assert (complaints["confirmed"], complaints["false_alarm"], complaints["precision"]) == (
        0,
        1,
        0.0,
    )
    assert report["overall"]["judged"] == 2 and report["overall"]["precision"] == 0.5
    assert spikes["episodes"] >= 1 and spikes["median_time_to_verdict_s"] is not None
    # A backtest without complaint rules: the false alarm saved, the confirmed abuse kept.
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(without_complaints(), encoding="utf-8")
    found = json.loads(livewatch(settings, "backtest", "--from-topics", "--since", "1d",
                                 "--rules", str(candidate), "--json"))["rules"]  # fmt: skip
    assert found["quality_complaints"]["false_alarm_saved"] == 1
    assert found["refund_after_order_spike"]["confirmed_kept"] == 1
    assert found["refund_after_order_spike"]["confirmed_lost"] == 0
