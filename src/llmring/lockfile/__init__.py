"""Lockfiles: the alias → model bindings of a project, per profile (``llmring.lock``, TOML).

The public names are what an application or a tool needs to find, read and edit a project's
lockfile, the way ``llmring`` itself does; the parser, the name rules, the atomic writer and the
environment variable names are llmring's own and may change (docs/lockfile.md documents the
variables).

* Finding: :func:`find_lockfile` (the one discovery order, the bundled default last) and
  :func:`write_target` (the file a change should go to: never the bundled one).
* Reading: :func:`load_lockfile` gives a validated, read-only :class:`Lockfile` (stdlib
  ``tomllib``: fast), made of :class:`Profile`, :class:`Binding`, :class:`ModelRef` and
  :class:`ProviderEntry` and :class:`Price`.
* Editing: :func:`rewrite_lockfile` with the text edits :func:`bind_alias` /
  :func:`remove_binding` (exact inverses, as ``llmring bind``/``unbind`` use them), or
  :func:`edit_lockfile` with :func:`set_binding` or any other change to the ``tomlkit``
  document. Both keep comments and order, check that the result loads, and replace the file
  atomically under an inter-process lock.
"""

from llmring.lockfile._edit import bind_alias, remove_binding, set_binding
from llmring.lockfile._model import Binding, Lockfile, ModelRef, Price, Profile, ProviderEntry
from llmring.lockfile._store import (
    edit_lockfile,
    find_lockfile,
    load_lockfile,
    rewrite_lockfile,
    write_target,
)

__all__ = [
    "Binding",
    "Lockfile",
    "ModelRef",
    "Price",
    "Profile",
    "ProviderEntry",
    "bind_alias",
    "edit_lockfile",
    "find_lockfile",
    "load_lockfile",
    "remove_binding",
    "rewrite_lockfile",
    "set_binding",
    "write_target",
]
