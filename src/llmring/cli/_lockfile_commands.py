"""``llmring lock init|validate``, ``bind``, ``unbind`` and ``aliases``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from llmring.cli._common import (
    EXIT_CONFIG,
    FileOption,
    JsonOption,
    ProfileOption,
    cli_command,
    err,
    out,
)
from llmring.exceptions import ConfigurationError, LockfileParseError

if TYPE_CHECKING:
    from llmring.lockfile._model import Lockfile

# The lockfile machinery (tomllib, tomlkit, pydantic) is imported inside the commands, so that
# ``llmring --help`` starts fast.

lock_app = typer.Typer(
    help="Create and check lockfiles.", no_args_is_help=True, rich_markup_mode=None
)


@lock_app.command("init")
@cli_command
def lock_init(
    file: FileOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing lockfile.")] = False,
) -> None:
    """Write a commented lockfile binding chatbot/fast/deep to the providers you have keys for
    (or to mock models when you have none), at the project root unless --file says where."""
    from llmring.lockfile._store import write_lockfile, write_target
    from llmring.lockfile._template import detected_providers, initial_lockfile_text

    path = write_target(file)
    if path.exists() and not force:
        err(f"error: {path} already exists; use --force to replace it")
        raise typer.Exit(EXIT_CONFIG)
    providers = detected_providers()
    lockfile = write_lockfile(path, initial_lockfile_text(providers))
    aliases = ", ".join(lockfile.profile().bindings)
    using = ", ".join(providers) if providers else "the offline mock provider (no keys found)"
    where = ""
    if file is None and path.parent != Path.cwd().resolve():
        where = " (the project root, where discovery finds it from every subdirectory)"
    err(f"created {path}{where}: {aliases} bound to {using}")
    out(str(path))


@lock_app.command("validate")
@cli_command
def lock_validate(file: FileOption = None) -> None:
    """Check the project's lockfile offline. Exit 0 when valid, 1 when not (or when there is
    no project lockfile: then it says where discovery looked)."""
    from llmring.lockfile._store import find_project_lockfile, read_lockfile

    path = find_project_lockfile(file)
    lockfile = read_lockfile(path)
    if lockfile.default_profile not in lockfile.profiles:
        raise LockfileParseError(
            f"{path}: default_profile {lockfile.default_profile!r} names no [profiles.*] table",
            path=str(path),
            key="default_profile",
        )
    aliases = sum(len(p.bindings) for p in lockfile.profiles.values())
    err(
        f"ok: {path}: {len(lockfile.profiles)} profile(s), {aliases} binding(s), "
        f"{len(lockfile.providers)} extra provider(s)"
    )


def _profile_for(profile: str | None, default: str) -> str:
    from llmring.lockfile._model import profile_problem
    from llmring.lockfile._store import PROFILE_ENV

    name = profile or os.environ.get(PROFILE_ENV) or default
    problem = profile_problem(name)
    if problem:
        raise ConfigurationError(problem)
    return name


def _check_alias(alias: str) -> None:
    from llmring.lockfile._model import alias_problem

    problem = alias_problem(alias)
    if problem:
        raise ConfigurationError(problem)


@cli_command
def bind(
    alias: Annotated[str, typer.Argument(help="The alias your code asks for, e.g. chatbot.")],
    models: Annotated[
        str,
        typer.Argument(
            metavar="MODEL[,FALLBACK...]", help="provider:model, then fallbacks, comma-separated."
        ),
    ],
    profile: ProfileOption = None,
    file: FileOption = None,
) -> None:
    """Bind ALIAS to one model or an ordered list of fallbacks (creates the lockfile if none)."""
    from llmring.lockfile._edit import bind_alias
    from llmring.lockfile._model import parse_models
    from llmring.lockfile._parse import parse_lockfile
    from llmring.lockfile._store import rewrite_lockfile, write_target
    from llmring.lockfile._template import empty_lockfile_text
    from llmring.providers._registry import BUILTIN_PROVIDERS

    _check_alias(alias)
    refs = [part.strip() for part in models.split(",")]
    try:
        parse_models(refs)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    path = write_target(file)
    created = not path.exists()
    chosen: list[str] = []

    def produce(current: str | None) -> str:
        text = empty_lockfile_text() if current is None else current
        lockfile = parse_lockfile(text, path)  # the file as it is must load
        name = _profile_for(profile, lockfile.default_profile)
        try:
            parse_models(refs, {*BUILTIN_PROVIDERS, *lockfile.providers})
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        chosen.append(name)
        return bind_alias(text, name, alias, refs)

    lockfile = rewrite_lockfile(path, produce)
    if created:
        err(f"created {path}")
    err(f"bound {alias} -> {', '.join(refs)} in profile {chosen[0]!r} of {path}")
    _warn_unusable(lockfile, refs)


def _warn_unusable(lockfile: Lockfile, refs: list[str]) -> None:
    from llmring._configs import lookup, provider_configs
    from llmring.lockfile._model import parse_model_ref
    from llmring.providers._registry import unavailable

    configs = provider_configs(lockfile.providers)
    for ref in refs:
        why = unavailable(lookup(parse_model_ref(ref).provider, configs))
        if why:
            err(f"note: {ref} cannot be used yet: {why.reason}")


@cli_command
def unbind(
    alias: Annotated[str, typer.Argument(help="The alias to remove.")],
    profile: ProfileOption = None,
    file: FileOption = None,
) -> None:
    """Remove ALIAS from a profile of the lockfile."""
    from llmring.lockfile._edit import remove_binding
    from llmring.lockfile._store import find_lockfile, read_lockfile, rewrite_lockfile, write_target

    _check_alias(alias)
    path = write_target(file)
    current = read_lockfile(find_lockfile(path))
    name = _profile_for(profile, current.default_profile)

    def produce(text: str | None) -> str:
        changed = remove_binding(text or "", name, alias)
        if changed is None:
            raise ConfigurationError(f"alias {alias!r} is not bound in profile {name!r} of {path}")
        return changed

    rewrite_lockfile(path, produce)
    err(f"unbound {alias} from profile {name!r} of {path}")


@cli_command
def aliases(
    profile: ProfileOption = None,
    file: FileOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the aliases of a profile and the models they are bound to."""
    from llmring.service import LLMRing

    ring = LLMRing(file, profile)
    table = ring.resolver.aliases()
    ring.lockfile.profile(ring.profile)  # the default profile must exist too
    if as_json:
        out(
            json.dumps(
                {"lockfile": str(ring.lockfile.path), "profile": ring.profile, "aliases": table},
                indent=2,
            )
        )
        return
    err(f"profile {ring.profile!r} of {ring.lockfile.path}")
    width = max((len(a) for a in table), default=0)
    for alias, refs in table.items():
        out(f"{alias.ljust(width)}  {', '.join(refs)}")
