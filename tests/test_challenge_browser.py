"""challenge.html and report.html in a real headless Chromium: play, keyboard, XSS, no network."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bakeoff.report import ReportOptions, build_report
from tests.report_fixtures import IMG_PAYLOAD, SCRIPT_PAYLOAD, build_store

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
        pytest.skip("Chromium not found: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="bakeoff-chromium-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: selenium never tries to download one
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("browser")
    store = build_store(folder / "b.db")
    return build_report(store, folder / "out", ReportOptions())


def _errors(drv: Any) -> list[dict[str, Any]]:
    return [e for e in drv.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _press(drv: Any, key: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(drv).send_keys(key).perform()


def _text(drv: Any, css: str) -> str:
    return drv.execute_script("return document.querySelector(arguments[0]).textContent", css)


def test_play_every_example_by_mouse_and_keyboard(driver: Any, report: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(report["challenge.html"].resolve().as_uri())
    driver.get_log("browser")  # start from a clean log
    tasks = driver.execute_script(
        "return JSON.parse(document.getElementById('challenge-data').textContent)"
    )
    assert [t["task"] for t in tasks] == ["rte", "sst2"]

    for t_index, task in enumerate(tasks):
        driver.find_elements(By.CSS_SELECTOR, "#tabs .tab")[t_index].click()
        right = 0
        for i, item in enumerate(task["items"]):
            assert _text(driver, "#progress").startswith(f"Example {i + 1} of {len(task['items'])}")
            assert not driver.find_element(By.ID, "reveal").is_displayed()
            choice = i % len(task["labels"])
            if i % 2 == 0:  # mouse
                driver.find_elements(By.CSS_SELECTOR, "#choices .choice")[choice].click()
            else:  # keyboard: number keys choose
                _press(driver, str(choice + 1))
            right += choice == item["gold"]
            # the truth and every model's answer are shown, and the score moved
            assert driver.find_element(By.ID, "reveal").is_displayed()
            assert task["labels"][item["gold"]] in _text(driver, "#verdict")
            rows = driver.find_elements(By.CSS_SELECTOR, "#answers tr")
            assert len(rows) == len(item["answers"])
            assert _text(driver, "#your-score .pts") == f"{right}/{i + 1}"
            # a second key press after answering changes nothing
            _press(driver, "1")
            assert _text(driver, "#your-score .pts") == f"{right}/{i + 1}"
            if i % 3 == 0:
                driver.find_element(By.ID, "next").click()
            else:
                _press(driver, Keys.ENTER if i % 3 == 1 else Keys.ARROW_RIGHT)
        # final summary with the reader's score and every model's
        assert driver.find_element(By.ID, "summary").is_displayed()
        assert not driver.find_element(By.ID, "play").is_displayed()
        assert _text(driver, "#summary-title").startswith(
            f"You got {right} of {len(task['items'])}"
        )
        summary_rows = driver.find_elements(By.CSS_SELECTOR, "#summary-table tr")
        assert len(summary_rows) == 1 + len(task["models"])

    assert _errors(driver) == []


def test_untrusted_text_never_runs(driver: Any, report: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    driver.get(report["challenge.html"].resolve().as_uri())
    driver.get_log("browser")
    tasks = driver.execute_script(
        "return JSON.parse(document.getElementById('challenge-data').textContent)"
    )
    driver.find_elements(By.CSS_SELECTOR, "#tabs .tab")[1].click()  # sst2: it holds the payloads
    shown = []
    for _ in tasks[1]["items"]:  # the examples come in a shuffled order: play them all
        shown.append(_text(driver, "#example .field-text"))
        assert (
            driver.execute_script(
                "return document.querySelectorAll('#example *:not(p):not(span)').length"
            )
            == 0
        )
        driver.find_elements(By.CSS_SELECTOR, "#choices .choice")[0].click()
        driver.find_element(By.ID, "next").click()
    assert SCRIPT_PAYLOAD in shown and IMG_PAYLOAD in shown
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    assert driver.execute_script("return document.querySelectorAll('img').length") == 0
    assert _errors(driver) == []


def test_report_html_has_no_requests_or_errors(driver: Any, report: dict[str, Path]) -> None:
    driver.get(report["report.html"].resolve().as_uri())
    resources = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    assert all(name.startswith("data:") for name in resources), resources
    loaded = driver.execute_script(
        "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)"
    )
    assert loaded and all(loaded)
    assert driver.execute_script("return typeof window.__pwned") == "undefined"
    assert _errors(driver) == []
