"""Lazy exports, each public name written once: in the package's ``if TYPE_CHECKING:`` block.

A package that exports lazily lists its public names as explicit re-exports, the form type
checkers read as "exported" (PEP 484)::

    if TYPE_CHECKING:
        from llmring.service import LLMRing as LLMRing

    _lazy.install(__name__)

:func:`install` gives the package a ``__getattr__`` (PEP 562) that imports a name's module on
first use, and a ``__dir__``; ``__all__`` is served the same way. The map from name to module
is read from that block of the package's own source, so the type checker and the runtime see
one list and nothing repeats it. The source is parsed at the first attribute the package lacks,
not at import, so ``import llmring`` pays for no parse (under a millisecond, plus ``import ast``
when nothing loaded it yet); the import that attribute triggers mostly costs more. Other imports
in the block (without ``as`` the same name) are for annotations only and are not exported.
anyio's ``_lazyimport`` reads its block the same way.
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ast

__all__ = ["install"]


def install(package: str, *, eager: tuple[str, ...] = ()) -> None:
    """Serve ``package``'s lazy exports; call it at the end of the package's ``__init__``.

    ``eager`` names public names the package defines itself (a provider package's ``SPEC``):
    they join ``__all__``.
    """
    namespace = vars(sys.modules[package])

    def __getattr__(name: str) -> Any:
        exports = _exports(package)
        if name == "__all__":
            value: Any = sorted({*exports, *eager})
        elif name in exports:
            value = getattr(import_module(exports[name]), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value  # later look-ups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *_exports(package)})

    namespace["__getattr__"] = __getattr__
    namespace["__dir__"] = __dir__


@cache
def _exports(package: str) -> dict[str, str]:
    """Each name the ``if TYPE_CHECKING:`` block of ``package`` re-exports → its module."""
    import ast

    path = sys.modules[package].__file__
    if path is None or not path.endswith(".py"):
        raise ImportError(f"{package}: its public names are listed in its source, not installed")
    with open(path, "rb") as handle:
        tree = ast.parse(handle.read(), filename=path)
    exports = {
        alias.name: node.module
        for node in _type_checking_body(tree)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
        for alias in node.names
        if alias.asname == alias.name
    }
    if not exports:
        raise ImportError(f"{path}: no 'from module import Name as Name' under TYPE_CHECKING")
    return exports


def _type_checking_body(tree: ast.Module) -> list[ast.stmt]:
    import ast

    return [
        statement
        for block in tree.body
        if isinstance(block, ast.If)
        and isinstance(block.test, ast.Name)
        and block.test.id == "TYPE_CHECKING"
        for statement in block.body
    ]
