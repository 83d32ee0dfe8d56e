"""The risk board in a real headless Chromium, during a run on the real broker with a worker.

Screenshots of each page are saved to `LIVEWATCH_SCREENSHOT_DIR` (default `build/screenshots`)
for a person to look at; `docs/board.png` in docs/alerts.md is one of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from streams.devtools.children import start_board, stop, wait_ready
from streams.devtools.kafka_local import free_port
from streams.settings import Settings
from streams.topics import create_topics
from tests.scenarios import T0, Record, Scenario
from tests.streams.worker_process import WorkerProcess, produce

pytestmark = pytest.mark.kafka

HOSTILE = '<script>alert("x")</script>'
TOKEN = "board-e2e-token"
API_TOKEN = "worker-e2e-token"
SCREENSHOTS = Path(os.environ.get("LIVEWATCH_SCREENSHOT_DIR", "build/screenshots"))


TIMES = ("placed_at", "requested_at", "filed_at")


def feed() -> list[Record]:
    """Three normal anchors; two brushing bursts (one by an anchor whose id is markup) that
    are still firing when the feed ends; a complaint storm. Its last events are about now, so
    the board's durations read as they would live."""
    s = Scenario(seed=31)
    for i in range(3):
        orders = s.orders(f"normal{i}", 0, 120, 120 + 60 * i, category="electronics")
        s.refunds(orders, 0.08, delay=(2, 30))
    for anchor, start in (("brusher", 70), (HOSTILE, 90)):
        orders = s.orders(anchor, 0, 120, 160, category="electronics")
        s.refunds(orders, 0.06, delay=(5, 30))
        burst = s.orders(anchor, start, 10, 200, buyers=15, category="electronics",
                         session=f"{anchor}-s2")  # fmt: skip
        s.refunds(burst, 0.85, delay=(3, 25), reason="other", shipped=False)
    orders = s.orders("defective", 0, 60, 300, category="beauty")
    s.refunds(orders, 0.1, delay=(5, 40))
    s.complaints("defective", 80, 40, 40, category="quality")
    shift = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=140) - T0
    return [
        (kind, {k: (datetime.fromisoformat(v) + shift).isoformat() if k in TIMES else v
                for k, v in value.items()})
        for kind, value in s.records()
    ]  # fmt: skip


def chromium() -> WebDriver:
    """Debian's chromium through its chromedriver (installed by `make tools`)."""
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "chromium and chromium-driver are installed by `make tools`"
    options = Options()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def topics(settings: Settings) -> None:
    await create_topics(settings)


@pytest.fixture
def board(settings: Settings, topics: None, tmp_path: Path) -> Iterator[str]:
    """A board process for the test's worker, with a token; stopped by its pid."""
    port = free_port()
    board_settings = settings.model_copy(update={
        "board_port": port, "board_token": SecretStr(TOKEN), "board_refresh_s": 0.5,
        "board_workers": f"http://127.0.0.1:{settings.web_port}",
        "api_token": SecretStr(API_TOKEN),
    })  # fmt: skip
    log = tmp_path / "board.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        proc = start_board(board_settings, log)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, proc, log, 60, name="board")
        assert f"livewatch board: {base}/" in log.read_text()  # it says where it serves
        yield base
    finally:
        if proc is not None:
            stop(proc)


def shot(driver: WebDriver, name: str) -> None:
    """A full-page screenshot for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(max(int(height) + 40, 600), 4000))
    assert driver.save_screenshot(str(SCREENSHOTS / name))


def texts(driver: WebDriver, selector: str) -> list[str]:
    """The text of every element matching `selector`, read in one script: the page swaps its
    live part every half second, so elements found one call earlier may be gone."""
    found = driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText);", selector
    )
    return [str(t) for t in found]


def anchors_listed(driver: WebDriver, table: str) -> list[str]:
    return texts(driver, f"#{table} td.anchor a")


def episode_rules(driver: WebDriver) -> set[str]:
    """The words of the anchor page's episode headings, which name each episode's rule."""
    return {w for t in texts(driver, "article.episode h3") for w in t.split()}


def image_drawn(driver: WebDriver, element_id: str) -> bool:
    return bool(driver.execute_script(
        "const i = document.getElementById(arguments[0]);"
        "return i !== null && i.complete && i.naturalWidth > 0;", element_id))  # fmt: skip


async def test_board_shows_a_live_run(
    settings: Settings, worker: WorkerProcess, board: str, browser: WebDriver, tmp_path: Path
) -> None:
    # The worker requires its API token too: the board's figures prove it sends it.
    worker.settings = worker.settings.model_copy(update={"api_token": SecretStr(API_TOKEN)})
    worker.start()
    # Browsers cannot be given a bearer token for a page; the test sends it on every request.
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd(
        "Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Bearer {TOKEN}"}}
    )
    browser.get(board + "/")
    assert "nothing firing" in texts(browser, "#episodes")[0]
    browser.execute_script("window.sameLoad = 'yes';")  # gone if the page reloads

    await produce(settings, feed())

    wanted = {"brusher", HOSTILE, "defective"}
    wait = WebDriverWait(browser, 120, poll_frequency=0.5)
    wait.until(lambda d: wanted <= set(anchors_listed(d, "episodes")))
    assert browser.execute_script("return window.sameLoad;") == "yes"  # updated in place
    # The markup-shaped id is text: shown as written, never run.
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018
    assert HOSTILE in anchors_listed(browser, "episodes")
    assert browser.execute_script("return document.querySelectorAll('#live script').length") == 0
    wait.until(lambda d: {"brusher", HOSTILE} <= set(anchors_listed(d, "anchors")))
    rows = texts(browser, "#episodes tbody tr")
    assert any("quality_complaints" in r and "defective" in r for r in rows)
    shot(browser, "board.png")

    # Filtered by rule: only the complaint storm stays.
    browser.get(board + "/?rule=quality_complaints")
    assert anchors_listed(browser, "episodes") == ["defective"]

    # The hostile anchor's page: its id as text in the heading, its charts drawn, its episodes.
    browser.get(board + "/")
    wait.until(lambda d: HOSTILE in anchors_listed(d, "episodes"))
    # Follow the hostile anchor's link as a person would (found and clicked in one script).
    browser.execute_script(
        "Array.from(document.querySelectorAll('#episodes td.anchor a'))"
        ".find(a => a.innerText === arguments[0]).click();", HOSTILE
    )  # fmt: skip
    wait.until(lambda d: texts(d, "h1 .anchor-id") == [HOSTILE])
    wait.until(lambda d: image_drawn(d, "chart-counts") and image_drawn(d, "chart-rates"))
    # The page refreshes in place; the burst's refund spike can fire after its concentration.
    wait.until(lambda d: episode_rules(d) >= {"refund_after_order_spike", "order_concentration"})
    assert "sample orders" in texts(browser, "main")[0]
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018
    shot(browser, "anchor.png")

    # The brusher's page too (a plain id), for the screenshots.
    browser.get(board + "/anchor?id=brusher")
    wait.until(lambda d: image_drawn(d, "chart-counts") and image_drawn(d, "chart-rates"))
    shot(browser, "anchor-brusher.png")

    # Without the token: refused, in the browser and to any client.
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
    browser.get(board + "/")
    # Chromium holds a 401 with a basic-auth challenge for credentials: nothing of the board.
    assert browser.find_elements(By.ID, "episodes") == []
    assert HOSTILE not in browser.page_source and "brusher" not in browser.page_source
    async with aiohttp.ClientSession() as http:
        async with http.get(board + "/api/episodes") as resp:
            assert resp.status == 401
        async with http.get(board + "/api/episodes",
                            headers={"Authorization": "Bearer wrong"}) as resp:  # fmt: skip
            assert resp.status == 401
        async with http.get(board + "/api/episodes",
                            headers={"Authorization": f"Bearer {TOKEN}"}) as resp:  # fmt: skip
            assert resp.status == 200
            active = {e["anchor_id"] for e in (await resp.json())["episodes"]}
    assert wanted <= active
    assert TOKEN not in (tmp_path / "board.log").read_text()
    assert API_TOKEN not in (tmp_path / "board.log").read_text()
