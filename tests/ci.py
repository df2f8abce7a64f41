"""What a test needs from the machine beyond Python packages, and what its absence means.

A few tests start real programs that the product talks to in production (a browser, a model
server). On a developer's machine a missing one skips those tests, with the reason and how to
install it. Under CI (``LLMRING_CI=1``, which ``.ci/run`` exports) CI has installed them, so a
missing one means the run did not test what it claims: the test fails instead.
"""

from __future__ import annotations

import os

import pytest

#: read once, at import: tests/conftest.py clears every ``LLMRING_*`` variable inside a test
IN_CI = os.environ.get("LLMRING_CI") == "1"


def require_or_skip(available: bool, reason: str) -> None:
    """Skip the calling test when ``available`` is false; under CI, fail it."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason}; LLMRING_CI=1, so a missing requirement is a failure", pytrace=False)
    pytest.skip(reason)
