"""The history window over a real history file of a few hundred entries, driven like a
person: typing, clicking, keys, the context menu, the confirmation box."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QContextMenuEvent, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop_app.core.history import History, HistoryEntry, NewEntry
from desktop_app.core.imaging import make_thumbnail
from desktop_app.core.metering import format_cost
from desktop_app.core.prompts import PRESETS, Preset
from desktop_app.core.settings import Profile
from desktop_app.ui.history_window import Column, HistoryWindow

N_PLAIN = 450  # plus a first request and its two follow-ups, the newest three
NOW = time.time()
PRICED = Profile(
    name="priced",
    base_url="https://api.example.com/v1",
    model="big-model",
    input_price_per_mtok=3.0,
    output_price_per_mtok=15.0,
)
FREE = Profile(name="free", base_url="http://127.0.0.1:8000/v1", model="small-model")
PROFILES = {"priced": PRICED, "free": FREE}
PRESET_MAP = {**PRESETS, "mine": Preset("mine", "My receipts", "Read the receipt.")}
MODES = ("ocr", "describe", "mine", "gone")  # "gone": a preset deleted since


def _answer(i: int) -> str:
    words = [f"Answer {i}"]
    if i % 3 == 0:
        words.append("invoice")
    if i % 2 == 0:
        words.append("receipt")
    return " ".join(words) + f" first line\nsecond line of {i}"


def _build(path: Path) -> None:
    colours = ["teal", "orange", "navy"]
    thumbs = [make_thumbnail(Image.new("RGB", (640, 400), c)) for c in colours]
    with History(path, max_entries=None) as h:
        for i in range(N_PLAIN):  # oldest first
            failed = i % 50 == 13
            h.add(
                NewEntry(
                    profile="priced" if i % 2 == 0 else "free",
                    model="big-model" if i % 2 == 0 else "small-model",
                    base_url="http://x/v1",
                    mode=MODES[i % len(MODES)],
                    prompt=f"Prompt {i}",
                    answer="" if failed else _answer(i),
                    status="failed" if failed else "partial" if i % 50 == 8 else "complete",
                    error="Server error 500: overloaded\nretry later" if failed else None,
                    prompt_tokens=None if i % 25 == 0 else 1000 + i,
                    completion_tokens=None if i % 25 == 0 else 100 + i,
                    thumbnail=thumbs[i % 3] if i % 10 == 0 else None,
                    created_at=NOW - (N_PLAIN + 10 - i) * 60,
                )
            )
        root = h.add(
            NewEntry(
                profile="priced",
                model="big-model",
                base_url="http://x/v1",
                mode="ocr",
                prompt="Read all the text.",
                answer="Total 42.00 EUR\nThank you",
                prompt_tokens=2000,
                completion_tokens=500,
                thumbnail=thumbs[0],
                created_at=NOW - 120,
            )
        )
        for n, (question, answer) in enumerate(
            [("What is the currency?", "Euro."), ("Who is the seller?", "Shop Ltd.")]
        ):
            h.add(
                NewEntry(
                    profile="priced",
                    model="big-model",
                    base_url="http://x/v1",
                    mode="ocr",
                    prompt=question,
                    answer=answer,
                    thumbnail=thumbs[0],
                    parent_id=root,
                    created_at=NOW - 60 + n,
                )
            )


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "history.sqlite3"
    _build(path)  # once: each test gets a copy of the closed file
    return path


@pytest.fixture
def history(tmp_path: Path, template: Path) -> Iterator[History]:
    path = tmp_path / "data" / "history.sqlite3"
    path.parent.mkdir(parents=True)
    shutil.copy(template, path)
    with History(path, max_entries=None) as h:
        yield h


MakeWindow = Callable[..., HistoryWindow]


@pytest.fixture
def make_window(qtbot: QtBot, history: History) -> MakeWindow:
    def make(**kw: object) -> HistoryWindow:
        kw.setdefault("presets", PRESET_MAP)
        kw.setdefault("profiles", PROFILES)
        window = HistoryWindow(history, **kw)  # type: ignore[arg-type]
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.activateWindow()
        qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
        return window

    return make


# --- helpers ---------------------------------------------------------------------------


def cell(window: HistoryWindow, row: int, column: Column) -> str:
    return str(window.list_model.index(row, column).data() or "")


def rows(window: HistoryWindow) -> int:
    return window.list_model.rowCount()


def listed_ids(window: HistoryWindow) -> list[int]:
    return [e.id for e in window.list_model.entries()]


def click_row(qtbot: QtBot, window: HistoryWindow, row: int, *, double: bool = False) -> None:
    index = window.list_model.index(row, Column.ANSWER)
    window.view.scrollTo(index)
    pos = window.view.visualRect(index).center()
    qtbot.mouseClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    if double:  # a double click: a click, then the second press that Qt reports as one
        qtbot.mouseDClick(window.view.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def row_of(window: HistoryWindow, predicate: Callable[[HistoryEntry], bool]) -> int:
    for n, entry in enumerate(window.list_model.entries()):
        if predicate(entry):
            return n
    raise AssertionError("no such row listed")


def when(epoch: float) -> str:
    moment = time.localtime(epoch)
    same_year = moment.tm_year == time.localtime().tm_year
    return time.strftime("%d %b %H:%M" if same_year else "%d %b %Y", moment)


def answer_box(qtbot: QtBot, button_text: str, seen: list[str]) -> None:
    """Click ``button_text`` in the message box once it is up (it runs its own loop)."""

    def attempt() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox) or not box.isVisible():
            QTimer.singleShot(20, attempt)
            return
        seen.append(f"{box.text()} {box.informativeText()}")
        button = next(
            b for b in box.findChildren(QAbstractButton) if b.text().replace("&", "") == button_text
        )
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, attempt)


# --- the list --------------------------------------------------------------------------


def test_list_shows_preset_answer_time_model_tokens_and_cost(make_window: MakeWindow) -> None:
    window = make_window()
    model = window.list_model
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in Column]
    assert headers == ["", "Preset", "Answer", "Time", "Model", "Tokens in / out", "Cost"]
    entries = window.history.recent(5)
    assert listed_ids(window)[:5] == [e.id for e in entries]
    # the newest: the second follow-up of the first request
    assert cell(window, 0, Column.PRESET) == "Extract text (follow-up)"
    assert cell(window, 0, Column.ANSWER) == "Shop Ltd."
    assert cell(window, 2, Column.PRESET) == "Extract text"
    assert cell(window, 2, Column.ANSWER) == "Total 42.00 EUR"  # the first line only
    assert cell(window, 2, Column.TIME) == when(NOW - 120)
    assert cell(window, 2, Column.MODEL) == "big-model"
    assert cell(window, 2, Column.TOKENS) == "2,000 / 500"
    assert cell(window, 2, Column.COST) == format_cost((2000 * 3.0 + 500 * 15.0) / 1e6)
    assert cell(window, 2, Column.COST) == "$0.0135"

    i = N_PLAIN - 4  # 446: "mine", priced
    r = row_of(window, lambda e: e.prompt == f"Prompt {i}")
    assert cell(window, r, Column.PRESET) == "My receipts"  # the label of the user's preset
    assert cell(window, r, Column.ANSWER) == f"Answer {i} receipt first line"
    assert cell(window, r, Column.TOKENS) == f"{1000 + i:,} / {100 + i}"
    expected = ((1000 + i) * 3.0 + (100 + i) * 15.0) / 1e6
    assert cell(window, r, Column.COST) == format_cost(expected)
    i = N_PLAIN - 3  # 447: a deleted preset's name, a profile without prices
    r = row_of(window, lambda e: e.prompt == f"Prompt {i}")
    assert cell(window, r, Column.PRESET) == "gone"
    assert cell(window, r, Column.MODEL) == "small-model"
    assert cell(window, r, Column.TOKENS) == f"{1000 + i:,} / {100 + i}"
    assert cell(window, r, Column.COST) == ""
    i = 425  # no token counts saved: no tokens, no cost, even on a priced profile
    r = row_of(window, lambda e: e.prompt == f"Prompt {i}")
    assert (cell(window, r, Column.TOKENS), cell(window, r, Column.COST)) == ("", "")


def test_partial_and_failed_answers_are_marked(make_window: MakeWindow) -> None:
    window = make_window()
    partial = row_of(window, lambda e: e.status == "partial")
    failed = row_of(window, lambda e: e.status == "failed")
    complete = row_of(window, lambda e: e.status == "complete")
    assert cell(window, partial, Column.ANSWER).startswith("(partial) Answer ")
    # A failed request has no answer: its error's first line stands in, marked.
    assert cell(window, failed, Column.ANSWER) == "(failed) Server error 500: overloaded"
    assert "(" not in cell(window, complete, Column.ANSWER)
    colour = Qt.ItemDataRole.ForegroundRole
    assert window.list_model.index(partial, Column.ANSWER).data(colour) is not None
    assert window.list_model.index(failed, Column.ANSWER).data(colour) is not None
    assert window.list_model.index(complete, Column.ANSWER).data(colour) is None
    tip = str(window.list_model.index(failed, Column.ANSWER).data(Qt.ItemDataRole.ToolTipRole))
    assert tip.startswith("Failed")


def test_defaults_keep_the_old_constructor_working(qtbot: QtBot, history: History) -> None:
    window = HistoryWindow(history)  # no presets, no prices: built-in labels, no cost
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    assert cell(window, 2, Column.PRESET) == "Extract text"
    r = row_of(window, lambda e: e.mode == "mine")
    assert cell(window, r, Column.PRESET) == "mine"
    assert all(cell(window, n, Column.COST) == "" for n in range(rows(window)))
    window.set_catalog(PRESET_MAP, PROFILES)  # the settings changed
    assert cell(window, r, Column.PRESET) == "My receipts"
    assert cell(window, 2, Column.COST) == "$0.0135"


def test_thumbnails_are_loaded_only_for_rows_on_screen(make_window: MakeWindow) -> None:
    window = make_window()
    model = window.list_model
    with_pictures = [n for n, e in enumerate(model.entries()) if e.has_thumbnail]
    assert len(with_pictures) > 20
    window.view.viewport().repaint()
    cached = model.cached_thumbnails()
    assert 1 <= cached < len(with_pictures) // 2
    picture = model.index(0, Column.THUMBNAIL).data(Qt.ItemDataRole.DecorationRole)
    assert picture is not None
    assert (picture.width(), picture.height()) == (64, 40)  # 640x400 -> the list's size
    no_picture = next(n for n, e in enumerate(model.entries()) if not e.has_thumbnail)
    assert model.index(no_picture, Column.THUMBNAIL).data(Qt.ItemDataRole.DecorationRole) is None


def test_paging_loads_more_on_scroll_and_with_the_button(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window()
    total = window.history.count()
    assert total == N_PLAIN + 3
    assert rows(window) == 200
    assert window.count_label.text() == f"200 of {total} shown"
    assert window.more_button.isEnabled()
    # End in the list scrolls to the last row: the view asks for the next page.
    window.view.setFocus()
    click_row(qtbot, window, 0)
    qtbot.keyClick(window.view, Qt.Key.Key_End)
    qtbot.waitUntil(lambda: rows(window) == 400, timeout=2000)
    # Saved meanwhile (by a panel): they shift the pages but are not listed twice.
    for n in range(5):
        window.history.add(
            NewEntry(
                profile="free",
                model="m",
                base_url="http://x/v1",
                mode="ocr",
                prompt=f"New {n}",
                answer="new",
            )
        )
    qtbot.mouseClick(window.more_button, Qt.MouseButton.LeftButton)
    assert rows(window) == total
    assert not any(e.prompt.startswith("New ") for e in window.list_model.entries())
    window.refresh()  # as the app does when the window is opened again
    while window.more_button.isEnabled():
        qtbot.mouseClick(window.more_button, Qt.MouseButton.LeftButton)
    total += 5
    assert listed_ids(window) == [e.id for e in window.history.recent(total)]
    assert len(set(listed_ids(window))) == total
    assert not window.more_button.isEnabled()
    assert window.count_label.text() == f"{total} shown"


def test_a_smaller_page_size(make_window: MakeWindow) -> None:
    window = make_window(page_size=50)
    assert rows(window) == 50
    window.more_button.click()
    assert rows(window) == 100


# --- search ----------------------------------------------------------------------------


def test_search_narrows_as_you_type_after_a_pause(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window()
    qtbot.keyClicks(window.search, "invoi")
    assert rows(window) == 200  # not yet: the search waits for a pause in typing
    invoices = [i for i in range(N_PLAIN) if i % 3 == 0 and i % 50 != 13]
    qtbot.waitUntil(lambda: rows(window) == len(invoices), timeout=2000)
    assert all("invoice" in e.answer for e in window.list_model.entries())
    assert window.count_label.text() == f"{len(invoices)} found"
    assert not window.more_button.isEnabled()
    qtbot.keyClicks(window.search, "ce 33")  # the last word is a prefix: 33, 330, 333...
    qtbot.waitUntil(lambda: rows(window) == 5, timeout=2000)
    qtbot.keyClick(window.search, Qt.Key.Key_Space)  # a space ends the word
    qtbot.waitUntil(lambda: rows(window) == 1, timeout=2000)
    assert cell(window, 0, Column.ANSWER) == "Answer 33 invoice first line"
    assert window.detail.toPlainText() == _answer(33)
    window.search.clear()
    qtbot.keyClicks(window.search, "nothing-like-this")
    qtbot.waitUntil(lambda: rows(window) == 0, timeout=2000)
    assert window.info.text() == "Nothing found."
    assert window.detail.toPlainText() == ""
    assert not window.open_button.isEnabled()
    assert not window.export_button.isEnabled()


def test_search_results_come_a_page_at_a_time(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window()
    qtbot.keyClicks(window.search, "receipt")
    receipts = [i for i in range(N_PLAIN) if i % 2 == 0 and i % 50 != 13]
    assert len(receipts) > 200
    qtbot.waitUntil(lambda: window.count_label.text() == "200 found, more below", timeout=2000)
    qtbot.mouseClick(window.more_button, Qt.MouseButton.LeftButton)
    assert rows(window) == len(receipts)
    assert len(set(listed_ids(window))) == len(receipts)
    assert {e.prompt for e in window.list_model.entries()} == {f"Prompt {i}" for i in receipts}
    assert not window.more_button.isEnabled()


def test_down_in_the_search_field_moves_to_the_list(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window()
    window.search.setFocus()
    qtbot.keyClicks(window.search, "currency")
    qtbot.keyClick(window.search, Qt.Key.Key_Down)  # at once: no need to wait the pause
    assert rows(window) == 1
    assert window.view.hasFocus()
    assert window.prompt.toPlainText() == "What is the currency?"


# --- detail ----------------------------------------------------------------------------


def test_detail_shows_picture_prompt_answer_and_follow_ups(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window()
    click_row(qtbot, window, 2)  # the first request, with two follow-ups
    assert window.prompt.toPlainText() == "Read all the text."
    assert window.detail.toPlainText() == "Total 42.00 EUR\nThank you"
    picture = window.thumbnail.pixmap()
    assert not picture.isNull()
    assert (picture.width(), picture.height()) == (256, 160)  # the saved thumbnail, whole
    assert window.followups.isVisible()
    assert window.followups_label.text() == "&Follow-ups (2)"
    assert window.followups.toPlainText() == (
        "Q: What is the currency?\nA: Euro.\n\nQ: Who is the seller?\nA: Shop Ltd."
    )
    assert "2,000 / 500 tokens" in window.info.text()
    assert "$0.0135" in window.info.text()

    click_row(qtbot, window, 0)  # a follow-up: none of its own
    assert window.detail.toPlainText() == "Shop Ltd."
    assert not window.followups.isVisible()
    assert "follow-up" in window.info.text()

    r = row_of(window, lambda e: not e.has_thumbnail)
    click_row(qtbot, window, r)
    assert window.thumbnail.pixmap().isNull()
    assert window.thumbnail.text() == "No picture"

    r = row_of(window, lambda e: e.status == "failed")
    click_row(qtbot, window, r)
    assert "Server error 500" in window.info.text()
    assert "Failed" in window.info.text()
    assert not window.copy_button.isEnabled()  # nothing to copy


def test_follow_ups_are_found_for_a_search_result_too(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window()
    qtbot.keyClicks(window.search, "Thank")
    qtbot.waitUntil(lambda: rows(window) == 1, timeout=2000)
    assert window.detail.toPlainText() == "Total 42.00 EUR\nThank you"
    assert window.followups_label.text() == "&Follow-ups (2)"


def test_a_follow_up_saved_after_the_list_loaded_is_shown(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window()
    root = window.list_model.entry(2)
    assert root is not None
    window.history.add(
        NewEntry(
            profile="priced",
            model="big-model",
            base_url="http://x/v1",
            mode="ocr",
            prompt="And the date?",
            answer="Today.",
            parent_id=root.id,
        )
    )
    click_row(qtbot, window, 2)
    assert window.followups_label.text() == "&Follow-ups (3)"
    assert window.followups.toPlainText().endswith("Q: And the date?\nA: Today.")


# --- actions ---------------------------------------------------------------------------


def test_enter_and_double_click_open_the_entry(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window()
    opened: list[int] = []
    window.entry_opened.connect(opened.append)
    click_row(qtbot, window, 3)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    qtbot.keyClick(window.view, Qt.Key.Key_Enter)  # the keypad's
    assert opened == [listed_ids(window)[3]] * 2
    opened.clear()
    click_row(qtbot, window, 5, double=True)
    assert opened == [listed_ids(window)[5]]
    opened.clear()
    qtbot.mouseClick(window.open_button, Qt.MouseButton.LeftButton)
    assert opened == [listed_ids(window)[5]]
    opened.clear()
    qtbot.keyClick(window.search, Qt.Key.Key_Return)  # in the search: to the list, not open
    assert opened == []


def test_copy_answer_with_the_button_and_ctrl_c(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window()
    clipboard = QGuiApplication.clipboard()
    clipboard.setText("before")
    click_row(qtbot, window, 2)
    qtbot.mouseClick(window.copy_button, Qt.MouseButton.LeftButton)
    assert clipboard.text() == "Total 42.00 EUR\nThank you"
    click_row(qtbot, window, 1)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "Euro."
    # In the search field Ctrl+C copies what is selected there, as always.
    window.search.setFocus()
    qtbot.keyClicks(window.search, "zzz")
    window.search.selectAll()
    qtbot.keyClick(window.search, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "zzz"


def test_delete_key_and_button_remove_the_entry_from_the_file(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window()
    total = window.history.count()
    gone, after = listed_ids(window)[4], listed_ids(window)[5]
    click_row(qtbot, window, 4)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_Delete)
    assert window.history.get(gone) is None
    assert gone not in listed_ids(window)
    assert window.current_entry() is not None
    assert window.current_entry().id == after  # type: ignore[union-attr]
    qtbot.mouseClick(window.delete_button, Qt.MouseButton.LeftButton)
    assert window.history.get(after) is None
    with History(window.history.path) as again:  # in the file, not only on screen
        assert again.count() == total - 2
        assert again.get(gone) is None
    # The pages still line up: paging to the end lists every entry once.
    while window.more_button.isEnabled():
        qtbot.mouseClick(window.more_button, Qt.MouseButton.LeftButton)
    assert listed_ids(window) == [e.id for e in window.history.recent(total)]
    # Del in the search field deletes a character, not an entry.
    qtbot.keyClicks(window.search, "ab")
    qtbot.keyClick(window.search, Qt.Key.Key_Home)
    qtbot.keyClick(window.search, Qt.Key.Key_Delete)
    assert window.search.text() == "b"
    assert window.history.count() == total - 2


def test_context_menu_acts_on_the_row_under_the_pointer(
    qtbot: QtBot, make_window: MakeWindow
) -> None:
    window = make_window()
    opened: list[int] = []
    window.entry_opened.connect(opened.append)
    index = window.list_model.index(1, Column.ANSWER)
    pos = window.view.visualRect(index).center()
    menu = window.context_menu
    for action in (window.copy_action, window.open_action):
        event = QContextMenuEvent(
            QContextMenuEvent.Reason.Mouse, pos, window.view.viewport().mapToGlobal(pos)
        )
        QApplication.sendEvent(window.view.viewport(), event)
        qtbot.waitUntil(menu.isVisible, timeout=2000)
        assert window.view.currentIndex().row() == 1
        assert [a.text() for a in menu.actions() if not a.isSeparator()] == [
            "&Open",
            "&Copy answer",
            "&Delete",
            "E&xport…",
            "Clear a&ll…",
        ]
        qtbot.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())
        qtbot.waitUntil(lambda: not menu.isVisible(), timeout=2000)
    assert QGuiApplication.clipboard().text() == "Euro."
    assert opened == [listed_ids(window)[1]]


def test_clear_all_asks_first(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window()
    total = window.history.count()
    seen: list[str] = []
    answer_box(qtbot, "Cancel", seen)
    qtbot.mouseClick(window.clear_button, Qt.MouseButton.LeftButton)
    assert seen == [f"Delete all {total} saved requests? {seen[0].split('? ', 1)[1]}"]
    assert window.history.count() == total
    assert rows(window) == 200

    answer_box(qtbot, "Delete all", seen)
    qtbot.mouseClick(window.clear_button, Qt.MouseButton.LeftButton)
    assert len(seen) == 2
    assert window.history.count() == 0
    with History(window.history.path) as again:
        assert again.count() == 0
    assert rows(window) == 0
    assert window.info.text() == "No answers yet."
    assert window.message.text() == f"Deleted {total} requests."
    assert not window.clear_button.isEnabled()


# --- export ----------------------------------------------------------------------------


def test_export_writes_the_entries_of_the_search_as_json_and_markdown(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window()
    chosen: list[Path | None] = []
    asked: list[Path] = []

    def choose(suggested: Path) -> Path | None:
        asked.append(suggested)
        return chosen.pop(0)

    monkeypatch.setattr(window, "choose_export_path", choose)
    qtbot.keyClicks(window.search, "receipt")
    qtbot.waitUntil(lambda: window.count_label.text() == "200 found, more below", timeout=2000)
    expected = [e.id for e in window.history.search("receipt", limit=10_000)]
    assert len(expected) > 200  # all that match, not only the page on screen

    chosen.append(tmp_path / "out.json")
    qtbot.mouseClick(window.export_button, Qt.MouseButton.LeftButton)
    document = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert [e["id"] for e in document["entries"]] == expected
    assert all("receipt" in e["answer"] for e in document["entries"])
    assert "thumbnail" not in document["entries"][0]
    assert window.message.text() == f"Exported {len(expected)} requests to {tmp_path / 'out.json'}."
    assert asked[0].suffix == ".md"

    chosen.append(tmp_path / "out.md")
    window.view.setFocus()
    qtbot.mouseClick(window.export_button, Qt.MouseButton.LeftButton)
    text = (tmp_path / "out.md").read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## #")]
    assert [int(h.split()[1][1:]) for h in headings] == expected
    assert any(" · My receipts · " in h for h in headings)  # the window's preset labels
    assert any(h.endswith("(partial)") for h in headings)

    chosen.append(None)  # cancelled: nothing written
    qtbot.mouseClick(window.export_button, Qt.MouseButton.LeftButton)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out.json", "out.md"]


def test_export_failure_is_shown(
    qtbot: QtBot, make_window: MakeWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = make_window()
    target = tmp_path / "missing" / "out.md"
    monkeypatch.setattr(window, "choose_export_path", lambda suggested: target)
    qtbot.mouseClick(window.export_button, Qt.MouseButton.LeftButton)
    assert window.message.text().startswith(f"Could not export the history to {target}")
    assert not target.exists()


# --- keys, names, order ----------------------------------------------------------------


def test_ctrl_f_focuses_search_and_escape_closes(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window()
    click_row(qtbot, window, 1)
    window.view.setFocus()
    qtbot.keyClick(window.view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search.hasFocus()
    qtbot.keyClick(window.search, Qt.Key.Key_Escape)
    assert not window.isVisible()


def test_tab_order_and_accessible_names(qtbot: QtBot, make_window: MakeWindow) -> None:
    window = make_window()
    window.search.setFocus()
    order: list[QWidget] = [window.search]
    for _ in range(10):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        order.append(QApplication.focusWidget())
    assert order[:4] == [window.search, window.view, window.more_button, window.prompt]
    assert order[4:6] == [window.detail, window.open_button]  # follow-ups hidden: skipped
    for widget in window.findChildren(QWidget):
        if isinstance(widget, QLineEdit | QPlainTextEdit) or widget is window.view:
            assert widget.accessibleName(), widget
        if isinstance(widget, QPushButton):
            assert widget.text() or widget.accessibleName(), widget
    assert window.thumbnail.accessibleName()
