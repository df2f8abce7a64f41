"""What every CLI command shares: output helpers, options, exit codes, error handling.

Data goes to stdout, status and errors to stderr. Every command is wrapped by
:func:`cli_command`, so a user error is one ``error: ...`` line and an exit code, never a
traceback:

===== ==========================================================================
code  meaning
===== ==========================================================================
0     success
1     a configuration problem: lockfile, alias, profile, model reference, request
2     bad command-line usage (unknown option, missing argument)
3     the provider failed before any output (auth, rate limit, model, network)
4     the stream broke after part of the reply was printed
70    an internal error (a bug: please report it, with LLMRING_DEBUG=1 output)
130   interrupted (Ctrl-C)
141   the reader of stdout went away (``llmring chat ... | head -c 20``): quietly, as
      ``cat`` killed by SIGPIPE ends (128 + 13)
===== ==========================================================================
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from llmring._receipts._store import StoreError
from llmring._secrets import redact
from llmring.exceptions import (
    ConfigurationError,
    LLMRingError,
    ProviderError,
    StreamInterruptedError,
)

EXIT_CONFIG = 1
EXIT_PROVIDER = 3
EXIT_INTERRUPTED = 4
EXIT_INTERNAL = 70
EXIT_SIGINT = 130
EXIT_SIGPIPE = 141

FileOption = Annotated[
    Path | None,
    typer.Option(
        "--file", "-f", help="Lockfile to use (default: discovery, see docs/lockfile.md)."
    ),
]
ProfileOption = Annotated[
    str | None,
    typer.Option(
        "--profile", "-p", help="Profile (default: $LLMRING_PROFILE, then the file's default)."
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]


def out(text: str = "", *, end: str = "\n") -> None:
    sys.stdout.write(text + end)
    sys.stdout.flush()


def err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def exit_code_for(exc: LLMRingError) -> int:
    if isinstance(exc, StreamInterruptedError):
        return EXIT_INTERRUPTED
    if isinstance(exc, ConfigurationError):
        return EXIT_CONFIG
    if isinstance(exc, ProviderError):
        return EXIT_PROVIDER
    return EXIT_CONFIG


def _one_line(exc: Any) -> str:
    """A pydantic ValidationError as one line: ``field: message; field: message``."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())) or "request"
        problems.append(f"{where}: {error.get('msg', '').removeprefix('Value error, ')}")
    return redact("; ".join(problems))


def _validation_error() -> type[Exception]:
    from pydantic import ValidationError  # imported only when an error is being reported

    return ValidationError


def _silence_stdout() -> None:
    """Point stdout at the null device once its reader has gone.

    What was written but not flushed stays in Python's buffer, and the interpreter flushes
    stdout again at exit; without this, that second flush would print "Exception ignored ...
    BrokenPipeError" (the remedy in Python's docs, signal module, "Note on SIGPIPE").
    """
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError):  # stdout without a file descriptor (a test runner's buffer)
        pass


F = TypeVar("F", bound=Callable[..., Any])


def cli_command(function: F) -> F:
    """Turn llmring errors into one stderr line and an exit code (see the module table)."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (typer.Exit, typer.BadParameter):  # typer reports these itself (exit 0 or 2)
            raise
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(EXIT_SIGPIPE) from None
        except LLMRingError as exc:
            err(f"error: {exc}")
            raise typer.Exit(exit_code_for(exc)) from None
        except StoreError as exc:  # a shared store that went away: it says which, and why
            err(f"error: {exc}")
            raise typer.Exit(EXIT_CONFIG) from None
        except KeyboardInterrupt:
            err("interrupted")
            raise typer.Exit(EXIT_SIGINT) from None
        except Exception as exc:
            if isinstance(exc, _validation_error()):  # a bad request built from arguments
                err(f"error: invalid request: {_one_line(exc)}")
                raise typer.Exit(EXIT_CONFIG) from None
            if os.environ.get("LLMRING_DEBUG"):
                raise
            err(
                f"internal error: {redact(repr(exc))}; rerun with LLMRING_DEBUG=1 for the "
                "traceback and please report it"
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]
