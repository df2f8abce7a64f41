"""Every ``python`` block of the reference pages below runs, offline, as written.

The pages promise runnable examples; this keeps that promise honest. Blocks of the README run
too when they are complete scripts (they call ``asyncio.run``). Each block runs in-process (so
the no-network guard applies) in a fresh namespace, from a project directory with no lockfile
(the bundled default applies, so ``chatbot`` is served by the offline mock provider).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: pages whose every python block is a complete, offline script
RUNNABLE_PAGES = (
    "docs/streaming.md",
    "docs/generation.md",
    "docs/validation.md",
    "docs/agents.md",
    "docs/bots.md",
    "docs/lockfile.md",
    "docs/receipts.md",
)
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[pytest.ParameterSet]:
    params = []
    for page in (*RUNNABLE_PAGES, "README.md"):
        path = ROOT / page
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        for number, match in enumerate(_BLOCK.finditer(text), start=1):
            code = match.group(1)
            if page == "README.md" and "asyncio.run(" not in code:
                continue  # a fragment, not a script
            line = text.count("\n", 0, match.start()) + 2
            params.append(pytest.param(page, code, id=f"{page}:{line}#{number}"))
    return params


def test_every_runnable_page_exists_and_has_examples() -> None:
    for page in RUNNABLE_PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        assert _BLOCK.search(text), f"{page} has no python example"


@pytest.mark.parametrize(("page", "code"), _blocks())
def test_example_runs(page: str, code: str, capsys: pytest.CaptureFixture[str]) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(compile(code, page, "exec"), namespace)  # noqa: S102 - our own documentation
    assert capsys.readouterr().out.strip(), f"the example in {page} printed nothing"


def test_the_query_bot_example_retrieves_a_document(capsys: pytest.CaptureFixture[str]) -> None:
    # "prints something" would pass with nothing retrieved: the example must show retrieval
    [code] = [p.values[1] for p in _blocks() if "QueryBot(" in str(p.values[1])]
    namespace: dict[str, object] = {"__name__": "__main__"}
    exec(compile(str(code), "docs/bots.md", "exec"), namespace)  # noqa: S102
    assert namespace["bot"].last_documents  # type: ignore[attr-defined]
    assert str(namespace["bot"].last_documents) in capsys.readouterr().out  # type: ignore[attr-defined]
