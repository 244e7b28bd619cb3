"""Changing one setting by its dotted key, on Settings objects and real files."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from desktop_app.core.config_edit import (
    get_value,
    is_set,
    parse_key,
    parse_value,
    set_value,
    set_values,
    unset_value,
    unset_values,
)
from desktop_app.core.errors import ConfigError
from desktop_app.core.prompts import PRESETS
from desktop_app.core.settings import (
    BUILTIN_PROFILES,
    Settings,
    load_settings,
    save_settings,
)

MYBOX = [
    ("profiles.mybox.base_url", "http://gpu:8000/v1/"),
    ("profiles.mybox.model", "Qwen/Qwen3-VL-8B-Instruct"),
]


def refusal(settings: Settings, *items: tuple[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        set_values(settings, list(items))
    message = str(info.value)
    assert "\n" not in message
    return message


def file_doc(path: Path) -> dict[str, object]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


# --- values ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("30", 30),
        ("true", True),
        ("false", False),
        ("0.2", 0.2),
        ('"text"', "text"),
        ('"two\\nlines"', "two\nlines"),
        ("[1, 2]", [1, 2]),
        ("dark", "dark"),
        ("http://gpu:8000/v1", "http://gpu:8000/v1"),
        ("Qwen/Qwen3-VL-8B-Instruct", "Qwen/Qwen3-VL-8B-Instruct"),
        ("Ctrl+Alt+O", "Ctrl+Alt+O"),
        ("1\nother = 2", "1\nother = 2"),  # one value, never two keys
        ("", ""),
    ],
)
def test_a_value_is_toml_when_it_parses_else_text(text: str, value: object) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


@pytest.mark.parametrize(
    ("key", "parts"),
    [
        ("default_profile", ("default_profile",)),
        ("general.theme", ("general", "theme")),
        (" history . max_days ", ("history", "max_days")),
        ("profiles.vllm.model", ("profiles", "vllm", "model")),
        ("profiles.my.box.model", ("profiles", "my.box", "model")),
        ('profiles."my.box".model', ("profiles", "my.box", "model")),
        ("presets.ocr.profile", ("presets", "ocr", "profile")),
    ],
)
def test_keys_are_dotted_as_in_the_file(key: str, parts: tuple[str, ...]) -> None:
    assert parse_key(key) == parts


def test_whole_tables_are_keys_only_where_a_table_may_go() -> None:
    assert parse_key("profiles.mybox", table=True) == ("profiles", "mybox")
    assert parse_key("general", table=True) == ("general",)
    with pytest.raises(ConfigError, match=r"profiles\.mybox is not one value of a profile"):
        parse_key("profiles.mybox")
    with pytest.raises(ConfigError, match=r"general is not one value of \[general\]"):
        parse_key("general")


# --- setting ---------------------------------------------------------------------------


def test_setting_each_kind_of_key() -> None:
    before = Settings()
    after = set_values(
        before,
        [
            ("general.theme", "dark"),
            ("general.panel_font_size", "13"),
            ("history.max_days", "30"),
            ("history.enabled", "false"),
            ("profiles.vllm.model", "Qwen/Qwen3-VL-8B-Instruct-FP8"),
            ("profiles.vllm.temperature", "0.2"),
            ("profiles.hosted.input_price_per_mtok", "false"),
            ("presets.ocr.profile", "vllm"),
            ("default_profile", "vllm"),
            ("default_preset", "table"),
        ],
    )

    assert after.theme == "dark"
    assert after.panel_font_size == 13
    assert after.history_max_days == 30
    assert after.history_enabled is False
    assert after.profiles["vllm"].model == "Qwen/Qwen3-VL-8B-Instruct-FP8"
    assert after.profiles["vllm"].sampling.temperature == 0.2
    assert after.profiles["vllm"].base_url == BUILTIN_PROFILES["vllm"].base_url
    assert after.profiles["hosted"].input_price_per_mtok is None
    assert after.presets["ocr"].profile == "vllm"
    assert after.presets["ocr"].prompt == PRESETS["ocr"].prompt
    assert after.default_profile == "vllm"
    assert after.default_preset == "table"
    assert before == Settings()  # the input is not changed


def test_set_value_is_one_pair_of_set_values() -> None:
    assert set_value(Settings(), "general.theme", "light").theme == "light"


def test_text_keys_keep_what_was_typed_even_when_it_looks_like_a_number() -> None:
    after = set_values(
        Settings(),
        [
            ("profiles.vllm.label", "2024"),
            ("profiles.vllm.model", "8"),
            ("presets.ocr.hotkey", "1"),
        ],
    )

    assert after.profiles["vllm"].label == "2024"
    assert after.profiles["vllm"].model == "8"
    assert after.presets["ocr"].hotkey == "1"
    # where a number belongs, the number stays one
    assert (
        set_value(Settings(), "profiles.vllm.max_tokens", "512")
        .profiles["vllm"]
        .sampling.max_tokens
        == 512
    )


def test_setting_nothing_gives_back_equal_settings() -> None:
    rich = set_values(
        Settings(),
        [
            *MYBOX,
            ("default_profile", "mybox"),
            ("presets.german.prompt", "Translate to German."),
            ("presets.german.profile", "mybox"),
            ("profiles.hosted.top_k", "20"),
            ("history.max_days", "7"),
        ],
    )

    assert set_values(rich, []) == rich


def test_a_new_profile_needs_base_url_and_model_in_one_command() -> None:
    message = refusal(Settings(), MYBOX[0])
    assert message.startswith("profile mybox needs model.")
    assert "profiles.mybox.base_url URL profiles.mybox.model NAME" in message

    assert refusal(Settings(), MYBOX[1]).startswith("profile mybox needs base_url.")

    after = set_values(Settings(), MYBOX)
    assert after.profiles["mybox"].base_url == "http://gpu:8000/v1"  # slash dropped
    assert after.profiles["mybox"].model == "Qwen/Qwen3-VL-8B-Instruct"
    # once it exists, one key at a time is fine
    assert set_value(after, "profiles.mybox.model", "m2").profiles["mybox"].model == "m2"


def test_a_new_preset_needs_a_prompt() -> None:
    message = refusal(Settings(), ("presets.german.label", "German"))
    assert message.startswith("preset german needs a prompt.")
    assert "presets.german.prompt" in message

    after = set_values(
        Settings(), [("presets.german.label", "German"), ("presets.german.prompt", "Übersetze.")]
    )
    assert after.presets["german"].prompt == "Übersetze."


def test_profile_names_with_dots() -> None:
    after = set_values(
        Settings(),
        [("profiles.gpu.lan.base_url", "http://gpu.lan/v1"), ('profiles."gpu.lan".model', "m")],
    )

    assert after.profiles["gpu.lan"].base_url == "http://gpu.lan/v1"
    assert after.profiles["gpu.lan"].model == "m"


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        (
            "general.theme",
            "purple",
            'general.theme must be one of "system", "light", "dark", not "purple".',
        ),
        (
            "history.max_days",
            "-3",
            "history.max_days must be a whole number of at least 1, or false for none, not -3.",
        ),
        (
            "history.max_entries",
            "1.5",
            "history.max_entries must be a whole number of at least 1, not 1.5.",
        ),
        ("history.enabled", "yes", 'history.enabled must be true or false, not "yes".'),
        (
            "profiles.vllm.temperature",
            "3",
            "profiles.vllm.temperature must be a number from 0 to 2, not 3.",
        ),
        (
            "profiles.vllm.base_url",
            "ftp://x",
            "profiles.vllm.base_url must start with http:// or https://",
        ),
        (
            "profiles.vllm.min_image_tokens",
            "99999",
            "min_image_tokens (99999) is larger than max_image_tokens",
        ),
        (
            "default_profile",
            "nope",
            'default_profile "nope" is not one of the profiles (hosted, vllm',
        ),
        ("default_preset", "nope", 'default_preset "nope" is not one of the presets (ocr, ask'),
        ("presets.ocr.profile", "nope", 'presets.ocr.profile "nope" is not one of the profiles.'),
        ("presets.ocr.kind", "poem", 'presets.ocr.kind must be one of "ocr", "ask", "prompt"'),
    ],
)
def test_a_value_the_loader_would_refuse_is_refused(key: str, text: str, expected: str) -> None:
    message = refusal(Settings(), (key, text))

    assert expected in message
    # what the loader would do about it (fall back, ignore) does not apply here
    for consequence in ("using", "ignored", "answers it", "settings.toml"):
        assert consequence not in message


@pytest.mark.parametrize(
    ("key", "words"),
    [
        ("general.them", "Unknown settings key general.them (did you mean general.theme?)"),
        ("genral.theme", "Unknown settings key genral (did you mean general?)"),
        (
            "profiles.vllm.modle",
            "Unknown settings key profiles.vllm.modle (did you mean profiles.vllm.model?)",
        ),
        ("presets.ocr.promt", "(did you mean presets.ocr.prompt?)"),
        ("colour", "the keys are: default_profile, default_preset, general, history"),
        ("version", "version is the settings file's format"),
        ("profiles.vllm", "set one of its keys, e.g. profiles.vllm.model"),
        ("general", "set one of its keys, e.g. general.theme"),
        ("general.theme.x", "is not one value of [general]"),
        ("default_profile.x", "default_profile is a single value"),
        ("a = 1\nb", "Invalid settings key"),
        ("", "Invalid settings key"),
        ("profiles.bad name.model", "Invalid settings key"),
    ],
)
def test_keys_not_in_the_schema_are_refused(key: str, words: str) -> None:
    assert words in refusal(Settings(), (key, "x"))


def test_a_quoted_profile_name_the_loader_refuses_is_refused() -> None:
    message = refusal(
        Settings(), ('profiles."a b".base_url', "http://x"), ('profiles."a b".model', "m")
    )
    assert message.startswith("Invalid profile name 'a b'")
    assert "ignored" not in message


@pytest.mark.parametrize("name", ["api_key", "key", "token", "apikey", "API_KEY"])
def test_api_keys_are_refused_and_never_echoed(name: str) -> None:
    message = refusal(Settings(), (f"profiles.vllm.{name}", "sk-secret-123"))

    assert "keyring" in message
    assert "`screenscribe key set --profile vllm`" in message
    assert "sk-secret-123" not in message


def test_a_password_in_a_url_is_refused_without_showing_it() -> None:
    message = refusal(Settings(), ("profiles.vllm.base_url", "http://me:hunter2@gpu/v1"))
    assert "user name or password" in message
    assert "hunter2" not in message


def test_one_bad_pair_refuses_them_all() -> None:
    message = refusal(Settings(), ("general.theme", "dark"), ("history.max_days", "0"))
    assert message.startswith("history.max_days ")


# --- unsetting -------------------------------------------------------------------------


def test_unset_returns_a_key_to_its_default() -> None:
    changed = set_values(Settings(), [("general.theme", "dark"), ("profiles.vllm.model", "x")])
    assert is_set(changed, "general.theme")
    assert is_set(changed, "profiles.vllm.model")

    after = unset_values(changed, ["general.theme", "profiles.vllm.model"])

    assert after == Settings()
    assert not is_set(after, "general.theme")
    assert get_value(after, "general.theme") == "system"
    assert get_value(after, "profiles.vllm.model") == BUILTIN_PROFILES["vllm"].model


def test_unset_of_a_key_not_set_changes_nothing() -> None:
    assert not is_set(Settings(), "history.max_days")
    assert unset_value(Settings(), "history.max_days") == Settings()
    assert unset_value(Settings(), "profiles.nothere") == Settings()


def test_unset_of_a_whole_profile_removes_it_or_resets_a_builtin() -> None:
    changed = set_values(Settings(), [*MYBOX, ("profiles.vllm.temperature", "0.1")])

    after = unset_values(changed, ["profiles.mybox", "profiles.vllm"])

    assert "mybox" not in after.profiles
    assert after.profiles["vllm"] == BUILTIN_PROFILES["vllm"]


def test_unset_that_leaves_the_settings_inconsistent_is_refused() -> None:
    changed = set_values(Settings(), [*MYBOX, ("default_profile", "mybox")])

    with pytest.raises(ConfigError, match=r'^default_profile "mybox" is not one of the profiles'):
        unset_value(changed, "profiles.mybox")
    with pytest.raises(ConfigError, match=r"^profile mybox needs model\."):
        unset_value(changed, "profiles.mybox.model")
    # both together are fine
    assert unset_values(changed, ["profiles.mybox", "default_profile"]) == Settings()


def test_unset_refuses_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"did you mean general\.theme"):
        unset_value(Settings(), "general.them")


def test_get_value_is_the_value_in_effect() -> None:
    assert get_value(Settings(), "history.max_entries") == 10000
    assert get_value(Settings(), "history.max_days") is None
    assert get_value(Settings(), "profiles.hosted.input_price_per_mtok") == 0.25
    assert get_value(Settings(), "default_profile") == "hosted"


# --- through the real file -------------------------------------------------------------


def test_set_and_unset_through_the_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text('version = 2\n[general]\ntheme = "light"\n', encoding="utf-8")

    loaded = load_settings(path)
    assert loaded.warnings == ()
    save_settings(set_values(loaded.settings, [*MYBOX, ("history.max_days", "30")]), path)

    assert file_doc(path) == {
        "version": 2,
        "general": {"theme": "light"},
        "history": {"max_days": 30},
        "profiles": {
            "mybox": {"base_url": "http://gpu:8000/v1", "model": "Qwen/Qwen3-VL-8B-Instruct"}
        },
    }

    reloaded = load_settings(path)
    assert reloaded.warnings == ()
    save_settings(unset_values(reloaded.settings, ["general.theme", "profiles.mybox"]), path)

    assert file_doc(path) == {"version": 2, "history": {"max_days": 30}}
    assert load_settings(path).settings.theme == "system"
