"""The chat page of ``llmring serve --ui`` in a real browser, against a real gateway process.

Debian's headless chromium, driven through Selenium, loads the page from ``llmring serve --ui
--no-auth`` (tests/serve_process.py) whose lockfile binds aliases to the offline mock provider,
as a user would run it. Chromium is started with the flags that keep it off the network (no
background, component, sync or QUIC traffic), so it only talks to 127.0.0.1; the no-network
guard of conftest.py covers this process, not the browser. Skipped when /usr/bin/chromium or
/usr/bin/chromedriver is missing; ``.ci/run`` installs them, and under CI (``LLMRING_CI=1``)
their absence fails the tests (tests/ci.py).
"""

from __future__ import annotations

import importlib.util
import signal
import sqlite3
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
from selenium.webdriver.support.ui import Select, WebDriverWait

from llmring.providers.mock import count_tokens
from tests.ci import require_or_skip
from tests.helpers import write_lockfile
from tests.serve_process import ServeProcess

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
LONG = " ".join(f"word{n}" for n in range(60))
ALIASES = {
    "story": f"mock:web?delay=0.1&response={quote_plus(REPLY)}",
    "slow": f"mock:slow?delay=0.2&response={quote_plus(LONG)}",
    "broken": "mock:x?delay=0.05&fail=server&fail_after=3&response=one+two+three+four",
    "gone": "mock:gone?fail=not_found",
    "busy": "mock:busy?fail=rate_limit&retry_after=7",
    "locked": "mock:locked?fail=auth",
}
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


def lockfile(directory: Path) -> Path:
    return write_lockfile(directory / "llmring.lock", {a: [m] for a, m in ALIASES.items()})


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """One gateway for the module's tests: each test opens the page afresh."""
    with ServeProcess(lockfile(tmp_path_factory.mktemp("gateway")), "--ui", "--no-auth") as server:
        yield server


def open_page(driver: WebDriver, url: str, alias: str | None = None) -> WebDriver:
    driver.get(url + "/")
    picker = driver.find_element(By.ID, "model")
    wait(driver, picker.is_enabled)
    if alias is not None:
        Select(picker).select_by_value(alias)
    return driver


@pytest.fixture
def page(browser: WebDriver, gateway: ServeProcess) -> WebDriver:
    return open_page(browser, gateway.url)


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


def reply_text(driver: WebDriver) -> str | None:
    text: str | None = driver.execute_script(STATE_JS)[1]
    return text


def screenshot(driver: WebDriver, path: Path) -> None:
    driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 1000


def texts(driver: WebDriver, selector: str) -> list[str]:
    return [
        str(e.get_property("textContent")) for e in driver.find_elements(By.CSS_SELECTOR, selector)
    ]


def error_text(driver: WebDriver) -> str:
    error = driver.find_element(By.ID, "error")
    wait(driver, error.is_displayed)
    return str(driver.find_element(By.ID, "error-message").text)


def receipt_statuses(path: Path, alias: str) -> list[str]:
    """The statuses of the receipts the gateway stored for ``alias`` so far."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return []  # not created yet
    try:
        rows = db.execute("SELECT status FROM receipts WHERE alias = ?", (alias,)).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()
    return [str(status) for (status,) in rows]


# -- a reply ------------------------------------------------------------------------------------


def test_the_models_are_the_gateways_aliases(page: WebDriver) -> None:
    options = texts(page, "#model option")
    assert options == sorted(ALIASES)
    assert not page.find_element(By.ID, "error").is_displayed()


def test_the_reply_streams_in_word_by_word_and_completely(
    browser: WebDriver, gateway: ServeProcess, tmp_path: Path
) -> None:
    page = open_page(browser, gateway.url, "story")
    submit(page, "Hello there")
    seen, final = watch_reply(page)
    assert final == REPLY
    streaming = [text for text in seen if text != REPLY]
    assert len(streaming) >= 3, seen  # intermediate states, not one jump to the end
    assert all(REPLY.startswith(text) for text in streaming)
    assert [len(t) for t in streaming] == sorted({len(t) for t in streaming})  # only grows
    assert texts(page, "#messages .user .bubble") == ["Hello there"]
    assert not page.find_element(By.ID, "error").is_displayed()
    prompt = count_tokens("Hello there")
    assert texts(page, "#messages .note") == [f"mock:web · {prompt} + {count_tokens(REPLY)} tokens"]
    screenshot(page, tmp_path / "chat.png")

    # the next question carries the conversation, the streamed reply included: the mock counts
    # the prompt's tokens over every message it was sent
    submit(page, "And again?")
    assert watch_reply(page)[1] == REPLY
    assert texts(page, "#messages .assistant .bubble") == [REPLY, REPLY]
    prompt = count_tokens("Hello there") + count_tokens(REPLY) + count_tokens("And again?")
    assert texts(page, "#messages .note")[1] == (
        f"mock:web · {prompt} + {count_tokens(REPLY)} tokens"
    )


def test_stop_cancels_the_reply_and_keeps_what_arrived(
    browser: WebDriver, gateway: ServeProcess
) -> None:
    page = open_page(browser, gateway.url, "slow")
    stop = page.find_element(By.ID, "stop")
    assert not stop.is_enabled()
    submit(page, "Go on")
    wait(page, lambda: len((reply_text(page) or "").split()) >= 3)
    stop.click()
    wait(page, lambda: not page.execute_script(STATE_JS)[0])  # idle again
    kept = reply_text(page)
    assert kept and LONG.startswith(kept) and kept != LONG
    time.sleep(1)  # five of the mock's delays: a reply still streaming would have grown
    assert reply_text(page) == kept
    [bubble] = page.find_elements(By.CSS_SELECTOR, "#messages .assistant .bubble")
    assert bubble.get_attribute("class") == "bubble stopped"
    assert texts(page, "#messages .note") == ["Stopped: the reply is incomplete."]
    assert not page.find_element(By.ID, "error").is_displayed()
    assert not stop.is_enabled()
    # the gateway saw the browser hang up: the provider stream was cancelled, not finished
    deadline = time.monotonic() + 20
    while not (statuses := receipt_statuses(gateway.receipts, "slow")):
        assert time.monotonic() < deadline, "no receipt for the stopped reply"
        time.sleep(0.1)
    assert statuses == ["cancelled"]


# -- errors, in the user's words ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "message"),
    [
        ("gone", 'The model "gone" is not available on this gateway.'),
        ("busy", "Too many requests right now: try again in 7 s."),
        (
            "locked",
            "The model's provider refused the gateway's credentials: tell the gateway's operator.",
        ),
    ],
)
def test_an_error_before_content_is_told_in_the_users_words(
    browser: WebDriver, gateway: ServeProcess, alias: str, message: str, tmp_path: Path
) -> None:
    page = open_page(browser, gateway.url, alias)
    submit(page, "Hello")
    assert error_text(page) == message
    assert texts(page, "#messages .user .bubble") == ["Hello"]
    assert texts(page, "#messages .assistant .bubble") == []  # no empty reply left behind
    assert page.find_element(By.ID, "messages").get_attribute("aria-busy") == "false"
    screenshot(page, tmp_path / "error.png")


def test_an_error_after_content_says_the_reply_was_cut_off(
    browser: WebDriver, gateway: ServeProcess
) -> None:
    page = open_page(browser, gateway.url, "broken")
    submit(page, "Count")
    assert error_text(page) == (
        "The reply was cut off: "
        "mock:x: the stream broke after content was delivered (mock: internal server error)"
    )
    [reply] = page.find_elements(By.CSS_SELECTOR, "#messages .assistant .bubble")
    assert reply.get_property("textContent") == "one two three"
    assert reply.get_attribute("class") == "bubble failed"


def test_a_gateway_gone_mid_reply_is_a_lost_connection(browser: WebDriver, tmp_path: Path) -> None:
    with ServeProcess(lockfile(tmp_path), "--ui", "--no-auth") as server:
        page = open_page(browser, server.url, "slow")
        submit(page, "Go on")
        wait(page, lambda: len((reply_text(page) or "").split()) >= 2)
        server.signal(signal.SIGKILL)  # no error frame, no [DONE]: the socket just closes
        assert error_text(page) == (
            "The connection to the gateway was lost before the reply was complete."
        )
    [reply] = page.find_elements(By.CSS_SELECTOR, "#messages .assistant .bubble")
    assert reply.get_attribute("class") == "bubble failed"


@pytest.mark.skipif(
    importlib.util.find_spec("llmring.serve._auth") is None,
    reason="the gateway's keys (llmring.serve._auth) are not in this tree yet",
)
def test_a_gateway_with_keys_asks_for_one_and_refuses_a_wrong_one(
    browser: WebDriver, tmp_path: Path
) -> None:
    with ServeProcess(lockfile(tmp_path), "--ui") as server:  # keys required, none made
        page = browser
        page.get(server.url + "/")
        assert error_text(page) == "The gateway needs an API key: enter it above."
        key = page.find_element(By.ID, "key")
        key.send_keys("not-a-key-of-this-gateway\t")  # tab away: the change event
        wait(page, lambda: "refused" in page.find_element(By.ID, "error-message").text)
        assert error_text(page) == "The gateway refused the API key: enter a valid key above."
        assert not page.find_element(By.ID, "model").is_enabled()
        page.find_element(By.ID, "input").send_keys("Hello")
        assert not page.find_element(By.ID, "send").is_enabled()  # no model to ask
        page.execute_script("sessionStorage.clear()")  # the next tests' pages send no key
