"""What the lockfile reader refuses, and how it says so: the file and the LINE of the problem.

Covers: unknown keys at every level (with a did-you-mean when one is close, a hint for
``fallback``), the legacy llmring 1.x keys that stay accepted, unknown ``version`` values, a
model listed twice, arrays and strings left open (reported where they were opened), the one
name rule for aliases and profiles (no control, bidi or zero-width characters, no
surrounding spaces), and that the read path never loads ``tomlkit``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmring.exceptions import LockfileParseError
from llmring.lockfile import ModelRef, load_lockfile
from llmring.lockfile._parse import KNOWN_VERSIONS, parse_lockfile
from tests.lockfile_samples import _write

TOP = 'version = "1.0"\ndefault_profile = "default"\n\n[profiles.default]\nname = "default"\n\n'
BINDING = TOP + '[[profiles.default.bindings]]\nalias = "chatbot"\n'  # lines 7 and 8


def _error(project: Path, text: str) -> LockfileParseError:
    path = _write(project / "llmring.lock", text)
    with pytest.raises(LockfileParseError) as info:
        load_lockfile(path)
    assert info.value.path == str(path)
    return info.value


def _assert_at(error: LockfileParseError, project: Path, line: int, *fragments: str) -> None:
    assert error.line == line, str(error)
    assert str(error).startswith(f"{project / 'llmring.lock'}:{line}: "), str(error)
    for fragment in fragments:
        assert fragment in str(error), str(error)


# -- unknown keys -----------------------------------------------------------------------------

UNKNOWN = {
    "binding-model-for-models": (
        BINDING + 'model = ["mock:a"]\n',
        9,
        "model",
        ["profile 'default'", "unknown key 'model'", "did you mean 'models'?"],
    ),
    "binding-fallback": (
        BINDING + 'models = ["mock:a"]\nfallback = "mock:b"\n',
        10,
        "fallback",
        ["unknown key 'fallback'", "fallbacks go in a binding's models list"],
    ),
    "binding-misspelt-alias": (
        TOP + '[[profiles.default.bindings]]\naliass = "a"\nmodels = ["mock:a"]\n',
        8,
        "aliass",
        ["did you mean 'alias'?"],
    ),
    "top-level": (
        'version = "1.0"\nmodel = ["mock:a"]\n',
        2,
        "model",
        ["top level: unknown key 'model'", "allowed here: version, default_profile"],
    ),
    "top-level-misspelt": (
        'default_profle = "x"\n',
        1,
        "default_profle",
        ["did you mean 'default_profile'?"],
    ),
    "profile": (
        TOP + 'fallback = ["mock:b"]\n',
        7,
        "fallback",
        ["profile 'default': unknown key 'fallback'", "fallbacks go in"],
    ),
    "profile-dotted": (
        TOP.replace('name = "default"\n', 'name = "default"\nbinding.x = 1\n'),
        6,
        "binding",
        ["profile 'default': unknown key 'binding'", "did you mean 'bindings'?"],
    ),
    "provider-table": (
        '[providers.local]\ntype = "mock"\nbase_ur = "http://x"\n',
        3,
        "base_ur",
        ["[providers.local]: unknown key 'base_ur'", "did you mean 'base_url'?"],
    ),
}


@pytest.mark.parametrize(("text", "line", "key", "fragments"), UNKNOWN.values(), ids=UNKNOWN.keys())
def test_unknown_keys_are_reported_with_file_and_line(
    project: Path, text: str, line: int, key: str, fragments: list[str]
) -> None:
    error = _error(project, text)
    assert error.key == key
    _assert_at(error, project, line, *fragments)


def test_the_legacy_keys_of_llmring_1x_stay_accepted(project: Path) -> None:
    text = (
        'version = "1.0"\ncreated_at = "2025-08-20T10:00:52+00:00"\n'
        'updated_at = 2025-08-20T10:00:52Z\ndefault_profile = "default"\n\n'
        '[metadata]\ndescription = "x"\n\n[profiles.default]\nname = "default"\n\n'
        "[profiles.default.registry_versions]\nopenai = 3\n\n"
        '[[profiles.default.bindings]]\nalias = "old"\nprovider = "mock"\nmodel = "m"\n\n'
        '[[profiles.default.bindings]]\nalias = "new"\nmodels = ["mock:n"]\n'
        "[profiles.default.bindings.constraints]\nmax_tokens = 10\n"
    )
    bindings = load_lockfile(_write(project / "llmring.lock", text)).profile().bindings
    assert {alias: b.models for alias, b in bindings.items()} == {
        "old": (ModelRef("mock", "m"),),
        "new": (ModelRef("mock", "n"),),
    }


def test_the_older_pair_and_models_together_are_refused(project: Path) -> None:
    error = _error(project, BINDING + 'provider = "mock"\nmodel = "m"\nmodels = ["mock:n"]\n')
    _assert_at(error, project, 9, "alias 'chatbot'", "not both")


# -- version ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2.0", "1", "1.0.0", "latest"])
def test_an_unknown_version_is_refused_with_its_line(project: Path, version: str) -> None:
    error = _error(project, f'default_profile = "default"\nversion = "{version}"\n')
    assert error.key == "version"
    _assert_at(error, project, 2, f"unknown format {version!r}", "'1.0'")


def test_the_known_version_loads_and_may_be_left_out(project: Path) -> None:
    assert KNOWN_VERSIONS == ("1.0",)
    assert load_lockfile(_write(project / "llmring.lock", TOP)).version == "1.0"
    assert (
        load_lockfile(
            _write(project / "llmring.lock", TOP.replace('version = "1.0"\n', ""))
        ).version
        == "1.0"
    )


# -- a model listed twice -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "models",
    ['["mock:a", "mock:a"]', '["mock:a", "mock:b", " mock:a"]', '[\n  "mock:a",\n  "mock:a",\n]'],
)
def test_a_model_listed_twice_is_reported_at_its_binding(project: Path, models: str) -> None:
    error = _error(project, BINDING + f"models = {models}\n")
    assert error.key == "models"
    _assert_at(error, project, 9, "alias 'chatbot'", "'mock:a' is listed twice")


# -- TOML left open ---------------------------------------------------------------------------

OPEN = {
    "array-at-end": (
        BINDING + 'models = ["mock:a"',
        9,
        "the array opened on line 9 is never closed",
    ),
    "array-at-end-newline": (BINDING + 'models = ["mock:a"\n', 9, "the array opened on line 9"),
    "array-before-a-table": (
        BINDING + 'models = ["mock:a",\n\n[[profiles.default.bindings]]\n'
        'alias = "b"\nmodels = ["mock:b"]\n',
        9,
        "the array opened on line 9",
    ),
    "inline-table": ('version = "1.0"\nx = {a = 1\n', 2, "inline table opened on line 2"),
    "multi-line-string": (
        'version = "1.0"\n\nx = """abc\n\ny = 1\n',
        3,
        "multi-line string opened on line 3 is never closed",
    ),
}


@pytest.mark.parametrize(("text", "line", "fragment"), OPEN.values(), ids=OPEN.keys())
def test_something_left_open_is_reported_where_it_opened(
    project: Path, text: str, line: int, fragment: str
) -> None:
    error = _error(project, text)
    _assert_at(error, project, line, "invalid TOML", fragment)
    assert line <= text.count("\n") + 1
    assert "\\x00" not in str(error) and "\x00" not in str(error)


def test_a_syntax_error_keeps_its_line_and_column(project: Path) -> None:
    error = _error(project, 'version = "1.0"\n[profiles.default\n')
    assert str(error).startswith(f"{project / 'llmring.lock'}:2:18: invalid TOML: ")
    assert error.line == 2


# -- names ------------------------------------------------------------------------------------

BAD_NAMES = {
    "newline": ("a\\nb", "U+000A"),
    "carriage-return": ("a\\rb", "U+000D"),
    "tab": ("a\\tb", "U+0009"),
    "del": ("a\\u007fb", "U+007F"),
    "escape": ("a\\u001b[31mb", "U+001B"),
    "bidi-override": ("a\\u202eb", "U+202E RIGHT-TO-LEFT OVERRIDE"),
    "bidi-isolate": ("a\\u2066b", "U+2066 LEFT-TO-RIGHT ISOLATE"),
    "zero-width": ("a\\u200bb", "U+200B ZERO WIDTH SPACE"),
    "no-break-space": ("a\\u00a0b", "U+00A0 NO-BREAK SPACE"),
    "line-separator": ("a\\u2028b", "U+2028 LINE SEPARATOR"),
}


@pytest.mark.parametrize(("escaped", "described"), BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_an_alias_with_an_unprintable_character_is_refused(
    project: Path, escaped: str, described: str
) -> None:
    error = _error(
        project, TOP + f'[[profiles.default.bindings]]\nalias = "{escaped}"\nmodels = ["mock:a"]\n'
    )
    assert error.key == "alias"
    _assert_at(error, project, 8, "profile 'default': binding alias", described, "printable text")


@pytest.mark.parametrize(("escaped", "described"), BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_a_profile_with_an_unprintable_character_is_refused(
    project: Path, escaped: str, described: str
) -> None:
    error = _error(project, f'[profiles."{escaped}"]\nname = "x"\n')
    _assert_at(error, project, 1, described, "printable text")


@pytest.mark.parametrize("alias", [" lead", "trail ", " both "])
def test_an_alias_with_surrounding_spaces_is_refused(project: Path, alias: str) -> None:
    error = _error(
        project, TOP + f'[[profiles.default.bindings]]\nalias = "{alias}"\nmodels = ["mock:a"]\n'
    )
    _assert_at(
        error,
        project,
        8,
        f"binding alias {alias!r} has spaces around it",
        f"write {alias.strip()!r}",
    )


def test_names_with_inner_spaces_and_letters_of_any_script_load(project: Path) -> None:
    text = (
        TOP + '[[profiles.default.bindings]]\nalias = "résumé writer 文"\nmodels = ["mock:a"]\n'
        '\n[profiles."prod eu"]\nname = "prod eu"\n'
    )
    lockfile = load_lockfile(_write(project / "llmring.lock", text))
    assert list(lockfile.profile().bindings) == ["résumé writer 文"]
    assert "prod eu" in lockfile.profiles


def test_a_model_reference_with_an_unprintable_character_is_refused(project: Path) -> None:
    error = _error(project, BINDING + 'models = ["mock:a\\u202eb"]\n')
    _assert_at(error, project, 9, "is not a valid model reference")


# -- the read path ----------------------------------------------------------------------------


def test_reading_a_lockfile_never_loads_tomlkit(project: Path) -> None:
    """Reading uses the stdlib parser; tomlkit (slow on large files) is for edits only."""
    path = _write(project / "llmring.lock", BINDING + 'models = ["mock:a"]\n')
    script = (
        "import sys\nfrom llmring import LLMRing\nfrom llmring.lockfile import load_lockfile\n"
        f"LLMRing({str(path)!r})\nload_lockfile({str(path)!r})\n"
        "print('tomlkit' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"


def test_parse_lockfile_takes_text_and_gives_the_validated_view() -> None:
    lockfile = parse_lockfile(BINDING + 'models = ["mock:a", "mock:b"]\n')
    assert lockfile.path is None
    assert lockfile.profile().bindings["chatbot"].models == (
        ModelRef("mock", "a"),
        ModelRef("mock", "b"),
    )


# -- [prices] and unpriced_ok ----------------------------------------------------------------

PRICE = '[prices."openai:gpt-5-mini"]\n'
PRICE_ERRORS = {
    "negative": (
        PRICE + "input = -1\noutput = 2\n",
        2,
        "input",
        ['[prices."openai:gpt-5-mini"]', "input must be a number of US dollars per million"],
    ),
    "not-a-number": (PRICE + 'input = "0.25"\noutput = 2\n', 2, "input", ["got '0.25'"]),
    "infinite": (PRICE + "input = 1\noutput = inf\n", 3, "output", ["got inf"]),
    "boolean": (PRICE + "input = true\noutput = 2\n", 2, "input", ["got True"]),
    "missing-output": (
        PRICE + "input = 1\n",
        1,
        "output",
        ["output is missing", "0 for a free model"],
    ),
    "misspelt-key": (
        PRICE + "input = 1\noutput = 2\ncached = 0.1\n",
        4,
        "cached",
        ["unknown key 'cached'", "did you mean 'cache_read'?"],
    ),
    "not-a-reference": (
        "[prices.gpt-5-mini]\ninput = 1\noutput = 2\n",
        1,
        "prices.gpt-5-mini",
        ["'gpt-5-mini' is not a model reference; write 'provider:model'"],
    ),
    "unknown-provider": (
        '[prices."acme:m"]\ninput = 1\noutput = 2\n',
        1,
        "prices.acme:m",
        ["unknown provider 'acme'"],
    ),
    "not-a-table": ("prices = 3\n", 1, "prices", ['must be a table of [prices."provider:model"]']),
    "unpriced-ok-not-a-bool": (
        BINDING + 'models = ["mock:a"]\nunpriced_ok = "yes"\n',
        10,
        "unpriced_ok",
        ["alias 'chatbot'", "unpriced_ok must be true or false, got 'yes'"],
    ),
}


@pytest.mark.parametrize(
    ("text", "line", "key", "fragments"), PRICE_ERRORS.values(), ids=PRICE_ERRORS.keys()
)
def test_price_tables_are_checked_with_file_line_and_key(
    project: Path, text: str, line: int, key: str, fragments: list[str]
) -> None:
    error = _error(project, text)
    assert error.key == key
    _assert_at(error, project, line, *fragments)


def test_prices_and_unpriced_ok_load() -> None:
    from llmring.lockfile import Price

    lockfile = parse_lockfile(
        BINDING
        + 'models = ["ollama:llama3"]\nunpriced_ok = true\n\n'
        + '[prices."ollama:llama3"]\ninput = 0\noutput = 0\n\n'
        + PRICE
        + "input = 0.25\noutput = 2\ncache_read = 0.025\n"
    )
    assert lockfile.profile().bindings["chatbot"].unpriced_ok is True
    assert lockfile.prices == {
        "ollama:llama3": Price(0.0, 0.0),
        "openai:gpt-5-mini": Price(0.25, 2.0, cache_read=0.025),
    }


def test_priced_as_is_a_provider_key(project: Path) -> None:
    text = '[providers.proxy]\ntype = "openai"\nbase_url = "https://p/v1"\npriced_as = "openai"\n'
    assert parse_lockfile(text).providers["proxy"].priced_as == "openai"
    error = _error(project, text.replace('priced_as = "openai"', "priced_as = 3"))
    _assert_at(error, project, 4, "[providers.proxy]", "priced_as must be a non-empty string")
