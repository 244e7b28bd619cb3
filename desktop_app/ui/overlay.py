"""The region overlay: one frameless full-screen window per screen over its frozen picture.

The selection is kept in physical pixels of the screen's picture, so what the user sees
framed is exactly what is cropped, whatever the screen's scale factor. Mouse drag
selects (clamped to the screen where the drag began); arrow keys nudge it by one
physical pixel, Shift+arrows resize it; Enter confirms, Escape or a right click cancels.
O, A, T, D pick the mode (extract text, ask, table, describe); in Ask mode a question
field opens at the selection.

On Wayland (Qt platform "wayland") a client cannot place its windows: positions are
ignored, stay-on-top does nothing, ``QCursor.pos()`` knows nothing outside our windows.
There each window asks for its output instead (``QWindow.setScreen`` before
``showFullScreen()``: xdg_toplevel.set_fullscreen on that wl_output), one after the other,
and the compositor gives the keyboard to the one on the output it has focused. Widget
coordinates stay local and map onto the picture by the picture's own ratio, which at a
fractional scale (1.5) differs from the ratio Qt renders the window at (2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from PySide6.QtCore import QEvent, QObject, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFont,
    QGuiApplication,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QPixmap,
    QScreen,
)
from PySide6.QtWidgets import QLineEdit, QWidget

from desktop_app.capture import ScreenPicture
from desktop_app.core.prompts import PRESETS, Preset, kind_of

MODE_KEYS = {
    Qt.Key.Key_O: "ocr",
    Qt.Key.Key_A: "ask",
    Qt.Key.Key_T: "table",
    Qt.Key.Key_D: "describe",
}
DIM = QColor(0, 0, 0, 120)
ACCENT = QColor(64, 156, 255)
MAGNIFIER_SOURCE = 15  # physical pixels across
MAGNIFIER_SIZE = 120  # logical pixels across
#: Wayland: how long to wait for one window to be full-screen on its output before the
#: next is shown anyway (a compositor that never makes it full-screen).
WAYLAND_PLACE_TIMEOUT_MS = 500


def on_wayland() -> bool:
    """Qt runs as a Wayland client (not through XWayland): windows cannot be placed."""
    return QGuiApplication.platformName().startswith("wayland")


def _screen_for(
    picture: ScreenPicture, screens: list[QScreen], *, by_geometry: bool
) -> QScreen | None:
    """The screen a picture was taken of: by name, else (``by_geometry``) by its logical
    rectangle."""
    found = {s.name(): s for s in screens}.get(picture.name)
    if found is None and by_geometry:
        found = next((s for s in screens if s.geometry().getRect() == picture.geometry), None)
    return found


@dataclass(frozen=True)
class Selection:
    """What the user picked: a rectangle in physical pixels of ``picture``."""

    picture: ScreenPicture
    rect: tuple[int, int, int, int]  # x, y, w, h in the picture's physical pixels
    mode: str
    question: str | None
    global_rect: QRect  # the same rectangle in global logical coordinates (panel placement)


class RegionOverlay(QObject):
    """Shows one overlay window per screen picture and reports the result once."""

    region_selected = Signal(object)  # Selection
    selection_cancelled = Signal()
    painted = Signal()  # once, when every window has painted the frozen picture

    def __init__(
        self,
        pictures: list[ScreenPicture],
        *,
        mode: str = "ocr",
        confirm_on_release: bool = True,
        presets: Mapping[str, Preset] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.mode = mode
        self.presets = PRESETS if presets is None else presets
        self.confirm_on_release = confirm_on_release
        self._done = False
        self._painted: set[int] = set()  # ids of the windows that have painted once
        self.wayland = on_wayland()
        self._unshown: list[OverlayWindow] = []  # Wayland: still to show, in order
        self._placing: OverlayWindow | None = None  # Wayland: shown, not yet full-screen
        screens = QGuiApplication.screens()
        self.windows = [
            OverlayWindow(p, self, _screen_for(p, screens, by_geometry=self.wayland))
            for p in pictures
        ]

    def show(self) -> None:
        if self.wayland:
            self._unshown = list(self.windows)
            self._show_next()
            return
        cursor = QCursor.pos()
        focus = None
        for w in self.windows:
            w.show_on_screen()
            if w.geometry().contains(cursor):
                focus = w
        focus = focus or (self.windows[0] if self.windows else None)
        if focus is not None:
            focus.activateWindow()
            focus.raise_()
            focus.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def _window_painted(self, window: OverlayWindow) -> None:
        if len(self._painted) == len(self.windows):
            return
        self._painted.add(id(window))
        if len(self._painted) == len(self.windows):
            self.painted.emit()

    def _show_next(self) -> None:
        """Wayland: show the next window once the one before fills its output. sway 1.7
        configures a full-screen window mapped while another window's layout change is
        still in flight with a size of 0 first (Qt warns about it); one at a time, each
        window's own change is done before the next maps (about one frame each)."""
        self._placing = None
        if self._done or not self._unshown:
            return
        window = self._unshown.pop(0)
        if self._unshown:
            self._placing = window
            QTimer.singleShot(
                WAYLAND_PLACE_TIMEOUT_MS, self, partial(self._on_window_placed, window)
            )
        window.show_on_output(announce=bool(self._unshown))

    def _on_window_placed(self, window: OverlayWindow) -> None:
        if window is self._placing:
            self._show_next()

    @property
    def asks(self) -> bool:
        """The mode's preset takes a question typed in the overlay."""
        return kind_of(self.mode, self.presets) == "ask"

    def set_mode(self, mode: str) -> None:
        self.mode = mode
        for w in self.windows:
            w.update()

    def finish(self, selection: Selection | None) -> None:
        if self._done:
            return
        self._done = True
        self._unshown = []
        self._placing = None
        for w in self.windows:
            w.hide()
            w.deleteLater()
        self.windows = []
        if selection is None:
            self.selection_cancelled.emit()
        else:
            self.region_selected.emit(selection)

    def clear_others(self, keep: OverlayWindow) -> None:
        for w in self.windows:
            if w is not keep and w.selection is not None:
                w.selection = None
                w.update()


class OverlayWindow(QWidget):
    def __init__(
        self, picture: ScreenPicture, overlay: RegionOverlay, screen: QScreen | None
    ) -> None:
        super().__init__(None)
        self.picture = picture
        self.overlay = overlay
        self._screen = screen
        self._announce_placed = False  # Wayland: tell the overlay once full-screen
        self.setWindowTitle("ScreenScribe overlay")
        if overlay.wayland:
            # Stay-on-top and Tool mean nothing to a Wayland compositor; full-screen on
            # its output is what covers it.
            self.setWindowFlags(Qt.WindowType.Window | Qt.WindowType.FramelessWindowHint)
        else:
            self.setWindowFlags(
                Qt.WindowType.FramelessWindowHint
                | Qt.WindowType.WindowStaysOnTopHint
                | Qt.WindowType.Tool
            )
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pixmap = QPixmap.fromImage(picture.image)
        self._pixmap.setDevicePixelRatio(picture.device_pixel_ratio)
        self.selection: QRect | None = None  # physical pixels of the picture
        self._anchor: tuple[int, int] | None = None
        self._cursor_phys: tuple[int, int] | None = None
        self._question: QLineEdit | None = None
        x, y, w, h = picture.geometry
        if overlay.wayland:
            # No position (it would be ignored), and not yet the screen's size: reaching
            # it tells that the compositor has made the window full-screen.
            self.resize(max(1, w // 2), max(1, h // 2))
        else:
            self.setGeometry(x, y, w, h)

    # -- showing -----------------------------------------------------------------------

    def show_on_screen(self) -> None:
        if self._screen is not None:
            self.setScreen(self._screen)
        x, y, w, h = self.picture.geometry
        self.setGeometry(x, y, w, h)
        self.show()

    def show_on_output(self, *, announce: bool) -> None:
        """Wayland: full-screen on the picture's output. The native window's screen says
        which output (QWidget.setScreen before the window exists is not enough: Qt picks
        the screen by position then). ``announce``: tell the overlay once the compositor
        has made it full-screen.

        The screen is looked up now, not kept from before: PySide may invalidate a QScreen
        wrapper once a window whose ``screen()`` returned it is destroyed (the wrapper is
        shared), and a call on it then raises inside Qt's event handling."""
        self._announce_placed = announce
        self.create()
        handle = self.windowHandle()
        screen = _screen_for(self.picture, QGuiApplication.screens(), by_geometry=True)
        if screen is not None and handle is not None:
            handle.setScreen(screen)
        self.showFullScreen()
        self.setFocus(Qt.FocusReason.ActiveWindowFocusReason)  # for when it is activated

    def _placed(self) -> bool:
        """Wayland: shown full-screen at its screen's logical size, as the compositor
        configured it (the size the window had before differs)."""
        handle = self.windowHandle()
        return (
            handle is not None
            and handle.isExposed()
            and self.isFullScreen()
            and self.size() == QSize(self.picture.geometry[2], self.picture.geometry[3])
        )

    def changeEvent(self, event: QEvent) -> None:
        if self._announce_placed and event.type() == QEvent.Type.WindowStateChange:
            self.update()  # Qt reports the full-screen state after the resize: paint again
        super().changeEvent(event)

    # -- geometry helpers --------------------------------------------------------------

    @property
    def _dpr(self) -> float:
        return self.picture.device_pixel_ratio

    def _to_phys(self, pos: QPointF) -> tuple[int, int]:
        return self.picture.to_physical(pos.x(), pos.y())

    def _edge(self, pos: QPointF) -> tuple[int, int]:
        """A selection corner: like ``_to_phys``, but a drag past the screen's edge
        reaches it (the last row and column included)."""
        pw, ph = self.picture.physical_size
        d = self._dpr
        return (min(max(math.floor(pos.x() * d), 0), pw), min(max(math.floor(pos.y() * d), 0), ph))

    def _logical_rect(self, r: QRect) -> QRectF:
        d = self._dpr
        return QRectF(r.x() / d, r.y() / d, r.width() / d, r.height() / d)

    def _clamped(self, r: QRect) -> QRect:
        pw, ph = self.picture.physical_size
        r = r.normalized()
        w = min(max(r.width(), 1), pw)
        h = min(max(r.height(), 1), ph)
        x = min(max(r.x(), 0), pw - w)
        y = min(max(r.y(), 0), ph - h)
        return QRect(x, y, w, h)

    # -- mouse -------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self.overlay.finish(None)
            return
        if event.button() != Qt.MouseButton.LeftButton:
            return
        self._close_question()
        self.overlay.clear_others(self)
        self._anchor = self._to_phys(event.position())
        self.selection = QRect(self._anchor[0], self._anchor[1], 0, 0)
        self.update()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        self._cursor_phys = self._to_phys(event.position())
        if self._anchor is not None:
            (x0, y0), (x1, y1) = self._anchor, self._edge(event.position())
            self.selection = QRect(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
        self.update()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self._anchor is None:
            return
        self.mouseMoveEvent(event)
        self._anchor = None
        if self.selection is None or self.selection.width() < 2 or self.selection.height() < 2:
            self.selection = None  # a click, not a drag
            self.update()
            return
        if self.overlay.confirm_on_release:
            self._confirm()

    # -- keys --------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.overlay.finish(None)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._confirm()
        elif key in MODE_KEYS and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            self.overlay.set_mode(MODE_KEYS[Qt.Key(key)])
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down):
            self._nudge(key, resize=bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier))
        else:
            super().keyPressEvent(event)

    def _nudge(self, key: int, *, resize: bool) -> None:
        if self.selection is None:
            return
        dx = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1}.get(Qt.Key(key), 0)
        dy = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1}.get(Qt.Key(key), 0)
        r = QRect(self.selection)
        if resize:
            r.setWidth(r.width() + dx)
            r.setHeight(r.height() + dy)
        else:
            r.translate(dx, dy)
        self.selection = self._clamped(r)
        self.update()

    # -- confirming --------------------------------------------------------------------

    def _confirm(self) -> None:
        if self.selection is None or self.selection.isEmpty():
            return
        self.selection = self._clamped(self.selection)
        if self.overlay.asks and self._question is None:
            self._open_question()
            return
        question = self._question.text().strip() if self._question is not None else None
        if self.overlay.asks and not question:
            return
        r = self.selection
        lr = self._logical_rect(r)
        gx, gy = self.picture.geometry[0], self.picture.geometry[1]
        global_rect = QRectF(lr.x() + gx, lr.y() + gy, lr.width(), lr.height()).toAlignedRect()
        self.overlay.finish(
            Selection(
                picture=self.picture,
                rect=(r.x(), r.y(), r.width(), r.height()),
                mode=self.overlay.mode,
                question=question if self.overlay.asks else None,
                global_rect=global_rect,
            )
        )

    def _open_question(self) -> None:
        assert self.selection is not None
        field = QLineEdit(self)
        field.setPlaceholderText("Ask about this region, then press Enter")
        field.setAccessibleName("Question about the region")
        lr = self._logical_rect(self.selection)
        width = max(260, min(int(lr.width()), 520))
        x = int(min(max(lr.x(), 4), self.width() - width - 4))
        y = int(lr.bottom() + 8)
        if y + 34 > self.height():
            y = max(4, int(lr.y()) - 42)
        field.setGeometry(x, y, width, 32)
        field.returnPressed.connect(self._confirm)
        field.installEventFilter(self)
        field.show()
        field.setFocus()
        self._question = field

    def _close_question(self) -> None:
        if self._question is not None:
            self._question.deleteLater()
            self._question = None
            self.setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self._question
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Escape
        ):
            self._close_question()
            return True
        return super().eventFilter(watched, event)

    # -- painting ----------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        self._paint()
        self.overlay._window_painted(self)

    def _paint(self) -> None:
        p = QPainter(self)
        p.drawPixmap(0, 0, self._pixmap)
        p.fillRect(self.rect(), DIM)
        if self.selection is not None and not self.selection.isEmpty():
            lr = self._logical_rect(self.selection)
            p.drawPixmap(lr, self._pixmap, QRectF(self.selection))
            p.setPen(QPen(ACCENT, 1))
            p.drawRect(lr.adjusted(-0.5, -0.5, 0.5, 0.5))
            self._draw_label(p, lr, f"{self.selection.width()} × {self.selection.height()}")
        self._draw_help(p)
        if self._cursor_phys is not None and self._anchor is None and self._question is None:
            self._draw_magnifier(p)
        p.end()
        if self._announce_placed and self._placed():
            # After this paint is committed: the compositor has the configured size.
            self._announce_placed = False
            QTimer.singleShot(0, self.overlay, partial(self.overlay._on_window_placed, self))

    def _draw_label(self, p: QPainter, lr: QRectF, text: str) -> None:
        font = QFont(self.font())
        font.setPointSizeF(max(9.0, font.pointSizeF()))
        p.setFont(font)
        metrics = p.fontMetrics()
        box = QRectF(0, 0, metrics.horizontalAdvance(text) + 12, metrics.height() + 6)
        box.moveTopLeft(QPointF(lr.x(), lr.y() - box.height() - 4))
        if box.top() < 0:
            box.moveTopLeft(QPointF(lr.x() + 4, lr.y() + 4))
        if box.right() > self.width():
            box.moveRight(self.width() - 2)
        p.fillRect(box, QColor(0, 0, 0, 190))
        p.setPen(Qt.GlobalColor.white)
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_help(self, p: QPainter) -> None:
        preset = self.overlay.presets.get(self.overlay.mode)
        mode = preset.display_name if preset else self.overlay.mode
        text = (
            f"{mode}  ·  drag to select  ·  O text  A ask  T table  D describe  ·  "
            "arrows nudge, Shift resizes  ·  Enter confirms  ·  Esc cancels"
        )
        metrics = p.fontMetrics()
        box = QRectF(0, 0, metrics.horizontalAdvance(text) + 24, metrics.height() + 12)
        box.moveCenter(QPointF(self.width() / 2, 12 + box.height() / 2))
        if self.selection is not None and self._logical_rect(self.selection).intersects(box):
            box.moveBottom(self.height() - 12)
        p.fillRect(box, QColor(0, 0, 0, 170))
        p.setPen(Qt.GlobalColor.white)
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_magnifier(self, p: QPainter) -> None:
        assert self._cursor_phys is not None
        cx, cy = self._cursor_phys
        half = MAGNIFIER_SOURCE // 2
        source = QRect(cx - half, cy - half, MAGNIFIER_SOURCE, MAGNIFIER_SOURCE)
        d = self._dpr
        cursor = QPointF(cx / d, cy / d)
        target = QRectF(0, 0, MAGNIFIER_SIZE, MAGNIFIER_SIZE)
        target.moveTopLeft(cursor + QPointF(20, 20))
        if target.right() > self.width():
            target.moveRight(cursor.x() - 20)
        if target.bottom() > self.height():
            target.moveBottom(cursor.y() - 20)
        p.fillRect(target, Qt.GlobalColor.black)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.drawPixmap(target, self._pixmap, QRectF(source))
        cell = MAGNIFIER_SIZE / MAGNIFIER_SOURCE
        centre = QRectF(target.x() + half * cell, target.y() + half * cell, cell, cell)
        p.setPen(QPen(ACCENT, 1))
        p.drawRect(centre)
        p.drawRect(target)
        label = f"{cx}, {cy}"
        box = QRectF(target.x(), target.bottom() + 2, target.width(), p.fontMetrics().height() + 4)
        p.fillRect(box, QColor(0, 0, 0, 190))
        p.setPen(Qt.GlobalColor.white)
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, label)

    def sizeHint(self) -> QSize:
        return QSize(self.picture.geometry[2], self.picture.geometry[3])
