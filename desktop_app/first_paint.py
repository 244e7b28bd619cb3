"""``screenscribe capture`` with no app running: the frozen screen first, the app after.

A one-shot capture used to build the whole app (tray, single-instance server, hotkeys'
and clients' code) before it took the picture. Here only what the first paint needs is
imported and run (the settings, the capture backends, the overlay), and the app is
built on the overlay's ``painted`` signal, long before a person can finish a drag: 32 ms
less to the frozen screen on the benchmark machine (bench/bench_launch.py). A selection
made even faster than that waits for the app and is handed to it.

Presets that need a model take the usual way (the app first checks that there is one).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.capture import CaptureError, Capturer
from desktop_app.core.errors import ScreenScribeError
from desktop_app.core.settings import LoadResult, load_settings
from desktop_app.resources import APP_ID
from desktop_app.ui.overlay import RegionOverlay, Selection

if TYPE_CHECKING:
    from desktop_app.app import AppController

__all__ = ["FirstPaint", "capture_first", "qt_application"]

log = logging.getLogger("screenscribe.app")


def qt_application() -> QApplication:
    """The app's QApplication (made once), set up as the desktop expects it."""
    logging.basicConfig(level=logging.INFO, format="screenscribe: %(message)s")
    from PySide6.QtCore import QLoggingCategory

    # Qt 6.11 on a Wayland compositor without an input method warns on every focus change
    # to a widget that takes no text ("QWaylandTextInputv3::disableSurface"): noise.
    QLoggingCategory.setFilterRules("qt.qpa.wayland.textinput.warning=false")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("ScreenScribe")
    app.setDesktopFileName(APP_ID)  # the installed .desktop file: the app id on Wayland
    app.setQuitOnLastWindowClosed(False)
    return app


class FirstPaint:
    """The overlay on screen before the app exists; the app adopts it once painted."""

    def __init__(
        self,
        app: QApplication,
        settings: LoadResult,
        capturer: Capturer,
        overlay: RegionOverlay,
        mode: str,
    ) -> None:
        self.app = app
        self.settings = settings
        self.capturer = capturer
        self.overlay = overlay
        self.mode = mode
        self.controller: AppController | None = None
        self._early: list[Selection | None] = []  # an outcome before the app was built
        overlay.region_selected.connect(self._on_selected)
        overlay.selection_cancelled.connect(self._on_cancelled)
        overlay.painted.connect(lambda: QTimer.singleShot(0, self.build_app))

    def _on_selected(self, selection: Selection) -> None:
        self._early.append(selection)

    def _on_cancelled(self) -> None:
        self._early.append(None)

    def build_app(self) -> None:
        if self.controller is not None:
            return
        from desktop_app.app import AppController
        from desktop_app.ui.tray import app_icon

        self.app.setWindowIcon(app_icon())
        controller = AppController(
            self.app, one_shot=True, settings=self.settings, capturer=self.capturer
        )
        self.controller = controller
        if not controller.listen():  # another app started meanwhile: finish this one here
            log.info("another ScreenScribe started meanwhile; this capture goes on here")
        controller.start()
        self.overlay.region_selected.disconnect(self._on_selected)
        self.overlay.selection_cancelled.disconnect(self._on_cancelled)
        if self._early:
            controller.adopt_outcome(self._early[0])
        else:
            controller.adopt_overlay(self.overlay, self.mode, painted=True)

    def run(self) -> int:
        return self.app.exec()


def capture_first(command: list[str]) -> FirstPaint | None:
    """The frozen screen and the overlay for ``capture [--preset NAME]``, shown; None when
    this command should take the usual way (another command, a preset that needs a
    model, an unknown preset, a capture that failed: the app reports those)."""
    from desktop_app.cli import parse_app_command

    try:
        name, preset = parse_app_command(command)
    except ScreenScribeError:
        return None
    if name != "capture":
        return None
    settings = load_settings()
    mode = preset or settings.settings.default_preset
    if mode not in settings.settings.presets or settings.settings.preset(mode).kind != "ocr":
        return None
    app = qt_application()
    if settings.settings.theme != "system":
        from desktop_app.ui.theme import apply_theme

        apply_theme(settings.settings.theme)
    capturer = Capturer()
    try:
        pictures = capturer.capture()  # before any window of ours is shown
    except CaptureError:
        return None  # the app tries again and says why
    overlay = RegionOverlay(pictures, mode=mode, presets=settings.settings.presets)
    first = FirstPaint(app, settings, capturer, overlay, mode)
    overlay.show()
    return first
