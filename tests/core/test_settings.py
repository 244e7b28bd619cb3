"""The settings file, on real files under tmp_path."""

from __future__ import annotations

import dataclasses
import math
import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import platformdirs
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from desktop_app.core import settings as mod
from desktop_app.core.errors import ConfigError
from desktop_app.core.models import Sampling
from desktop_app.core.prompts import PRESETS, Preset
from desktop_app.core.settings import (
    BUILTIN_PROFILES,
    MIGRATIONS,
    SCHEMA_VERSION,
    LoadResult,
    Profile,
    Settings,
    config_dir,
    data_dir,
    load_settings,
    remove_preset,
    remove_profile,
    replace_preset,
    replace_profile,
    resolve_profile,
    save_settings,
    settings_path,
    validate_base_url,
    validate_profile_name,
    with_default_profile,
)

BACKUP_RE = re.compile(r"settings\.toml\.corrupt-\d{8}-\d{6}(-\d+)?")


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "config"
    monkeypatch.setenv("SCREENSCRIBE_CONFIG_DIR", str(directory))
    return directory


def write(config: Path, text: str | bytes) -> Path:
    config.mkdir(parents=True, exist_ok=True)
    path = config / "settings.toml"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def backups(config: Path) -> list[Path]:
    return sorted(p for p in config.iterdir() if BACKUP_RE.fullmatch(p.name))


def only_warning(result: LoadResult) -> str:
    assert len(result.warnings) == 1, result.warnings
    return result.warnings[0]


def mybox(**changes: object) -> Profile:
    profile = Profile(name="mybox", base_url="http://gpu-box:8000/v1", model="Qwen/Qwen3-VL-8B")
    return dataclasses.replace(profile, **changes)  # type: ignore[arg-type]


# --- locations -------------------------------------------------------------------------


def test_directories_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREENSCRIBE_CONFIG_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("SCREENSCRIBE_DATA_DIR", str(tmp_path / "d"))

    assert config_dir() == tmp_path / "c"
    assert data_dir() == tmp_path / "d"
    assert settings_path() == tmp_path / "c" / "settings.toml"


def test_directories_default_to_the_platform_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCREENSCRIBE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("SCREENSCRIBE_DATA_DIR", "")  # empty counts as unset

    assert config_dir() == Path(platformdirs.user_config_dir("screenscribe", appauthor=False))
    assert data_dir() == Path(platformdirs.user_data_dir("screenscribe", appauthor=False))
    assert config_dir().name == "screenscribe"


def test_loading_creates_nothing_and_saving_creates_the_directory(config: Path) -> None:
    result = load_settings()

    assert result == LoadResult(Settings(), ())
    assert not config.exists()
    assert save_settings(Settings()) == config / "settings.toml"
    assert (config / "settings.toml").is_file()


def test_importing_settings_imports_only_the_standard_library_extras_lazily() -> None:
    code = (
        "import sys, desktop_app.core.settings\n"
        "print(sorted(m for m in ('platformdirs', 'tomli_w', 'keyring') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# --- defaults --------------------------------------------------------------------------


def test_defaults() -> None:
    defaults = Settings()

    assert defaults.version == SCHEMA_VERSION == 2
    assert defaults.default_profile == "hosted"
    assert defaults.history_enabled is True
    assert defaults.history_max_entries == 10000
    assert defaults.history_max_days is None
    assert list(defaults.profiles) == ["hosted", "vllm", "ollama", "lmstudio", "llamacpp"]
    assert dict(defaults.profiles) == dict(BUILTIN_PROFILES)


def test_builtin_profiles() -> None:
    expected = {
        "hosted": ("https://platform.qubrid.com/v1", "Qwen/Qwen3-VL-8B-Instruct"),
        "vllm": ("http://127.0.0.1:8000/v1", "Qwen/Qwen3-VL-8B-Instruct"),
        "ollama": ("http://127.0.0.1:11434/v1", "qwen3-vl:8b-instruct"),
        "lmstudio": ("http://127.0.0.1:1234/v1", "qwen/qwen3-vl-8b"),
        "llamacpp": ("http://127.0.0.1:8080/v1", "Qwen3-VL-8B-Instruct"),
    }
    assert {n: (p.base_url, p.model) for n, p in BUILTIN_PROFILES.items()} == expected
    hosted = BUILTIN_PROFILES["hosted"]
    assert hosted.label == "Hosted API (Qubrid)"
    assert (hosted.input_price_per_mtok, hosted.output_price_per_mtok) == (0.25, 0.44)
    for profile in BUILTIN_PROFILES.values():
        assert profile.sampling == Sampling(
            temperature=0.7, max_tokens=2048, top_p=0.9, top_k=None, presence_penalty=0.0
        )
        assert (profile.min_image_tokens, profile.max_image_tokens) == (64, 16384)
        assert (profile.connect_timeout, profile.idle_timeout) == (5.0, 120.0)
        assert profile.label
        if profile.name != "hosted":
            assert profile.input_price_per_mtok is None
            assert profile.output_price_per_mtok is None


def test_profiles_mapping_is_read_only() -> None:
    settings = Settings()
    with pytest.raises(TypeError):
        settings.profiles["x"] = mybox()  # type: ignore[index]
    with pytest.raises(TypeError):
        BUILTIN_PROFILES["x"] = mybox()  # type: ignore[index]


def test_profile_checks_its_values() -> None:
    assert mybox().display_name == "mybox"
    assert mybox(base_url="http://gpu-box:8000/v1//").base_url == "http://gpu-box:8000/v1"
    assert mybox(model="  m  ").model == "m"
    with pytest.raises(ConfigError, match="temperature"):
        mybox(sampling=Sampling(temperature=3.0))
    with pytest.raises(ConfigError, match="max_tokens"):
        mybox(sampling=Sampling(max_tokens=0))
    with pytest.raises(ConfigError, match="min_image_tokens"):
        mybox(min_image_tokens=500, max_image_tokens=100)
    with pytest.raises(ConfigError, match="idle_timeout"):
        mybox(idle_timeout=math.inf)
    with pytest.raises(ConfigError, match="base_url"):
        mybox(base_url="gpu-box:8000")
    with pytest.raises(ConfigError, match="profile name"):
        mybox(name="my box")


def test_settings_checks_its_values() -> None:
    with pytest.raises(ConfigError, match=r"Unknown profile 'nope'"):
        Settings(default_profile="nope")
    with pytest.raises(ConfigError, match="max_entries"):
        Settings(history_max_entries=0)
    with pytest.raises(ConfigError, match="mybox"):
        Settings(profiles={**BUILTIN_PROFILES, "other": mybox()})


# --- saving and round trips ------------------------------------------------------------


def test_round_trip(config: Path) -> None:
    vllm = dataclasses.replace(
        BUILTIN_PROFILES["vllm"],
        model="Qwen/Qwen3-VL-8B-Instruct-FP8",
        sampling=Sampling(temperature=0.2, top_k=20),
    )
    box = mybox(label=" GPU box — Küche\n", input_price_per_mtok=0.0, idle_timeout=30.5)
    original = Settings(
        default_profile="mybox",
        profiles={**BUILTIN_PROFILES, "vllm": vllm, "mybox": box},
        history_enabled=False,
        history_max_entries=50,
        history_max_days=14,
    )

    save_settings(original)
    result = load_settings()

    assert result.warnings == ()
    assert result.settings == original
    assert result.settings.profiles["mybox"].label == " GPU box — Küche\n"  # kept as typed
    assert result.settings.profiles["mybox"].display_name == " GPU box — Küche\n"
    assert result.settings.profiles["vllm"].sampling.top_k == 20


def test_defaults_save_as_just_the_version(config: Path) -> None:
    path = save_settings(Settings())
    text = path.read_text(encoding="utf-8")

    assert tomllib.loads(text) == {"version": 2}
    assert text.startswith("# ScreenScribe settings")
    assert "keyring" in text.splitlines()[1] + text.splitlines()[2]


def test_only_values_that_differ_are_written(config: Path) -> None:
    vllm = dataclasses.replace(BUILTIN_PROFILES["vllm"], sampling=Sampling(temperature=0.2))
    settings = replace_profile(replace_profile(Settings(), vllm), mybox(label="Box"))
    settings = dataclasses.replace(settings, history_max_entries=500)

    doc = tomllib.loads(save_settings(settings).read_text(encoding="utf-8"))

    assert doc == {
        "version": 2,
        "history": {"max_entries": 500},
        "profiles": {
            "vllm": {"temperature": 0.2},
            "mybox": {
                "label": "Box",
                "base_url": "http://gpu-box:8000/v1",
                "model": "Qwen/Qwen3-VL-8B",
            },
        },
    }


def test_unsetting_a_builtin_price_is_written_as_false(config: Path) -> None:
    hosted = dataclasses.replace(BUILTIN_PROFILES["hosted"], input_price_per_mtok=None)
    settings = replace_profile(Settings(), hosted)

    doc = tomllib.loads(save_settings(settings).read_text(encoding="utf-8"))

    assert doc["profiles"] == {"hosted": {"input_price_per_mtok": False}}
    loaded = load_settings()
    assert loaded.warnings == ()
    assert loaded.settings.profiles["hosted"].input_price_per_mtok is None
    assert loaded.settings.profiles["hosted"].output_price_per_mtok == 0.44


def test_save_replaces_the_file_atomically_and_keeps_its_mode(config: Path) -> None:
    path = write(config, "version = 1\n")
    path.chmod(0o640)

    save_settings(with_default_profile(Settings(), "ollama"))

    assert tomllib.loads(path.read_text(encoding="utf-8"))["default_profile"] == "ollama"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in config.iterdir()) == ["settings.toml"]  # no temp file left


def test_save_to_an_explicit_path(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "custom.toml"
    assert save_settings(Settings(history_enabled=False), target) == target
    assert load_settings(target).settings.history_enabled is False


def test_save_failure_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="Could not save the settings"):
        save_settings(Settings(), blocker / "settings.toml")


# --- whole-file problems: backup and defaults ------------------------------------------


def test_invalid_toml_is_backed_up_and_defaults_load(config: Path) -> None:
    original = b'version = 1\ndefault_profile = "vllm"\n[profiles.vllm\nmodel = "x"\n'
    write(config, original)

    result = load_settings()

    assert result.settings == Settings()
    [backup] = backups(config)
    assert backup.read_bytes() == original
    assert not (config / "settings.toml").exists()
    warning = only_warning(result)
    assert "is not valid TOML" in warning
    assert "line 3" in warning
    assert str(backup) in warning


def test_not_utf8_is_backed_up(config: Path) -> None:
    original = 'version = 1\ndefault_profile = "vllm"  # café\n'.encode("latin-1")
    write(config, original)

    result = load_settings()

    assert result.settings == Settings()
    [backup] = backups(config)
    assert backup.read_bytes() == original
    assert "not UTF-8" in only_warning(result)


def test_newer_version_is_backed_up(config: Path) -> None:
    original = 'version = 3\ndefault_profile = "vllm"\n'
    write(config, original)

    result = load_settings()

    assert result.settings == Settings()
    [backup] = backups(config)
    assert backup.read_text(encoding="utf-8") == original
    warning = only_warning(result)
    assert "newer" in warning
    assert "version 3" in warning
    assert str(backup) in warning


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('version = "1"\n', 'invalid version "1"'),
        ("version = -1\n", "invalid version -1"),
        ("version = 1\nprofiles = 5\n", "[profiles] table"),
        ('version = 1\nhistory = "on"\n', "[history] table"),
    ],
)
def test_wrong_structure_is_backed_up(config: Path, text: str, fragment: str) -> None:
    write(config, text)

    result = load_settings()

    assert result.settings == Settings()
    assert len(backups(config)) == 1
    assert fragment in only_warning(result)


def test_two_corrupt_files_in_a_row_keep_both_backups(config: Path) -> None:
    write(config, "first = [")
    load_settings()
    write(config, "second = [")
    load_settings()

    contents = sorted(p.read_text(encoding="utf-8") for p in backups(config))
    assert contents == ["first = [", "second = ["]


def test_unreadable_file_warns_without_renaming(config: Path) -> None:
    (config / "settings.toml").mkdir(parents=True)  # a directory where the file belongs

    result = load_settings()

    assert result.settings == Settings()
    assert "Could not read the settings file" in only_warning(result)
    assert (config / "settings.toml").is_dir()
    assert backups(config) == []


def test_utf8_bom_is_accepted(config: Path) -> None:
    write(config, b'\xef\xbb\xbfversion = 1\ndefault_profile = "ollama"\n')

    result = load_settings()

    assert result.warnings == ()
    assert result.settings.default_profile == "ollama"


# --- single bad values: warning and that value's default -------------------------------


def test_one_bad_value_falls_back_alone(config: Path) -> None:
    write(
        config,
        'version = 1\ndefault_profile = "vllm"\n'
        '[profiles.vllm]\nmodel = "Qwen/Qwen3-VL-8B-Instruct-FP8"\ntemperature = "hot"\n'
        "max_tokens = 512\n",
    )

    result = load_settings()

    warning = only_warning(result)
    assert "profiles.vllm.temperature" in warning
    assert '"hot"' in warning
    assert "0.7" in warning
    vllm = result.settings.profiles["vllm"]
    assert vllm.sampling.temperature == 0.7
    assert vllm.sampling.max_tokens == 512
    assert vllm.model == "Qwen/Qwen3-VL-8B-Instruct-FP8"
    assert result.settings.default_profile == "vllm"
    assert backups(config) == []
    assert (config / "settings.toml").is_file()


@pytest.mark.parametrize(
    ("line", "key", "attribute", "default"),
    [
        ("max_tokens = -5", "max_tokens", "sampling.max_tokens", 2048),
        ("max_tokens = 10.5", "max_tokens", "sampling.max_tokens", 2048),
        ("max_tokens = true", "max_tokens", "sampling.max_tokens", 2048),
        ("temperature = nan", "temperature", "sampling.temperature", 0.7),
        ("top_p = 0", "top_p", "sampling.top_p", 0.9),
        ("top_k = 0", "top_k", "sampling.top_k", None),
        ("presence_penalty = 5", "presence_penalty", "sampling.presence_penalty", 0.0),
        ('base_url = "ftp://host/v1"', "base_url", "base_url", "http://127.0.0.1:8000/v1"),
        ('base_url = "127.0.0.1:8000"', "base_url", "base_url", "http://127.0.0.1:8000/v1"),
        ('model = "  "', "model", "model", "Qwen/Qwen3-VL-8B-Instruct"),
        ("connect_timeout = 0", "connect_timeout", "connect_timeout", 5.0),
        ("idle_timeout = inf", "idle_timeout", "idle_timeout", 120.0),
        ("input_price_per_mtok = -1", "input_price_per_mtok", "input_price_per_mtok", None),
        ("label = 3", "label", "label", "vLLM (local)"),
        ("min_image_tokens = 0", "min_image_tokens", "min_image_tokens", 64),
    ],
)
def test_bad_profile_values(
    config: Path, line: str, key: str, attribute: str, default: object
) -> None:
    write(config, f"version = 1\n[profiles.vllm]\n{line}\n")

    result = load_settings()

    assert f"profiles.vllm.{key} " in only_warning(result)
    value: object = result.settings.profiles["vllm"]
    for part in attribute.split("."):
        value = getattr(value, part)
    assert value == default
    assert backups(config) == []


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ('enabled = "yes"', "history.enabled", ("history_enabled", True)),
        ("max_entries = 0", "history.max_entries", ("history_max_entries", 10000)),
        ("max_days = -3", "history.max_days", ("history_max_days", None)),
    ],
)
def test_bad_history_values(
    config: Path, table: str, key: str, expected: tuple[str, object]
) -> None:
    write(config, f"version = 1\n[history]\n{table}\n")

    result = load_settings()

    assert key in only_warning(result)
    attribute, default = expected
    assert getattr(result.settings, attribute) == default


def test_history_values_are_read(config: Path) -> None:
    write(config, "version = 1\n[history]\nenabled = false\nmax_entries = 20\nmax_days = 30\n")

    result = load_settings()

    assert result.warnings == ()
    settings = result.settings
    assert (settings.history_enabled, settings.history_max_entries) == (False, 20)
    assert settings.history_max_days == 30


def test_unknown_default_profile_falls_back_to_hosted(config: Path) -> None:
    write(config, 'version = 1\ndefault_profile = "gpu"\n')

    result = load_settings()

    assert result.settings.default_profile == "hosted"
    warning = only_warning(result)
    assert '"gpu"' in warning
    assert "default_profile" in warning


def test_user_profile_with_bad_base_url_is_skipped(config: Path) -> None:
    write(
        config,
        'version = 1\ndefault_profile = "mybox"\n'
        '[profiles.mybox]\nbase_url = "gpu-box:8000"\nmodel = "m"\n'
        '[profiles.good]\nbase_url = "http://good/v1"\nmodel = "m"\n',
    )

    result = load_settings()

    assert "mybox" not in result.settings.profiles
    assert result.settings.profiles["good"].base_url == "http://good/v1"
    assert result.settings.default_profile == "hosted"
    assert len(result.warnings) == 2
    assert "profiles.mybox.base_url" in result.warnings[0]
    assert "profile is ignored" in result.warnings[0]
    assert "default_profile" in result.warnings[1]


def test_user_profile_without_model_is_skipped(config: Path) -> None:
    write(config, 'version = 1\n[profiles.mybox]\nbase_url = "http://gpu-box/v1"\n')

    result = load_settings()

    assert "mybox" not in result.settings.profiles
    assert "needs model" in only_warning(result)


def test_user_profile_gets_defaults_for_what_it_leaves_out(config: Path) -> None:
    write(config, 'version = 1\n[profiles.mybox]\nbase_url = "http://gpu-box/v1/"\nmodel = "m"\n')

    result = load_settings()

    assert result.warnings == ()
    assert result.settings.profiles["mybox"] == Profile(
        name="mybox", base_url="http://gpu-box/v1", model="m"
    )


def test_builtin_override_keeps_the_keys_it_does_not_set(config: Path) -> None:
    write(config, "version = 1\n[profiles.hosted]\ntemperature = 0.1\n")

    hosted = load_settings().settings.profiles["hosted"]

    assert hosted == dataclasses.replace(
        BUILTIN_PROFILES["hosted"], sampling=Sampling(temperature=0.1)
    )


def test_min_above_max_image_tokens_uses_the_defaults_for_both(config: Path) -> None:
    write(config, "version = 1\n[profiles.vllm]\nmin_image_tokens = 4000\nmax_image_tokens = 256\n")

    result = load_settings()

    vllm = result.settings.profiles["vllm"]
    assert (vllm.min_image_tokens, vllm.max_image_tokens) == (64, 16384)
    assert "min_image_tokens (4000) is larger than max_image_tokens (256)" in only_warning(result)


def test_false_unsets_optional_numbers(config: Path) -> None:
    write(config, "version = 1\n[profiles.hosted]\ntop_k = false\noutput_price_per_mtok = false\n")

    result = load_settings()

    assert result.warnings == ()
    hosted = result.settings.profiles["hosted"]
    assert hosted.sampling.top_k is None
    assert hosted.output_price_per_mtok is None
    assert hosted.input_price_per_mtok == 0.25


def test_integers_are_accepted_for_float_values(config: Path) -> None:
    write(config, "version = 1\n[profiles.vllm]\ntemperature = 1\nidle_timeout = 60\n")

    vllm = load_settings().settings.profiles["vllm"]

    assert vllm.sampling.temperature == 1.0
    assert isinstance(vllm.sampling.temperature, float)
    assert isinstance(vllm.idle_timeout, float)


def test_unknown_keys_are_ignored_with_a_warning(config: Path) -> None:
    write(
        config,
        "version = 1\ncolour = 1\n[history]\nmax_entry = 5\n[profiles.vllm]\ntemprature = 0.3\n",
    )

    result = load_settings()

    assert result.settings == Settings()
    assert len(result.warnings) == 3
    assert "unknown key colour" in result.warnings[0]
    assert "unknown key profiles.vllm.temprature" in result.warnings[1]
    assert "did you mean temperature?" in result.warnings[1]
    assert "unknown key history.max_entry" in result.warnings[2]
    assert "did you mean max_entries?" in result.warnings[2]


def test_api_key_in_the_file_is_ignored_and_not_repeated(config: Path) -> None:
    write(config, 'version = 1\n[profiles.hosted]\napi_key = "sk-very-secret"\n')

    result = load_settings()

    warning = only_warning(result)
    assert "profiles.hosted.api_key" in warning
    assert "keyring" in warning
    assert "sk-very-secret" not in warning
    assert result.settings == Settings()
    save_settings(result.settings)
    assert "sk-very-secret" not in (config / "settings.toml").read_text(encoding="utf-8")


def test_password_in_a_base_url_is_not_repeated(config: Path) -> None:
    write(config, 'version = 1\n[profiles.vllm]\nbase_url = "http://bob:hunter2@box/v1"\n')

    result = load_settings()

    warning = only_warning(result)
    assert "user name or password" in warning
    assert "hunter2" not in warning
    assert result.settings.profiles["vllm"] == BUILTIN_PROFILES["vllm"]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('version = 1\n[profiles."my box"]\nbase_url = "http://x"\nmodel = "m"\n', "my box"),
        ('version = 1\n[profiles]\nmybox = "http://x"\n', "must be a table"),
    ],
)
def test_unusable_profile_entries_are_skipped(config: Path, text: str, fragment: str) -> None:
    write(config, text)

    result = load_settings()

    assert fragment in only_warning(result)
    assert dict(result.settings.profiles) == dict(BUILTIN_PROFILES)


def test_warnings_name_the_file(config: Path) -> None:
    path = write(config, "version = 1\ncolour = 1\n")
    assert only_warning(load_settings()).startswith(f"{path}: ")


# --- migrations --------------------------------------------------------------------------


def test_every_old_version_has_a_migration() -> None:
    assert sorted(MIGRATIONS) == list(range(SCHEMA_VERSION))


def test_file_without_version_is_migrated_from_version_0(config: Path) -> None:
    write(config, 'default_profile = "vllm"\n[profiles.vllm]\ntemperature = 0.3\n')

    result = load_settings()

    assert result.warnings == ()
    assert result.settings.version == 2
    assert result.settings.default_profile == "vllm"
    assert result.settings.profiles["vllm"].sampling.temperature == 0.3
    save_settings(result.settings)
    assert tomllib.loads((config / "settings.toml").read_text(encoding="utf-8"))["version"] == 2


def test_migrations_run_in_order(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A future version 3 that renamed ``model_name`` to ``model``: both older files load."""

    def rename(data: dict[str, object]) -> dict[str, object]:
        profiles = data.get("profiles", {})
        assert isinstance(profiles, dict)
        for table in profiles.values():
            if "model_name" in table:
                table["model"] = table.pop("model_name")
        return {**data, "version": 3}

    monkeypatch.setattr(mod, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(MIGRATIONS, 2, rename)

    write(config, '[profiles.vllm]\nmodel_name = "from-v0"\n')
    from_v0 = load_settings()
    write(config, 'version = 1\n[profiles.vllm]\nmodel_name = "from-v1"\n')
    from_v1 = load_settings()
    write(config, 'version = 2\n[profiles.vllm]\nmodel_name = "from-v2"\n')
    from_v2 = load_settings()
    write(config, 'version = 3\n[profiles.vllm]\nmodel = "v3"\n')
    current = load_settings()

    assert (from_v0.warnings, from_v1.warnings, from_v2.warnings, current.warnings) == (
        (),
        (),
        (),
        (),
    )
    assert from_v0.settings.profiles["vllm"].model == "from-v0"
    assert from_v1.settings.profiles["vllm"].model == "from-v1"
    assert from_v2.settings.profiles["vllm"].model == "from-v2"
    assert current.settings.profiles["vllm"].model == "v3"
    assert save_settings(current.settings).read_text(encoding="utf-8").count("version = 3") == 1


def test_a_migration_that_cannot_read_the_file_backs_it_up(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def strict(data: dict[str, object]) -> dict[str, object]:
        profiles = data["profiles"]
        assert isinstance(profiles, dict)
        return {**data, "profiles": {k: dict(v) for k, v in profiles.items()}, "version": 2}

    monkeypatch.setattr(mod, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(MIGRATIONS, 1, strict)
    write(config, 'version = 1\n[profiles]\nvllm = "not a table"\n')

    result = load_settings()

    assert result.settings == Settings()
    assert "could not be upgraded from settings version 1" in only_warning(result)
    assert len(backups(config)) == 1


# --- base URL validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1"),
        ("  https://platform.qubrid.com/v1//  ", "https://platform.qubrid.com/v1"),
        ("http://[::1]:8000/v1", "http://[::1]:8000/v1"),
        ("HTTPS://Example.COM", "HTTPS://Example.COM"),
        ("http://gpu-box", "http://gpu-box"),
    ],
)
def test_valid_base_urls(url: str, expected: str) -> None:
    assert validate_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("", "http:// or https://"),
        ("ftp://host/v1", "http:// or https://"),
        ("127.0.0.1:8000/v1", "http:// or https://"),
        ("localhost:8000", "http:// or https://"),
        ("http://", "no host"),
        ("http:///v1", "no host"),
        ("http://host:99999/v1", "not a valid URL"),
        ("http://host/v1?x=1", "query"),
        ("http://host/v1#top", "fragment"),
        ("http://ho st/v1", "spaces"),
        ("http://user:secret@host/v1", "user name or password"),
    ],
)
def test_invalid_base_urls(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_base_url(url)
    assert fragment in str(info.value)
    assert "secret" not in str(info.value)


def test_profile_names() -> None:
    for good in ("vllm", "my-box_2", "gpu.local", "Küche", "_x"):
        assert validate_profile_name(good) == good
    for bad in ("", "my box", "-x", ".x", "a/b", "x" * 65):
        with pytest.raises(ConfigError, match="Invalid profile name"):
            validate_profile_name(bad)


# --- resolving the profile a request uses ------------------------------------------------

NO_ENV: dict[str, str] = {}


@pytest.fixture
def with_box() -> Settings:
    return with_default_profile(replace_profile(Settings(), mybox()), "vllm")


def test_resolve_uses_the_default_profile(with_box: Settings) -> None:
    assert resolve_profile(with_box, env=NO_ENV) == BUILTIN_PROFILES["vllm"]
    assert resolve_profile(with_box, "mybox", env=NO_ENV) == mybox()


def test_resolve_unknown_profile_lists_the_known_ones(with_box: Settings) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_profile(with_box, "gpu", env=NO_ENV)
    message = str(info.value)
    assert "Unknown profile 'gpu'" in message
    for name in ("hosted", "vllm", "ollama", "lmstudio", "llamacpp", "mybox"):
        assert name in message


def test_resolve_environment_model_replaces_the_model_and_drops_prices() -> None:
    env = {"SCREENSCRIBE_MODEL": "Qwen/Qwen3-VL-32B-Instruct"}

    profile = resolve_profile(Settings(), env=env)

    assert profile.name == "hosted"
    assert profile.model == "Qwen/Qwen3-VL-32B-Instruct"
    assert profile.base_url == BUILTIN_PROFILES["hosted"].base_url
    assert profile.input_price_per_mtok is None
    assert profile.output_price_per_mtok is None


def test_resolve_same_model_keeps_the_prices() -> None:
    env = {"SCREENSCRIBE_MODEL": BUILTIN_PROFILES["hosted"].model}
    assert resolve_profile(Settings(), env=env) == BUILTIN_PROFILES["hosted"]


def test_resolve_endpoint_without_a_name_makes_a_custom_profile(with_box: Settings) -> None:
    env = {"SCREENSCRIBE_ENDPOINT": "http://other:9000/v1/"}

    profile = resolve_profile(with_box, env=env)

    assert profile.name == "custom"
    assert profile.base_url == "http://other:9000/v1"
    assert profile.model == BUILTIN_PROFILES["vllm"].model  # the default profile's model
    assert profile.sampling == BUILTIN_PROFILES["vllm"].sampling
    assert profile.input_price_per_mtok is None


def test_resolve_endpoint_flag_with_a_model_flag(with_box: Settings) -> None:
    profile = resolve_profile(with_box, endpoint="http://other/v1", model="m2", env=NO_ENV)

    assert (profile.name, profile.base_url, profile.model) == ("custom", "http://other/v1", "m2")


def test_resolve_endpoint_with_a_named_profile_keeps_the_name(with_box: Settings) -> None:
    profile = resolve_profile(with_box, "mybox", endpoint="http://tunnel:8001/v1", env=NO_ENV)

    assert profile.name == "mybox"
    assert profile.base_url == "http://tunnel:8001/v1"
    assert profile.model == mybox().model


def test_resolve_endpoint_equal_to_the_profile_keeps_it(with_box: Settings) -> None:
    env = {"SCREENSCRIBE_ENDPOINT": BUILTIN_PROFILES["vllm"].base_url + "/"}
    assert resolve_profile(with_box, env=env) == BUILTIN_PROFILES["vllm"]


def test_resolve_flags_win_over_the_environment(with_box: Settings) -> None:
    env = {"SCREENSCRIBE_ENDPOINT": "http://env-host/v1", "SCREENSCRIBE_MODEL": "env-model"}

    from_env = resolve_profile(with_box, env=env)
    from_flags = resolve_profile(
        with_box, endpoint="http://flag-host/v1", model="flag-model", env=env
    )
    model_flag_only = resolve_profile(with_box, model="flag-model", env=env)

    assert (from_env.base_url, from_env.model) == ("http://env-host/v1", "env-model")
    assert (from_flags.base_url, from_flags.model) == ("http://flag-host/v1", "flag-model")
    assert (model_flag_only.base_url, model_flag_only.model) == ("http://env-host/v1", "flag-model")


def test_resolve_reads_os_environ_by_default(
    with_box: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREENSCRIBE_ENDPOINT", "http://from-os-env/v1")
    monkeypatch.setenv("SCREENSCRIBE_MODEL", "")  # empty counts as unset

    profile = resolve_profile(with_box)

    assert (profile.name, profile.base_url) == ("custom", "http://from-os-env/v1")
    assert profile.model == BUILTIN_PROFILES["vllm"].model


def test_resolve_bad_endpoints(with_box: Settings) -> None:
    with pytest.raises(ConfigError, match=r"\$SCREENSCRIBE_ENDPOINT: .*http:// or https://"):
        resolve_profile(with_box, env={"SCREENSCRIBE_ENDPOINT": "gpu-box:8000"})
    with pytest.raises(ConfigError, match="no host"):
        resolve_profile(with_box, endpoint="http://", env=NO_ENV)
    with pytest.raises(ConfigError, match="model name is empty"):
        resolve_profile(with_box, model=" ", env=NO_ENV)


# --- helpers -----------------------------------------------------------------------------


def test_replace_profile_returns_a_new_settings() -> None:
    before = Settings()
    box = mybox()
    after = replace_profile(before, box)
    faster = replace_profile(after, mybox(idle_timeout=10.0))

    assert "mybox" not in before.profiles
    assert after.profiles["mybox"] == box
    assert faster.profiles["mybox"].idle_timeout == 10.0
    assert list(faster.profiles)[-1] == "mybox"


def test_with_default_profile() -> None:
    assert with_default_profile(Settings(), "ollama").default_profile == "ollama"
    with pytest.raises(ConfigError, match="Known profiles: hosted, vllm"):
        with_default_profile(Settings(), "mybox")


def test_remove_profile() -> None:
    changed_vllm = dataclasses.replace(BUILTIN_PROFILES["vllm"], model="other")
    settings = replace_profile(replace_profile(Settings(), mybox()), changed_vllm)
    settings = with_default_profile(settings, "mybox")

    without_box = remove_profile(settings, "mybox")
    vllm_reset = remove_profile(settings, "vllm")

    assert "mybox" not in without_box.profiles
    assert without_box.default_profile == "hosted"
    assert vllm_reset.profiles["vllm"] == BUILTIN_PROFILES["vllm"]
    assert vllm_reset.default_profile == "mybox"
    with pytest.raises(ConfigError, match="Unknown profile"):
        remove_profile(settings, "nope")


# --- property: any valid settings survive save and load ----------------------------------

_hosts = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\.[a-z]{2,6}){0,2}", fullmatch=True),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda ip: f"[{ip}]"),
)
_urls = st.builds(
    lambda scheme, host, port, path, slash: f"{scheme}://{host}{port}{path}{slash}",
    st.sampled_from(["http", "https"]),
    _hosts,
    st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}")),
    st.from_regex(r"(/[A-Za-z0-9._~-]{1,10}){0,3}", fullmatch=True),
    st.sampled_from(["", "/"]),
)
_names = st.one_of(
    st.sampled_from(list(BUILTIN_PROFILES)), st.from_regex(r"\w[\w.-]{0,20}", fullmatch=True)
)
_positive = st.floats(min_value=0.0, max_value=1e9, exclude_min=True)
_prices = st.none() | st.floats(min_value=0.0, max_value=1e6)


@st.composite
def _profiles(draw: st.DrawFn) -> Profile:
    low, high = sorted(draw(st.lists(st.integers(1, 2**31), min_size=2, max_size=2)))
    return Profile(
        name=draw(_names),
        base_url=draw(_urls),
        model=draw(st.text(min_size=1, max_size=40).filter(str.strip)),
        sampling=Sampling(
            temperature=draw(st.floats(0.0, 2.0)),
            max_tokens=draw(st.integers(1, 2**40)),
            top_p=draw(st.floats(0.0, 1.0, exclude_min=True)),
            top_k=draw(st.none() | st.integers(1, 10**6)),
            presence_penalty=draw(st.floats(-2.0, 2.0)),
        ),
        min_image_tokens=low,
        max_image_tokens=high,
        connect_timeout=draw(_positive),
        idle_timeout=draw(_positive),
        input_price_per_mtok=draw(_prices),
        output_price_per_mtok=draw(_prices),
        label=draw(st.text(max_size=30)),
    )


@st.composite
def _settings(draw: st.DrawFn) -> Settings:
    own = draw(st.lists(_profiles(), max_size=4, unique_by=lambda p: p.name))
    profiles = {**BUILTIN_PROFILES, **{p.name: p for p in own}}
    return Settings(
        default_profile=draw(st.sampled_from(list(profiles))),
        profiles=profiles,
        history_enabled=draw(st.booleans()),
        history_max_entries=draw(st.integers(1, 2**40)),
        history_max_days=draw(st.none() | st.integers(1, 10**5)),
    )


@hypothesis_settings(max_examples=150, deadline=None)
@given(original=_settings())
def test_save_then_load_round_trips(
    tmp_path_factory: pytest.TempPathFactory, original: Settings
) -> None:
    path = tmp_path_factory.mktemp("roundtrip") / "settings.toml"

    save_settings(original, path)
    result = load_settings(path)

    assert result.warnings == ()
    assert result.settings == original
    assert os.listdir(path.parent) == ["settings.toml"]


def test_ocr_engine_setting_round_trips_and_bad_values_fall_back(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    saved = dataclasses.replace(Settings(), ocr_engine="local")
    save_settings(saved, path)
    assert 'ocr_engine = "local"' in path.read_text()
    assert load_settings(path).settings.ocr_engine == "local"
    path.write_text('ocr_engine = "psychic"\n')
    result = load_settings(path)
    assert result.settings.ocr_engine == "auto"
    assert any("ocr_engine" in w for w in result.warnings)


# --- version 2: [general], presets ---------------------------------------------------------


def test_migration_1_to_2_moves_ocr_engine_into_general(config: Path) -> None:
    write(config, 'version = 1\nocr_engine = "local"\ndefault_profile = "vllm"\n')

    result = load_settings()

    assert result.warnings == ()
    assert result.settings.ocr_engine == "local"
    assert result.settings.default_profile == "vllm"
    doc = tomllib.loads(save_settings(result.settings).read_text(encoding="utf-8"))
    assert doc == {"version": 2, "default_profile": "vllm", "general": {"ocr_engine": "local"}}


def test_migration_1_to_2_keeps_a_general_table_written_by_hand(config: Path) -> None:
    write(config, 'version = 1\nocr_engine = "endpoint"\n[general]\ntheme = "dark"\n')

    result = load_settings()

    assert result.warnings == ()
    assert (result.settings.ocr_engine, result.settings.theme) == ("endpoint", "dark")


def test_general_and_history_values_round_trip(config: Path) -> None:
    settings = dataclasses.replace(
        Settings(),
        start_at_login=True,
        panel_placement="cursor",
        panel_font_size=14,
        theme="light",
        history_store_images="full",
    )
    save_settings(settings)

    result = load_settings()

    assert result.warnings == ()
    assert result.settings == settings


@pytest.mark.parametrize(
    ("line", "field", "default"),
    [
        ('theme = "purple"', "theme", "system"),
        ("panel_font_size = 100", "panel_font_size", None),
        ('panel_placement = "moon"', "panel_placement", "beside"),
        ("start_at_login = 1", "start_at_login", False),
        ('keyring = "paper"', "keyring", "system"),
    ],
)
def test_a_bad_general_value_falls_back_with_a_warning(
    config: Path, line: str, field: str, default: object
) -> None:
    write(config, f"version = 2\n[general]\n{line}\n")

    result = load_settings()

    assert getattr(result.settings, field) == default
    assert f"general.{line.split(maxsplit=1)[0]}" in only_warning(result)


def test_presets_builtin_overrides_and_user_presets_load(config: Path) -> None:
    write(
        config,
        "version = 2\n"
        'default_preset = "german"\n'
        "[presets.ocr]\n"
        'profile = "vllm"\n'
        "auto_copy = false\n"
        "[presets.german]\n"
        'label = "Translate to German"\n'
        'prompt = "Translate the text in the image into German."\n'
        "auto_copy = true\n",
    )

    result = load_settings()

    assert result.warnings == ()
    settings = result.settings
    assert list(settings.presets) == [*PRESETS, "german"]
    ocr = settings.presets["ocr"]
    assert (ocr.profile, ocr.auto_copy, ocr.prompt) == ("vllm", False, PRESETS["ocr"].prompt)
    german = settings.preset()
    assert german.name == "german"
    assert (german.kind, german.auto_copy, german.hotkey) == ("prompt", True, "")
    doc = tomllib.loads(save_settings(settings).read_text(encoding="utf-8"))
    assert doc["presets"]["ocr"] == {"profile": "vllm", "auto_copy": False}
    assert doc["presets"]["german"]["prompt"].startswith("Translate the text")
    assert load_settings().settings == settings


def test_a_preset_without_prompt_or_with_an_unknown_profile_is_reported(config: Path) -> None:
    write(
        config,
        "version = 2\n"
        "[presets.empty]\n"
        'label = "Nothing"\n'
        "[presets.elsewhere]\n"
        'prompt = "Read it."\n'
        'profile = "nowhere"\n'
        "[presets.table]\n"
        'kind = "dance"\n',
    )

    result = load_settings()

    assert "empty" not in result.settings.presets
    assert result.settings.presets["elsewhere"].profile == ""
    assert result.settings.presets["table"].kind == "prompt"
    text = " | ".join(result.warnings)
    assert "preset empty needs a prompt" in text
    assert "presets.elsewhere.profile" in text
    assert "presets.table.kind" in text
    assert len(result.warnings) == 3


def test_settings_refuse_a_preset_with_an_unknown_profile() -> None:
    bad = dataclasses.replace(PRESETS["ocr"], profile="nowhere")
    with pytest.raises(ConfigError, match="Unknown profile 'nowhere'"):
        replace_preset(Settings(), bad)


def test_removing_a_profile_sends_its_presets_to_the_default_profile() -> None:
    settings = replace_profile(Settings(), mybox())
    settings = replace_preset(settings, dataclasses.replace(PRESETS["ocr"], profile="mybox"))

    after = remove_profile(settings, "mybox")

    assert after.presets["ocr"].profile == ""


def test_removing_a_preset_restores_a_builtin_or_drops_a_users() -> None:
    mine = Preset("mine", "Mine", "Do it.")
    settings = dataclasses.replace(replace_preset(Settings(), mine), default_preset="mine")
    settings = replace_preset(settings, dataclasses.replace(PRESETS["ask"], label="Question"))

    settings = remove_preset(remove_preset(settings, "mine"), "ask")

    assert "mine" not in settings.presets
    assert settings.default_preset == "ocr"
    assert settings.presets["ask"] == PRESETS["ask"]
    with pytest.raises(ConfigError, match="Unknown preset"):
        remove_preset(settings, "mine")
