"""Lockfiles: the alias → model bindings of a project, per profile (``llmring.lock``, TOML).

Reading: :func:`find_lockfile` / :func:`load_lockfile` give a validated :class:`Lockfile`
(stdlib ``tomllib``: fast). Writing: :func:`rewrite_lockfile` with :func:`bind_alias` /
:func:`remove_binding`, or :func:`edit_lockfile` with :func:`set_binding` (``tomlkit``), which
keep comments and order and replace the file atomically under an inter-process lock.
See docs/lockfile.md for the format.
"""

from llmring.lockfile._edit import bind_alias, remove_binding, set_binding
from llmring.lockfile._model import (
    Binding,
    Lockfile,
    ModelRef,
    Profile,
    ProviderEntry,
    alias_problem,
    parse_model_ref,
    parse_models,
    profile_problem,
)
from llmring.lockfile._parse import KNOWN_VERSIONS, parse_lockfile
from llmring.lockfile._store import (
    LOCKFILE_NAME,
    LOCKFILE_PATH_ENV,
    PROFILE_ENV,
    ROOT_MARKERS,
    atomic_write,
    bundled_lockfile_path,
    edit_lockfile,
    find_lockfile,
    find_project_lockfile,
    load_lockfile,
    read_lockfile,
    rewrite_lockfile,
    write_lockfile,
    write_target,
)

__all__ = [
    "KNOWN_VERSIONS",
    "LOCKFILE_NAME",
    "LOCKFILE_PATH_ENV",
    "PROFILE_ENV",
    "ROOT_MARKERS",
    "Binding",
    "Lockfile",
    "ModelRef",
    "Profile",
    "ProviderEntry",
    "alias_problem",
    "atomic_write",
    "bind_alias",
    "bundled_lockfile_path",
    "edit_lockfile",
    "find_lockfile",
    "find_project_lockfile",
    "load_lockfile",
    "parse_lockfile",
    "parse_model_ref",
    "parse_models",
    "profile_problem",
    "read_lockfile",
    "remove_binding",
    "rewrite_lockfile",
    "set_binding",
    "write_lockfile",
    "write_target",
]
