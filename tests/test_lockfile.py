"""The lockfile subsystem (DESIGN.md §3), offline.

Covers: loading llmring's existing format (legacy ``provider``/``model`` bindings, extra keys,
``bindings = []``); byte-preserving edits with ``set_binding`` (``edit_lockfile``) and
``remove_binding`` (``rewrite_lockfile``): comments, spacing, CRLF, no timestamps, no-op
rewrites; every validation error (``LockfileParseError`` naming file, line, profile, alias and
key; keys never echoed);
``[providers.<name>]`` tables; discovery (explicit → env → nearest up to the project root →
bundled) and ``write_target``; profile selection in ``Lockfile`` and ``Resolver``;
``atomic_write``; and the ``lock init`` template.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tomlkit import TOMLDocument

from llmring._configs import provider_configs
from llmring.exceptions import (
    ConfigurationError,
    LockfileError,
    LockfileParseError,
)
from llmring.lockfile import (
    Binding,
    ModelRef,
    ProviderEntry,
    edit_lockfile,
    load_lockfile,
    remove_binding,
    rewrite_lockfile,
    set_binding,
)
from llmring.providers._registry import BUILTIN_PROVIDERS
from llmring.resolver import Resolver
from llmring.schemas import StreamTimeouts
from tests.lockfile_samples import BIND, COMMENTED, HEAD, _write

KNOWN = ", ".join(sorted(BUILTIN_PROVIDERS))  # built-in provider names, as errors list them

# A real lockfile of the original project; the two [providers] tables make its names known.
LEGACY = """\
version = "1.0"
created_at = "2025-08-20T10:00:52.134398+00:00"
updated_at = "2025-08-20T10:00:52.142349+00:00"
default_profile = "default"

[metadata]
description = "x"

[profiles.default]
name = "default"
[[profiles.default.bindings]]
alias = "long_context"
provider = "openai"
model = "gpt-4-turbo-preview"

[[profiles.default.bindings]]
alias = "advisor"
models = ["anthropic:claude-opus-4-1-20250805"]

[profiles.prod]
name = "prod"
bindings = []

[profiles.default.registry_versions]

[providers.openai]
type = "mock"

[providers.anthropic]
type = "mock"
"""

CHATBOT_LINE = 'models = ["mock:a", "mock:b"]   # primary then fallback'
FAST_BLOCK = '[[profiles.default.bindings]]\nalias = "fast"\nmodels = [ "mock:fast" ]\n\n'


def _edit(path: Path, profile: str, alias: str, models: list[str]) -> None:
    def change(document: TOMLDocument) -> None:
        set_binding(document, profile, alias, models)

    edit_lockfile(path, change)


def test_loads_the_original_file_without_provider_tables(project: Path) -> None:
    assert {"openai", "anthropic"} <= set(BUILTIN_PROVIDERS)
    path = _write(project / "llmring.lock", LEGACY.split("[providers.openai]")[0])
    lockfile = load_lockfile(path)
    assert (lockfile.version, lockfile.default_profile, dict(lockfile.providers)) == (
        "1.0",
        "default",
        {},
    )
    assert lockfile.profile("default").bindings["long_context"].models == (
        ModelRef("openai", "gpt-4-turbo-preview"),
    )


def test_loads_the_original_projects_format_unchanged(project: Path) -> None:
    lockfile = load_lockfile(_write(project / "llmring.lock", LEGACY))
    assert (lockfile.path, lockfile.version, lockfile.default_profile, lockfile.bundled) == (
        project / "llmring.lock",
        "1.0",
        "default",
        False,
    )
    assert list(lockfile.profiles) == ["default", "prod"]
    assert dict(lockfile.profile("default").bindings) == {
        "long_context": Binding("long_context", (ModelRef("openai", "gpt-4-turbo-preview"),)),
        "advisor": Binding("advisor", (ModelRef("anthropic", "claude-opus-4-1-20250805"),)),
    }
    assert dict(lockfile.profile("prod").bindings) == {}
    assert dict(lockfile.providers) == {
        "openai": ProviderEntry("openai", "mock"),
        "anthropic": ProviderEntry("anthropic", "mock"),
    }


def test_rebinding_changes_only_the_models_value_and_keeps_its_comment(project: Path) -> None:
    path = _write(project / "llmring.lock", COMMENTED)
    _edit(path, "default", "chatbot", ["mock:x", "mock:y"])
    new_line = 'models = ["mock:x", "mock:y"]   # primary then fallback'
    assert path.read_text(encoding="utf-8") == COMMENTED.replace(CHATBOT_LINE, new_line)
    assert load_lockfile(path).profile().bindings["chatbot"].models == (
        ModelRef("mock", "x"),
        ModelRef("mock", "y"),
    )


def test_new_alias_appends_a_bindings_table_after_the_profiles_last(project: Path) -> None:
    path = _write(project / "llmring.lock", COMMENTED)
    _edit(path, "default", "deep", ["mock:deep"])
    head, tail = COMMENTED.split("[profiles.prod]")
    added = '[[profiles.default.bindings]]\nalias = "deep"\nmodels = ["mock:deep"]\n\n'
    assert path.read_text(encoding="utf-8") == head + added + "[profiles.prod]" + tail
    assert list(load_lockfile(path).profile().bindings) == ["chatbot", "fast", "deep"]


def test_binding_into_a_new_profile_creates_it_with_a_name(project: Path) -> None:
    path = _write(project / "llmring.lock", COMMENTED)
    _edit(path, "staging", "s1", ["mock:s"])
    text = path.read_text(encoding="utf-8")
    assert text.startswith(COMMENTED)
    assert '[profiles.staging]\nname = "staging"\n' in text[len(COMMENTED) :]
    profile = load_lockfile(path).profile("staging")
    assert profile.name == "staging"
    assert dict(profile.bindings) == {"s1": Binding("s1", (ModelRef("mock", "s"),))}
    assert list(load_lockfile(path).profiles) == ["default", "prod", "staging"]


def test_rebinding_a_legacy_binding_rewrites_it_to_models(project: Path) -> None:
    path = _write(project / "llmring.lock", LEGACY)
    _edit(path, "default", "long_context", ["anthropic:claude-x", "openai:gpt-4o"])
    expected = LEGACY.replace(
        'provider = "openai"\nmodel = "gpt-4-turbo-preview"\n',
        'models = ["anthropic:claude-x", "openai:gpt-4o"]\n',
    )
    assert path.read_text(encoding="utf-8") == expected


def test_edit_adds_no_timestamps_and_keeps_extra_keys(project: Path) -> None:
    path = _write(project / "llmring.lock", LEGACY)
    _edit(path, "default", "advisor", ["openai:gpt-4o"])
    assert path.read_text(encoding="utf-8") == LEGACY.replace(
        'models = ["anthropic:claude-opus-4-1-20250805"]', 'models = ["openai:gpt-4o"]'
    )


def test_empty_bindings_array_profile_gets_a_binding(project: Path) -> None:
    path = _write(project / "llmring.lock", LEGACY)
    _edit(path, "prod", "p1", ["openai:gpt-4o"])
    text = path.read_text(encoding="utf-8")
    head, tail = LEGACY.split("bindings = []\n")  # the bytes outside the prod table stay
    assert text.startswith(head) and text.endswith(tail)
    assert text[len(head) : -len(tail)].strip() == (
        '[[profiles.prod.bindings]]\nalias = "p1"\nmodels = ["openai:gpt-4o"]'
    )
    lockfile = load_lockfile(path)
    assert dict(lockfile.profile("prod").bindings) == {
        "p1": Binding("p1", (ModelRef("openai", "gpt-4o"),))
    }
    assert list(lockfile.profile("default").bindings) == ["long_context", "advisor"]


def _remove(path: Path, profile: str, alias: str) -> bool:
    """Unbind through ``rewrite_lockfile`` as ``llmring unbind`` does; ``True`` when bound."""
    found: list[bool] = []

    def produce(current: str | None) -> str:
        assert current is not None
        new = remove_binding(current, profile, alias)
        found.append(new is not None)
        return current if new is None else new

    rewrite_lockfile(path, produce)
    return found[0]


def test_remove_binding_removes_exactly_that_table_and_its_own_comment(project: Path) -> None:
    path = _write(project / "llmring.lock", COMMENTED)
    assert _remove(path, "default", "fast") is True
    expected = COMMENTED.replace("    # fast (an indented comment)\n" + FAST_BLOCK, "")
    assert path.read_text(encoding="utf-8") == expected
    assert list(load_lockfile(path).profile().bindings) == ["chatbot"]


def test_remove_binding_keeps_the_next_bindings_comment(project: Path) -> None:
    path = _write(project / "llmring.lock", COMMENTED)
    assert _remove(path, "default", "chatbot") is True
    block = (
        "# chatbot: general chat\n[[profiles.default.bindings]]\n"
        f'alias   =   "chatbot"\n{CHATBOT_LINE}\n\n'
    )
    assert path.read_text(encoding="utf-8") == COMMENTED.replace(block, "")


def test_remove_binding_of_an_unbound_alias_changes_nothing(project: Path) -> None:
    path = _write(project / "llmring.lock", COMMENTED)
    before = path.stat()
    assert remove_binding(COMMENTED, "default", "nope") is None
    assert remove_binding(COMMENTED, "ghost", "chatbot") is None
    assert _remove(path, "default", "nope") is False
    assert path.read_text(encoding="utf-8") == COMMENTED
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_rebinding_in_a_crlf_file_keeps_crlf(project: Path) -> None:
    crlf = COMMENTED.replace("\n", "\r\n").encode()
    path = project / "llmring.lock"
    path.write_bytes(crlf)
    _edit(path, "default", "chatbot", ["mock:x"])
    new_line = b'models = ["mock:x"]   # primary then fallback'
    crlf = crlf.replace(CHATBOT_LINE.encode(), new_line)
    assert path.read_bytes() == crlf
    assert _remove(path, "default", "fast") is True
    fast = ("    # fast (an indented comment)\n" + FAST_BLOCK).replace("\n", "\r\n").encode()
    assert path.read_bytes() == crlf.replace(fast, b"")


def test_adding_a_binding_to_a_crlf_file_writes_only_crlf_line_ends(project: Path) -> None:
    path = project / "llmring.lock"
    path.write_bytes(COMMENTED.replace("\n", "\r\n").encode())
    _edit(path, "default", "deep", ["mock:deep"])
    _edit(path, "staging", "s1", ["mock:s"])
    data = path.read_bytes()
    assert b'alias = "deep"\r\nmodels = ["mock:deep"]\r\n' in data
    assert b"\n" not in data.replace(b"\r\n", b""), "bare LF line ends mixed into a CRLF file"


def test_same_edit_twice_is_byte_identical_and_not_rewritten(project: Path) -> None:
    path = _write(project / "llmring.lock", COMMENTED)
    _edit(path, "default", "fast", ["mock:quick", "mock:fast"])
    first, stat1 = path.read_bytes(), path.stat()
    _edit(path, "default", "fast", ["mock:quick", "mock:fast"])
    stat2 = path.stat()
    assert path.read_bytes() == first
    assert (stat2.st_ino, stat2.st_mtime_ns) == (stat1.st_ino, stat1.st_mtime_ns)


def test_an_edit_that_fails_validation_leaves_the_file_untouched(project: Path) -> None:
    path = _write(project / "llmring.lock", COMMENTED)
    with pytest.raises(LockfileParseError) as info:
        _edit(path, "default", "chatbot", ["nope:gpt-4o"])
    assert "unknown provider 'nope'" in str(info.value) and info.value.path == str(path)
    assert path.read_text(encoding="utf-8") == COMMENTED
    # only the file, and the (empty) inter-process lock file: no temp file left behind
    assert sorted(p.name for p in project.iterdir()) == [
        ".git",
        ".llmring.lock.lck",
        "llmring.lock",
    ]


PROV = BIND + 'models = ["mock:a"]\n\n[providers.local]\n'
TWICE = (
    'models = ["mock:a"]\n[[profiles.staging.bindings]]\nalias = "helper"\nmodels = ["mock:b"]\n'
)


def _parse_error(path: Path, text: str, line: int) -> LockfileParseError:
    """The error loading ``text`` raises; it names the file and the ``line`` of the problem."""
    _write(path, text)
    with pytest.raises(LockfileParseError) as info:
        load_lockfile(path)
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert (error.path, error.line) == (str(path), line)
    assert str(error).startswith(f"{path}:{line}: ")
    return error


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment"),
    [
        (
            "default_profile = 3\n",
            1,
            "default_profile",
            "default_profile: must be a non-empty string",
        ),
        ("version = 1\n", 1, "version", "version: must be a non-empty string, got 1"),
        ("profiles = 3\n", 1, "profiles", "profiles: must be a table"),
        ("[profiles]\nstaging = 3\n", 2, "profiles.staging", "profile 'staging': must be a table"),
        (HEAD + 'bindings = "x"\n', 6, "bindings", "profile 'staging': bindings must be an array"),
        (
            HEAD + "bindings = [1]\n",
            6,
            "bindings",
            "profile 'staging': each binding must be a table",
        ),
        ("providers = 3\n", 1, "providers", "providers: must be a table"),
    ],
)
def test_wrong_shapes_raise_parse_error(
    project: Path, text: str, line: int, key: str, fragment: str
) -> None:
    error = _parse_error(project / "llmring.lock", text, line)
    assert error.key == key
    assert fragment in str(error)


@pytest.mark.parametrize(
    ("body", "line", "key", "fragment"),
    [
        ('models = "mock:a"\n', 8, "models", 'models must be a list like ["openai:gpt-4o"], got'),
        ("models = []\n", 8, "models", "models is empty"),
        ('models = [""]\n', 8, "models", "a model reference is empty"),
        ('models = ["openai"]\n', 8, "models", "'openai' is not a model reference"),
        ('models = [":gpt"]\n', 8, "models", "':gpt' is not a model reference"),
        ('models = ["mock:"]\n', 8, "models", "'mock:' is not a model reference"),
        ('models = ["mock: x"]\n', 8, "models", "'mock: x' is not a valid model reference"),
        (
            'models = ["mock:a", "nope:b"]\n',
            8,
            "models",
            f"unknown provider 'nope' in 'nope:b' (known: {KNOWN})",
        ),
        (TWICE, 10, "alias", "alias 'helper' is bound twice"),
    ],
    ids=[
        "str",
        "empty-list",
        "empty-ref",
        "no-colon",
        "no-provider",
        "no-model",
        "space",
        "unknown-provider",
        "bound-twice",
    ],
)
def test_bad_binding_names_profile_alias_and_key(
    project: Path, body: str, line: int, key: str, fragment: str
) -> None:
    error = _parse_error(project / "llmring.lock", BIND + body, line)
    assert error.key == key
    assert "profile 'staging'" in str(error) and "alias 'helper'" in str(error)
    assert fragment in str(error)
    assert key in str(error), f"DESIGN §3: the message must name the offending key {key!r}"


@pytest.mark.parametrize("alias", ["", "   ", "a:b"])
def test_bad_alias_is_refused(project: Path, alias: str) -> None:
    text = HEAD + f'[[profiles.staging.bindings]]\nalias = "{alias}"\nmodels = ["mock:a"]\n'
    error = _parse_error(project / "llmring.lock", text, 7)
    assert error.key == "alias"
    assert (
        f"profile 'staging': binding alias {alias!r} must be a non-empty name without ':'"
        in str(error)
    )


def test_an_alias_that_loads_can_be_resolved(project: Path) -> None:
    """A binding the parser accepts must be reachable: ' chat ' is refused or usable as 'chat'."""
    text = HEAD + '[[profiles.staging.bindings]]\nalias = " chat "\nmodels = ["mock:a"]\n'
    path = _write(project / "llmring.lock", text)
    try:
        lockfile = load_lockfile(path)
    except LockfileParseError as error:
        assert (error.key, error.path) == ("alias", str(path))
        return
    resolver = Resolver(lockfile, provider_configs(lockfile.providers), profile="staging")
    assert [candidate.ref for candidate in resolver.resolve("chat")] == ["mock:a"]


@pytest.mark.parametrize(
    ("body", "line", "key", "fragment"),
    [
        ('type = "mock"\nbase_ur = "http://x"\n', 12, "base_ur", "unknown key 'base_ur'"),
        ('type = "nope"\n', 11, "type", f"type 'nope' is not a provider type (one of: {KNOWN})"),
        ('base_url = "http://x"\n', 10, "type", "type 'local' is not a provider type"),
        (
            'type = "mock"\nbase_url = "ftp://h/v1"\n',
            12,
            "base_url",
            "base_url must start with http://",
        ),
        (
            'type = "mock"\ntimeout = "5"\n',
            12,
            "timeout",
            "timeout must be a number of seconds >= 0",
        ),
        ('type = "mock"\nidle_timeout = -1\n', 12, "idle_timeout", "idle_timeout must be a number"),
        ('type = "mock"\nfirst_chunk_timeout = true\n', 12, "first_chunk_timeout", "got True"),
        (
            'type = "mock"\nmax_retries = -1\n',
            12,
            "max_retries",
            "max_retries must be a whole number",
        ),
        ('type = "mock"\nmax_retries = 1.5\n', 12, "max_retries", "got 1.5"),
    ],
)
def test_bad_providers_table_names_it_and_the_key(
    project: Path, body: str, line: int, key: str, fragment: str
) -> None:
    error = _parse_error(project / "llmring.lock", PROV + body, line)
    assert error.key == key
    assert "[providers.local]: " in str(error)
    assert fragment in str(error)


def test_malformed_toml_names_the_line(project: Path) -> None:
    text = HEAD + '[[profiles.staging.bindings]]\nalias = = "x"\nmodels = ["mock:a"]\n'
    assert text.splitlines()[6] == 'alias = = "x"'
    path = _write(project / "llmring.lock", text)
    with pytest.raises(LockfileParseError) as info:
        load_lockfile(path)
    assert (info.value.line, info.value.path, info.value.key) == (7, str(path), None)
    assert str(info.value).startswith(f"{path}:7:") and "invalid TOML" in str(info.value)


@pytest.mark.parametrize("secret", ["sk-abcdefghijklmnopqrstuvwxyz012345", "hunter2-horse"])
def test_api_key_in_a_providers_table_is_refused_without_echoing_it(
    project: Path, secret: str
) -> None:
    error = _parse_error(
        project / "llmring.lock", PROV + f'type = "mock"\napi_key = "{secret}"\n', 12
    )
    assert error.key == "api_key"
    assert "[providers.local]: never put an API key in the lockfile" in str(error)
    assert secret not in str(error) and secret not in repr(error.args)


@pytest.mark.parametrize("value", ["sk-abcdefghijklmnopqrstuvwxyz012345", "my key", "1KEY"])
def test_api_key_env_must_be_a_variable_name(project: Path, value: str) -> None:
    text = PROV + f'type = "mock"\napi_key_env = "{value}"\n'
    error = _parse_error(project / "llmring.lock", text, 12)
    assert error.key == "api_key_env"
    assert "[providers.local]: api_key_env takes the NAME of an environment variable" in str(error)
    assert value not in str(error)


def test_providers_table_parses_into_a_provider_entry(project: Path) -> None:
    text = BIND + (
        'models = ["local:anything", "mock:b"]\n\n[providers.local]\ntype = "mock"\n'
        'base_url = "http://127.0.0.1:9/v1"\napi_key_env = "LOCAL_KEY"\n'
        "timeout = 5\nidle_timeout = 1\nmax_retries = 2\n"
    )
    lockfile = load_lockfile(_write(project / "llmring.lock", text))
    timeouts = StreamTimeouts(total=5.0, idle=1.0)
    entry = ProviderEntry("local", "mock", "http://127.0.0.1:9/v1", "LOCAL_KEY", timeouts, 2)
    assert dict(lockfile.providers) == {"local": entry}
    assert lockfile.profile("staging").bindings["helper"].models == (
        ModelRef("local", "anything"),
        ModelRef("mock", "b"),
    )


def test_non_utf8_file_is_a_lockfile_error_naming_it(project: Path) -> None:
    path = project / "llmring.lock"
    path.write_bytes(b'version = "1.0"\n# caf\xe9\n')
    with pytest.raises(LockfileError) as info:
        load_lockfile(path)
    assert info.value.path == str(path)
    assert str(info.value).startswith(f"{path}: not UTF-8")


def test_the_digest_names_the_exact_text_whatever_its_line_endings(tmp_path: Path) -> None:
    text = 'version = "1.0"\n[profiles.default]\nname = "default"\n'
    lf, crlf = tmp_path / "lf.lock", tmp_path / "crlf.lock"
    lf.write_bytes(text.encode())
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert load_lockfile(lf).digest == load_lockfile(crlf).digest == expected
    lf.write_text(text + "# a comment changes the digest\n")
    assert load_lockfile(lf).digest != expected
