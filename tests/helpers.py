"""Small helpers shared by the tests."""

from __future__ import annotations

from pathlib import Path


def write_lockfile(path: Path, bindings: dict[str, list[str]], extra: str = "") -> Path:
    """Write a simple lockfile with ``bindings`` in the default profile (for tests)."""
    lines = ['version = "1.0"', 'default_profile = "default"', "", "[profiles.default]",
             'name = "default"', ""]
    for alias, models in bindings.items():
        quoted = ", ".join(f'"{m}"' for m in models)
        lines += ["[[profiles.default.bindings]]", f'alias = "{alias}"', f"models = [{quoted}]", ""]
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path
