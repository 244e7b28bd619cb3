"""Prompt presets: what is asked about a region, of whom, and what happens to the answer.

The built-in prompts start from those Qwen documents for Qwen3-VL (see PROTOCOL.md) and
are worded so the model transcribes instead of summarising. A user edits them, or adds
their own, in the settings (``[presets.NAME]`` tables, see :mod:`.settings`).

A preset's ``kind`` says how the app treats it:

- ``ocr``: text extraction. Shown as plain text exactly as read; the offline engine
  can do it; the panel offers the cross-check.
- ``ask``: the user types a question in the overlay; it is sent after ``prompt``.
- ``prompt``: the prompt is sent as it is; the answer is shown as Markdown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

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


OCR = Preset(
    "ocr",
    "Extract text",
    "Read all the text in the image. Output only the text content, exactly as written, "
    "keeping line breaks and reading order, without any additional descriptions, "
    "commentary or formatting.",
    kind="ocr",
    auto_copy=True,
    hotkey="Ctrl+Alt+O",
)
ASK = Preset(
    "ask",
    "Ask about the image",
    "Answer the question about the image. Be concise.",
    kind="ask",
    hotkey="Ctrl+Alt+A",
)
TABLE = Preset(
    "table",
    "Table to Markdown",
    "Convert the table in the image to a Markdown table. Keep every row and column and "
    "copy cell text exactly. Output only the Markdown table.",
    auto_copy=True,
)
DESCRIBE = Preset(
    "describe",
    "Describe",
    "Describe what the image shows, including any text in it.",
)
TRANSLATE = Preset(
    "translate",
    "Translate to English",
    "Read all the text in the image and translate it into English. Output only the "
    "translation, keeping line breaks and reading order, without commentary.",
)

PRESETS: Final[Mapping[str, Preset]] = MappingProxyType(
    {p.name: p for p in (OCR, ASK, TABLE, DESCRIBE, TRANSLATE)}
)
"""The built-in presets. ``Settings.presets`` holds them as the user changed them, and
the user's own."""


def kind_of(name: str, presets: Mapping[str, Preset] | None = None) -> str:
    """The kind of the preset ``name`` (``prompt`` for one not known)."""
    preset = (presets if presets is not None else PRESETS).get(name)
    return preset.kind if preset is not None else "prompt"
