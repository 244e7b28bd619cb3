"""History export: Markdown and JSON from entries of a real history file; atomic writes."""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import fields
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from desktop_app.core.errors import UsageError
from desktop_app.core.history import History, HistoryEntry, NewEntry
from desktop_app.core.history_export import (
    format_for_path,
    iso_time,
    to_json,
    to_markdown,
    write_export,
)
from desktop_app.core.imaging import make_thumbnail
from desktop_app.core.prompts import PRESETS, Preset

T0 = 1_750_000_000.25
TRICKY_ANSWER = "# Not a heading\n\n```python\nprint('hi')\n```\n- not a list\nÄrger € 42 ✓"


def _new(**kw: object) -> NewEntry:
    values: dict[str, object] = {
        "profile": "vllm",
        "model": "Qwen/Qwen3-VL-8B-Instruct",
        "base_url": "http://gpu-box:8000/v1",
        "mode": "ocr",
        "prompt": "Read all the text.",
        "answer": "Invoice 42",
    }
    values.update(kw)
    return NewEntry(**values)  # type: ignore[arg-type]


@pytest.fixture
def entries(tmp_path: Path) -> Iterator[list[HistoryEntry]]:
    """Four entries, oldest first: complete with a picture, partial, failed, a follow-up."""
    thumb = make_thumbnail(Image.new("RGB", (320, 200), "teal"))
    with History(tmp_path / "db" / "history.sqlite3") as h:
        root = h.add(
            _new(
                answer=TRICKY_ANSWER,
                thumbnail=thumb,
                created_at=T0,
                prompt_tokens=1200,
                completion_tokens=34,
                ttft_ms=120.0,
                total_ms=900.0,
                image_width=640,
                image_height=400,
                source="screen",
                finish_reason="stop",
            )
        )
        h.add(_new(mode="table", answer="| a |\n|---|\n| 1", status="partial", created_at=T0 + 60))
        h.add(
            _new(
                mode="mine",
                answer="",
                status="failed",
                error="The server failed (HTTP 500):\noverloaded.",
                created_at=T0 + 120,
            )
        )
        h.add(
            _new(
                mode="ask",
                prompt="What is the currency?",
                answer="Euro.",
                parent_id=root,
                created_at=T0 + 180,
            )
        )
        listed = list(reversed(h.recent(10)))
        yield [h.get(e.id) or e for e in listed]  # with their thumbnails' bytes


def _sections(markdown: str) -> list[str]:
    return re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]


def _fenced_blocks(section: str) -> list[str]:
    """The bodies of the code fences of a section (a fence closes with the same run)."""
    blocks = []
    for m in re.finditer(r"^(`{3,})text\n(.*?)^\1$", section, flags=re.MULTILINE | re.DOTALL):
        blocks.append(m.group(2))
    return blocks


# --- JSON ------------------------------------------------------------------------------


def test_json_holds_every_field_but_the_thumbnail_bytes(entries: list[HistoryEntry]) -> None:
    document = json.loads(to_json(entries, exported_at=T0 + 999))
    assert document["app"] == "ScreenScribe"
    assert document["format_version"] == 1
    assert document["count"] == 4
    assert datetime.fromisoformat(document["exported_at"]).timestamp() == int(T0 + 999)
    items = document["entries"]
    expected_keys = [f.name for f in fields(HistoryEntry) if f.name != "thumbnail"]
    expected_keys.insert(expected_keys.index("created_at") + 1, "created_at_iso")
    for item, entry in zip(items, entries, strict=True):
        assert list(item) == expected_keys
        for key in expected_keys:
            if key != "created_at_iso":
                assert item[key] == getattr(entry, key), key
        assert datetime.fromisoformat(item["created_at_iso"]).timestamp() == int(entry.created_at)
        assert datetime.fromisoformat(item["created_at_iso"]).tzinfo is not None
    assert entries[0].thumbnail  # there were bytes to leave out
    assert items[0]["has_thumbnail"] is True
    assert "thumbnail" not in items[0]
    assert [i["status"] for i in items] == ["complete", "partial", "failed", "complete"]
    assert items[0]["answer"] == TRICKY_ANSWER
    assert items[2]["error"] == "The server failed (HTTP 500):\noverloaded."
    assert items[3]["parent_id"] == items[0]["id"]


def test_json_of_no_entries() -> None:
    document = json.loads(to_json([]))
    assert document["count"] == 0
    assert document["entries"] == []


# --- Markdown --------------------------------------------------------------------------


def test_markdown_has_one_section_per_entry_with_exact_prompt_and_answer(
    entries: list[HistoryEntry],
) -> None:
    text = to_markdown(entries, exported_at=T0)
    assert text.startswith("# ScreenScribe history\n\n4 entries, exported ")
    sections = _sections(text)
    assert len(sections) == 4
    first = sections[0]
    assert first.startswith(f"#{entries[0].id} · Extract text · ")
    # The answer holds a fence and a heading: it comes back exactly, and adds no heading.
    assert _fenced_blocks(first) == ["Read all the text.\n", TRICKY_ANSWER + "\n"]
    assert "\n# Not a heading" not in text.split("````text\n")[0]
    assert f"- Time: {iso_time(entries[0].created_at)}" in first
    assert "- Tokens: 1,200 in / 34 out" in first
    assert "- Model: `Qwen/Qwen3-VL-8B-Instruct` (profile `vllm`" in first
    assert "- Image: 640×400 px" in first
    assert "- Source: screen" in first
    assert "Status" not in first
    assert f"- Follow-up of #{entries[0].id}" in sections[3]
    assert _fenced_blocks(sections[3]) == ["What is the currency?\n", "Euro.\n"]


def test_markdown_marks_partial_and_failed_answers(entries: list[HistoryEntry]) -> None:
    sections = _sections(to_markdown(entries))
    partial, failed = sections[1], sections[2]
    assert partial.splitlines()[0].endswith("(partial)")
    assert "- Status: **partial: the answer was cut short**" in partial
    assert failed.splitlines()[0].endswith("(failed)")
    assert "- Status: **failed" in failed
    assert "- Error: The server failed (HTTP 500): overloaded." in failed
    assert "*(no answer)*" in failed
    for complete in (sections[0], sections[3]):
        assert "(partial)" not in complete.splitlines()[0]
        assert "(failed)" not in complete.splitlines()[0]


def test_markdown_labels_come_from_the_presets_given(entries: list[HistoryEntry]) -> None:
    headings = [s.splitlines()[0] for s in _sections(to_markdown(entries))]
    assert " · Extract text · " in headings[0]  # the built-ins by default
    assert " · Table to Markdown · " in headings[1]
    assert " · mine · " in headings[2]  # not a known preset: its name
    presets = {**PRESETS, "mine": Preset("mine", "My receipts", "Read the receipt.")}
    headings = [s.splitlines()[0] for s in _sections(to_markdown(entries, presets))]
    assert " · My receipts · " in headings[2]


def test_markdown_counts_entries(entries: list[HistoryEntry]) -> None:
    assert "\n1 entry, exported" in to_markdown(entries[:1])
    assert "\n0 entries, exported" in to_markdown([])
    assert _sections(to_markdown([])) == []


# --- writing ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [("out.md", "markdown"), ("out.json", "json")])
def test_write_export_writes_a_private_file_and_leaves_no_temporary(
    tmp_path: Path, entries: list[HistoryEntry], name: str, fmt: str
) -> None:
    path = tmp_path / "export" / name
    path.parent.mkdir()
    assert write_export(path, entries, fmt) == path  # type: ignore[arg-type]
    text = path.read_text(encoding="utf-8")
    if fmt == "json":
        assert [e["id"] for e in json.loads(text)["entries"]] == [e.id for e in entries]
    else:
        assert len(_sections(text)) == 4
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == [name]


def test_write_export_replaces_a_file_and_keeps_its_permissions(
    tmp_path: Path, entries: list[HistoryEntry]
) -> None:
    path = tmp_path / "out.md"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o644)
    write_export(path, entries[:1], "markdown", presets={})
    assert " · ocr · " in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_write_export_failures_are_usage_errors_with_the_path(
    tmp_path: Path, entries: list[HistoryEntry]
) -> None:
    missing = tmp_path / "no-such-folder" / "out.json"
    with pytest.raises(UsageError, match=r"Could not export the history to .*no-such-folder"):
        write_export(missing, entries, "json")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    (folder / "keep.txt").write_text("x", encoding="utf-8")
    with pytest.raises(UsageError, match="a-folder"):
        write_export(folder, entries, "markdown")
    assert sorted(os.listdir(folder)) == ["keep.txt"]  # no temporary left behind
    assert sorted(os.listdir(tmp_path)) == ["a-folder", "db"]
    with pytest.raises(UsageError, match="choose one of markdown, json"):
        write_export(tmp_path / "out.html", entries, "html")  # type: ignore[arg-type]
    assert not (tmp_path / "out.html").exists()


def test_format_for_path() -> None:
    assert format_for_path("a/b.md") == "markdown"
    assert format_for_path(Path("B.MARKDOWN")) == "markdown"
    assert format_for_path("x.json") == "json"
    assert format_for_path("x.txt") is None
    assert format_for_path("x") is None
