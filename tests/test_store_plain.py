"""A plain install (no ``postgres`` extra) given a PostgreSQL store URL: one clear error with
the command that adds psycopg, from the library, the CLI and the gateway's store check, and
``import llmring`` never imports psycopg. Runs in .venv-plain too (scripts/check-plain-install),
so it imports nothing beyond llmring, pytest and the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmring import LLMRing
from llmring._install import install_hint
from llmring._receipts._settings import open_receipt_store, parse_store_url
from llmring.exceptions import ConfigurationError
from tests.helpers import assert_user_error, run

pytestmark = pytest.mark.plain

URL = "postgresql://gw@127.0.0.1:1/llmring"


@pytest.fixture
def no_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg and its pool look uninstalled (they are, in .venv-plain)."""
    for loaded in [m for m in sys.modules if m.split(".")[0] in ("psycopg", "psycopg_pool")]:
        monkeypatch.delitem(sys.modules, loaded)
    for name in ("psycopg", "psycopg_pool"):
        monkeypatch.setitem(sys.modules, name, None)


def test_import_llmring_imports_no_psycopg() -> None:
    script = (
        "import sys, llmring, llmring.cli; from llmring._receipts._settings import parse_store_url;"
        f" parse_store_url({URL!r}, None, 'x'); print('psycopg' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_a_postgresql_url_without_psycopg_says_what_to_install(no_psycopg: None) -> None:
    hint = install_hint("postgres")
    assert "[postgres]" in hint
    store = parse_store_url(URL, Path.cwd(), "test")
    assert store is not None
    with pytest.raises(ConfigurationError, match="needs psycopg") as caught:
        open_receipt_store(store)
    assert hint in str(caught.value)
    with pytest.raises(ConfigurationError, match="needs psycopg"):
        LLMRing(receipts=URL)  # at once, not later in the writer thread
    for command in (("store", "migrate"), ("keys", "list")):
        assert_user_error(run(*command, "--receipts", URL), "needs psycopg", hint)
