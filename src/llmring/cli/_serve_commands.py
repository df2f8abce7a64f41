"""``llmring serve``: the OpenAI-compatible gateway over the lockfile (docs/serve.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from llmring.cli._common import FileOption, ProfileOption, cli_command, err

__all__ = ["serve"]


@cli_command
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8080,
    file: FileOption = None,
    profile: ProfileOption = None,
    workers: Annotated[int, typer.Option(help="Worker processes (each with its own limits).")] = 1,
    receipts: Annotated[
        str | None,
        typer.Option(
            help="The receipt store URL (sqlite:///path.db, postgresql://user@host/db; 'off' "
            "only with --no-auth); "
            "default: $LLMRING_RECEIPTS, the lockfile's [receipts], the user store.",
            show_default=False,
        ),
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Accept requests without a key (loopback only).")
    ] = False,
    ui: Annotated[bool, typer.Option("--ui", help="Serve the chat page at /.")] = False,
    max_body: Annotated[
        int, typer.Option(help="The largest request body accepted, in bytes (413 beyond).")
    ] = 4 * 1024 * 1024,
    max_streams: Annotated[
        int, typer.Option(help="Concurrent chat requests per worker (503 beyond).")
    ] = 256,
    grace: Annotated[
        float, typer.Option(help="Seconds in-flight requests get to finish on SIGTERM.")
    ] = 30.0,
    watch: Annotated[
        float,
        typer.Option(help="Seconds between checks of the lockfile for a change (0: SIGHUP only)."),
    ] = 1.0,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log one line per HTTP request.")
    ] = False,
) -> None:
    """Serve OpenAI's Chat Completions API over the lockfile's aliases (needs llmring[serve])."""
    from llmring.serve._reload import load_snapshot
    from llmring.serve._server import check_installed, run
    from llmring.serve._settings import ServeSettings
    from llmring.serve._store import open_store, store_url

    check_installed()
    settings = ServeSettings(
        lockfile=str(file) if file is not None else None,
        profile=profile,
        receipts=receipts,
        host=host,
        port=port,
        workers=workers,
        no_auth=no_auth,
        ui=ui,
        max_body=max_body,
        max_streams=max_streams,
        grace=grace,
        watch=watch,
        access_log=access_log,
    )
    # check the lockfile and the store first, so a mistake is one clear line, not a worker's log
    # (the worker then loads them for real, provider clients included, before it listens)
    store = store_url(settings)
    if store is not None:
        open_store(store)
    snapshot = load_snapshot(settings.lockfile, profile, "off", None, clients=False)
    where = snapshot.path or "the bundled lockfile"
    err(
        f"llmring serve: {where} (profile {snapshot.ring.profile}, {snapshot.digest[:19]}), "
        f"receipts {store or 'off'}, {'no auth' if no_auth else 'keys required'}"
    )
    raise typer.Exit(run(settings))
