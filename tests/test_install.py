"""What is installed: the version, and install hints that name this installation.

Marked ``plain``: scripts/check-plain-install runs them in a venv made by ``pip install .``
too, where the distribution's metadata comes from a real wheel build.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import llmring
from llmring import _install
from llmring._install import install_command, install_hint

pytestmark = pytest.mark.plain

CHECKOUT = Path(__file__).resolve().parents[1]


# -- the version ------------------------------------------------------------------------------


def test_the_version_has_one_source() -> None:
    assert llmring.__version__ == metadata.version("llmring")


def test_the_version_is_past_the_1x_line_on_pypi() -> None:
    # PyPI's llmring is 1.x: `pip install -U 'llmring[sse]'` must never swap this project for it
    major = int(llmring.__version__.split(".")[0])
    assert major >= 2


# -- install hints: each kind of origin (PEP 610 direct_url.json) ------------------------------


@pytest.mark.parametrize(
    ("origin", "command"),
    [
        (None, "pip install 'llmring[sse]'"),
        (
            {"url": "file:///src/llmring", "dir_info": {"editable": True}},
            "pip install -e '/src/llmring[sse]'",
        ),
        ({"url": "file:///src/llmring", "dir_info": {}}, "pip install '/src/llmring[sse]'"),
        (
            {"url": "file:///home/me/my%20code/llmring", "dir_info": {"editable": True}},
            "pip install -e '/home/me/my code/llmring[sse]'",
        ),
        (
            {
                "url": "https://github.com/o/llmring.git",
                "vcs_info": {"vcs": "git", "commit_id": "abc123", "requested_revision": "main"},
            },
            "pip install 'llmring[sse] @ git+https://github.com/o/llmring.git@abc123'",
        ),
        (
            {"url": "file:///tmp/llmring-2.0.0a1-py3-none-any.whl", "archive_info": {}},
            "pip install 'llmring[sse] @ file:///tmp/llmring-2.0.0a1-py3-none-any.whl'",
        ),
    ],
    ids=["index", "editable", "directory", "quoted-path", "vcs", "archive"],
)
def test_install_command_for_each_origin(origin: dict[str, Any] | None, command: str) -> None:
    assert install_command("sse", origin) == command


class _Distribution:
    def __init__(self, direct_url: str | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        return self.direct_url if name == "direct_url.json" else None


@pytest.fixture
def origin_cache() -> Any:
    _install._origin.cache_clear()
    yield
    _install._origin.cache_clear()


@pytest.mark.parametrize(
    ("direct_url", "command"),
    [
        (None, "pip install 'llmring[rag]'"),  # installed from an index: no direct_url.json
        (
            json.dumps({"url": "file:///w/llmring", "dir_info": {"editable": True}}),
            "pip install -e '/w/llmring[rag]'",
        ),
        (json.dumps({"url": "file:///w/llmring", "dir_info": {}}), "pip install '/w/llmring[rag]'"),
        ("not json", "pip install 'llmring[rag]'"),
    ],
    ids=["index", "editable", "directory", "unreadable"],
)
def test_install_hint_reads_the_installed_distribution(
    direct_url: str | None,
    command: str,
    monkeypatch: pytest.MonkeyPatch,
    origin_cache: None,
) -> None:
    monkeypatch.setattr(metadata, "distribution", lambda name: _Distribution(direct_url))
    assert install_hint("rag") == command


@pytest.mark.parametrize(
    ("in_checkout", "command"),
    [
        (True, f"pip install -e '{CHECKOUT}[rag]'"),
        (False, "pip install 'llmring[rag]'"),  # files copied somewhere: nothing better to say
    ],
    ids=["checkout", "elsewhere"],
)
def test_llmring_run_without_being_installed(
    in_checkout: bool,
    command: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    origin_cache: None,
) -> None:
    def missing(name: str) -> Any:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    where = CHECKOUT if in_checkout else tmp_path  # PYTHONPATH=src in a checkout has pyproject
    monkeypatch.setattr(_install, "__file__", str(where / "src" / "llmring" / "_install.py"))
    assert install_hint("rag") == command


def test_this_checkout_is_named_by_its_own_hint(origin_cache: None) -> None:
    # The dev venv installs this checkout editable and .venv-plain installs it with
    # `pip install .`: either way the hint must point pip here, never at PyPI's llmring 1.x.
    hint = install_hint("openai")
    assert f"{CHECKOUT}[openai]" in hint
    origin = json.loads(metadata.distribution("llmring").read_text("direct_url.json") or "{}")
    assert hint.startswith("pip install -e ") is bool(origin["dir_info"].get("editable"))
