"""The app's flows end to end, in-process on the real X server: capture -> overlay ->
panel streaming from a real loopback server; the clipboard in and out."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from desktop_app import instance
from desktop_app.app import AppController
from desktop_app.core.history import History
from tests.servers import StreamServer, json_reply, stream_reply, vllm_stream


@pytest.fixture
def controller(
    qapp: QApplication, server: StreamServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AppController]:
    folder = tempfile.mkdtemp(prefix="ss-", dir="/tmp")
    monkeypatch.setenv(instance.ENV_OVERRIDE, os.path.join(folder, "app.sock"))
    monkeypatch.setenv("SCREENSCRIBE_ENDPOINT", server.base_url)
    monkeypatch.setenv("SCREENSCRIBE_MODEL", "test-model")
    c = AppController(qapp)
    assert c.listen()
    c.start()
    yield c
    c.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


def notices(c: AppController) -> list[str]:
    seen: list[str] = []
    original = c.surface.notify

    def record(title: str, message: str, *, error: bool = False) -> None:
        seen.append(f"{title}: {message}")
        original(title, message, error=error)

    c.surface.notify = record  # type: ignore[method-assign]
    return seen


def history_entries() -> list[tuple[str, str, str]]:
    path = Path(os.environ["SCREENSCRIBE_DATA_DIR"]) / "history.sqlite3"
    with History(path) as h:
        return [(e.mode, e.status, e.answer) for e in h.recent()]


def test_the_capture_buffer_is_warm_after_a_capture_and_given_back_when_idle(
    qtbot: QtBot, controller: AppController
) -> None:
    def shm() -> bool:
        with open("/proc/self/maps", encoding="utf-8") as f:
            return "mss-shm" in f.read()

    qtbot.waitUntil(lambda: not shm(), timeout=3000)  # released right after start-up
    controller.start_capture("ocr")
    qtbot.waitUntil(lambda: controller.overlay is not None, timeout=3000)
    assert shm()  # kept for the next capture of a burst
    timer = controller._capture_idle_timer
    assert timer.isActive()
    assert timer.interval() == 120_000
    assert controller.overlay is not None
    controller.overlay.finish(None)
    timer.setInterval(50)
    timer.start()
    qtbot.waitUntil(lambda: not shm(), timeout=3000)


def test_capture_to_streamed_answer(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    server.chat(stream_reply(vllm_stream(["Hello ", "from ", "the screen"]), delay=0.01))
    controller.start_capture("ocr")  # (the launcher window hides first: a moment)
    qtbot.waitUntil(lambda: controller.overlay is not None, timeout=3000)
    assert controller.overlay is not None
    window = controller.overlay.windows[0]
    qtbot.waitExposed(window)
    qtbot.mousePress(window, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    qtbot.mouseMove(window, QPoint(400, 300))
    qtbot.mouseRelease(window, Qt.MouseButton.LeftButton, pos=QPoint(520, 456))
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    panel = controller.panels[0]
    with qtbot.waitSignal(panel.answer_completed, timeout=10_000) as done:
        pass
    assert done.args == ["Hello from the screen"]
    assert QGuiApplication.clipboard().text() == "Hello from the screen"  # auto-copy (OCR)
    body = server.requests[-1].json()
    assert body["model"] == "test-model"
    assert body["messages"][0]["content"][1]["image_url"]["url"].startswith(
        "data:image/png;base64,"
    )
    geo = QGuiApplication.primaryScreen().availableGeometry()
    assert geo.contains(panel.frameGeometry())
    qtbot.waitUntil(lambda: bool(history_entries()), timeout=3000)
    assert history_entries()[0] == ("ocr", "complete", "Hello from the screen")
    panel.close()
    qtbot.waitUntil(lambda: controller.panels == [], timeout=3000)


def test_two_captures_stream_into_two_panels(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    server.chat(
        stream_reply(vllm_stream(["first"]), delay=0.3),
        stream_reply(vllm_stream(["second"]), delay=0.1),
    )
    answers: list[str] = []
    for i, (start, end) in enumerate((((100, 100), (300, 260)), ((700, 500), (900, 700)))):
        controller.start_capture("describe")
        qtbot.waitUntil(lambda: controller.overlay is not None, timeout=3000)
        assert controller.overlay is not None
        w = controller.overlay.windows[0]
        qtbot.waitExposed(w)
        qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=QPoint(*start))
        qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=QPoint(*end))
        qtbot.waitUntil(lambda n=i + 1: len(controller.panels) == n, timeout=3000)
        controller.panels[-1].answer_completed.connect(answers.append)
    assert len(controller.panels) == 2  # the first still streams while the second starts
    qtbot.waitUntil(lambda: len(answers) == 2, timeout=10_000)
    assert sorted(answers) == ["first", "second"]


def _sample_image(path: Path | None = None) -> QImage:
    im = Image.new("RGB", (300, 80), "white")
    ImageDraw.Draw(im).text((10, 30), "Clipboard text 123", fill="black")
    if path is not None:
        im.save(path)
    data = im.convert("RGBX").tobytes("raw", "BGRX")
    return QImage(data, 300, 80, 1200, QImage.Format.Format_RGB32).copy()


def test_clipboard_image(qtbot: QtBot, controller: AppController, server: StreamServer) -> None:
    server.chat(stream_reply(vllm_stream(["Clipboard text 123"])))
    QGuiApplication.clipboard().setImage(_sample_image())
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    with qtbot.waitSignal(controller.panels[0].answer_completed, timeout=10_000) as done:
        pass
    assert done.args == ["Clipboard text 123"]
    controller.panels[0].close()


@pytest.mark.parametrize("as_url", [False, True])
def test_clipboard_file_path_or_url(
    qtbot: QtBot, controller: AppController, server: StreamServer, tmp_path: Path, as_url: bool
) -> None:
    server.chat(stream_reply(vllm_stream(["from a file"])))
    path = tmp_path / "shot with space.png"
    _sample_image(path)
    mime = QMimeData()
    if as_url:
        mime.setUrls([QUrl.fromLocalFile(str(path))])
    else:
        mime.setText(str(path))
    QGuiApplication.clipboard().setMimeData(mime)
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    with qtbot.waitSignal(controller.panels[0].answer_completed, timeout=10_000):
        pass
    # The history is written in the stream's thread after the answer is shown.
    qtbot.waitUntil(lambda: bool(history_entries()), timeout=5000)
    assert history_entries()[0][2] == "from a file"
    controller.panels[0].close()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("just some words", "holds text, not an image"),
        ("https://example.com/cat.png", "web address"),
        ("", "clipboard is empty"),
    ],
)
def test_nothing_usable_on_the_clipboard_says_so(
    qtbot: QtBot, controller: AppController, text: str, words: str
) -> None:
    seen = notices(controller)
    if text:
        QGuiApplication.clipboard().setText(text)
    else:
        QGuiApplication.clipboard().clear()
        qtbot.waitUntil(lambda: not QGuiApplication.clipboard().text(), timeout=2000)
    controller.ocr_clipboard()
    assert controller.panels == []
    assert len(seen) == 1
    assert words in seen[0]


def test_an_error_shows_in_the_panel_and_retry_works(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    server.chat(
        json_reply({"error": {"message": "Invalid API key"}}, 401),
        stream_reply(vllm_stream(["after retry"])),
    )
    QGuiApplication.clipboard().setImage(_sample_image())
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    panel = controller.panels[0]
    qtbot.waitUntil(lambda: len(server.requests) == 1, timeout=5000)
    qtbot.waitUntil(lambda: "Invalid API key" in _visible_text(panel), timeout=5000)
    with qtbot.waitSignal(panel.answer_completed, timeout=10_000) as done:
        retry = next(b for b in _buttons(panel) if b.text().replace("&", "") == "Retry")
        qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)
    assert done.args == ["after retry"]
    panel.close()


def _buttons(panel: object) -> list:  # type: ignore[type-arg]
    from PySide6.QtWidgets import QAbstractButton

    return [b for b in panel.findChildren(QAbstractButton) if b.isVisible()]  # type: ignore[attr-defined]


def _visible_text(panel: object) -> str:
    from PySide6.QtWidgets import QLabel, QTextEdit

    parts = [w.text() for w in panel.findChildren(QLabel) if w.isVisible()]  # type: ignore[attr-defined]
    parts += [w.toPlainText() for w in panel.findChildren(QTextEdit) if w.isVisible()]  # type: ignore[attr-defined]
    return "\n".join(parts)


def test_history_window_lists_searches_and_copies(qtbot: QtBot, controller: AppController) -> None:
    from desktop_app.core.history import NewEntry
    from desktop_app.ui.history_window import Column

    history = controller.history()
    assert history is not None
    for answer in ("Invoice total 1149.78", "Meeting at noon", "Partial invoice te"):
        history.add(
            NewEntry(
                profile="p",
                model="m",
                base_url="http://x/v1",
                mode="ocr",
                prompt="Read",
                answer=answer,
                status="partial" if answer.startswith("Partial") else "complete",
            )
        )
    controller.open_history()
    window = controller.history_window
    assert window is not None
    qtbot.waitExposed(window)
    model = window.list_model
    assert model.rowCount() == 3
    assert model.index(0, Column.ANSWER).data() == "(partial) Partial invoice te"
    assert model.index(0, Column.PRESET).data() == "Extract text"
    qtbot.keyClicks(window.search, "invo")
    qtbot.waitUntil(lambda: model.rowCount() == 2, timeout=2000)
    qtbot.keyClick(window.search, Qt.Key.Key_Down)  # to the list, then one row down
    qtbot.keyClick(window.view, Qt.Key.Key_Down)
    assert window.view.currentIndex().row() == 1
    assert window.detail.toPlainText() == "Invoice total 1149.78"
    qtbot.mouseClick(window.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "Invoice total 1149.78"
    window.search.clear()
    qtbot.keyClicks(window.search, "nothing-like-this")
    qtbot.waitUntil(lambda: model.rowCount() == 0, timeout=2000)
    assert window.info.text() == "Nothing found."


def test_enter_in_the_history_window_reopens_the_answer_in_a_panel(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    import dataclasses

    from PySide6.QtWidgets import QTextBrowser

    controller.apply_settings(dataclasses.replace(controller.settings, history_store_images="full"))
    server.chat(stream_reply(vllm_stream(["Invoice 1187, total €1,149.78"])))
    QGuiApplication.clipboard().setImage(_sample_image())
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    with qtbot.waitSignal(controller.panels[0].answer_completed, timeout=10_000):
        pass
    controller.panels[0].close()
    qtbot.waitUntil(lambda: len(history_entries()) == 1, timeout=5000)
    controller.open_history()
    window = controller.history_window
    assert window is not None
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.list_model.rowCount() == 1, timeout=2000)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    window.view.setFocus()
    window.view.setCurrentIndex(window.list_model.index(0, 0))
    qtbot.keyClick(window.view, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    view = controller.panels[0].findChild(QTextBrowser, "answer_view")
    assert view is not None
    assert view.toPlainText() == "Invoice 1187, total €1,149.78"
    assert len(server.requests) == 1  # shown from the history, not asked again
    controller.panels[0].close()


@pytest.fixture
def unconfigured(qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> Iterator[AppController]:
    """The app on first launch: no endpoint, no key."""
    folder = tempfile.mkdtemp(prefix="ss-", dir="/tmp")
    monkeypatch.setenv(instance.ENV_OVERRIDE, os.path.join(folder, "app.sock"))
    c = AppController(qapp)
    assert c.listen()
    c.start()
    yield c
    c.shutdown()
    shutil.rmtree(folder, ignore_errors=True)


DATA = Path(__file__).resolve().parents[1] / "data" / "ocr"


def test_first_launch_reads_text_offline(qtbot: QtBot, unconfigured: AppController) -> None:
    image = QImage(str(DATA / "table_13px.png"))
    assert not image.isNull()
    QGuiApplication.clipboard().setImage(image)
    unconfigured.ocr_clipboard()
    qtbot.waitUntil(lambda: len(unconfigured.panels) == 1, timeout=3000)
    panel = unconfigured.panels[0]
    assert "offline" in _visible_text(panel).lower()
    from PySide6.QtWidgets import QLabel, QLineEdit

    badge = panel.findChild(QLabel, "endpoint_badge")
    assert badge is not None
    assert badge.text() == "offline"
    followup = panel.findChild(QLineEdit, "followup_edit")
    assert followup is not None
    assert not followup.isVisible()  # the offline engine cannot answer questions
    with qtbot.waitSignal(panel.answer_completed, timeout=60_000) as done:
        pass
    assert done.args[0] == (DATA / "table_13px.txt").read_text(encoding="utf-8").rstrip("\n")
    assert QGuiApplication.clipboard().text() == done.args[0]
    panel.close()


def test_first_launch_ask_says_a_model_is_needed(unconfigured: AppController) -> None:
    seen = notices(unconfigured)
    unconfigured.start_capture("ask")
    assert unconfigured.overlay is None
    assert len(seen) == 1
    assert "needs a vision model" in seen[0]
    dialog = unconfigured._settings_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.tabs.currentIndex() == 0  # the endpoint page


def test_first_launch_to_a_working_local_endpoint_through_the_dialog_alone(
    qtbot: QtBot, unconfigured: AppController, server: StreamServer
) -> None:
    """What a new user does: asks, is sent to the endpoint page, picks the local vLLM
    profile, types its address, makes it the default; the next question is answered."""
    from PySide6.QtWidgets import QLineEdit

    from desktop_app.core.settings import load_settings

    unconfigured.start_capture("ask")
    dialog = unconfigured._settings_dialog
    assert dialog is not None
    dialog.profile_combo.setCurrentIndex(dialog.profile_combo.findData("vllm"))
    edit: QLineEdit = dialog.url_edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(edit, server.base_url)
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    dialog.default_profile_check.click()
    dialog.close()
    assert unconfigured.settings.default_profile == "vllm"
    assert unconfigured.settings.profiles["vllm"].base_url == server.base_url
    assert load_settings().settings == unconfigured.settings  # saved, not only in memory
    server.chat(stream_reply(vllm_stream(["A cat."])))
    QGuiApplication.clipboard().setImage(QImage(str(DATA / "table_13px.png")))
    unconfigured.ocr_clipboard("describe")
    qtbot.waitUntil(lambda: len(unconfigured.panels) == 1, timeout=3000)
    with qtbot.waitSignal(unconfigured.panels[0].answer_completed, timeout=10_000) as done:
        pass
    assert done.args == ["A cat."]
    assert len(server.requests) == 1
    unconfigured.panels[0].close()


def test_cross_check_highlights_where_model_and_offline_engine_differ(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    from PySide6.QtWidgets import QLabel, QPushButton, QTextBrowser

    truth = (DATA / "table_13px.txt").read_text(encoding="utf-8").rstrip("\n")
    assert "Rossi" in truth
    model_text = truth.replace("Rossi", "Rosso") + "\nInvented line"
    server.chat(stream_reply(vllm_stream([model_text])))
    QGuiApplication.clipboard().setImage(QImage(str(DATA / "table_13px.png")))
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    panel = controller.panels[0]
    with qtbot.waitSignal(panel.answer_completed, timeout=10_000):
        pass
    button = panel.findChild(QPushButton, "cross_check_button")
    assert button is not None
    qtbot.waitUntil(button.isVisible, timeout=2000)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    state = panel.findChild(QLabel, "state_label")
    assert state is not None
    qtbot.waitUntil(lambda: "Cross-check:" in state.text(), timeout=60_000)
    assert "of the words agree" in state.text()
    view = panel.findChild(QTextBrowser, "answer_view")
    assert view is not None
    marked = _highlighted(view.document())
    assert "Rosso" in marked["#ffe58a"]  # only the model read it
    assert "Invented line" in marked["#ffe58a"]
    assert "Rossi" in marked["#b8f0c0"]  # only the offline engine did
    assert "Rossi" not in marked[""]
    assert not button.isVisible()
    # Copy still gives the model's text, not the comparison
    assert QGuiApplication.clipboard().text() == model_text
    panel.close()


def _highlighted(doc: object) -> dict[str, str]:
    """The document's text by background colour ("" for none)."""
    from PySide6.QtGui import QTextDocument

    assert isinstance(doc, QTextDocument)
    out: dict[str, str] = {"": "", "#ffe58a": "", "#b8f0c0": ""}
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            brush = frag.charFormat().background()
            key = brush.color().name() if brush.style() != Qt.BrushStyle.NoBrush else ""
            out[key] = out.get(key, "") + frag.text()
            it += 1
        block = block.next()
    return out


def test_a_failed_endpoint_can_be_replaced_by_the_offline_engine(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    from PySide6.QtWidgets import QLabel, QPushButton

    server.chat(json_reply({"error": {"message": "quota exhausted"}}, 403))
    QGuiApplication.clipboard().setImage(QImage(str(DATA / "table_13px.png")))
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    panel = controller.panels[0]
    button = panel.findChild(QPushButton, "read_offline_button")
    assert button is not None
    qtbot.waitUntil(button.isVisible, timeout=5000)  # after the error
    with qtbot.waitSignal(panel.answer_completed, timeout=60_000) as done:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    truth = (DATA / "table_13px.txt").read_text(encoding="utf-8").rstrip("\n")
    assert done.args == [truth]
    badge = panel.findChild(QLabel, "endpoint_badge")
    assert badge is not None
    assert badge.text() == "offline"
    assert len(server.requests) == 1  # the offline engine answered, not the server
    qtbot.waitUntil(lambda: len(history_entries()) == 2, timeout=5000)
    assert history_entries()[0] == ("ocr", "complete", truth)
    panel.close()


def _choose_engine(qtbot: QtBot, panel: object, starts_with: str) -> None:
    """Opens the panel's Engine menu with the keyboard and picks an entry."""
    from PySide6.QtWidgets import QMenu, QToolButton

    button = panel.findChild(QToolButton, "engine_button")  # type: ignore[attr-defined]
    assert button is not None
    qtbot.waitUntil(button.isVisible, timeout=5000)
    menu = button.findChild(QMenu, "engine_menu")
    assert menu is not None
    menu.aboutToShow.emit()  # fills it, as opening it does
    actions = [a for a in menu.actions() if a.text().startswith(starts_with)]
    assert len(actions) == 1, [a.text() for a in menu.actions()]
    assert not actions[0].isChecked()
    actions[0].trigger()


def test_the_engine_menu_rereads_the_region_with_the_other_engine(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    from PySide6.QtWidgets import QLabel

    truth = (DATA / "table_13px.txt").read_text(encoding="utf-8").rstrip("\n")
    server.chat(stream_reply(vllm_stream(["what the model read"])))
    server.chat(stream_reply(vllm_stream(["the model again"])))
    QGuiApplication.clipboard().setImage(QImage(str(DATA / "table_13px.png")))
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    panel = controller.panels[0]
    with qtbot.waitSignal(panel.answer_completed, timeout=10_000) as first:
        pass
    assert first.args == ["what the model read"]
    badge = panel.findChild(QLabel, "endpoint_badge")
    assert badge is not None
    assert badge.text() == "local"
    with qtbot.waitSignal(panel.answer_completed, timeout=60_000) as offline:
        _choose_engine(qtbot, panel, "Offline engine")
    assert offline.args == [truth]
    assert badge.text() == "offline"
    assert len(server.requests) == 1
    with qtbot.waitSignal(panel.answer_completed, timeout=10_000) as again:
        _choose_engine(qtbot, panel, "Model:")
    assert again.args == ["the model again"]
    assert badge.text() == "local"
    assert len(server.requests) == 2
    assert QGuiApplication.clipboard().text() == "the model again"
    panel.close()


def test_no_engine_menu_when_only_the_offline_engine_can_read(
    qtbot: QtBot, unconfigured: AppController
) -> None:
    from PySide6.QtWidgets import QToolButton

    QGuiApplication.clipboard().setImage(QImage(str(DATA / "table_13px.png")))
    unconfigured.ocr_clipboard()
    qtbot.waitUntil(lambda: len(unconfigured.panels) == 1, timeout=3000)
    panel = unconfigured.panels[0]
    with qtbot.waitSignal(panel.answer_completed, timeout=60_000):
        pass
    button = panel.findChild(QToolButton, "engine_button")
    assert button is not None
    assert not button.isVisible()
    panel.close()


def test_panel_placement_and_font_size_follow_the_settings_at_once(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    import dataclasses

    from PySide6.QtGui import QCursor
    from PySide6.QtWidgets import QTextBrowser, QToolButton

    server.chat(stream_reply(vllm_stream(["text"])))
    controller.apply_settings(
        dataclasses.replace(controller.settings, panel_placement="cursor", panel_font_size=17)
    )
    QCursor.setPos(300, 200)
    qtbot.waitUntil(lambda: QCursor.pos().x() == 300, timeout=2000)
    QGuiApplication.clipboard().setImage(_sample_image())
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    panel = controller.panels[0]
    assert (panel.x(), panel.y()) == (300, 200)
    view = panel.findChild(QTextBrowser, "answer_view")
    assert view is not None
    assert view.font().pointSizeF() == 17
    button = panel.findChild(QToolButton, "settings_button")
    assert button is not None
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = controller._settings_dialog
    assert dialog is not None
    assert dialog.isVisible()
    assert dialog.tabs.currentIndex() == 0
    dialog.close()
    panel.close()
    controller.apply_settings(dataclasses.replace(controller.settings, panel_placement="center"))
    server.chat(stream_reply(vllm_stream(["text"])))
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    panel = controller.panels[0]
    screen = QGuiApplication.primaryScreen().availableGeometry()
    assert abs(panel.geometry().center().x() - screen.center().x()) <= 1
    panel.close()


def _ask_followup(qtbot: QtBot, panel: object, question: str) -> list[object]:
    from PySide6.QtWidgets import QLineEdit

    edit = panel.findChild(QLineEdit, "followup_edit")  # type: ignore[attr-defined]
    assert edit is not None
    with qtbot.waitSignal(panel.answer_completed, timeout=10_000) as done:  # type: ignore[attr-defined]
        edit.setFocus()
        qtbot.keyClicks(edit, question)
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    return list(done.args)


@pytest.mark.parametrize("store", ["full", "thumbnail"])
def test_a_past_conversation_reopens_from_the_history_and_goes_on(
    qtbot: QtBot, controller: AppController, server: StreamServer, store: str
) -> None:
    import dataclasses

    from PySide6.QtWidgets import QLabel, QTextBrowser

    controller.apply_settings(dataclasses.replace(controller.settings, history_store_images=store))
    server.chat(stream_reply(vllm_stream(["A red square."])))
    server.chat(stream_reply(vllm_stream(["Top left."])))
    server.chat(stream_reply(vllm_stream(["Yes, one."])))
    QGuiApplication.clipboard().setImage(_sample_image())
    controller.ocr_clipboard("describe")
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    first = controller.panels[0]
    with qtbot.waitSignal(first.answer_completed, timeout=10_000):
        pass
    assert _ask_followup(qtbot, first, "Where is it?") == ["Top left."]
    sent_png = server.requests[0].json()["messages"][0]["content"][1]["image_url"]["url"]
    first.close()
    qtbot.waitUntil(lambda: len(history_entries()) == 2, timeout=5000)
    history = controller.history()
    assert history is not None
    root, followup = sorted(history.recent(), key=lambda e: e.id)
    assert followup.parent_id == root.id

    panel = controller.open_history_entry(followup.id)  # a follow-up opens its conversation
    assert panel is not None
    view = panel.findChild(QTextBrowser, "answer_view")
    assert view is not None
    shown = view.toPlainText()
    assert "A red square." in shown
    assert "Where is it?" in shown
    assert "Top left." in shown
    assert len(server.requests) == 2  # nothing was asked again
    state = panel.findChild(QLabel, "state_label")
    assert state is not None
    assert ("thumbnail" in state.text()) == (store == "thumbnail")

    assert _ask_followup(qtbot, panel, "Is there a circle?") == ["Yes, one."]
    messages = server.requests[2].json()["messages"]
    texts = [m["content"] if isinstance(m["content"], str) else "" for m in messages]
    assert texts[1:] == ["A red square.", "Where is it?", "Top left.", "Is there a circle?"]
    image_url = messages[0]["content"][1]["image_url"]["url"]
    assert (image_url == sent_png) == (store == "full")
    panel.close()
    qtbot.waitUntil(lambda: len(history_entries()) == 3, timeout=5000)
    newest = history.recent()[0]
    assert newest.parent_id == root.id


def test_a_global_hotkey_opens_the_overlay_and_the_answer_streams(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    """The whole path on X11 with no other program: Ctrl+Alt+O pressed (by xdotool, as
    a keyboard would, to the X server) -> the app's grab -> overlay -> drag -> panel."""
    import subprocess

    server.chat(stream_reply(vllm_stream(["Hotkey ", "text"])))
    qtbot.waitUntil(
        lambda: controller.hotkeys is not None and "ocr" in controller.hotkeys.active,
        timeout=3000,
    )
    assert controller.hotkey_problems == {}
    subprocess.run(["xdotool", "key", "ctrl+alt+o"], check=True, timeout=10)
    qtbot.waitUntil(lambda: controller.overlay is not None, timeout=3000)
    assert controller.overlay is not None
    assert controller.overlay.mode == "ocr"
    window = controller.overlay.windows[0]
    qtbot.waitExposed(window)
    qtbot.mousePress(window, Qt.MouseButton.LeftButton, pos=QPoint(200, 200))
    qtbot.mouseMove(window, QPoint(400, 300))
    qtbot.mouseRelease(window, Qt.MouseButton.LeftButton, pos=QPoint(520, 456))
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    with qtbot.waitSignal(controller.panels[0].answer_completed, timeout=10_000) as done:
        pass
    assert done.args == ["Hotkey text"]
    controller.panels[0].close()


def test_a_hotkey_changed_in_the_settings_is_grabbed_at_once_and_paused_while_recording(
    qtbot: QtBot, controller: AppController
) -> None:
    import dataclasses
    import subprocess

    qtbot.waitUntil(lambda: controller.hotkeys is not None, timeout=3000)
    table = dataclasses.replace(controller.settings.presets["table"], hotkey="Ctrl+Alt+T")
    presets = {**controller.settings.presets, "table": table}
    controller.apply_settings(dataclasses.replace(controller.settings, presets=presets))
    assert controller.hotkeys is not None
    assert controller.hotkeys.active.get("table") == "Ctrl+Alt+T"
    controller.open_settings("presets")
    dialog = controller._settings_dialog
    assert dialog is not None
    dialog.hotkey_recording.emit(True)  # the hotkey field took the focus
    assert controller.hotkeys.active == {}
    subprocess.run(["xdotool", "key", "ctrl+alt+t"], check=True, timeout=10)
    qtbot.wait(200)
    assert controller.overlay is None  # recording a key does not start a capture
    dialog.close()  # gives the keys back
    assert controller.hotkeys.active.get("table") == "Ctrl+Alt+T"
    assert dialog.hotkey_status.text().startswith("Served by x11")
    subprocess.run(["xdotool", "key", "ctrl+alt+t"], check=True, timeout=10)
    qtbot.waitUntil(lambda: controller.overlay is not None, timeout=3000)
    assert controller.overlay is not None
    assert controller.overlay.mode == "table"
    controller.overlay.finish(None)


def test_a_hotkey_another_program_holds_is_reported_not_ignored(
    qapp: QApplication, qtbot: QtBot, server: StreamServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from Xlib import X

    from tests.hotkeys.test_x11 import OtherClient

    folder = tempfile.mkdtemp(prefix="ss-", dir="/tmp")
    monkeypatch.setenv(instance.ENV_OVERRIDE, os.path.join(folder, "app.sock"))
    monkeypatch.setenv("SCREENSCRIBE_ENDPOINT", server.base_url)
    other = OtherClient(os.environ["DISPLAY"])
    assert other.grab("a", X.ControlMask | other.alt) is None  # Ctrl+Alt+A is theirs
    c = AppController(qapp)
    seen = notices(c)
    try:
        c.start()
        qtbot.waitUntil(lambda: bool(c.hotkey_problems), timeout=3000)
        assert set(c.hotkey_problems) == {"ask"}
        assert "already taken by another program" in c.hotkey_problems["ask"]
        assert any("Hotkeys:" in n and "Ctrl+Alt+A" in n for n in seen)
        assert c.hotkeys is not None
        assert "ocr" in c.hotkeys.active  # the others work
        c.open_settings("presets")
        dialog = c._settings_dialog
        assert dialog is not None
        row = next(
            i
            for i in range(dialog.preset_list.count())
            if dialog.preset_list.item(i).data(Qt.ItemDataRole.UserRole) == "ask"
        )
        dialog.preset_list.setCurrentRow(row)
        assert "already taken" in dialog.hotkey_status.text()
    finally:
        c.shutdown()
        other.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_clipboard_hotkey_reads_the_image_on_the_clipboard(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    import subprocess

    server.chat(stream_reply(vllm_stream(["From the clipboard"])))
    qtbot.waitUntil(
        lambda: controller.hotkeys is not None and "@clipboard" in controller.hotkeys.active,
        timeout=3000,
    )
    QGuiApplication.clipboard().setImage(_sample_image())
    subprocess.run(["xdotool", "key", "ctrl+alt+v"], check=True, timeout=10)
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    with qtbot.waitSignal(controller.panels[0].answer_completed, timeout=10_000) as done:
        pass
    assert done.args == ["From the clipboard"]
    controller.panels[0].close()


def test_a_client_replaced_by_new_settings_is_closed_once_no_panel_uses_it(
    qtbot: QtBot, controller: AppController, server: StreamServer
) -> None:
    import dataclasses

    server.chat(stream_reply(vllm_stream(["slow ", "answer"]), delay=0.3))
    QGuiApplication.clipboard().setImage(_sample_image())
    controller.ocr_clipboard()
    qtbot.waitUntil(lambda: len(controller.panels) == 1, timeout=3000)
    panel = controller.panels[0]
    (old,) = controller._clients.values()
    idle = controller.client_for(controller.profile("describe"))  # same key: same client
    assert idle is old
    controller.apply_settings(dataclasses.replace(controller.settings, theme="light"))
    assert controller._clients == {}
    assert not old._client.is_closed  # the panel's stream still runs on it
    with qtbot.waitSignal(panel.answer_completed, timeout=10_000) as done:
        pass
    assert done.args == ["slow answer"]
    panel.close()
    qtbot.waitUntil(lambda: old._client.is_closed, timeout=3000)
    assert controller._retired == []
    controller.apply_settings(dataclasses.replace(controller.settings, theme="system"))


def test_a_client_no_panel_uses_is_closed_when_the_settings_change(
    controller: AppController,
) -> None:
    import dataclasses

    client = controller.client_for(controller.profile())
    controller.apply_settings(dataclasses.replace(controller.settings, theme="dark"))
    assert client._client.is_closed
    assert controller._retired == []
    controller.apply_settings(dataclasses.replace(controller.settings, theme="system"))
