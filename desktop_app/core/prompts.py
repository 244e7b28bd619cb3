"""Built-in prompt presets. They start from the prompts Qwen documents for Qwen3-VL and
are worded so the model transcribes instead of summarising. (User-editable presets come
with the settings dialog.)"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    label: str
    prompt: str  # for "ask", the question is appended after this instruction


OCR = Preset(
    "ocr",
    "Extract text",
    "Read all the text in the image. Output only the text content, exactly as written, "
    "keeping line breaks and reading order, without any additional descriptions, "
    "commentary or formatting.",
)
ASK = Preset(
    "ask",
    "Ask about the image",
    "Answer the question about the image. Be concise.",
)
TABLE = Preset(
    "table",
    "Table to Markdown",
    "Convert the table in the image to a Markdown table. Keep every row and column and "
    "copy cell text exactly. Output only the Markdown table.",
)
DESCRIBE = Preset(
    "describe",
    "Describe",
    "Describe what the image shows, including any text in it.",
)

PRESETS: dict[str, Preset] = {p.name: p for p in (OCR, ASK, TABLE, DESCRIBE)}
