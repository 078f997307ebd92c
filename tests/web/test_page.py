"""The page in a real browser, end to end: Debian's headless chromium, driven by Selenium, against the real local
stack (moto's S3/SQS, the trigger worker, the workflow on tiny settings, the web API on uvicorn).

A screenshot of each state is saved under NST_TEST_ARTEFACTS (default: ``web-artefacts`` in the suite's temporary
folder, removed at the end of the run; CI sets the variable to keep them).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.stack import LocalStack, StackSettings

REPO = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
#: A run of seconds: random weights, 64 px, one epoch of three steps.
TINY = {"NST_VGG19_WEIGHTS": "random", "NST_MAX_DIM": "64", "NST_EPOCHS": "1", "NST_STEPS_PER_EPOCH": "3"}
#: Every wait of the page has this deadline: a stuck page fails the test instead of hanging it.
WAIT_S = 120

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
        reason="no browser: /usr/bin/chromium or /usr/bin/chromedriver is missing (apt-get install -y chromium "
        "chromium-driver; .ci/run installs them)",
    ),
]


@pytest.fixture(scope="module")
def artefacts() -> Path:
    folder = Path(os.environ.get("NST_TEST_ARTEFACTS") or Path(tempfile.gettempdir()) / "web-artefacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir = tmp_path_factory.mktemp("web-stack")
    settings = StackSettings(
        workdir=workdir,
        default_style=REPO / "samples" / "swirls.jpg",
        extra_styles=(REPO / "samples" / "mosaic.jpg",),
        workflow_env=TINY,
        max_runs=1,
        web_port=0,
        worker_output=(workdir / "worker.log").open("w"),
    )
    with LocalStack(settings) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless chromium for the module, with a fresh profile; downloads go to its ``downloads`` folder."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    home = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={home / 'profile'}", "--window-size=1280,1000",
    ):  # fmt: skip
        options.add_argument(flag)
    # the driver's path is given, so Selenium Manager never looks for one on the network
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    downloads = home / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(browser: Any, condition: Any, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_S, poll_frequency=0.1).until(condition, message=f"waiting for {what}")


def visible(element_id: str):
    return lambda driver: driver.find_element("id", element_id).is_displayed()


def snapshot(browser: Any, path: Path) -> None:
    """A screenshot of the whole page (the window made as tall as the page, then put back)."""
    size = browser.get_window_size()
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(size["width"], min(max(height, size["height"]), 4000))
    browser.execute_script("window.scrollTo(0, 0)")
    try:
        browser.save_screenshot(str(path))
    finally:
        browser.set_window_size(size["width"], size["height"])


def open_page(browser: Any, stack: LocalStack) -> None:
    browser.get(stack.web_url)
    wait_for(browser, lambda driver: driver.find_element("tag name", "body").get_attribute("data-ready"), "the page")


def test_a_photo_becomes_a_painting_in_the_browser(browser, stack: LocalStack, artefacts: Path) -> None:
    open_page(browser, stack)
    # every control is labelled, for screen readers and for a click on the label
    unlabelled = browser.execute_script(
        "return [...document.querySelectorAll('input, select')].filter(e => !e.labels.length).map(e => e.id)"
    )
    assert unlabelled == []
    styles = [element.get_attribute("value") for element in browser.find_elements("name", "style")]
    assert styles == ["mosaic", "swirls"]
    browser.find_element("css selector", "label[for='style-mosaic']").click()
    assert browser.find_element("id", "style-mosaic").is_selected()

    browser.find_element("id", "file").send_keys(str(REPO / "samples" / "landscape.jpg"))
    wait_for(browser, visible("photo-preview"), "the photo to be shown before the upload")
    snapshot(browser, artefacts / "1-chosen.png")

    browser.find_element("id", "submit").click()
    wait_for(browser, visible("preview-figure"), "the preview")
    snapshot(browser, artefacts / "2-preview.png")
    wait_for(browser, visible("result-section"), "the result")
    status = browser.find_element("id", "status").text
    assert status.startswith("Done after 3 steps"), status
    assert browser.execute_script("return document.getElementById('result').naturalWidth") == 64
    snapshot(browser, artefacts / "3-result.png")

    s3, bucket = stack.resources.s3(), stack.resources.bucket
    (output,) = [
        item["Key"]
        for item in s3.list_objects_v2(Bucket=bucket, Prefix="stylized/mosaic/")["Contents"]
        if item["Key"].endswith(".jpg.png")
    ]
    browser.find_element("id", "download").click()
    deadline = time.monotonic() + 30
    while not (saved := [p for p in browser.downloads.iterdir() if p.suffix == ".png"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [path.name for path in saved] == ["landscape-mosaic.png"]
    assert saved[0].read_bytes() == s3.get_object(Bucket=bucket, Key=output)["Body"].read()

    recent = browser.find_element("id", "recent").text
    assert recent.startswith("landscape.jpg in mosaic"), recent


def test_a_file_that_is_not_an_image_is_refused_in_plain_words(browser, stack, artefacts, tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    open_page(browser, stack)
    browser.find_element("id", "file").send_keys(str(notes))
    browser.find_element("id", "submit").click()
    wait_for(browser, visible("error"), "the error")
    assert browser.find_element("id", "error").text == "Could not start: not an image: the file's type is 'text/plain'."
    snapshot(browser, artefacts / "4-not-an-image.png")


def test_at_phone_width_the_form_is_one_column(browser, stack, artefacts) -> None:
    browser.set_window_size(390, 900)
    try:
        open_page(browser, stack)
        lefts = {round(browser.find_element("id", name).rect["x"]) for name in ("drop", "styles", "options", "submit")}
        assert len(lefts) == 1, lefts
        width = browser.execute_script("return document.documentElement.scrollWidth")
        wide = browser.execute_script(
            "return [...document.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > window.innerWidth)"
            ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
        )
        assert width <= browser.execute_script("return window.innerWidth"), f"nothing wider than the phone: {wide}"
        snapshot(browser, artefacts / "5-phone.png")
    finally:
        browser.set_window_size(1280, 1000)
