"""The recorded streams in ``tests/wire`` are what their sidecars say they are.

Every body is checked against its sidecar's byte count and SHA-256, so a recording that an
editor, a line-ending conversion or a bad merge changed fails here, not as a puzzling adapter
failure; and every file belongs to a pair (body + sidecar), so nothing sits there unexplained.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.loopback import WIRE

FOLDERS = {"anthropic", "gemini", "ollama", "openai", "openai-compatible"}
BODY_SUFFIXES = (".body.json", ".sse", ".ndjson")


def is_body(path: Path) -> bool:
    return path.name.endswith(BODY_SUFFIXES)


def sidecar_name(body: Path) -> str:
    """``x.sse``, ``x.ndjson`` and ``x.body.json`` are described by ``x.json``."""
    suffix = next(s for s in BODY_SUFFIXES if body.name.endswith(s))
    return body.name.removesuffix(suffix) + ".json"


def sidecars() -> dict[Path, dict[str, Any]]:
    return {
        path: json.loads(path.read_bytes())
        for path in sorted(WIRE.glob("*/*.json"))
        if not is_body(path)
    }


def test_the_corpus_is_in_the_repository() -> None:
    assert {p.name for p in WIRE.iterdir() if p.is_dir()} == FOLDERS
    assert (WIRE / "README.md").is_file()
    # everything else is a body or a sidecar, one level down
    assert {p.name for p in WIRE.iterdir() if p.is_file()} == {"README.md"}
    assert all(p.is_file() for folder in FOLDERS for p in (WIRE / folder).iterdir())


def test_every_body_matches_its_sidecar() -> None:
    described = sidecars()
    assert len(described) >= 55
    wrong = []
    for path, sidecar in described.items():
        body = path.parent / sidecar["file"]
        assert sidecar["provider"] == path.parent.name, path
        assert is_body(body) and sidecar_name(body) == path.name, (path, body)
        data = body.read_bytes()
        recorded = (sidecar["body_bytes"], sidecar["sha256"])
        if (len(data), hashlib.sha256(data).hexdigest()) != recorded:
            wrong.append(body.relative_to(WIRE).as_posix())
    assert wrong == [], "these recordings differ from their sidecars' body_bytes/sha256"


def test_every_body_has_one_sidecar_that_names_its_source() -> None:
    described = {path.parent / sidecar["file"]: sidecar for path, sidecar in sidecars().items()}
    bodies = {path for path in WIRE.glob("*/*") if is_body(path)}
    assert bodies == set(described)
    for body, sidecar in described.items():
        source = sidecar["source"]
        assert sidecar["description"] and source["repo"] and source["path"], body
        assert len(source["commit"]) == 40 and source["url"].startswith("https://"), body
