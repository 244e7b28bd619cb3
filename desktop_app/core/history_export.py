"""History entries as a file a person keeps: Markdown to read, JSON for programs.

Pure functions, no Qt. Thumbnails are never exported (only whether there was one);
every other field is, ``created_at`` as epoch seconds and as ISO 8601 with the local
UTC offset. Partial and failed answers say so in both formats.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal, get_args

from desktop_app.core.errors import UsageError
from desktop_app.core.history import HistoryEntry
from desktop_app.core.prompts import PRESETS, Preset

__all__ = [
    "FORMAT_VERSION",
    "SUFFIXES",
    "ExportFormat",
    "format_for_path",
    "iso_time",
    "to_json",
    "to_markdown",
    "write_export",
]

ExportFormat = Literal["markdown", "json"]
FORMATS: Final[tuple[ExportFormat, ...]] = get_args(ExportFormat)
SUFFIXES: Final[Mapping[ExportFormat, str]] = {"markdown": ".md", "json": ".json"}
FORMAT_VERSION: Final = 1
"""The version of the JSON document's layout; bump it when a field changes meaning."""

_SUFFIX_FORMATS: Final[Mapping[str, ExportFormat]] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
}
_STATUS_NOTES: Final = {
    "partial": "partial: the answer was cut short",
    "failed": "failed: no complete answer came back",
}
_BACKTICKS: Final = re.compile(r"`+")


def iso_time(epoch: float) -> str:
    """``epoch`` as ISO 8601 in local time with its UTC offset, to the second."""
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")


def format_for_path(path: Path | str) -> ExportFormat | None:
    """The format a file name asks for (``.md``/``.markdown``, ``.json``), else None."""
    return _SUFFIX_FORMATS.get(Path(path).suffix.lower())


# --- Markdown ------------------------------------------------------------------------


def _fenced(text: str, info: str = "text") -> str:
    """``text`` in a code fence longer than any run of backticks inside it, so it comes
    back out exactly and never turns into headings or lists of the document."""
    longest = max((len(m.group()) for m in _BACKTICKS.finditer(text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if text.endswith("\n") or not text else text + "\n"
    return f"{fence}{info}\n{body}{fence}"


def _label(entry: HistoryEntry, presets: Mapping[str, Preset]) -> str:
    preset = presets.get(entry.mode)
    return preset.display_name if preset is not None else entry.mode


def _tokens(entry: HistoryEntry) -> str | None:
    if entry.prompt_tokens is None and entry.completion_tokens is None:
        return None

    def show(n: int | None) -> str:
        return "?" if n is None else f"{n:,}"

    return f"{show(entry.prompt_tokens)} in / {show(entry.completion_tokens)} out"


def _markdown_entry(entry: HistoryEntry, presets: Mapping[str, Preset]) -> str:
    mark = f" ({entry.status})" if entry.status != "complete" else ""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at))
    lines = [f"## #{entry.id} · {_label(entry, presets)} · {when}{mark}", ""]
    facts = [f"- Time: {iso_time(entry.created_at)}"]
    if entry.status != "complete":
        facts.append(f"- Status: **{_STATUS_NOTES.get(entry.status, entry.status)}**")
    if entry.error:
        facts.append(f"- Error: {' '.join(entry.error.split())}")
    facts.append(f"- Model: `{entry.model}` (profile `{entry.profile}`, {entry.base_url})")
    facts.append(f"- Preset: `{entry.mode}`")
    if (tokens := _tokens(entry)) is not None:
        facts.append(f"- Tokens: {tokens}")
    if entry.total_ms is not None:
        first = f", first token after {entry.ttft_ms:,.0f} ms" if entry.ttft_ms is not None else ""
        facts.append(f"- Time taken: {entry.total_ms:,.0f} ms{first}")
    if entry.image_width is not None and entry.image_height is not None:
        facts.append(f"- Image: {entry.image_width}×{entry.image_height} px")
    if entry.source:
        facts.append(f"- Source: {entry.source}")
    if entry.finish_reason:
        facts.append(f"- Finish reason: `{entry.finish_reason}`")
    if entry.parent_id is not None:
        facts.append(f"- Follow-up of #{entry.parent_id}")
    lines += facts
    lines += ["", "### Prompt", "", _fenced(entry.prompt), ""]
    if entry.reasoning:
        lines += ["### Reasoning", "", _fenced(entry.reasoning), ""]
    lines += ["### Answer", "", _fenced(entry.answer) if entry.answer else "*(no answer)*", ""]
    return "\n".join(lines)


def to_markdown(
    entries: Iterable[HistoryEntry],
    presets: Mapping[str, Preset] | None = None,
    *,
    exported_at: float | None = None,
) -> str:
    """A Markdown document: one section per entry (``## #ID · preset label · time``,
    ``(partial)`` or ``(failed)`` after it), its facts as a list, then the prompt and the
    answer each in a code fence that keeps the text exactly.

    ``presets`` gives the labels (default: the built-in presets); an unknown preset
    shows its name.
    """
    labels = PRESETS if presets is None else presets
    items = list(entries)
    stamp = iso_time(time.time() if exported_at is None else exported_at)
    count = f"{len(items)} entr{'y' if len(items) == 1 else 'ies'}"
    parts = ["# ScreenScribe history", "", f"{count}, exported {stamp}.", ""]
    parts += [_markdown_entry(entry, labels) for entry in items]
    return "\n".join(parts).rstrip("\n") + "\n"


# --- JSON ----------------------------------------------------------------------------

_JSON_FIELDS: Final = tuple(f.name for f in fields(HistoryEntry) if f.name != "thumbnail")


def _json_entry(entry: HistoryEntry) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name in _JSON_FIELDS:
        item[name] = getattr(entry, name)
        if name == "created_at":
            item["created_at_iso"] = iso_time(entry.created_at)
    return item


def to_json(entries: Iterable[HistoryEntry], *, exported_at: float | None = None) -> str:
    """A JSON document::

        {"app": "ScreenScribe", "format_version": 1, "exported_at": "<ISO 8601>",
         "count": N, "entries": [{"id": ..., "created_at": <epoch>,
         "created_at_iso": "<ISO 8601>", ..., "status": "complete|partial|failed",
         "has_thumbnail": ...}, ...]}

    Every field of ``HistoryEntry`` but the thumbnail's bytes, in its order.
    """
    items = [_json_entry(entry) for entry in entries]
    document = {
        "app": "ScreenScribe",
        "format_version": FORMAT_VERSION,
        "exported_at": iso_time(time.time() if exported_at is None else exported_at),
        "count": len(items),
        "entries": items,
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


# --- writing -------------------------------------------------------------------------


def write_export(
    path: Path | str,
    entries: Iterable[HistoryEntry],
    fmt: ExportFormat,
    *,
    presets: Mapping[str, Preset] | None = None,
) -> Path:
    """Write ``entries`` to ``path`` as ``fmt`` ("markdown" or "json"); returns the path.

    Atomic: the text goes to a temporary file beside ``path``, which then replaces it,
    so a failure never leaves half a file. A new file is readable by its owner only
    (screen contents are private); a replaced one keeps its permissions. Raises
    :class:`UsageError` with a sentence for a person when the format is unknown or the
    file cannot be written.
    """
    path = Path(path)
    if fmt == "markdown":
        text = to_markdown(entries, presets)
    elif fmt == "json":
        text = to_json(entries)
    else:
        raise UsageError(
            f"Cannot export the history as {fmt!r}: choose one of {', '.join(FORMATS)}."
        )
    data = text.encode("utf-8")
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp_name, stat.S_IMODE(path.stat().st_mode))
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"Could not export the history to {path} ({reason}).") from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                Path(tmp_name).unlink()
    return path
