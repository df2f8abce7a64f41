"""The ``pip install`` command that adds an extra to *this* installation of llmring.

Every "install this" hint (a missing provider SDK, ``bm25s`` for the BM25 store, ...) comes
from :func:`install_hint`, so each one names the installation the user actually has. That
matters because ``llmring`` on PyPI is the 1.x line: for a source checkout, the hint must point
pip at the checkout (``pip install -e '/path/to/llmring[sse]'``), never at the index.

Where llmring came from is read from PEP 610's ``direct_url.json``, which pip writes into the
installed distribution's metadata for anything not installed from an index: ``dir_info`` (a
local directory, ``editable`` for ``pip install -e``), ``vcs_info`` (``git+https://...``) or
``archive_info`` (a wheel or sdist URL). Without it, llmring came from an index.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Mapping
from typing import Any

# importlib.metadata, json and urllib are imported inside the functions: a hint is only
# needed on an error path, and this module is imported by the registry and the bots.

__all__ = ["install_command", "install_hint"]

DISTRIBUTION = "llmring"


def install_hint(extra: str) -> str:
    """The command that adds ``llmring[extra]`` to the running installation of llmring."""
    return install_command(extra, _origin())


def install_command(extra: str, origin: Mapping[str, Any] | None) -> str:
    """The command for ``extra`` given the installation's ``direct_url.json`` (``None``: an
    index install). A pure function, so every kind of origin can be tested."""
    url = origin.get("url") if origin else None
    if not isinstance(url, str) or not url:
        return f"pip install {shlex.quote(f'{DISTRIBUTION}[{extra}]')}"
    dir_info = origin.get("dir_info") if origin else None
    if isinstance(dir_info, Mapping) and url.startswith("file:"):
        editable = "-e " if dir_info.get("editable") else ""
        return f"pip install {editable}{shlex.quote(f'{_local_path(url)}[{extra}]')}"
    vcs_info = origin.get("vcs_info") if origin else None
    if isinstance(vcs_info, Mapping) and vcs_info.get("vcs"):
        revision = vcs_info.get("commit_id")
        url = f"{vcs_info['vcs']}+{url}" + (f"@{revision}" if revision else "")
    return f"pip install {shlex.quote(f'{DISTRIBUTION}[{extra}] @ {url}')}"


def _local_path(url: str) -> str:
    from urllib.parse import unquote, urlparse
    from urllib.request import url2pathname

    return url2pathname(unquote(urlparse(url).path))


@functools.cache
def _origin() -> dict[str, Any] | None:
    """The installed distribution's ``direct_url.json``; for a checkout run without being
    installed (``PYTHONPATH=src``), an editable install of that checkout is the right advice."""
    import json
    from importlib import metadata
    from pathlib import Path

    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        root = Path(__file__).resolve().parents[2]
        if (root / "pyproject.toml").is_file():
            return {"url": root.as_uri(), "dir_info": {"editable": True}}
        return None
    if not text:
        return None
    try:
        origin = json.loads(text)
    except ValueError:
        return None
    return origin if isinstance(origin, dict) else None
