"""Lockfiles: the alias → model bindings of a project, per profile (``llmring.lock``, TOML).

Reading: :func:`find_lockfile` / :func:`load_lockfile` give a validated :class:`Lockfile`.
Writing: :func:`edit_lockfile` with :func:`set_binding` / :func:`remove_binding`, which keep
comments and order and replace the file atomically under an inter-process lock.
See docs/lockfile.md for the format.
"""

from llmring.lockfile._edit import remove_binding, set_binding
from llmring.lockfile._model import (
    Binding,
    Lockfile,
    ModelRef,
    Profile,
    ProviderEntry,
    parse_lockfile,
    parse_model_ref,
)
from llmring.lockfile._store import (
    LOCKFILE_NAME,
    LOCKFILE_PATH_ENV,
    PROFILE_ENV,
    atomic_write,
    bundled_lockfile_path,
    edit_lockfile,
    find_lockfile,
    load_lockfile,
    read_lockfile,
    rewrite_lockfile,
    write_lockfile,
    write_target,
)

__all__ = [
    "LOCKFILE_NAME",
    "LOCKFILE_PATH_ENV",
    "PROFILE_ENV",
    "Binding",
    "Lockfile",
    "ModelRef",
    "Profile",
    "ProviderEntry",
    "atomic_write",
    "bundled_lockfile_path",
    "edit_lockfile",
    "find_lockfile",
    "load_lockfile",
    "parse_lockfile",
    "parse_model_ref",
    "read_lockfile",
    "remove_binding",
    "rewrite_lockfile",
    "set_binding",
    "write_lockfile",
    "write_target",
]
