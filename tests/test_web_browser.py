"""The chat page (examples/web) in a real browser: Debian's headless chromium via Selenium.

The page is served by uvicorn on 127.0.0.1 with the mock provider picked through
``$LLMRING_BOT_MODEL``, as a user would run it offline. Chromium is started with the flags that
keep it off the network (no background, component, sync or QUIC traffic), so it only talks to
127.0.0.1; the no-network guard of conftest.py covers this process, not the browser.
Skipped when /usr/bin/chromium or /usr/bin/chromedriver is missing; ``.ci/run`` installs them,
and under CI (``LLMRING_CI=1``) their absence fails the tests (tests/ci.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from examples.web.app import create_app
from llmring.providers.mock import ledger
from tests.asgi_server import serve
from tests.ci import require_or_skip

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture(autouse=True, scope="module")
def chromium_installed() -> None:
    require_or_skip(
        CHROMIUM.exists() and CHROMEDRIVER.exists(),
        "/usr/bin/chromium or /usr/bin/chromedriver is missing "
        "(apt-get install chromium chromium-driver)",
    )


REPLY = "Streaming works: the words arrive one by one,\nthen the reply is complete."
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--disable-domain-reliability",
    "--window-size=900,720",
)

# The state of the page in one round trip: [list busy?, last reply text, send disabled?]
STATE_JS = """
const replies = document.querySelectorAll("#messages .assistant .bubble");
return [document.getElementById("messages").getAttribute("aria-busy") === "true",
        replies.length ? replies[replies.length - 1].textContent : null,
        document.getElementById("send").disabled];
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    # a Service path makes Selenium use Debian's chromedriver (it never runs Selenium Manager)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(
    browser: WebDriver, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[WebDriver]:
    """The page of an app whose bot model ($LLMRING_BOT_MODEL) is the test's parameter."""
    monkeypatch.setenv("LLMRING_BOT_MODEL", request.param)
    with serve(create_app()) as url:
        browser.get(url)
        wait(browser, lambda: browser.find_element(By.ID, "model").text != "")
        yield browser


def wait(driver: WebDriver, condition: Any, timeout: float = 10) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.02).until(lambda _: condition())


def submit(driver: WebDriver, text: str) -> None:
    send = driver.find_element(By.ID, "send")
    assert not send.is_enabled()  # nothing typed yet
    driver.find_element(By.ID, "input").send_keys(text)
    assert send.is_enabled()
    send.click()


def watch_reply(driver: WebDriver, timeout: float = 15) -> tuple[list[str], str]:
    """Poll the reply bubble until the page is idle again: the distinct texts seen while it
    streamed, and the text it ended with."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy, text, send_disabled = driver.execute_script(STATE_JS)
        if busy:
            assert send_disabled  # no second question while a reply streams
            if text and (not seen or seen[-1] != text):
                seen.append(text)
        elif text is not None:
            return seen, text
        time.sleep(0.02)
    raise AssertionError(f"the reply did not finish within {timeout}s; saw {seen!r}")


def screenshot(driver: WebDriver, path: Path) -> None:
    driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


def texts(driver: WebDriver, selector: str) -> list[str]:
    return [
        str(e.get_property("textContent")) for e in driver.find_elements(By.CSS_SELECTOR, selector)
    ]


STREAMING_MODEL = f"mock:web?delay=0.1&response={quote_plus(REPLY)}"


@pytest.mark.parametrize("page", [STREAMING_MODEL], indirect=True)
def test_the_reply_streams_in_word_by_word_and_completely(page: WebDriver, tmp_path: Path) -> None:
    assert page.find_element(By.ID, "model").text == "mock:web"
    submit(page, "Hello there")
    seen, final = watch_reply(page)
    assert final == REPLY
    streaming = [text for text in seen if text != REPLY]
    assert len(streaming) >= 3, seen  # intermediate states, not one jump to the end
    assert all(REPLY.startswith(text) for text in streaming)
    assert [len(t) for t in streaming] == sorted({len(t) for t in streaming})  # only grows
    assert texts(page, "#messages .user .bubble") == ["Hello there"]
    assert not page.find_element(By.ID, "error").is_displayed()
    screenshot(page, tmp_path / "chat.png")

    # the next question carries the conversation, the streamed reply included
    submit(page, "And again?")
    assert watch_reply(page)[1] == REPLY
    assert texts(page, "#messages .assistant .bubble") == [REPLY, REPLY]
    request = ledger.last.request
    assert request is not None
    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "You are a helpful, concise assistant."),
        ("user", "Hello there"),
        ("assistant", REPLY),
        ("user", "And again?"),
    ]


@pytest.mark.parametrize("page", ["mock:x?fail=server"], indirect=True)
def test_a_provider_error_shows_in_the_page(page: WebDriver, tmp_path: Path) -> None:
    submit(page, "Hello")
    error = page.find_element(By.ID, "error")
    wait(page, error.is_displayed)
    assert page.find_element(By.ID, "error-message").text == "mock: internal server error"
    assert texts(page, "#messages .user .bubble") == ["Hello"]
    assert texts(page, "#messages .assistant .bubble") == []  # no empty reply left behind
    assert page.find_element(By.ID, "messages").get_attribute("aria-busy") == "false"
    screenshot(page, tmp_path / "error.png")


PARTIAL_MODEL = "mock:x?delay=0.05&fail=server&fail_after=3&response=one+two+three+four"


@pytest.mark.parametrize("page", [PARTIAL_MODEL], indirect=True)
def test_an_error_after_content_keeps_the_partial_reply(page: WebDriver) -> None:
    submit(page, "Count")
    error = page.find_element(By.ID, "error")
    wait(page, error.is_displayed)
    assert page.find_element(By.ID, "error-message").text == (
        "mock:x: the stream broke after content was delivered (mock: internal server error); "
        "partial_response holds the 13 characters received"
    )
    [reply] = page.find_elements(By.CSS_SELECTOR, "#messages .assistant .bubble")
    assert reply.get_property("textContent") == "one two three"
    assert reply.get_attribute("class") == "bubble failed"
