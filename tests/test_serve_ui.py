"""llmring/serve/_ui.py: the chat page's files, and only them, from the installed package.

Marked ``plain``: scripts/check-plain-install runs these in a venv made by ``pip install .``,
so they also prove that the wheel ships ``static/`` (tests/test_serve_browser.py drives the
page itself).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from llmring.serve._ui import ASSETS, asset

pytestmark = pytest.mark.plain


def test_the_root_is_the_page_and_each_file_has_its_content_type() -> None:
    page = asset("/")
    assert page is not None and page == asset("/index.html")
    assert page[1] == "text/html; charset=utf-8"
    assert page[0].startswith(b"<!doctype html>")
    first, again = asset("/app.js"), asset("/app.js")
    assert first is not None and again is not None and first[0] is again[0]  # read once
    for name, content_type in [("app.js", "text/javascript"), ("style.css", "text/css")]:
        found = asset(f"/{name}")
        assert found is not None and found[1] == f"{content_type}; charset=utf-8"
        assert len(found[0]) > 500


@pytest.mark.parametrize(
    "path",
    [
        "/../_ui.py",
        "/../__init__.py",
        "/static/app.js",
        "/%2e%2e/_ui.py",
        "//app.js",
        "/app.js/",
        "/APP.JS",
        "/app.js?x=1",  # the server passes the path without its query
        "/etc/passwd",
        "/v1/models",
        "",
    ],
)
def test_any_other_path_is_not_an_asset(path: str) -> None:
    assert asset(path) is None


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.labelled: set[str] = set()
        self.controls: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.links += [v for k, v in attrs if k in {"src", "href"} and v is not None]
        if tag == "label" and values.get("for"):
            self.labelled.add(str(values["for"]))
        if tag in {"input", "select", "textarea", "button"}:
            self.controls.append((tag, values))


def test_the_page_loads_only_its_own_files_by_relative_urls() -> None:
    page = asset("/")
    assert page is not None
    parser = _Links()
    parser.feed(page[0].decode())
    assert sorted(parser.links) == ["app.js", "style.css"]
    assert set(parser.links) <= set(ASSETS)
    script = (asset("/app.js") or (b"", ""))[0].decode()
    # the gateway's API by relative URLs: the page works wherever the gateway serves it
    assert re.findall(r'fetch\("([^"]+)"', script) == ["v1/chat/completions", "v1/models"]
    assert not re.search(r"""(?:src|href|fetch\()\s*=?\s*["'](?:https?:)?//""", script)


def test_every_control_of_the_page_has_a_name() -> None:
    page = asset("/")
    assert page is not None
    parser = _Links()
    parser.feed(page[0].decode())
    for tag, attrs in parser.controls:
        if tag == "button":
            continue  # named by its text
        named = attrs.get("id") in parser.labelled or attrs.get("aria-label")
        assert named, f"<{tag} id={attrs.get('id')}> has no label"
