"""Small helpers shared by the tests."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from llmring.cli import app


def write_lockfile(path: Path, bindings: dict[str, list[str]], extra: str = "") -> Path:
    """Write a simple lockfile with ``bindings`` in the default profile (for tests)."""
    lines = [
        'version = "1.0"',
        'default_profile = "default"',
        "",
        "[profiles.default]",
        'name = "default"',
        "",
    ]
    for alias, models in bindings.items():
        quoted = ", ".join(f'"{m}"' for m in models)
        lines += ["[[profiles.default.bindings]]", f'alias = "{alias}"', f"models = [{quoted}]", ""]
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path


def run(*args: str, input: str | bytes | None = None) -> Result:
    """Invoke the CLI in-process (``input``: what stdin holds, a pipe rather than a terminal);
    fail on any traceback or exception that escaped the wrapper."""
    result = CliRunner().invoke(app, list(args), input=input)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def assert_user_error(result: Result, *fragments: str, code: int = 1) -> None:
    """Exit ``code``, nothing on stdout, exactly one ``error:`` line on stderr naming
    ``fragments``."""
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr
