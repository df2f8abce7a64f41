"""The ``llmring`` command line: lockfiles, bindings, providers and a streaming chat.

Commands live in small modules; see ``_common`` for the exit codes and the error handling
every command shares, and docs/cli.md for the reference.
"""

from __future__ import annotations

import typer

from llmring.cli._chat_commands import chat, providers
from llmring.cli._lockfile_commands import aliases, bind, lock_app, unbind

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmring",
    help="Stream from any LLM provider through lockfile aliases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: importing rich's formatter costs ~90 ms per start
)
app.add_typer(lock_app, name="lock")
app.command()(bind)
app.command()(unbind)
app.command()(aliases)
app.command()(chat)
app.command()(providers)


def main() -> None:
    """Console-script entry point."""
    app()
