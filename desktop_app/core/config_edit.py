"""Change one value of the settings by its dotted key (``screenscribe config set|unset``).

A key names a value as the settings file spells it: ``default_profile``,
``general.theme``, ``history.max_days``, ``profiles.vllm.model``,
``presets.ocr.profile``. A profile or preset name may hold dots
(``profiles.my.box.model`` is the key ``model`` of the profile ``my.box``) or be quoted
as in TOML (``profiles."my.box".model``).

A change is made on the file's document (only what differs from the defaults) and
the document is read back with the loader's own rules, so a value the loader would
refuse is refused here, as a :class:`ConfigError` naming the key and the reason, and
nothing is returned to save. API keys are never accepted: they belong in the keyring.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from desktop_app.core.errors import ConfigError
from desktop_app.core.settings import (
    _GENERAL_RULES,
    _HISTORY_RULES,
    _PRESET_RULES,
    _PROFILE_RULES,
    Settings,
    _key,
    _Reader,
    _to_document,
)

__all__ = [
    "get_value",
    "is_set",
    "parse_key",
    "parse_value",
    "set_value",
    "set_values",
    "unset_value",
    "unset_values",
]

_SECRET_KEYS: Final = frozenset({"api_key", "apikey", "key", "token", "password", "secret"})
_SCALARS: Final = ("default_profile", "default_preset")
_TABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "general": tuple(_GENERAL_RULES),
    "history": tuple(_HISTORY_RULES),
}
_NAMED_TABLES: Final[Mapping[str, tuple[str, ...]]] = {
    "profiles": tuple(_PROFILE_RULES),
    "presets": tuple(_PRESET_RULES),
}
_ALL_TOP: Final = (*_SCALARS, *_TABLES, *_NAMED_TABLES)
_EXAMPLE: Final = "e.g. general.theme, history.max_days, profiles.vllm.model or default_profile"
_PLACEHOLDER: Final = Path("settings.toml")
# The loader's warnings end with what it does about the problem; here nothing is done.
_CONSEQUENCES: Final = (
    (
        re.compile(
            r"; (?:using the defaults?\b.*|using \".*\"|ignored|the (?:profile|preset) is "
            r"ignored|the default profile answers it)\.$"
        ),
        ".",
    ),
    (re.compile(r" The profile .+ is ignored\.$"), ""),
)


# --- keys and values -----------------------------------------------------------------


def _split(key: str) -> list[str]:
    """The parts of a dotted TOML key (quoted parts keep their dots)."""
    text = key.strip()
    if not text or "\n" in text or "\r" in text:
        raise ConfigError(f"Invalid settings key {key!r}: use a dotted key, {_EXAMPLE}.")
    try:
        node: Any = tomllib.loads(f"{text} = 0")
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"Invalid settings key {key!r}: use a dotted key, {_EXAMPLE}.") from None
    parts: list[str] = []
    while isinstance(node, dict):
        if len(node) != 1:
            raise ConfigError(f"Invalid settings key {key!r}: give one key, {_EXAMPLE}.")
        part, node = next(iter(node.items()))
        parts.append(part)
    return parts


def _unknown(part: str, known: Iterable[str], *where: str) -> ConfigError:
    names = list(known)
    hint = difflib.get_close_matches(part, names, n=1)
    suggestion = f" (did you mean {_key(*where, hint[0])}?)" if hint else ""
    listed = ", ".join(names)
    inside = f" in {_key(*where)}" if where else ""
    return ConfigError(
        f"Unknown settings key {_key(*where, part)}{suggestion}; the keys{inside} are: {listed}."
    )


def _refuse_secret(parts: Sequence[str]) -> None:
    if parts[-1].lower() not in _SECRET_KEYS:
        return
    profile = f" --profile {parts[1]}" if parts[0] == "profiles" and len(parts) == 3 else ""
    raise ConfigError(
        f"{_key(*parts)}: API keys are never kept in the settings file; store it in the "
        f"system keyring with `screenscribe key set{profile}`."
    )


def parse_key(key: str, *, table: bool = False) -> tuple[str, ...]:
    """The parts of a settings key, checked against the schema: ``("general", "theme")``,
    ``("profiles", "my.box", "model")``, ``("default_profile",)``.

    With ``table`` a whole table is a key too (``profiles.mybox``, ``general``), as
    ``unset`` takes one. Raises :class:`ConfigError` for a key that is not in the
    schema (with the closest known one) and for API keys.
    """
    parts = _split(key)
    top = parts[0]
    if top in _NAMED_TABLES and len(parts) > 3:  # an unquoted name with dots in it
        parts = [top, ".".join(parts[1:-1]), parts[-1]]
    if len(parts) > 1:
        _refuse_secret(parts)
    if top == "version":
        raise ConfigError("version is the settings file's format; ScreenScribe keeps it.")
    if top in _SCALARS:
        if len(parts) != 1:
            raise ConfigError(f"{top} is a single value, not a table: set {top} itself.")
        return (top,)
    if top in _TABLES:
        if len(parts) == 1 and table:
            return (top,)
        if len(parts) != 2:
            keys = _TABLES[top]
            example = _key(top, next((k for k in ("theme", "enabled") if k in keys), keys[0]))
            raise ConfigError(
                f"{_key(*parts)} is not one value of [{top}]: set one of its keys, e.g. {example}."
            )
        if parts[1] not in _TABLES[top]:
            raise _unknown(parts[1], _TABLES[top], top)
        return (top, parts[1])
    if top in _NAMED_TABLES:
        if len(parts) == 1 and table:
            return (top,)
        if len(parts) == 2 and table:
            return (top, parts[1])
        if len(parts) != 3:
            what, field = ("profile", "model") if top == "profiles" else ("preset", "prompt")
            name = parts[1] if len(parts) == 2 else "NAME"
            raise ConfigError(
                f"{_key(*parts)} is not one value of a {what}: set one of its keys, "
                f"e.g. {_key(top, name, field)}."
            )
        if parts[2] not in _NAMED_TABLES[top]:
            raise _unknown(parts[2], _NAMED_TABLES[top], top, parts[1])
        return (top, parts[1], parts[2])
    raise _unknown(top, _ALL_TOP)


def parse_value(text: str) -> object:
    """``text`` as a TOML value when it is one (``30``, ``true``, ``0.2``, ``"text"``,
    ``false``), else the text itself (``dark``, ``http://gpu:8000/v1``)."""
    try:
        parsed = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        return text
    if set(parsed) != {"v"}:  # "1\nother = 2": more than one value is not one value
        return text
    value: object = parsed["v"]
    return value


# --- the document --------------------------------------------------------------------


def _document(settings: Settings) -> dict[str, Any]:
    return _to_document(settings)


def _node(doc: Mapping[str, Any], parts: Sequence[str]) -> tuple[bool, Any]:
    node: Any = doc
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _put(doc: dict[str, Any], parts: Sequence[str], value: object) -> None:
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _drop(doc: dict[str, Any], parts: Sequence[str]) -> bool:
    """Remove the node at ``parts`` and the tables it leaves empty; False if absent."""
    found, _ = _node(doc, parts)
    if not found:
        return False
    trail: list[dict[str, Any]] = [doc]
    for part in parts[:-1]:
        trail.append(trail[-1][part])
    del trail[-1][parts[-1]]
    for parent, part in zip(reversed(trail[:-1]), reversed(parts[:-1]), strict=True):
        if parent[part]:
            break
        del parent[part]
    return True


def _problem(warning: str) -> str:
    text = warning.removeprefix(f"{_PLACEHOLDER}: ")
    for pattern, replacement in _CONSEQUENCES:
        text = pattern.sub(replacement, text)
    return text


def _read(doc: Mapping[str, Any]) -> Settings:
    """Settings from ``doc`` by the loader's rules; any warning is a refusal."""
    reader = _Reader(_PLACEHOLDER)
    settings = reader.settings(doc)
    if reader.warnings:
        message = " ".join(_problem(w) for w in reader.warnings)
        raise ConfigError(message)
    return settings


def _new_table_hint(doc: Mapping[str, Any], parts: Sequence[str], before: Settings) -> str:
    """How to make a new profile or preset, which needs two keys at once."""
    if len(parts) != 3:
        return ""
    top, name = parts[0], parts[1]
    _, table = _node(doc, parts[:2])
    if not isinstance(table, Mapping):
        return ""
    if (
        top == "profiles"
        and name not in before.profiles
        and not {"base_url", "model"} <= set(table)
    ):
        return (
            f" A new profile needs base_url and model: set both in one command, "
            f"`screenscribe config set {_key(top, name, 'base_url')} URL "
            f"{_key(top, name, 'model')} NAME`."
        )
    if top == "presets" and name not in before.presets and "prompt" not in table:
        return (
            f" A new preset needs a prompt: set it in the same command, "
            f"`screenscribe config set {_key(top, name, 'prompt')} TEXT ...`."
        )
    return ""


# --- the operations ------------------------------------------------------------------


def _rule(parts: Sequence[str]) -> Callable[[object], object] | None:
    if len(parts) == 2:
        return {**_GENERAL_RULES, **_HISTORY_RULES}.get(parts[1]) if parts[0] in _TABLES else None
    if len(parts) == 3:
        return (_PROFILE_RULES if parts[0] == "profiles" else _PRESET_RULES).get(parts[2])
    return None


def _typed(parts: Sequence[str], text: str) -> object:
    """The value ``text`` means for the key: a TOML value, unless the key takes text
    and only the text as typed fits (``label 2024``, ``model 8``)."""
    value = parse_value(text)
    if isinstance(value, str):
        return value
    rule = _rule(parts)
    if rule is None:  # default_profile, default_preset: names, so text
        return text
    for candidate in (value, text):
        try:
            rule(candidate)
        except ValueError:
            continue
        return candidate
    return value


def set_values(settings: Settings, items: Sequence[tuple[str, str]]) -> Settings:
    """``settings`` with each ``(key, text)`` set, checked together (so a new profile's
    base_url and model can be given at once). ``text`` is read by :func:`parse_value`,
    but kept as typed where the key takes text (``label 2024`` is the text "2024").
    Raises :class:`ConfigError`, naming the key and the reason, when any is refused."""
    doc = _document(settings)
    keys: list[tuple[str, ...]] = []
    for key, text in items:
        parts = parse_key(key)
        _put(doc, parts, _typed(parts, text))
        keys.append(parts)
    try:
        return _read(doc)
    except ConfigError as exc:
        hints = dict.fromkeys(_new_table_hint(doc, parts, settings) for parts in keys)
        raise ConfigError(str(exc) + "".join(hints)) from None


def set_value(settings: Settings, key: str, text: str) -> Settings:
    """``settings`` with ``key`` set to ``text``; see :func:`set_values`."""
    return set_values(settings, [(key, text)])


def unset_values(settings: Settings, keys: Iterable[str]) -> Settings:
    """``settings`` with each key removed from the file's document, so its default
    applies again; a key that names a table (``profiles.mybox``) removes the whole
    table: a user's profile or preset goes, a built-in one returns to its defaults.
    A key already at its default is no change. Raises :class:`ConfigError` when the
    result is refused (e.g. the default profile removed)."""
    doc = _document(settings)
    for key in keys:
        _drop(doc, parse_key(key, table=True))
    return _read(doc)


def unset_value(settings: Settings, key: str) -> Settings:
    """``settings`` with ``key`` back at its default; see :func:`unset_values`."""
    return unset_values(settings, [key])


def is_set(settings: Settings, key: str) -> bool:
    """Whether the settings file sets ``key`` (differs from the default there)."""
    found, _ = _node(_document(settings), parse_key(key, table=True))
    return found


def get_value(settings: Settings, key: str) -> object | None:
    """The value in effect for ``key`` (a table as a dict), None when it is unset
    (an optional number with no value, an unknown profile's key)."""
    found, value = _node(_to_document(settings, full=True), parse_key(key, table=True))
    result: object | None = value if found else None
    return result
