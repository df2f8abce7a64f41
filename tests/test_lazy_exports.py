"""llmring/_lazy.py on a package of its own: the ``if TYPE_CHECKING:`` block is the one list."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

PACKAGE = '''\
"""A package that exports lazily."""
from __future__ import annotations

from typing import TYPE_CHECKING

from llmring import _lazy

if TYPE_CHECKING:
    from collections.abc import Sequence  # for annotations only: not exported
    from {name}._impl import Widget as Widget
    from {name}._impl import make as make
    from {name}._impl import helper

_lazy.install(__name__)
'''
IMPL = """\
class Widget: ...
def make() -> Widget: return Widget()
def helper() -> None: ...
"""


@pytest.fixture
def package(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    # a name of its own per test: the export map is cached per package name
    name = f"lazy_{request.node.name}".replace("[", "_").replace("]", "")
    (tmp_path / name).mkdir()
    (tmp_path / name / "__init__.py").write_text(PACKAGE.format(name=name), encoding="utf-8")
    (tmp_path / name / "_impl.py").write_text(IMPL, encoding="utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        yield __import__(name)
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def test_the_names_re_exported_under_type_checking_are_the_exports(package: ModuleType) -> None:
    assert package.__all__ == ["Widget", "make"]
    assert {"Widget", "make"} <= set(dir(package))
    assert not {"Sequence", "helper"} & set(dir(package))


def test_a_name_is_imported_on_first_use_and_then_kept(package: ModuleType) -> None:
    assert f"{package.__name__}._impl" not in sys.modules
    widget = package.Widget
    assert f"{package.__name__}._impl" in sys.modules
    assert isinstance(package.make(), widget)
    assert vars(package)["Widget"] is widget  # later look-ups are plain attributes


def test_a_name_imported_only_for_annotations_is_not_an_attribute(package: ModuleType) -> None:
    for name in ("helper", "Sequence", "Nope"):
        with pytest.raises(AttributeError, match=f"module '{package.__name__}' has no attribute"):
            getattr(package, name)
