"""The app's resident surface: a tray icon with a menu, or, on a desktop without a tray,
a small launcher window with the same actions."""

from __future__ import annotations

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon, QKeySequence, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QLabel,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QVBoxLayout,
    QWidget,
)


def app_icon() -> QIcon:
    """The icon, drawn (no image files to ship or lose): a dashed selection frame with a
    text cursor inside."""
    icon = QIcon()
    for size in (16, 22, 24, 32, 48, 64, 128, 256):
        pm = QPixmap(size, size)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(QColor(38, 110, 220))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(QRectF(0, 0, size, size), size * 0.22, size * 0.22)
        pen = QPen(Qt.GlobalColor.white, max(1.0, size / 16))
        pen.setStyle(Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        m = size * 0.2
        p.drawRect(QRectF(m, m, size - 2 * m, size - 2 * m))
        pen.setStyle(Qt.PenStyle.SolidLine)
        pen.setWidthF(max(1.5, size / 10))
        p.setPen(pen)
        p.drawLine(int(size * 0.5), int(size * 0.33), int(size * 0.5), int(size * 0.67))
        p.end()
        icon.addPixmap(pm)
    return icon


class _Actions(QObject):
    """The actions both surfaces offer, with their signals."""

    capture_requested = Signal(str)  # a preset's name; "" for the default preset
    clipboard_requested = Signal()
    history_requested = Signal()
    settings_requested = Signal()
    quit_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.capture = QAction("Capture region", self)
        self.capture.setShortcut(QKeySequence("Ctrl+Alt+O"))
        self.capture.triggered.connect(lambda: self.capture_requested.emit(""))
        self.ask = QAction("Ask about region…", self)
        self.ask.triggered.connect(lambda: self.capture_requested.emit("ask"))
        self.table = QAction("Table to Markdown", self)
        self.table.triggered.connect(lambda: self.capture_requested.emit("table"))
        self.clipboard = QAction("OCR clipboard image", self)
        self.clipboard.triggered.connect(self.clipboard_requested.emit)
        self.history = QAction("History", self)
        self.history.triggered.connect(self.history_requested.emit)
        self.settings = QAction("Settings…", self)
        self.settings.triggered.connect(self.settings_requested.emit)
        self.quit = QAction("Quit", self)
        self.quit.triggered.connect(self.quit_requested.emit)
        self.presets_menu = QMenu("Capture with preset")
        self.presets_menu.setObjectName("presets_menu")

    def set_presets(self, presets: list[tuple[str, str]]) -> None:
        """``[(name, label), ...]``: the presets offered in the "Capture with" menu."""
        self.presets_menu.clear()
        for name, label in presets:
            action = self.presets_menu.addAction(label)
            action.setData(name)
            action.triggered.connect(lambda _=False, n=name: self.capture_requested.emit(n))

    def all(self) -> list[QAction | None]:
        return [
            self.capture,
            self.ask,
            self.table,
            self.clipboard,
            None,
            self.history,
            self.settings,
            None,
            self.quit,
        ]


class TrayUi(_Actions):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.menu = QMenu()
        for action in self.all():
            if action is None:
                self.menu.addSeparator()
            else:
                self.menu.addAction(action)
            if action is self.table:
                self.menu.addMenu(self.presets_menu)
        self.tray = QSystemTrayIcon(app_icon(), self)
        self.tray.setToolTip("ScreenScribe: click to capture a region")
        self.tray.setContextMenu(self.menu)
        self.tray.activated.connect(self._on_tray_activated)

    def show(self) -> None:
        self.tray.show()

    def hide(self) -> None:
        self.tray.hide()

    def notify(self, title: str, message: str, *, error: bool = False) -> None:
        icon = (
            QSystemTrayIcon.MessageIcon.Warning
            if error
            else QSystemTrayIcon.MessageIcon.Information
        )
        self.tray.showMessage(title, message, icon, 6000)

    def _on_tray_activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:  # a left click
            self.capture_requested.emit("")


class LauncherUi(_Actions):
    """For desktops with no system tray: a small window with the same actions."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.window = QWidget()
        self.window.setWindowTitle("ScreenScribe")
        self.window.setWindowIcon(app_icon())
        layout = QVBoxLayout(self.window)
        hint = QLabel("No system tray here. `screenscribe capture` works from a shortcut too.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        for action in self.all():
            if action is None:
                continue
            button = QPushButton(action.text())
            button.setAccessibleName(action.text())
            button.clicked.connect(action.trigger)
            layout.addWidget(button)
            self.window.addAction(action)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)

    def show(self) -> None:
        self.window.show()

    def hide(self) -> None:
        self.window.hide()

    def notify(self, title: str, message: str, *, error: bool = False) -> None:
        self.status.setText(f"{title}: {message}")
        self.status.setStyleSheet("color: palette(highlight);" if not error else "")
