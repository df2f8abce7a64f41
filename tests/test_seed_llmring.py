"""llmring 1.x's facade signatures run unchanged: ``chat_stream(request, profile=None)`` and
``chat(request, profile=None)`` resolve the alias in the profile named for that one call."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring.exceptions import ProfileNotFoundError
from llmring.providers.mock import ledger
from tests.lockfile_samples import _write

# "helper" is mock:d in the default profile and mock:p in "prod"
PROFILES = """version = "1.0"
default_profile = "default"

[profiles.default]
name = "default"
[[profiles.default.bindings]]
alias = "helper"
models = ["mock:d"]

[profiles.prod]
name = "prod"
[[profiles.prod.bindings]]
alias = "helper"
models = ["mock:p"]
"""


def ask(text: str = "hi") -> LLMRequest:
    return LLMRequest(model="helper", messages=[Message(role="user", content=text)])


@pytest.fixture
def lockfile(project: Path) -> Path:
    return _write(project / "llmring.lock", PROFILES)


async def test_chat_stream_takes_the_profile_of_one_call(lockfile: Path) -> None:
    async with LLMRing(lockfile) as service:
        async for _ in service.chat_stream(ask(), profile="prod"):
            pass
        assert ledger.last.model == "p"
        async for _ in service.chat_stream(ask(), None):  # positional, as in llmring 1.x
            pass
        assert ledger.last.model == "d"
        assert service.profile == "default"  # the ring's own profile is unchanged


async def test_chat_takes_the_profile_of_one_call(lockfile: Path) -> None:
    async with LLMRing(lockfile, profile="prod") as service:
        response = await service.chat(ask(), profile="default")
        assert response.model == "d"
        assert (await service.chat(ask())).model == "p"


async def test_an_unknown_profile_is_an_error_at_the_call(lockfile: Path) -> None:
    async with LLMRing(lockfile) as service:
        with pytest.raises(
            ProfileNotFoundError, match=r"'qa' is not in .*\(profiles: default, prod\)"
        ):
            service.chat_stream(ask(), profile="qa")
        with pytest.raises(ProfileNotFoundError, match="'qa'"):
            await service.chat(ask(), profile="qa")
    assert ledger.records == []  # nothing was sent
