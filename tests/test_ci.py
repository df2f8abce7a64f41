"""Under CI a test's missing machine requirement fails the run; elsewhere it skips the test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ci

ROOT = Path(__file__).resolve().parents[1]

PROBE = """\
from tests.ci import require_or_skip

def test_needs_a_tool():
    require_or_skip(False, "the probe tool is missing (apt-get install probe)")
"""


def test_an_available_requirement_runs_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    for in_ci in (False, True):
        monkeypatch.setattr(ci, "IN_CI", in_ci)
        ci.require_or_skip(True, "never shown")


def test_a_missing_requirement_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ci, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match=r"^the probe tool is missing$"):
        ci.require_or_skip(False, "the probe tool is missing")


def test_a_missing_requirement_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ci, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="the probe tool is missing; LLMRING_CI=1"):
        ci.require_or_skip(False, "the probe tool is missing")


@pytest.mark.parametrize(
    ("variable", "code", "outcome"),
    [
        (None, 0, "1 skipped"),
        ("1", 1, "1 failed"),
    ],
)
def test_llmring_ci_in_the_environment_of_a_real_run(
    variable: str | None, code: int, outcome: str, tmp_path: Path
) -> None:
    # A pytest run of its own, so the variable is in the environment as .ci/run sets it.
    (tmp_path / "test_probe.py").write_text(PROBE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "LLMRING_CI"}
    env["PYTHONPATH"] = str(ROOT)
    if variable is not None:
        env["LLMRING_CI"] = variable
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == code, result.stdout + result.stderr
    assert outcome in result.stdout
    assert "the probe tool is missing (apt-get install probe)" in result.stdout
