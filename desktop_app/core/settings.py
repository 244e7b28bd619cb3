"""The settings file: one typed schema, loaded leniently, saved atomically.

The file is TOML a person can edit (``settings.toml`` in :func:`config_dir`). It lists
only what differs from the built-in defaults, so it stays short::

    version = 2
    default_profile = "vllm"
    default_preset = "ocr"

    [general]
    ocr_engine = "auto"
    theme = "system"

    [history]
    enabled = true
    max_entries = 10000
    store_images = "thumbnail"

    [profiles.vllm]                      # a built-in: only the keys set here change
    model = "Qwen/Qwen3-VL-8B-Instruct-FP8"
    temperature = 0.2

    [profiles.mybox]                     # a new profile: base_url and model required
    base_url = "http://gpu-box:8000/v1"
    model = "Qwen/Qwen3-VL-8B-Instruct"

    [presets.ocr]                        # a built-in preset: only the keys set here change
    profile = "vllm"                     # text extraction goes to the local server

    [presets.german]                     # a new preset: prompt required
    label = "Translate to German"
    prompt = "Translate all the text in the image into German."
    auto_copy = true

Sampling parameters are flat keys of a profile table. Optional numbers (``top_k``, the
prices) are unset when absent; ``false`` unsets one that a built-in profile sets.

Loading never fails. A file that cannot be used at all (not UTF-8, not TOML, a table
where a value belongs, a newer schema version) is renamed to
``settings.toml.corrupt-YYYYmmdd-HHMMSS`` and the defaults load; one bad value falls
back to its default; unknown keys are ignored. Each of these gives one warning sentence.

API keys never live here: see :mod:`desktop_app.core.secrets`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import math
import os
import re
import stat
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from desktop_app.core.errors import ConfigError
from desktop_app.core.files import corrupt_backup_path
from desktop_app.core.models import Sampling
from desktop_app.core.prompts import KINDS, PRESETS, Preset

__all__ = [
    "BUILTIN_PROFILES",
    "CONFIG_DIR_ENV",
    "CUSTOM_PROFILE",
    "DATA_DIR_ENV",
    "DEFAULT_PRESET",
    "DEFAULT_PROFILE",
    "ENDPOINT_ENV",
    "MIGRATIONS",
    "MODEL_ENV",
    "SCHEMA_VERSION",
    "LoadResult",
    "Profile",
    "Settings",
    "config_dir",
    "data_dir",
    "load_settings",
    "remove_preset",
    "remove_profile",
    "replace_preset",
    "replace_profile",
    "resolve_profile",
    "save_settings",
    "settings_path",
    "validate_base_url",
    "validate_profile_name",
    "with_default_profile",
]

SCHEMA_VERSION = 2
"""The version of the file format this code writes. Bump it and add a MIGRATIONS entry."""

APP_NAME: Final = "screenscribe"
CONFIG_DIR_ENV: Final = "SCREENSCRIBE_CONFIG_DIR"
DATA_DIR_ENV: Final = "SCREENSCRIBE_DATA_DIR"
ENDPOINT_ENV: Final = "SCREENSCRIBE_ENDPOINT"
MODEL_ENV: Final = "SCREENSCRIBE_MODEL"
DEFAULT_PROFILE: Final = "hosted"
DEFAULT_PRESET: Final = "ocr"
CUSTOM_PROFILE: Final = "custom"
"""Name of the profile :func:`resolve_profile` makes for an endpoint given without a profile."""

_FILE_NAME: Final = "settings.toml"
_HEADER: Final = (
    "# ScreenScribe settings. Only values that differ from the defaults are listed;\n"
    "# delete a line to return to its default. API keys live in the system keyring,\n"
    "# never in this file.\n\n"
)


# --- locations ---------------------------------------------------------------------


def _dir_from_env(var: str) -> Path | None:
    value = os.environ.get(var, "").strip()
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """``$SCREENSCRIBE_CONFIG_DIR``, else the platform's per-user config directory.

    Nothing is created here; :func:`save_settings` creates the directory.
    """
    override = _dir_from_env(CONFIG_DIR_ENV)
    if override is not None:
        return override
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """``$SCREENSCRIBE_DATA_DIR``, else the platform's per-user data directory."""
    override = _dir_from_env(DATA_DIR_ENV)
    if override is not None:
        return override
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def settings_path() -> Path:
    return config_dir() / _FILE_NAME


# --- value checks (shared by the dataclasses and the loader) ------------------------


_T = TypeVar("_T")


class _Invalid(ValueError):
    """A value broke a rule; ``reason`` completes the sentence "<key> ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_NAME_RE: Final = re.compile(r"\w[\w.-]{0,63}")


def validate_profile_name(name: str) -> str:
    """A profile name: 1-64 letters, digits, ``_``, ``.`` or ``-``, starting with a letter,
    digit or ``_``. It names the keyring entry and the ``--profile`` flag."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"Invalid profile name {name!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter, digit or '_'."
        )
    return name


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        return "is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host name"
    if parts.username is not None or parts.password is not None:
        return "must not contain a user name or password (API keys belong in the keyring)"
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return "must not contain a query (?) or fragment (#)"
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    return None


def validate_base_url(url: str) -> str:
    """Check an OpenAI-compatible base URL and return it without trailing slashes.

    It must be ``http`` or ``https`` with a host, e.g. ``http://127.0.0.1:8000/v1``.
    """
    if not isinstance(url, str):
        raise ConfigError(f"The base URL must be text, not {type(url).__name__}.")
    cleaned = url.strip().rstrip("/")
    problem = _url_problem(cleaned)
    if problem is not None:
        raise ConfigError(f"The base URL {_show(url)} {problem}.")
    return cleaned


def _check_url(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid('must be a text URL such as "http://127.0.0.1:8000/v1"')
    cleaned = value.strip().rstrip("/")
    problem = _url_problem(cleaned)
    if problem is not None:
        raise _Invalid(problem)
    return cleaned


def _check_text(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid("must be text in quotes")
    return value


def _check_model(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be a model name in quotes")
    return value.strip()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number_rule(
    minimum: float, maximum: float | None = None, *, above: bool = False
) -> Callable[[object], float]:
    if maximum is not None:
        text = f"must be a number from {minimum:g} to {maximum:g}"
    elif above:
        text = f"must be a number greater than {minimum:g}"
    else:
        text = f"must be a number of at least {minimum:g}"

    def check(value: object) -> float:
        if not _is_number(value):
            raise _Invalid(text)
        number = float(value)  # type: ignore[arg-type]
        if (
            not math.isfinite(number)
            or number < minimum
            or (above and number == minimum)
            or (maximum is not None and number > maximum)
        ):
            raise _Invalid(text)
        return number

    return check


def _integer_rule(minimum: int) -> Callable[[object], int]:
    text = f"must be a whole number of at least {minimum}"

    def check(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise _Invalid(text)
        return value

    return check


def _optional(rule: Callable[[object], _T]) -> Callable[[object], _T | None]:
    """``None`` (in code) or ``false`` (in the file) mean "not set"."""

    def check(value: object) -> _T | None:
        if value is None or value is False:
            return None
        try:
            return rule(value)
        except _Invalid as exc:
            raise _Invalid(f"{exc.reason}, or false for none") from None

    return check


def _check_bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


_check_temperature = _number_rule(0.0, 2.0)
_check_max_tokens = _integer_rule(1)
_check_top_p = _number_rule(0.0, 1.0, above=True)
_check_top_k = _optional(_integer_rule(1))
_check_presence_penalty = _number_rule(-2.0, 2.0)
_check_image_tokens = _integer_rule(1)
_check_timeout = _number_rule(0.0, above=True)
_check_price = _optional(_number_rule(0.0))
_check_positive_int = _integer_rule(1)
_check_optional_days = _optional(_integer_rule(1))

_PROFILE_RULES: Final[Mapping[str, Callable[[object], object]]] = MappingProxyType(
    {
        "label": _check_text,
        "base_url": _check_url,
        "model": _check_model,
        "temperature": _check_temperature,
        "max_tokens": _check_max_tokens,
        "top_p": _check_top_p,
        "top_k": _check_top_k,
        "presence_penalty": _check_presence_penalty,
        "min_image_tokens": _check_image_tokens,
        "max_image_tokens": _check_image_tokens,
        "connect_timeout": _check_timeout,
        "idle_timeout": _check_timeout,
        "input_price_per_mtok": _check_price,
        "output_price_per_mtok": _check_price,
    }
)
"""Every key of a profile table, in the order the file lists them."""

_SAMPLING_KEYS: Final = ("temperature", "max_tokens", "top_p", "top_k", "presence_penalty")
_REQUIRED_KEYS: Final = ("base_url", "model")

OCR_ENGINES: Final = ("auto", "local", "endpoint")
PANEL_PLACEMENTS: Final = ("beside", "cursor", "center")
THEMES: Final = ("system", "light", "dark")
KEYRINGS: Final = ("system", "file")
STORE_IMAGES: Final = ("thumbnail", "full")


def _choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    text = "must be one of " + ", ".join(f'"{c}"' for c in choices)

    def check(value: object) -> str:
        if value not in choices:
            raise _Invalid(text)
        return str(value)

    return check


def _check_font_size(value: object) -> int | None:
    if value is None or value is False or value == 0:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 6 <= value <= 48:
        raise _Invalid("must be a point size from 6 to 48, or 0 for the system's")
    return value


def _check_prompt(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("must be the prompt's text in quotes")
    return value.strip()


def _check_profile_ref(value: object) -> str:
    if not isinstance(value, str) or (value and not _NAME_RE.fullmatch(value)):
        raise _Invalid('must be a profile name, or "" for the default profile')
    return value


_HISTORY_RULES: Final[Mapping[str, Callable[[object], object]]] = MappingProxyType(
    {
        "enabled": _check_bool,
        "max_entries": _check_positive_int,
        "max_days": _check_optional_days,
        "store_images": _choice(STORE_IMAGES),
    }
)
_GENERAL_RULES: Final[Mapping[str, Callable[[object], object]]] = MappingProxyType(
    {
        "ocr_engine": _choice(OCR_ENGINES),
        "start_at_login": _check_bool,
        "panel_placement": _choice(PANEL_PLACEMENTS),
        "panel_font_size": _check_font_size,
        "theme": _choice(THEMES),
        "keyring": _choice(KEYRINGS),
        "clipboard_hotkey": _check_text,
    }
)
_PRESET_RULES: Final[Mapping[str, Callable[[object], object]]] = MappingProxyType(
    {
        "label": _check_text,
        "prompt": _check_prompt,
        "kind": _choice(KINDS),
        "profile": _check_profile_ref,
        "auto_copy": _check_bool,
        "hotkey": _check_text,
    }
)
# Settings attribute for each key of a table: (table, key) -> attribute
_FIELDS: Final[Mapping[tuple[str, str], str]] = MappingProxyType(
    {
        **{("history", k): f"history_{k}" for k in _HISTORY_RULES},
        **{("general", k): k for k in _GENERAL_RULES},
    }
)
_TOP_LEVEL_KEYS: Final = (
    "version",
    "default_profile",
    "default_preset",
    "general",
    "history",
    "profiles",
    "presets",
)


# --- the schema ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """One endpoint and how to talk to it. It never holds an API key (see ``secrets``).

    Construction checks every value and raises :class:`ConfigError`; ``base_url`` loses
    trailing slashes and ``model`` surrounding whitespace.
    """

    name: str
    base_url: str
    model: str
    sampling: Sampling = field(default_factory=Sampling)
    min_image_tokens: int = 64
    max_image_tokens: int = 16384
    connect_timeout: float = 5.0
    idle_timeout: float = 120.0  # seconds without a byte from the server
    input_price_per_mtok: float | None = None  # USD per million tokens
    output_price_per_mtok: float | None = None
    label: str = ""  # for people; the name is for flags and the keyring

    def __post_init__(self) -> None:
        validate_profile_name(self.name)
        values = _flatten(self)
        for key, rule in _PROFILE_RULES.items():
            try:
                values[key] = rule(values[key])
            except _Invalid as exc:
                raise ConfigError(
                    f"Profile {self.name!r}: {key} {exc.reason}, not {_show(values[key])}."
                ) from None
        if values["min_image_tokens"] > values["max_image_tokens"]:  # type: ignore[operator]
            raise ConfigError(
                f"Profile {self.name!r}: min_image_tokens ({self.min_image_tokens}) is larger "
                f"than max_image_tokens ({self.max_image_tokens})."
            )
        sampling = Sampling(**{k: values.pop(k) for k in _SAMPLING_KEYS})  # type: ignore[arg-type]
        object.__setattr__(self, "sampling", sampling)
        for key, value in values.items():
            object.__setattr__(self, key, value)

    @property
    def display_name(self) -> str:
        return self.label or self.name


def _flatten(profile: Profile) -> dict[str, object]:
    """The profile as the flat keys of a file table (all of them, name excluded)."""
    flat: dict[str, object] = {}
    for key in _PROFILE_RULES:
        if key in _SAMPLING_KEYS:
            flat[key] = getattr(profile.sampling, key)
        else:
            flat[key] = getattr(profile, key)
    return flat


def _unflatten(name: str, flat: Mapping[str, object]) -> Profile:
    values = dict(flat)
    sampling = Sampling(**{k: values.pop(k) for k in _SAMPLING_KEYS})  # type: ignore[arg-type]
    return Profile(name=name, sampling=sampling, **values)  # type: ignore[arg-type]


def _builtin(name: str, label: str, base_url: str, model: str, **extra: Any) -> Profile:
    return Profile(name=name, label=label, base_url=base_url, model=model, **extra)


BUILTIN_PROFILES: Final[Mapping[str, Profile]] = MappingProxyType(
    {
        p.name: p
        for p in (
            _builtin(
                "hosted",
                "Hosted API (Qubrid)",
                "https://platform.qubrid.com/v1",
                "Qwen/Qwen3-VL-8B-Instruct",
                input_price_per_mtok=0.25,
                output_price_per_mtok=0.44,
            ),
            _builtin(
                "vllm", "vLLM (local)", "http://127.0.0.1:8000/v1", "Qwen/Qwen3-VL-8B-Instruct"
            ),
            _builtin(
                "ollama", "Ollama (local)", "http://127.0.0.1:11434/v1", "qwen3-vl:8b-instruct"
            ),
            _builtin(
                "lmstudio", "LM Studio (local)", "http://127.0.0.1:1234/v1", "qwen/qwen3-vl-8b"
            ),
            _builtin(
                "llamacpp",
                "llama.cpp server (local)",
                "http://127.0.0.1:8080/v1",
                "Qwen3-VL-8B-Instruct",
            ),
        )
    }
)
"""The profiles every installation has. A file table of the same name overrides keys."""

# Fallbacks for a user's own profile (base_url and model have none: they are required).
_PROFILE_DEFAULTS: Final[Mapping[str, object]] = MappingProxyType(
    {
        key: value
        for key, value in _flatten(Profile(name="defaults", base_url="http://x", model="m")).items()
        if key not in _REQUIRED_KEYS
    }
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the settings file holds. ``profiles`` holds the built-ins and the user's."""

    version: int = SCHEMA_VERSION
    default_profile: str = DEFAULT_PROFILE
    profiles: Mapping[str, Profile] = field(default_factory=lambda: BUILTIN_PROFILES)
    default_preset: str = DEFAULT_PRESET
    presets: Mapping[str, Preset] = field(default_factory=lambda: PRESETS)
    # The [general] table. Who extracts text: "auto" (the model when an endpoint is
    # configured, else the offline engine), "local" (always offline) or "endpoint".
    ocr_engine: str = "auto"
    start_at_login: bool = False
    panel_placement: str = "beside"  # beside the region, at the cursor, screen centre
    panel_font_size: int | None = None  # points; None: the system's
    theme: str = "system"
    keyring: str = "system"  # "file": the user chose a file-backed keyring, warned
    clipboard_hotkey: str = "Ctrl+Alt+V"  # reads the clipboard's image; "" for none
    # The [history] table.
    history_enabled: bool = True
    history_max_entries: int = 10000
    history_max_days: int | None = None
    history_store_images: str = "thumbnail"

    def preset(self, name: str | None = None) -> Preset:
        """The preset ``name`` (default: ``default_preset``); the built-in OCR preset
        for a name not known."""
        return self.presets.get(name or self.default_preset) or PRESETS[DEFAULT_PRESET]

    def __post_init__(self) -> None:
        profiles = dict(self.profiles)
        for key, profile in profiles.items():
            if not isinstance(profile, Profile):
                raise ConfigError(f"Settings: profiles[{key!r}] is not a Profile.")
            if profile.name != key:
                raise ConfigError(
                    f"Settings: the profile {profile.name!r} is stored under {key!r}; "
                    "the key must be its name."
                )
        if self.default_profile not in profiles:
            raise ConfigError(_unknown_profile_message(self.default_profile, profiles))
        for (table, key), attribute in _FIELDS.items():
            value = getattr(self, attribute)
            try:
                {**_HISTORY_RULES, **_GENERAL_RULES}[key](value)
            except _Invalid as exc:
                raise ConfigError(
                    f"Settings: {table}.{key} {exc.reason}, not {_show(value)}."
                ) from None
        presets = dict(self.presets)
        for key, preset in presets.items():
            _check_preset(preset, key, profiles)
        if self.default_preset not in presets:
            raise ConfigError(
                f"Unknown preset {self.default_preset!r}. Known presets: {', '.join(presets)}."
            )
        object.__setattr__(self, "profiles", MappingProxyType(profiles))
        object.__setattr__(self, "presets", MappingProxyType(presets))


def _check_preset(preset: object, key: str, profiles: Mapping[str, Profile]) -> None:
    if not isinstance(preset, Preset):
        raise ConfigError(f"Settings: presets[{key!r}] is not a Preset.")
    if preset.name != key:
        raise ConfigError(
            f"Settings: the preset {preset.name!r} is stored under {key!r}; "
            "the key must be its name."
        )
    if not _NAME_RE.fullmatch(key):
        raise ConfigError(
            f"Invalid preset name {key!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter, digit or '_'."
        )
    for field_name, rule in _PRESET_RULES.items():
        value = getattr(preset, field_name)
        try:
            rule(value)
        except _Invalid as exc:
            raise ConfigError(
                f"Preset {key!r}: {field_name} {exc.reason}, not {_show(value)}."
            ) from None
    if preset.profile and preset.profile not in profiles:
        raise ConfigError(f"Preset {key!r}: {_unknown_profile_message(preset.profile, profiles)}")


@dataclass(frozen=True, slots=True)
class LoadResult:
    settings: Settings
    warnings: tuple[str, ...] = ()


def _unknown_profile_message(name: str, profiles: Mapping[str, Profile]) -> str:
    known = ", ".join(profiles)
    return f"Unknown profile {name!r}. Known profiles: {known}."


# --- small helpers for callers -------------------------------------------------------


def replace_profile(settings: Settings, profile: Profile) -> Settings:
    """Add ``profile``, or replace the one with its name."""
    profiles = dict(settings.profiles)
    profiles[profile.name] = profile
    return dataclasses.replace(settings, profiles=profiles)


def remove_profile(settings: Settings, name: str) -> Settings:
    """Remove a user's profile, or return a built-in one to its defaults.

    When the removed profile was the default, the default becomes ``hosted``.
    """
    if name not in settings.profiles:
        raise ConfigError(_unknown_profile_message(name, settings.profiles))
    profiles = dict(settings.profiles)
    if name in BUILTIN_PROFILES:
        profiles[name] = BUILTIN_PROFILES[name]
        default = settings.default_profile
    else:
        del profiles[name]
        default = DEFAULT_PROFILE if settings.default_profile == name else settings.default_profile
    presets = {  # presets that used a removed profile fall back to the default one
        k: p if p.profile in profiles or not p.profile else dataclasses.replace(p, profile="")
        for k, p in settings.presets.items()
    }
    return dataclasses.replace(
        settings, profiles=profiles, default_profile=default, presets=presets
    )


def replace_preset(settings: Settings, preset: Preset) -> Settings:
    """Add ``preset``, or replace the one with its name."""
    presets = dict(settings.presets)
    presets[preset.name] = preset
    return dataclasses.replace(settings, presets=presets)


def remove_preset(settings: Settings, name: str) -> Settings:
    """Remove a user's preset, or return a built-in one to its defaults."""
    if name not in settings.presets:
        raise ConfigError(f"Unknown preset {name!r}. Known presets: {', '.join(settings.presets)}.")
    presets = dict(settings.presets)
    if name in PRESETS:
        presets[name] = PRESETS[name]
        default = settings.default_preset
    else:
        del presets[name]
        default = DEFAULT_PRESET if settings.default_preset == name else settings.default_preset
    return dataclasses.replace(settings, presets=presets, default_preset=default)


def with_default_profile(settings: Settings, name: str) -> Settings:
    if name not in settings.profiles:
        raise ConfigError(_unknown_profile_message(name, settings.profiles))
    return dataclasses.replace(settings, default_profile=name)


def resolve_profile(
    settings: Settings,
    name: str | None = None,
    *,
    endpoint: str | None = None,
    model: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Profile:
    """The profile a request uses: settings, then environment, then explicit arguments.

    ``name`` picks the profile (else ``settings.default_profile``). ``$SCREENSCRIBE_ENDPOINT``
    and ``$SCREENSCRIBE_MODEL`` override its base URL and model; ``endpoint`` and ``model``
    override those. An endpoint without a profile ``name`` yields a profile named
    ``custom`` (so the default profile's API key is not sent to another server) with the
    given model, else the default profile's model and settings, and no prices. A model
    other than the profile's drops the prices too: they were for the profile's model.
    """
    env = os.environ if env is None else env
    chosen = settings.default_profile if name is None else name
    profile = settings.profiles.get(chosen)
    if profile is None:
        raise ConfigError(_unknown_profile_message(chosen, settings.profiles))

    url: str | None = None
    if endpoint is not None:
        url = validate_base_url(endpoint)
    elif env.get(ENDPOINT_ENV, "").strip():
        try:
            url = validate_base_url(env[ENDPOINT_ENV])
        except ConfigError as exc:
            raise ConfigError(f"${ENDPOINT_ENV}: {exc}") from None

    new_model: str | None = None
    if model is not None:
        if not model.strip():
            raise ConfigError("The model name is empty.")
        new_model = model.strip()
    elif env.get(MODEL_ENV, "").strip():
        new_model = env[MODEL_ENV].strip()

    if url is not None and name is None and url != profile.base_url:
        return dataclasses.replace(
            profile,
            name=CUSTOM_PROFILE,
            label="Custom endpoint",
            base_url=url,
            model=new_model or profile.model,
            input_price_per_mtok=None,
            output_price_per_mtok=None,
        )
    changes: dict[str, Any] = {}
    if url is not None:
        changes["base_url"] = url
    if new_model is not None and new_model != profile.model:
        changes.update(model=new_model, input_price_per_mtok=None, output_price_per_mtok=None)
    return dataclasses.replace(profile, **changes) if changes else profile


# --- migrations ----------------------------------------------------------------------


def _migrate_0_to_1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0 is a file without a version key; its content is already version 1."""
    return {**data, "version": 1}


def _migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 gathers the app-wide preferences in a [general] table (ocr_engine was
    top-level) and adds presets, which need nothing from version 1."""
    data = {**data, "version": 2}
    if "ocr_engine" in data:
        general = data.get("general", {})
        if not isinstance(general, dict):
            raise TypeError("general is not a table")
        data["general"] = {"ocr_engine": data.pop("ocr_engine"), **general}
    return data


Migration = Callable[[dict[str, Any]], dict[str, Any]]
MIGRATIONS: dict[int, Migration] = {0: _migrate_0_to_1, 1: _migrate_1_to_2}
"""``{from_version: function}``; each returns the data of ``from_version + 1`` with that
version set. A new schema version adds one entry here and bumps SCHEMA_VERSION."""


def _migrate(data: dict[str, Any], version: int) -> dict[str, Any]:
    while version < SCHEMA_VERSION:
        migration = MIGRATIONS[version]
        try:
            data = migration(dict(data))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            # A hand-edited old file the migration cannot make sense of.
            raise _Corrupt(
                f"could not be upgraded from settings version {version} ({exc})"
            ) from None
        if data.get("version") != version + 1:
            raise RuntimeError(f"settings migration from version {version} did not set it")
        version += 1
    return data


# --- loading -------------------------------------------------------------------------


class _Corrupt(Exception):
    """The file as a whole cannot be used; ``problem`` completes "The settings file X ..."."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


_BARE_KEY_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_USERINFO_RE: Final = re.compile(r"(?<=://)[^/?#@]*@")


def _key(*parts: str) -> str:
    """A dotted TOML key as the file would spell it."""
    return ".".join(p if _BARE_KEY_RE.fullmatch(p) else _quote(p) for p in parts)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _show(value: object) -> str:
    """A value as a short TOML-ish literal for messages."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = _quote(_USERINFO_RE.sub("***@", value))  # no passwords from URLs in messages
    elif isinstance(value, dict):
        text = "a table"
    elif isinstance(value, list):
        text = "a list"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Reader:
    """Turns the parsed file into Settings, collecting one warning per problem."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.warnings: list[str] = []

    def warn(self, message: str) -> None:
        self.warnings.append(f"{self.path}: {message}")

    def unknown(self, key: str, known: tuple[str, ...] | Mapping[str, object], *where: str) -> None:
        hint = difflib.get_close_matches(key, list(known), n=1)
        suggestion = f" (did you mean {hint[0]}?)" if hint else ""
        self.warn(f"unknown key {_key(*where, key)} is ignored{suggestion}.")

    def settings(self, data: Mapping[str, Any]) -> Settings:
        for key in data:
            if key not in _TOP_LEVEL_KEYS:
                self.unknown(key, _TOP_LEVEL_KEYS)
        profiles = self.profiles(data.get("profiles", {}))
        presets = self.presets(data.get("presets", {}), profiles)
        values = self.table("history", data.get("history", {}), _HISTORY_RULES)
        values.update(self.table("general", data.get("general", {}), _GENERAL_RULES))
        default = data.get("default_profile", DEFAULT_PROFILE)
        if not isinstance(default, str) or default not in profiles:
            self.warn(
                f"default_profile {_show(default)} is not one of the profiles "
                f"({', '.join(profiles)}); using {_quote(DEFAULT_PROFILE)}."
            )
            default = DEFAULT_PROFILE
        default_preset = data.get("default_preset", DEFAULT_PRESET)
        if not isinstance(default_preset, str) or default_preset not in presets:
            self.warn(
                f"default_preset {_show(default_preset)} is not one of the presets "
                f"({', '.join(presets)}); using {_quote(DEFAULT_PRESET)}."
            )
            default_preset = DEFAULT_PRESET
        return Settings(
            version=SCHEMA_VERSION,
            default_profile=default,
            profiles=profiles,
            default_preset=default_preset,
            presets=presets,
            **values,  # type: ignore[arg-type]
        )

    def table(
        self, name: str, table: Mapping[str, Any], rules: Mapping[str, Callable[[object], object]]
    ) -> dict[str, object]:
        """The Settings attributes of a [name] table of single values, defaults filled in."""
        defaults = Settings()
        values: dict[str, object] = {}
        for key in rules:
            attribute = _FIELDS[name, key]
            values[attribute] = getattr(defaults, attribute)
        for key, raw in table.items():
            rule = rules.get(key)
            if rule is None:
                self.unknown(key, rules, name)
                continue
            attribute = _FIELDS[name, key]
            try:
                values[attribute] = rule(raw)
            except _Invalid as exc:
                self.warn(
                    f"{_key(name, key)} {exc.reason}, not {_show(raw)}; "
                    f"using the default, {_show(values[attribute])}."
                )
        return values

    def presets(
        self, tables: Mapping[str, Any], profiles: Mapping[str, Profile]
    ) -> dict[str, Preset]:
        presets = dict(PRESETS)
        for name, table in tables.items():
            where = _key("presets", name)
            if not isinstance(table, dict):
                self.warn(f"{where} must be a table ([{where}]), not {_show(table)}; ignored.")
                continue
            if not _NAME_RE.fullmatch(name):
                self.warn(f"invalid preset name {where}; the preset is ignored.")
                continue
            base = presets.get(name)
            values: dict[str, object] = {k: getattr(base, k) for k in _PRESET_RULES} if base else {}
            for key, raw in table.items():
                rule = _PRESET_RULES.get(key)
                if rule is None:
                    self.unknown(key, _PRESET_RULES, "presets", name)
                    continue
                try:
                    values[key] = rule(raw)
                except _Invalid as exc:
                    fallback = "using the default" if base else "ignored"
                    self.warn(
                        f"{_key('presets', name, key)} {exc.reason}, not {_show(raw)}; {fallback}."
                    )
            if "prompt" not in values:
                self.warn(f"preset {_key(name)} needs a prompt; the preset is ignored.")
                continue
            profile = values.get("profile", "")
            if profile and profile not in profiles:
                self.warn(
                    f"{_key('presets', name, 'profile')} {_show(profile)} is not one of the "
                    "profiles; the default profile answers it."
                )
                values["profile"] = ""
            values.setdefault("label", "")
            presets[name] = Preset(name=name, **values)  # type: ignore[arg-type]
        return presets

    def profiles(self, tables: Mapping[str, Any]) -> dict[str, Profile]:
        profiles = dict(BUILTIN_PROFILES)
        for name, table in tables.items():
            where = _key("profiles", name)
            if not isinstance(table, dict):
                self.warn(f"{where} must be a table ([{where}]), not {_show(table)}; ignored.")
                continue
            try:
                validate_profile_name(name)
            except ConfigError as exc:
                self.warn(f"{exc} The profile {where} is ignored.")
                continue
            profile = self.profile(name, table, profiles.get(name))
            if profile is not None:
                profiles[name] = profile
        return profiles

    def profile(self, name: str, table: Mapping[str, Any], base: Profile | None) -> Profile | None:
        where = ("profiles", name)
        fallback: Mapping[str, object] = _flatten(base) if base else _PROFILE_DEFAULTS
        values: dict[str, object] = {}
        for key, raw in table.items():
            if key in ("api_key", "key", "token", "apikey"):
                # Never echo the value: it is probably a secret.
                self.warn(
                    f"{_key(*where, key)} is ignored: API keys are kept in the system keyring "
                    "(or $SCREENSCRIBE_API_KEY), never in the settings file; "
                    "remove it from the file."
                )
                continue
            rule = _PROFILE_RULES.get(key)
            if rule is None:
                self.unknown(key, _PROFILE_RULES, *where)
                continue
            try:
                values[key] = rule(raw)
            except _Invalid as exc:
                if key in fallback:
                    outcome = f"using the default, {_show(fallback[key])}"
                else:
                    outcome = "the profile is ignored"
                self.warn(f"{_key(*where, key)} {exc.reason}, not {_show(raw)}; {outcome}.")
        missing = [k for k in _REQUIRED_KEYS if k not in values and k not in fallback]
        if missing:
            if not any(k in table for k in missing):
                self.warn(
                    f"profile {_key(name)} needs {' and '.join(missing)}; the profile is ignored."
                )
            return None
        merged = {**fallback, **values}
        low, high = merged["min_image_tokens"], merged["max_image_tokens"]
        if low > high:  # type: ignore[operator]
            self.warn(
                f"{_key(*where)}: min_image_tokens ({low}) is larger than max_image_tokens "
                f"({high}); using the defaults for both."
            )
            for key in ("min_image_tokens", "max_image_tokens"):
                merged[key] = fallback[key]
        try:
            return _unflatten(name, merged)
        except ConfigError as exc:  # pragma: no cover - every rule was checked above
            self.warn(f"{exc} The profile is ignored.")
            return None


def _corrupt_backup(path: Path) -> Path:
    backup = corrupt_backup_path(path)
    os.replace(path, backup)
    return backup


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig")  # tolerate the BOM some Windows editors add
    except UnicodeDecodeError as exc:
        raise _Corrupt(f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _Corrupt(f"is not valid TOML ({exc})") from None
    version = data.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise _Corrupt(f"has an invalid version {_show(version)}")
    if version > SCHEMA_VERSION:
        raise _Corrupt(
            f"was written by a newer ScreenScribe (settings version {version}; "
            f"this one reads up to version {SCHEMA_VERSION})"
        )
    data = _migrate(data, version)
    for table in ("general", "history", "profiles", "presets"):
        if table in data and not isinstance(data[table], dict):
            raise _Corrupt(f"has {table} = {_show(data[table])} where a [{table}] table belongs")
    return data


def load_settings(path: Path | None = None) -> LoadResult:
    """Read the settings file; never raises. See the module docstring for the rules."""
    path = settings_path() if path is None else path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoadResult(Settings())
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return LoadResult(
            Settings(),
            (f"Could not read the settings file {path} ({reason}); using the defaults.",),
        )
    try:
        data = _parse(raw)
    except _Corrupt as exc:
        try:
            backup = _corrupt_backup(path)
        except OSError as move_error:
            reason = move_error.strerror or type(move_error).__name__
            where = f"it could not be renamed ({reason}) and will be replaced on the next save"
        else:
            where = f"it was renamed to {backup}"
        message = f"The settings file {path} {exc.problem}; {where}, and the defaults are in use."
        return LoadResult(Settings(), (message,))
    reader = _Reader(path)
    settings = reader.settings(data)
    return LoadResult(settings, tuple(reader.warnings))


# --- saving --------------------------------------------------------------------------


def _to_document(settings: Settings, *, full: bool = False) -> dict[str, Any]:
    """The settings as the file's tables: only what differs from the defaults, or with
    ``full`` every value (for ``screenscribe config show``; unset values left out)."""
    defaults = Settings()
    doc: dict[str, Any] = {"version": SCHEMA_VERSION}
    for key in ("default_profile", "default_preset"):
        if full or getattr(settings, key) != getattr(defaults, key):
            doc[key] = getattr(settings, key)
    for (section, key), attribute in _FIELDS.items():
        value = getattr(settings, attribute)
        if (full or value != getattr(defaults, attribute)) and value is not None:
            doc.setdefault(section, {})[key] = value
    profiles: dict[str, Any] = {}
    for name, profile in settings.profiles.items():
        base = BUILTIN_PROFILES.get(name)
        reference: Mapping[str, object] = _flatten(base) if base else _PROFILE_DEFAULTS
        table: dict[str, Any] = {}
        for key, value in _flatten(profile).items():
            if full:
                if value is not None:
                    table[key] = value
            elif base is None and key in _REQUIRED_KEYS:
                table[key] = value
            elif value != reference[key]:
                table[key] = False if value is None else value
        if table:
            profiles[name] = table
    if profiles:
        doc["profiles"] = profiles
    presets: dict[str, Any] = {}
    for name, preset in settings.presets.items():
        builtin = PRESETS.get(name)
        changed = {
            key: getattr(preset, key)
            for key in _PRESET_RULES
            if full or builtin is None or getattr(preset, key) != getattr(builtin, key)
        }
        if changed:
            presets[name] = changed
    if presets:
        doc["presets"] = presets
    return doc


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings atomically (temporary file, then rename); returns the path.

    Only values that differ from the defaults are written. Raises :class:`ConfigError`
    when the file cannot be written.
    """
    import tomli_w

    path = settings_path() if path is None else path
    content = (_HEADER + tomli_w.dumps(_to_document(settings))).encode("utf-8")
    tmp_name: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):  # a new file keeps mkstemp's 0600
            os.chmod(tmp_name, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"Could not save the settings to {path} ({reason}).") from exc
    finally:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)
    return path
