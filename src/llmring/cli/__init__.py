"""The ``llmring`` command line: lockfiles, bindings, providers and a streaming chat.

Commands live in small modules; see ``_common`` for the exit codes and the error handling
every command shares, and docs/cli.md for the reference.
"""

from __future__ import annotations

from typing import Annotated

import typer

from llmring.cli._chat_commands import ChatCommand, chat, providers
from llmring.cli._keys_commands import keys_app
from llmring.cli._lockfile_commands import aliases, bind, lock_app, unbind
from llmring.cli._logs_commands import logs_app, usage
from llmring.cli._price_commands import lock_verify, models
from llmring.cli._serve_commands import serve
from llmring.cli._store_commands import store_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmring",
    help="Stream from any LLM provider through lockfile aliases.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: importing rich's formatter costs ~90 ms per start
)
lock_app.command("verify")(lock_verify)
app.add_typer(lock_app, name="lock")
app.command()(bind)
app.command()(unbind)
app.command()(aliases)
app.command(cls=ChatCommand)(chat)
app.command()(providers)
app.command()(models)
app.add_typer(logs_app, name="logs")
app.command()(usage)
app.add_typer(keys_app, name="keys")
app.command()(serve)
app.add_typer(store_app, name="store")


def _print_version(requested: bool) -> None:
    if requested:
        from llmring import __version__

        typer.echo(f"llmring {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            expose_value=False,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Stream from any LLM provider through lockfile aliases."""


def main() -> None:
    """Console-script entry point."""
    app()
