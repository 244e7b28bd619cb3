"""Prompt presets: what is asked about a region, of whom, and what happens to the answer.

The built-in presets are data, ``resources/prompts/presets.toml`` (found through
:mod:`desktop_app.resources`, read once at import). Their prompts start from those Qwen
documents for Qwen3-VL (see PROTOCOL.md) and are worded so the model transcribes instead
of summarising. A user edits them, or adds their own, in the settings (``[presets.NAME]``
tables of the same shape, see :mod:`.settings`).

A preset's ``kind`` says how the app treats it:

- ``ocr``: text extraction. Shown as plain text exactly as read; the offline engine
  can do it; the panel offers the cross-check.
- ``ask``: the user types a question in the overlay; it is sent after ``prompt``.
- ``prompt``: the prompt is sent as it is; the answer is shown as Markdown.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

from desktop_app.core.errors import ScreenScribeError
from desktop_app.resources import resource_path

CONTINUE_PROMPT: Final = "Continue exactly where you stopped, without repeating anything."
"""Sent after an answer cut at the token limit, to get the rest."""

KINDS: Final = ("ocr", "ask", "prompt")
KIND_LABELS: Final = MappingProxyType(
    {"ocr": "Extract text", "ask": "Ask a question", "prompt": "Send the prompt"}
)


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    label: str
    prompt: str  # for kind "ask", the user's question is appended after this instruction
    kind: str = "prompt"
    profile: str = ""  # the endpoint profile that answers it; "" = the default profile
    auto_copy: bool = False  # copy the answer to the clipboard when it completes
    hotkey: str = ""  # a global shortcut, e.g. "Ctrl+Alt+O" (platform integration)

    @property
    def display_name(self) -> str:
        return self.label or self.name


BUILTIN_FILE: Final = ("prompts", "presets.toml")
"""Where the built-in presets are, under the resources folder (:mod:`desktop_app.resources`)."""

BUILTIN_NAMES: Final = ("ocr", "ask", "table", "describe", "translate")
"""The built-in presets the app refers to by name; the presets file must define them."""

_FIELDS: Final = {"label": str, "prompt": str, "kind": str, "auto_copy": bool, "hotkey": str}
_REQUIRED: Final = ("label", "prompt")


def load_presets(path: Path) -> Mapping[str, Preset]:
    """The presets defined in the TOML file ``path`` (``[presets.NAME]`` tables), in
    the file's order.

    Raises :class:`~.errors.ScreenScribeError` saying what is wrong, and where, when the
    file is missing, unreadable, not TOML, or a table is not a well-formed preset.
    """
    where = f"The built-in presets file {path}"
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ScreenScribeError(
            f"{where} cannot be read ({exc.strerror or exc}). Reinstall ScreenScribe."
        ) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ScreenScribeError(
            f"{where} is not valid TOML ({exc}). Reinstall ScreenScribe."
        ) from exc
    tables = data.get("presets")
    if not isinstance(tables, dict) or not tables:
        raise ScreenScribeError(f"{where} has no [presets.NAME] tables. Reinstall ScreenScribe.")
    presets: dict[str, Preset] = {}
    for name, table in tables.items():
        presets[name] = _preset_from_table(name, table, where)
    missing = [name for name in BUILTIN_NAMES if name not in presets]
    if missing:
        raise ScreenScribeError(
            f"{where} lacks the preset(s) {', '.join(missing)}. Reinstall ScreenScribe."
        )
    return MappingProxyType(presets)


def _preset_from_table(name: str, table: object, where: str) -> Preset:
    def bad(problem: str) -> ScreenScribeError:
        return ScreenScribeError(f"{where}: [presets.{name}] {problem}. Reinstall ScreenScribe.")

    if not isinstance(table, dict):
        raise bad("is not a table")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        raise bad(f"has unknown key(s) {', '.join(unknown)}")
    for key in _REQUIRED:
        if key not in table:
            raise bad(f"has no {key}")
    for key, value in table.items():
        if not isinstance(value, _FIELDS[key]):
            raise bad(f"{key} must be a {_FIELDS[key].__name__}, not {value!r}")
    if not table["prompt"].strip():
        raise bad("has an empty prompt")
    kind = table.get("kind", "prompt")
    if kind not in KINDS:
        raise bad(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return Preset(
        name,
        table["label"],
        table["prompt"],
        kind=kind,
        auto_copy=table.get("auto_copy", False),
        hotkey=table.get("hotkey", ""),
    )


def _load_builtin() -> Mapping[str, Preset]:
    try:
        path = resource_path(*BUILTIN_FILE)
    except FileNotFoundError as exc:
        raise ScreenScribeError(str(exc)) from None
    return load_presets(path)


PRESETS: Final[Mapping[str, Preset]] = _load_builtin()
"""The built-in presets (``resources/prompts/presets.toml``). ``Settings.presets`` holds
them as the user changed them, and the user's own."""

OCR: Final = PRESETS["ocr"]
ASK: Final = PRESETS["ask"]
TABLE: Final = PRESETS["table"]
DESCRIBE: Final = PRESETS["describe"]
TRANSLATE: Final = PRESETS["translate"]


def kind_of(name: str, presets: Mapping[str, Preset] | None = None) -> str:
    """The kind of the preset ``name`` (``prompt`` for one not known)."""
    preset = (presets if presets is not None else PRESETS).get(name)
    return preset.kind if preset is not None else "prompt"
