"""The region overlay driven as a person would, with pytest-qt, on a real X server."""

from __future__ import annotations

import io
import random

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtWidgets import QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from desktop_app.capture import Capturer, ScreenPicture
from desktop_app.core.imaging import image_from_bgra, prepare_image
from desktop_app.ui.overlay import RegionOverlay, Selection


def pattern(width: int, height: int, seed: int = 7) -> QImage:
    """Seeded random 8x8 blocks: any off-by-one in the crop shows."""
    rng = random.Random(seed)
    bw, bh = -(-width // 8), -(-height // 8)
    blocks = Image.frombytes("RGB", (bw, bh), rng.randbytes(bw * bh * 3))
    big = blocks.resize((bw * 8, bh * 8), Image.Resampling.NEAREST).crop((0, 0, width, height))
    data = big.tobytes()
    return QImage(data, width, height, width * 3, QImage.Format.Format_RGB888).convertToFormat(
        QImage.Format.Format_RGB32
    )


def picture(dpr: float = 1.0) -> ScreenPicture:
    screen = QGuiApplication.primaryScreen()
    g = screen.geometry()
    w, h = round(g.width() * dpr), round(g.height() * dpr)
    return ScreenPicture(
        screen.name(), (g.x(), g.y(), int(w / dpr), int(h / dpr)), dpr, pattern(w, h)
    )


def show(qtbot: QtBot, overlay: RegionOverlay) -> QWidget:
    overlay.show()
    window = overlay.windows[0]
    qtbot.waitExposed(window)
    return window


def drag(qtbot: QtBot, w: QWidget, a: tuple[int, int], b: tuple[int, int]) -> None:
    qtbot.mousePress(w, Qt.MouseButton.LeftButton, pos=QPoint(*a))
    qtbot.mouseMove(w, QPoint((a[0] + b[0]) // 2, (a[1] + b[1]) // 2))
    qtbot.mouseMove(w, QPoint(*b))
    qtbot.mouseRelease(w, Qt.MouseButton.LeftButton, pos=QPoint(*b))


def selected(qtbot: QtBot, overlay: RegionOverlay, action: object) -> Selection:
    with qtbot.waitSignal(overlay.region_selected, timeout=3000) as blocker:
        action() if callable(action) else None
    result = blocker.args[0]
    assert isinstance(result, Selection)
    return result


def test_drag_selects_the_physical_rectangle(qtbot: QtBot, qapp: object) -> None:
    overlay = RegionOverlay([picture()])
    w = show(qtbot, overlay)
    sel = selected(qtbot, overlay, lambda: drag(qtbot, w, (100, 120), (420, 376)))
    assert sel.rect == (100, 120, 320, 256)
    assert sel.mode == "ocr"
    assert sel.question is None
    assert (sel.global_rect.x(), sel.global_rect.y()) == (100, 120)
    assert overlay.windows == []  # the overlay is gone after the choice


def test_drag_up_and_left_is_the_same_rectangle(qtbot: QtBot, qapp: object) -> None:
    overlay = RegionOverlay([picture()])
    w = show(qtbot, overlay)
    sel = selected(qtbot, overlay, lambda: drag(qtbot, w, (420, 376), (100, 120)))
    assert sel.rect == (100, 120, 320, 256)


def test_scale_factor_two_maps_to_physical_pixels(qtbot: QtBot, qapp: object) -> None:
    overlay = RegionOverlay([picture(dpr=2.0)])
    w = show(qtbot, overlay)
    sel = selected(qtbot, overlay, lambda: drag(qtbot, w, (50, 60), (210, 188)))
    assert sel.rect == (100, 120, 320, 256)
    data, width, height, stride = sel.picture.crop_bgra(*sel.rect)
    got = image_from_bgra(data, width, height, stride)
    want = sel.picture.image.copy(100, 120, 320, 256).convertToFormat(QImage.Format.Format_RGB32)
    assert (
        got.tobytes()
        == image_from_bgra(bytes(want.constBits()), 320, 256, want.bytesPerLine()).tobytes()
    )


def test_keys_nudge_resize_and_confirm(qtbot: QtBot, qapp: object) -> None:
    overlay = RegionOverlay([picture()], confirm_on_release=False)
    w = show(qtbot, overlay)
    drag(qtbot, w, (100, 100), (200, 150))
    for _ in range(3):
        qtbot.keyClick(w, Qt.Key.Key_Right)
    qtbot.keyClick(w, Qt.Key.Key_Up)
    qtbot.keyClick(w, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(w, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(w, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(w, Qt.Key.Key_T)
    sel = selected(qtbot, overlay, lambda: qtbot.keyClick(w, Qt.Key.Key_Return))
    assert sel.rect == (103, 99, 101, 52)
    assert sel.mode == "table"


def test_nudging_stays_on_the_screen(qtbot: QtBot, qapp: object) -> None:
    pic = picture()
    overlay = RegionOverlay([pic], confirm_on_release=False)
    w = show(qtbot, overlay)
    drag(qtbot, w, (1, 1), (41, 41))  # (0, 0) is "the centre" to QTest
    for _ in range(5):
        qtbot.keyClick(w, Qt.Key.Key_Left)
        qtbot.keyClick(w, Qt.Key.Key_Up)
    sel = selected(qtbot, overlay, lambda: qtbot.keyClick(w, Qt.Key.Key_Enter))
    assert sel.rect == (0, 0, 40, 40)


def test_a_drag_leaving_the_screen_is_clamped(qtbot: QtBot, qapp: object) -> None:
    pic = picture()
    overlay = RegionOverlay([pic])
    w = show(qtbot, overlay)
    width, height = pic.physical_size
    sel = selected(
        qtbot,
        overlay,
        lambda: drag(qtbot, w, (width - 50, height - 40), (width + 300, height + 300)),
    )
    assert sel.rect == (width - 50, height - 40, 50, 40)  # up to the last pixel


@pytest.mark.parametrize("how", ["escape", "right-click"])
def test_cancel(qtbot: QtBot, qapp: object, how: str) -> None:
    overlay = RegionOverlay([picture()])
    w = show(qtbot, overlay)
    with qtbot.waitSignal(overlay.selection_cancelled, timeout=3000):
        if how == "escape":
            qtbot.keyClick(w, Qt.Key.Key_Escape)
        else:
            qtbot.mouseClick(w, Qt.MouseButton.RightButton, pos=QPoint(10, 10))
    assert overlay.windows == []


def test_a_click_without_a_drag_selects_nothing(qtbot: QtBot, qapp: object) -> None:
    overlay = RegionOverlay([picture()])
    w = show(qtbot, overlay)
    got: list[object] = []
    overlay.region_selected.connect(got.append)
    qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=QPoint(300, 300))
    qtbot.wait(50)
    assert got == []
    assert overlay.windows == [w]
    overlay.finish(None)


def test_ask_mode_opens_a_question_field(qtbot: QtBot, qapp: object) -> None:
    overlay = RegionOverlay([picture()])
    w = show(qtbot, overlay)
    qtbot.keyClick(w, Qt.Key.Key_A)
    drag(qtbot, w, (300, 300), (500, 400))
    field = w.findChild(QLineEdit)
    assert field is not None
    assert field.isVisible()
    qtbot.keyClicks(field, "What is the total?")
    sel = selected(qtbot, overlay, lambda: qtbot.keyClick(field, Qt.Key.Key_Return))
    assert sel.mode == "ask"
    assert sel.question == "What is the total?"
    assert sel.rect == (300, 300, 200, 100)


def test_paint_shows_dimmed_picture_and_clear_selection(qtbot: QtBot, qapp: object) -> None:
    pic = picture()
    overlay = RegionOverlay([pic], confirm_on_release=False)
    w = show(qtbot, overlay)
    drag(qtbot, w, (600, 500), (900, 700))
    shot = w.grab().toImage()
    inside = QColor(shot.pixel(700, 600))
    outside = QColor(shot.pixel(1500, 900))
    assert inside == QColor(pic.image.pixel(700, 600))  # undimmed, exact
    original = QColor(pic.image.pixel(1500, 900))
    assert outside.value() < original.value() or original.value() == 0  # dimmed
    overlay.finish(None)


def test_screen_pixels_end_to_end(qtbot: QtBot, qapp: object) -> None:
    """A known picture on the real X screen; capture; drag; the prepared PNG's pixels
    equal that region of the screen exactly."""
    screen = QGuiApplication.primaryScreen()
    g = screen.geometry()
    source = pattern(g.width(), g.height(), seed=11)

    class Board(QWidget):
        def paintEvent(self, event: object) -> None:
            QPainter(self).drawImage(0, 0, source)

    board = Board()
    board.setWindowFlags(Qt.WindowType.FramelessWindowHint)
    board.setGeometry(g)
    board.show()
    qtbot.waitExposed(board)
    qtbot.wait(100)
    capturer = Capturer()
    capturer.warm()
    pictures = capturer.capture()
    board.close()
    overlay = RegionOverlay(pictures)
    w = show(qtbot, overlay)
    sel = selected(qtbot, overlay, lambda: drag(qtbot, w, (333, 211), (653, 467)))
    data, width, height, stride = sel.picture.crop_bgra(*sel.rect)
    prepared = prepare_image(image_from_bgra(data, width, height, stride))
    assert (prepared.width, prepared.height) == (320, 256)  # no resize: exact pixels
    sent = Image.open(io.BytesIO(prepared.data)).convert("RGB")
    region = source.copy(333, 211, 320, 256).convertToFormat(QImage.Format.Format_RGB32)
    want = image_from_bgra(bytes(region.constBits()), 320, 256, region.bytesPerLine())
    assert sent.tobytes() == want.tobytes()
    capturer.close()


def test_painted_is_said_once_after_the_frozen_picture_is_on_screen(
    qtbot: QtBot, qapp: object
) -> None:
    """The app starts slow work (keyring, the offline engine's worker) on ``painted``, so
    it must come after the first paint and only once, however often the window repaints."""
    overlay = RegionOverlay([picture()])
    window = overlay.windows[0]
    said: list[bool] = []
    overlay.painted.connect(lambda: said.append(window.isVisible()))
    assert said == []
    with qtbot.waitSignal(overlay.painted, timeout=3000):
        overlay.show()
    assert said == [True]
    window.repaint()
    drag(qtbot, window, (10, 10), (60, 40))  # repaints several times
    qtbot.wait(50)
    assert said == [True]
    overlay.finish(None)
