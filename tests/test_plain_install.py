"""A plain install (``pip install llmring``, no extras) works: no SDK is required to start.

Every test here runs twice in CI: in the development venv, where the SDKs are installed and
the ``no_sdks`` fixture makes them look absent, and in ``.venv-plain`` (``pip install .`` and
the test runner only, see scripts/check-plain-install), where they are absent for real. So
this module imports nothing beyond llmring, pytest, typer and the standard library.

A package looks absent the way Python itself spells it: ``sys.modules[name] = None`` makes
``import name`` raise ``ModuleNotFoundError`` and ``importlib.util.find_spec(name)`` return
``None``, and ``find_spec("google.genai")`` raise, exactly as when ``google`` is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmring import LLMRequest, LLMRing, Message
from llmring._configs import provider_configs
from llmring._install import install_hint
from llmring.exceptions import (
    ProviderAuthenticationError,
    ProviderUnavailableError,
)
from llmring.providers import _registry
from llmring.providers._registry import Unavailable, unavailable
from tests.helpers import assert_user_error, run, write_lockfile

SDK_PACKAGES = ("openai", "anthropic", "google", "ollama")
#: provider → (a model, the key variable to set (None: keyless), the pip extra)
PROVIDERS = {
    "openai": ("gpt-5-mini", "OPENAI_API_KEY", "openai"),
    "openai-responses": ("gpt-5", "OPENAI_API_KEY", "openai"),
    "anthropic": ("claude-haiku-4-5", "ANTHROPIC_API_KEY", "anthropic"),
    "google": ("gemini-2.5-flash", "GEMINI_API_KEY", "google"),
    "ollama": ("llama3.2", None, "ollama"),
}
DUMMY_KEY = "x"


def hide_packages(monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...]) -> None:
    """Make ``names`` (and their submodules) look uninstalled until the test ends; the
    registry's memory of SDKs it found installed starts empty too."""
    for loaded in [m for m in sys.modules if m.split(".")[0] in names]:
        monkeypatch.delitem(sys.modules, loaded)
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setattr(_registry, "_installed", set())


@pytest.fixture
def no_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    hide_packages(monkeypatch, SDK_PACKAGES)


@pytest.fixture
def dummy_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every key set, so the only thing missing is the SDK (the issue's ``GEMINI_API_KEY=x``)."""
    for _, env, _ in PROVIDERS.values():
        if env:
            monkeypatch.setenv(env, DUMMY_KEY)


def sdk_missing(provider: str) -> str:
    """What the registry says about a provider whose SDK is missing, hint included."""
    return f"package is not installed; run: {install_hint(PROVIDERS[provider][2])}"


pytestmark = [pytest.mark.plain, pytest.mark.usefixtures("no_sdks")]
providers = pytest.mark.parametrize("provider", list(PROVIDERS))


# -- the one rule -------------------------------------------------------------------------------


@providers
def test_the_rule_says_the_sdk_is_missing_even_with_a_key(provider: str, dummy_keys: None) -> None:
    # google.genai's parent package "google" is missing too: find_spec raised before
    why = unavailable(provider_configs()[provider])
    assert why is not None and why.kind == "missing_sdk"
    assert sdk_missing(provider) in why.reason
    error = why.error(provider, "m")
    assert type(error) is ProviderUnavailableError and error.retryable
    assert install_hint(PROVIDERS[provider][2]) in str(error)


def test_an_sdk_installed_after_the_hint_is_seen_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _registry.ProviderSpec(
        "ghost",
        "llmring.providers.mock:MockAdapter",
        sdk_module="ghost_sdk.client",
        pip_extra="ghost",
    )
    monkeypatch.setitem(_registry.BUILTIN_PROVIDERS, "ghost", spec)
    config = provider_configs()["ghost"]
    why = unavailable(config)
    assert why is not None and why.kind == "missing_sdk"  # the parent package is missing too
    package = tmp_path / "ghost_sdk"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "client.py").write_text("")
    monkeypatch.syspath_prepend(tmp_path)  # what `pip install` does, as far as import can tell
    try:
        assert unavailable(config) is None
    finally:
        sys.modules.pop("ghost_sdk", None)  # imported by find_spec, as the parent of .client


@providers
def test_resolve_calls_a_candidate_without_its_sdk_unusable(
    provider: str, dummy_keys: None
) -> None:
    model = PROVIDERS[provider][0]
    [candidate] = LLMRing().resolve(f"{provider}:{model}")
    assert not candidate.usable
    assert candidate.unavailable is not None and candidate.unavailable.kind == "missing_sdk"
    assert candidate.problem is not None and sdk_missing(provider) in candidate.problem


def test_a_missing_key_is_its_own_kind(monkeypatch: pytest.MonkeyPatch, project: Path) -> None:
    write_lockfile(
        project / "llmring.lock",
        {"k": ["keyed:m"]},
        '\n[providers.keyed]\ntype = "mock"\napi_key_env = "KEYED_KEY"\n',
    )
    [candidate] = LLMRing().resolve("k")
    assert candidate.unavailable == Unavailable("missing_key", "KEYED_KEY is not set")
    error = candidate.unavailable.error("keyed", "m")
    assert type(error) is ProviderAuthenticationError and error.retryable  # skipped, not raised


def test_providers_lists_each_missing_sdk_with_its_install_command(dummy_keys: None) -> None:
    statuses = {s.name: s for s in LLMRing().providers()}
    for provider in PROVIDERS:
        assert not statuses[provider].usable
        reason = statuses[provider].reason
        assert reason is not None and sdk_missing(provider) in reason
    assert statuses["mock"].usable and statuses["mock"].reason is None


def test_providers_reports_the_sdk_before_the_key() -> None:
    # no key and no SDK: setting the key would not help, installing comes first
    statuses = {s.name: s for s in LLMRing().providers()}
    for provider in PROVIDERS:
        reason = statuses[provider].reason
        assert reason is not None and sdk_missing(provider) in reason


def test_capabilities_pick_a_usable_candidate_or_say_what_to_install(dummy_keys: None) -> None:
    ring = LLMRing()
    assert ring.capabilities("chatbot").provider == "mock"  # the bundled default's last model
    with pytest.raises(ProviderUnavailableError) as caught:
        ring.capabilities("google:gemini-2.5-flash")
    assert sdk_missing("google") in str(caught.value)


# -- the stream -----------------------------------------------------------------------------


def _request(model: str) -> LLMRequest:
    return LLMRequest(model=model, messages=[Message(role="user", content="hi")])


@providers
async def test_the_stream_raises_unavailable_with_the_hint(provider: str, dummy_keys: None) -> None:
    model = PROVIDERS[provider][0]
    async with LLMRing() as ring:
        with pytest.raises(ProviderUnavailableError) as caught:
            await ring.chat(_request(f"{provider}:{model}"))
    assert (caught.value.provider, caught.value.model) == (provider, model)
    assert sdk_missing(provider) in str(caught.value)


@providers
async def test_an_alias_skips_a_model_without_its_sdk(
    provider: str, dummy_keys: None, project: Path
) -> None:
    ref = f"{provider}:{PROVIDERS[provider][0]}"
    write_lockfile(project / "llmring.lock", {"chatbot": [ref, "mock:chatbot"]})
    async with LLMRing() as ring, ring.chat_stream(_request("chatbot")) as stream:
        chunks = [chunk async for chunk in stream]
    terminal = chunks[-1]
    assert terminal.provider == "mock" and "".join(c.delta for c in chunks)
    [attempt] = terminal.metadata["failed_attempts"]
    assert attempt["model"] == ref and sdk_missing(provider) in attempt["error"]


# -- the command line (the four commands, for every provider) --------------------------


def test_cli_providers_exits_0(dummy_keys: None) -> None:
    result = run("providers")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    for provider in PROVIDERS:
        assert (
            f"unavailable: the {_sdk_module(provider)!r} {sdk_missing(provider)}" in lines[provider]
        )
    assert lines["mock"].split()[1:] == ["usable"]


def _sdk_module(provider: str) -> str:
    return {"google": "google.genai", "openai-responses": "openai"}.get(provider, provider)


def test_cli_chat_bundled_chatbot_falls_back_to_mock_with_the_hints(dummy_keys: None) -> None:
    result = run("chat", "chatbot", "hi")
    assert result.exit_code == 0, result.output
    assert "mock:chatbot" in result.stdout
    for ref in ("anthropic:claude-haiku-4-5", "openai:gpt-5-mini", "google:gemini-2.5-flash"):
        provider = ref.split(":")[0]
        assert (
            f"fell back from {ref} (the {_sdk_module(provider)!r} {sdk_missing(provider)})"
            in result.stderr
        )


@providers
def test_cli_chat_provider_model_exits_3_with_the_hint(provider: str, dummy_keys: None) -> None:
    ref = f"{provider}:{PROVIDERS[provider][0]}"
    assert_user_error(run("chat", ref, "hi"), f"{ref}: ", sdk_missing(provider), code=3)


@providers
def test_cli_bind_writes_the_binding_and_notes_the_hint(
    provider: str, dummy_keys: None, project: Path
) -> None:
    ref = f"{provider}:{PROVIDERS[provider][0]}"
    result = run("bind", "g", ref)
    assert result.exit_code == 0, result.output
    assert f"note: {ref} cannot be used yet: " in result.stderr
    assert sdk_missing(provider) in result.stderr
    assert f'models = ["{ref}"]' in (project / "llmring.lock").read_text(encoding="utf-8")


def test_a_fresh_interpreter_without_sdks_runs_the_cli(project: Path) -> None:
    # Nothing imported before the packages are hidden: the console script's own path.
    hide = f"import sys; sys.modules.update(dict.fromkeys({SDK_PACKAGES!r}))"
    script = f"{hide}\nfrom llmring.cli import main\nsys.argv = ['llmring', 'providers']\nmain()"
    env = {**os.environ, "GEMINI_API_KEY": DUMMY_KEY, "OPENAI_API_KEY": DUMMY_KEY}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=project,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert sdk_missing("google") in result.stdout and sdk_missing("openai") in result.stdout
