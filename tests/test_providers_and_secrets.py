"""The provider registry, provider status, secret scrubbing and the no-network guard."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from llmring import LLMRing
from llmring._configs import lookup, provider_configs
from llmring._install import install_hint
from llmring.exceptions import (
    ConfigurationError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderUnavailableError,
)
from llmring.providers import _registry
from llmring.providers._registry import ProviderSpec, load_adapter
from llmring.providers.base import ProviderConfig
from tests.conftest import NetworkAccessError
from tests.helpers import write_lockfile

SECRET = "sk-test-Zq8RkL2mNp4Vx7Yt1Wb9Hc3Jd6Ff0Gg"


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ProviderNotFoundError) as caught:
        lookup("nope", provider_configs())
    assert isinstance(caught.value, ConfigurationError)
    assert (
        "unknown provider 'nope'; known providers: anthropic, google, mock, ollama, openai"
        in str(caught.value)
    )
    assert "[providers.nope]" in str(caught.value)


def test_missing_sdk_gives_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ProviderSpec(
        "ghost",
        "llmring.providers.mock:MockAdapter",
        sdk_module="ghost_sdk_not_installed",
        pip_extra="ghost",
    )
    monkeypatch.setitem(_registry.BUILTIN_PROVIDERS, "ghost", spec)
    config = provider_configs()["ghost"]
    with pytest.raises(ProviderUnavailableError) as caught:
        load_adapter(config)
    assert f"run: {install_hint('ghost')}" in str(caught.value)
    assert caught.value.retryable  # an alias may fall back to a provider that is installed
    assert _registry.unavailable(config) == _registry.Unavailable(
        "missing_sdk",
        f"the 'ghost_sdk_not_installed' package is not installed; run: {install_hint('ghost')}",
    )


def test_lockfile_provider_entries_become_configs(project: Path) -> None:
    extra = (
        '\n[providers.local]\ntype = "mock"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'api_key_env = "LOCAL_KEY"\n\n[providers.open]\ntype = "mock"\n'
    )
    write_lockfile(project / "llmring.lock", {"chatbot": ["local:m"]}, extra)
    ring = LLMRing()
    statuses = {s.name: s for s in ring.providers()}
    builtin = {"anthropic", "openai", "openai-responses", "google", "ollama", "mock"}
    assert set(statuses) == builtin | {"local", "open"}
    assert statuses["local"].usable is False and statuses["local"].reason == "LOCAL_KEY is not set"
    assert statuses["local"].base_url == "http://127.0.0.1:9/v1"
    assert statuses["open"].usable and statuses["open"].reason is None  # keyless endpoint


def test_provider_config_reads_keys_late_and_never_shows_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = ProviderConfig("p", "mock", key_envs=("P_API_KEY",), key_required=True)
    assert config.credentials_problem() == "P_API_KEY is not set"
    monkeypatch.setenv("P_API_KEY", SECRET)
    assert config.api_key() == SECRET and config.credentials_problem() is None
    assert SECRET not in repr(config)


def test_error_messages_are_scrubbed_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plain-looking-secret-value")
    error = ProviderRateLimitError(
        f"Incorrect API key provided: {SECRET}; also plain-looking-secret-value",
        provider="openai",
        model="gpt",
        status_code=429,
    )
    text = str(error)
    assert SECRET not in text and "plain-looking-secret-value" not in text
    assert text == "openai:gpt: Incorrect API key provided: ***; also *** (HTTP 429)"


def test_lockfile_key_env_names_are_registered_as_secrets(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = '\n[providers.corp]\ntype = "mock"\napi_key_env = "CORP_CREDENTIAL"\n'
    write_lockfile(project / "llmring.lock", {"chatbot": ["corp:m"]}, extra)
    monkeypatch.setenv("CORP_CREDENTIAL", "corp-credential-value-123")
    LLMRing()
    assert "corp-credential-value-123" not in str(ProviderError("echoed corp-credential-value-123"))


def test_the_network_guard_refuses_other_hosts() -> None:
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock,
        pytest.raises(NetworkAccessError),
    ):
        sock.connect(("93.184.216.34", 443))
    with pytest.raises(NetworkAccessError):
        socket.getaddrinfo("example.com", 443)


def test_the_network_guard_allows_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=2):
            pass


# -- each provider package declares itself ------------------------------------------------------


def test_the_registry_is_the_list_of_provider_packages() -> None:
    # a package is named after its type, with "_" for "-" (openai_responses: openai-responses)
    names = [module.rsplit(".", 1)[1].replace("_", "-") for module in _registry.PROVIDER_MODULES]
    assert list(_registry.BUILTIN_PROVIDERS) == names
    for module, name in zip(_registry.PROVIDER_MODULES, names, strict=True):
        spec = _registry.BUILTIN_PROVIDERS[name]
        assert spec.type == name and spec.adapter.startswith(f"{module}.")


def test_declaring_the_providers_imports_no_sdk_and_no_adapter() -> None:
    # every package's SPEC is read when a lockfile is; that must cost no SDK import
    code = (
        "import sys\nfrom llmring import LLMRing\nLLMRing()\n"
        "from llmring.providers._registry import BUILTIN_PROVIDERS\n"
        "assert len(BUILTIN_PROVIDERS) == 6\n"
        "print('\\n'.join(sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    loaded = set(result.stdout.split())
    assert not {"openai", "anthropic", "google.genai", "ollama", "httpx2"} & loaded
    assert not [m for m in loaded if m.endswith("._adapter")]
    assert "llmring.providers.base" not in loaded  # the stream template: loaded by adapters


async def test_a_package_spec_names_the_adapter_made_on_first_use() -> None:
    adapter = load_adapter(provider_configs()["mock"])
    assert type(adapter).__module__ == "llmring.providers.mock._adapter"
    await adapter.aclose()
