"""The composition root of the desktop app: tray (or launcher), single-instance server,
capture, overlay, panels. Nothing imports this module but the CLI's app commands."""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from desktop_app import instance
from desktop_app.capture import CaptureError, Capturer
from desktop_app.core.errors import ScreenScribeError
from desktop_app.core.settings import (
    LoadResult,
    Profile,
    Settings,
    load_settings,
    resolve_profile,
)
from desktop_app.keyprobe import KeyProbe
from desktop_app.ui.overlay import RegionOverlay, Selection
from desktop_app.ui.tray import LauncherUi, TrayUi, app_icon

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QScreen

    from desktop_app.core.endpoint import EndpointClient
    from desktop_app.core.history import History
    from desktop_app.core.local_ocr import LocalOcrSource
    from desktop_app.core.models import PreparedImage
    from desktop_app.core.pipeline import AnswerSource
    from desktop_app.hotkeys import HotkeyManager
    from desktop_app.ui.history_window import HistoryWindow
    from desktop_app.ui.panel import AnswerPanel
    from desktop_app.ui.settings_dialog import SettingsDialog

log = logging.getLogger("screenscribe.app")
LAUNCHER_HIDE_MS = 150  # time for the X server to repaint under the hidden launcher
RELEASE_MEMORY_AFTER_MS = 2000  # idle this long after start-up or the last panel
CAPTURE_BUFFER_KEPT_MS = 120_000  # the warm capture buffer, after the last capture


class AppController(QObject):
    def __init__(
        self,
        app: QApplication,
        *,
        one_shot: bool = False,
        settings: LoadResult | None = None,
        capturer: Capturer | None = None,
    ) -> None:
        """``settings`` and ``capturer``: what ``first_paint`` has loaded and used
        already (a one-shot capture shows the frozen screen before the app is built)."""
        super().__init__(app)
        self.app = app
        self.one_shot = one_shot
        result = settings if settings is not None else load_settings()
        self.settings: Settings = result.settings
        self._startup_warnings = list(result.warnings)
        if self.settings.keyring == "file":  # the user's explicit, warned choice
            from desktop_app.core.secrets import use_keyring

            try:
                use_keyring("file")
            except ScreenScribeError as exc:
                self._startup_warnings.append(str(exc))
        if self.settings.theme != "system":
            from desktop_app.ui.theme import apply_theme

            apply_theme(self.settings.theme)
        self.capturer = capturer if capturer is not None else Capturer()
        if not one_shot:  # a one-shot capture grabs at once: warming would grab twice
            try:
                self.capturer.warm()
            except CaptureError as exc:
                self._startup_warnings.append(str(exc))
        # Captures come in bursts: the capture buffer (a screen's worth of shared memory)
        # is kept warm for a while after one, then given back; warm() above has loaded
        # what takes long, so a capture without the buffer costs ~5 ms more (1080p).
        self._capture_idle_timer = QTimer(self)
        self._capture_idle_timer.setSingleShot(True)
        self._capture_idle_timer.setInterval(CAPTURE_BUFFER_KEPT_MS)
        self._capture_idle_timer.timeout.connect(self.capturer.release_buffers)
        if not one_shot:
            QTimer.singleShot(0, self.capturer.release_buffers)
        self.overlay: RegionOverlay | None = None
        self.panels: list[AnswerPanel] = []
        self._clients: dict[tuple[str, str], EndpointClient] = {}  # by (profile, base URL)
        self._history: History | None = None
        # Replaced by new settings but still used by an open panel: closed when it closes.
        self._retired: list[EndpointClient | History] = []
        self._settings_dialog: SettingsDialog | None = None
        self.hotkeys: HotkeyManager | None = None  # made after start-up: Xlib costs 60 ms
        self.hotkey_problems: dict[str, str] = {}  # preset name -> why its key does not work
        self._hotkeys_paused = False  # the settings dialog is recording a key
        self._shut_down = False
        self._local: LocalOcrSource | None = None
        self._key_probe = KeyProbe()  # the keyring stays out of this process until needed
        self._history_opened = False
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._on_server_new_connection)
        self.surface: TrayUi | LauncherUi
        if QSystemTrayIcon.isSystemTrayAvailable():
            self.surface = TrayUi(self)
        else:
            self.surface = LauncherUi(self)
        self.surface.capture_requested.connect(self.start_capture)
        self._offer_presets()
        self.surface.clipboard_requested.connect(self.ocr_clipboard)
        self.surface.history_requested.connect(self.open_history)
        self.surface.settings_requested.connect(self.open_settings)
        self.surface.quit_requested.connect(self.quit)
        self.history_window: HistoryWindow | None = None
        self._launcher_hidden = False  # hidden for a capture, to be shown again
        self._capture_pending = False
        # Idle again (started, or the last panel closed): hand freed memory back.
        self._release_timer = QTimer(self)
        self._release_timer.setSingleShot(True)
        self._release_timer.setInterval(RELEASE_MEMORY_AFTER_MS)
        self._release_timer.timeout.connect(self._release_memory)

    # -- life cycle --------------------------------------------------------------------

    def listen(self) -> bool:
        """Starts the single-instance server. False when another app already runs."""
        name = instance.server_name()
        # Ask first: with UserAccessOption, Qt's listen() silently replaces the socket
        # file of a running app instead of failing.
        probe = QLocalSocket()
        probe.connectToServer(name)
        if probe.waitForConnected(300):
            probe.disconnectFromServer()
            return False
        QLocalServer.removeServer(name)  # a stale socket left by a crashed app
        return self.server.listen(name)

    def start(self) -> None:
        if not self.one_shot:
            self.surface.show()
            QTimer.singleShot(0, self._register_hotkeys)
            self._release_timer.start()
        # Whether the hosted profile has a key decides who reads text (the model or the
        # offline engine): asked now in the background, found ready by the first capture.
        from desktop_app.core.settings import DEFAULT_PROFILE

        if self.settings.default_profile == DEFAULT_PROFILE:
            self._key_probe.prefetch(DEFAULT_PROFILE)
        for warning in self._startup_warnings:
            self.notify("ScreenScribe", warning, error=True)

    def quit(self) -> None:
        self.shutdown()
        self.app.quit()

    def shutdown(self) -> None:
        """Closes panels (cancelling their streams), the overlay, clients and stores."""
        self._shut_down = True  # a hotkey registration still queued must not grab now
        self._release_timer.stop()
        self._capture_idle_timer.stop()
        for panel in list(self.panels):
            panel.close()
        if self.history_window is not None:
            self.history_window.close()
        if self.overlay is not None:
            self.overlay.finish(None)
        if self._settings_dialog is not None:
            self._settings_dialog.close()
        if self.hotkeys is not None:
            self.hotkeys.close()
        for client in self._clients.values():
            client.close()
        self._clients.clear()
        for old in self._retired:
            old.close()
        self._retired.clear()
        if self._local is not None:
            self._local.engine.close()
            self._local = None
        if self._history is not None:
            self._history.close()
        self.capturer.close()
        self.server.close()
        self.surface.hide()

    def notify(self, title: str, message: str, *, error: bool = False) -> None:
        log.info("%s: %s", title, message)
        self.surface.notify(title, message, error=error)

    def _maybe_quit_one_shot(self) -> None:
        if self.one_shot and not self.panels and self.overlay is None:
            self.quit()

    # -- global hotkeys -----------------------------------------------------------------

    def _hotkey_map(self) -> dict[str, str]:
        from desktop_app.hotkeys.base import CLIPBOARD_KEY

        if self._hotkeys_paused:
            return {}
        keys = {name: p.hotkey for name, p in self.settings.presets.items() if p.hotkey}
        if self.settings.clipboard_hotkey:
            keys[CLIPBOARD_KEY] = self.settings.clipboard_hotkey
        return keys

    def _register_hotkeys(self) -> None:
        """Grabs each preset's hotkey; tells the user once about those that do not work
        (taken by another program, or no backend here: then how to bind the command)."""
        if self._shut_down:
            return
        if self.hotkeys is None:
            from desktop_app.hotkeys import HotkeyManager

            self.hotkeys = HotkeyManager(self)
            self.hotkeys.hotkey_pressed.connect(self._on_hotkeys_hotkey_pressed)
            self.hotkeys.problems_reported.connect(self._on_hotkeys_problems_reported)
            self.hotkeys.bindings_reported.connect(self._on_hotkeys_bindings_reported)
        problems = self.hotkeys.set_hotkeys(self._hotkey_map())
        new = {k: v for k, v in problems.items() if self.hotkey_problems.get(k) != v}
        self.hotkey_problems = problems
        if new and not self._hotkeys_paused:
            self.notify("Hotkeys", " ".join(new.values()), error=True)
        if self._settings_dialog is not None:
            self._settings_dialog.set_hotkey_status(self.hotkeys.describe(), problems)

    def _on_hotkeys_hotkey_pressed(self, preset: str) -> None:
        from desktop_app.hotkeys.base import CLIPBOARD_KEY

        if preset == CLIPBOARD_KEY:
            self.ocr_clipboard()
        else:
            self.start_capture(preset)

    def _on_hotkeys_problems_reported(self, problems: object) -> None:
        """The desktop refused keys after set_hotkeys returned (the portal's dialog)."""
        assert isinstance(problems, dict)
        self.hotkey_problems = {**self.hotkey_problems, **problems}
        self.notify("Hotkeys", " ".join(problems.values()), error=True)
        if self._settings_dialog is not None and self.hotkeys is not None:
            self._settings_dialog.set_hotkey_status(self.hotkeys.describe(), self.hotkey_problems)

    def _on_hotkeys_bindings_reported(self, changes: object) -> None:
        assert isinstance(changes, dict)
        self.notify("Hotkeys", " ".join(changes.values()))

    def _on_settings_dialog_hotkey_recording(self, recording: bool) -> None:
        """While a key is being recorded in the dialog, our grabs must not take it."""
        self._hotkeys_paused = recording
        if self.hotkeys is not None or not recording:
            self._register_hotkeys()

    # -- commands from other processes -------------------------------------------------

    def _on_server_new_connection(self) -> None:
        while (sock := self.server.nextPendingConnection()) is not None:
            sock.readyRead.connect(lambda s=sock: self._on_socket_ready_read(s))
            sock.disconnected.connect(sock.deleteLater)
            if sock.canReadLine():
                self._on_socket_ready_read(sock)

    def _on_socket_ready_read(self, sock: QLocalSocket) -> None:
        if not sock.canReadLine():
            return
        line = bytes(sock.readLine().data()).decode("utf-8", "replace")
        try:
            argv = json.loads(line)["argv"]
            error = self.handle_argv([str(a) for a in argv])
        except (ValueError, KeyError, TypeError):
            error = "malformed command"
        sock.write(b"ok\n" if error is None else f"error: {error}\n".encode())
        sock.flush()
        sock.disconnectFromServer()

    def handle_argv(self, argv: list[str]) -> str | None:
        """Runs a forwarded command; returns an error message or None."""
        from desktop_app.cli import parse_app_command

        try:
            command, mode = parse_app_command(argv)
        except ScreenScribeError as exc:
            return str(exc)
        if mode is not None and mode not in self.settings.presets:
            return f"Unknown preset {mode!r}. Known presets: {', '.join(self.settings.presets)}."
        if command == "capture":
            self.start_capture(mode)
        elif command == "clipboard":
            self.ocr_clipboard(mode)
        elif command == "quit":
            QTimer.singleShot(0, self.quit)
        elif command == "show":
            self.surface.show()
            self.notify("ScreenScribe", "ScreenScribe is already running.")
        return None

    # -- capture -----------------------------------------------------------------------

    def start_capture(self, mode: str | None = None) -> None:
        mode = mode or self.settings.default_preset
        if self.overlay is not None:
            self.overlay.set_mode(mode)
            return
        if self._capture_pending:
            return
        # A mode that needs a model: say so before the overlay if there is none.
        if self.settings.preset(mode).kind != "ocr" and self.answer_source(mode) is None:
            self._maybe_quit_one_shot()
            return
        if isinstance(self.surface, LauncherUi) and self.surface.window.isVisible():
            # Our own window must not be in the frozen picture: hide it, let the X
            # server repaint what is under it, then capture; it comes back afterwards.
            self.surface.hide()
            self._launcher_hidden = True
            self._capture_pending = True
            QTimer.singleShot(LAUNCHER_HIDE_MS, lambda: self._capture_now(mode))
            return
        self._capture_now(mode)

    def _capture_now(self, mode: str) -> None:
        self._capture_pending = False
        try:
            pictures = self.capturer.capture()  # before any window of ours is shown
            self._capture_idle_timer.start()
        except CaptureError as exc:
            self._restore_launcher()
            self.notify("Cannot capture the screen", str(exc), error=True)
            self._maybe_quit_one_shot()
            return
        overlay = RegionOverlay(pictures, mode=mode, presets=self.settings.presets)
        self.adopt_overlay(overlay, mode, painted=False)
        overlay.show()

    def adopt_outcome(self, selection: Selection | None) -> None:
        """What an overlay shown before the app was built ended with (``first_paint``):
        a selection, or None when it was cancelled."""
        if selection is None:
            self._on_overlay_selection_cancelled()
        else:
            self._on_overlay_region_selected(selection)

    def adopt_overlay(self, overlay: RegionOverlay, mode: str, *, painted: bool) -> None:
        """Makes ``overlay`` the app's: its selection goes to a panel. ``painted``: it is
        on screen already (``first_paint`` showed it before the app was built)."""
        overlay.setParent(self)
        self.overlay = overlay
        overlay.region_selected.connect(self._on_overlay_region_selected)
        overlay.selection_cancelled.connect(self._on_overlay_selection_cancelled)
        # Who answers is decided once the frozen screen is painted: it may read the
        # keyring (200 ms on first use) and start the offline engine's worker process,
        # which must not delay those pixels (nor compete with them for a CPU).
        if painted:
            QTimer.singleShot(0, lambda: self._prepare_engine(mode))
        else:
            overlay.painted.connect(
                lambda: QTimer.singleShot(0, lambda: self._prepare_engine(mode))
            )

    def _prepare_engine(self, mode: str) -> None:
        """Starts loading the offline engine while the user selects, if it will answer."""
        chosen = self.answer_source(mode)
        if chosen is not None and self._local is not None and chosen[0] is self._local:
            self._local.engine.warm()

    def _restore_launcher(self) -> None:
        if self._launcher_hidden:
            self._launcher_hidden = False
            self.surface.show()

    def _on_overlay_selection_cancelled(self) -> None:
        self.overlay = None
        self._restore_launcher()
        self._maybe_quit_one_shot()
        self._release_when_idle()

    def _on_overlay_region_selected(self, selection: Selection) -> None:
        self.overlay = None
        self._restore_launcher()
        from desktop_app.core.imaging import image_from_bgra

        chosen = self.answer_source(selection.mode)
        if chosen is None:
            self._maybe_quit_one_shot()
            return
        try:
            data, w, h, stride = selection.picture.crop_bgra(*selection.rect)
            prepared = _prepare(image_from_bgra(data, w, h, stride), chosen)
        except ScreenScribeError as exc:
            self.notify("Cannot use that region", str(exc), error=True)
            self._maybe_quit_one_shot()
            return
        screen = _screen_named(selection.picture.name)
        prompt = selection.question or self.settings.preset(selection.mode).prompt
        self.open_panel(
            prepared, selection.mode, prompt, "screen", selection.global_rect, screen, chosen
        )

    def ocr_clipboard(self, mode: str | None = None) -> None:
        from desktop_app.clipboard import read_image
        from desktop_app.core.imaging import image_from_bgra

        mode = mode or self.settings.default_preset
        if self.settings.preset(mode).kind == "ask":
            mode = "ocr"  # nowhere to type the question: read the text instead

        chosen = self.answer_source(mode)
        if chosen is None:
            self._maybe_quit_one_shot()
            return
        try:
            item = read_image(QGuiApplication.clipboard())
            source = (
                image_from_bgra(item.bgra, item.width, item.height, item.stride)
                if item.bgra is not None
                else item.path or ""
            )
            prepared = _prepare(source, chosen)
        except ScreenScribeError as exc:
            self.notify("Nothing to read on the clipboard", str(exc), error=True)
            self._maybe_quit_one_shot()
            return
        prompt = self.settings.preset(mode).prompt
        self.open_panel(
            prepared, mode, prompt, item.source, None, QGuiApplication.primaryScreen(), chosen
        )

    # -- panels ------------------------------------------------------------------------

    def profile(self, mode: str | None = None) -> Profile:
        """The endpoint profile that answers the preset ``mode`` (its own, else the
        default profile)."""
        preset = self.settings.preset(mode) if mode else None
        return resolve_profile(self.settings, (preset.profile or None) if preset else None)

    def answer_source(self, mode: str) -> tuple[AnswerSource, Profile] | None:
        """The engine for ``mode``: the configured endpoint, or, with none configured, the
        offline engine for text extraction. None (and the user told why) when the mode
        needs a vision model that is not configured."""
        from desktop_app.core.engines import OFFLINE_PROFILE, choose_engine, endpoint_configured

        profile = self.profile(mode)
        kind = self.settings.preset(mode).kind
        try:
            requested = self.settings.ocr_engine if kind == "ocr" else "auto"
            engine = choose_engine(
                requested,
                kind,
                configured=endpoint_configured(
                    self.settings, profile, has_key=self._key_probe.has_key
                ),
            )
        except ScreenScribeError as exc:
            self.notify("No vision model configured", str(exc), error=True)
            self.open_settings("endpoints", profile=profile.name)
            return None
        if engine == "endpoint":
            return self.client_for(profile), profile
        return self.local_source(), OFFLINE_PROFILE

    def _cross_check_source(self, mode: str, answer_source: AnswerSource) -> AnswerSource | None:
        """The offline engine, offered to compare a model's transcription with."""
        from desktop_app.core.local_ocr import is_available

        if self.settings.preset(mode).kind != "ocr":
            return None
        if not answer_source.can_chat or not is_available():
            return None
        return self.local_source()

    def _engines_for(self, mode: str) -> tuple[tuple[AnswerSource, Profile], ...]:
        """Everyone who can read text for the panel's Engine menu (OCR mode only)."""
        from desktop_app.core.engines import OFFLINE_PROFILE, endpoint_configured
        from desktop_app.core.local_ocr import is_available

        if self.settings.preset(mode).kind != "ocr":
            return ()
        engines: list[tuple[AnswerSource, Profile]] = []
        profile = self.profile(mode)
        if endpoint_configured(self.settings, profile, has_key=self._key_probe.has_key):
            engines.append((self.client_for(profile), profile))
        if is_available():
            engines.append((self.local_source(), OFFLINE_PROFILE))
        return tuple(engines)

    def local_source(self) -> AnswerSource:
        if self._local is None:
            from desktop_app.core.local_ocr import LocalOcrEngine, LocalOcrSource

            self._local = LocalOcrSource(LocalOcrEngine())  # exits when idle a few minutes
        return self._local

    def client_for(self, profile: Profile) -> EndpointClient:
        from desktop_app.core.endpoint import EndpointClient
        from desktop_app.core.secrets import get_api_key

        key = (profile.name, profile.base_url)
        client = self._clients.get(key)
        if client is None:
            client = EndpointClient(
                profile.base_url,
                get_api_key(profile.name),
                connect_timeout=profile.connect_timeout,
                idle_timeout=profile.idle_timeout,
            )
            self._clients[key] = client
        return client

    def history(self) -> History | None:
        if not self.settings.history_enabled:
            return None
        if not self._history_opened:
            self._history_opened = True
            from desktop_app.core.history import History
            from desktop_app.core.settings import data_dir

            try:
                self._history, warning = History.open_or_recover(
                    data_dir() / "history.sqlite3",
                    max_entries=self.settings.history_max_entries,
                    max_age_days=self.settings.history_max_days,
                )
            except ScreenScribeError as exc:
                self.notify("History is off", str(exc), error=True)
                return None
            if warning:
                self.notify("History", warning, error=True)
        return self._history

    def open_panel(
        self,
        image: PreparedImage,
        mode: str,
        prompt: str,
        source: str,
        region: QRect | None,
        screen: QScreen | None,
        chosen: tuple[AnswerSource, Profile],
        *,
        restore: tuple[list[tuple[str | None, str]], int] | None = None,
    ) -> AnswerPanel:
        from desktop_app.ui.panel import AnswerPanel, PanelContext, PanelJob

        answer_source, profile = chosen
        preset = self.settings.preset(mode)
        panel = AnswerPanel(
            PanelJob(
                image=image,
                mode=mode,
                prompt=prompt,
                source=source,
                kind=preset.kind,
                label=preset.display_name,
            ),
            PanelContext(
                profile=profile,
                client=answer_source,
                history=self.history(),
                auto_copy=preset.auto_copy,
                cross_check=self._cross_check_source(mode, answer_source),
                engines=self._engines_for(mode),
                store_image=self.settings.history_store_images == "full",
            ),
        )
        panel.setWindowIcon(app_icon())
        panel.panel_closed.connect(lambda p=panel: self._on_panel_closed(p))
        panel.answer_completed.connect(lambda text, p=panel: self._on_panel_answer(p, text))
        panel.settings_requested.connect(
            lambda name: self.open_settings("endpoints", profile=name or None)
        )
        self.panels.append(panel)
        if self.settings.panel_font_size:
            panel.set_font_size(self.settings.panel_font_size)
        self._place(panel, region, screen)
        panel.show()
        panel.raise_()
        panel.activateWindow()
        if restore is not None:
            panel.restore(*restore)
        else:
            panel.start()
        return panel

    def _place(self, panel: AnswerPanel, region: QRect | None, screen: QScreen | None) -> None:
        """Where the settings put a new panel: beside the region, at the pointer, or in
        the middle of the screen (also for a clipboard image, which has no region)."""
        from PySide6.QtGui import QCursor

        placement = self.settings.panel_placement
        if placement == "cursor":
            pointer = QCursor.pos()
            at = QGuiApplication.screenAt(pointer) or screen
            if at is not None:
                panel.place_at(pointer, at)
                return
        if placement == "beside" and region is not None and screen is not None:
            panel.place_near(region, screen)
        elif screen is not None:
            geo = screen.availableGeometry()
            panel.move(geo.center() - panel.rect().center())

    def _on_panel_answer(self, panel: AnswerPanel, text: str) -> None:
        if not panel.isVisible() and text:
            self.notify("ScreenScribe", text[:200])

    def _close_retired(self) -> None:
        """Closes the replaced clients and stores that no open panel uses any more."""
        keep = []
        for old in self._retired:
            if any(panel.uses(old) for panel in self.panels):
                keep.append(old)
            else:
                old.close()
        self._retired = keep

    def _on_panel_closed(self, panel: AnswerPanel) -> None:
        if panel in self.panels:
            self.panels.remove(panel)
        panel.deleteLater()
        if self._retired:
            self._close_retired()
        self._maybe_quit_one_shot()
        self._release_when_idle()

    def _release_when_idle(self) -> None:
        if not self.panels and self.overlay is None and not self._shut_down:
            self._release_timer.start()  # (re)started: once, after the last one

    def _release_memory(self) -> None:
        """Hands the pages freed since the last capture back to the system (a tray app
        should sit at its start-up size, not at its peak)."""
        if self.panels or self.overlay is not None:
            return
        from desktop_app.core.memory import release_free_memory

        release_free_memory()

    def open_history(self) -> None:
        history = self.history()
        if history is None:
            self.notify("History", "The history is turned off in the settings.")
            return
        if self.history_window is None:
            from desktop_app.ui.history_window import HistoryWindow

            self.history_window = HistoryWindow(
                history, presets=self.settings.presets, profiles=self.settings.profiles
            )
            self.history_window.setWindowIcon(app_icon())
            self.history_window.entry_opened.connect(self.open_history_entry)
        else:
            self.history_window.refresh()
        self.history_window.show()
        self.history_window.raise_()
        self.history_window.activateWindow()

    def open_history_entry(self, entry_id: int) -> AnswerPanel | None:
        """Opens a past conversation in a panel: its picture, prompt and answers; a
        follow-up question continues it (with the full picture when the history keeps
        full images, else with the thumbnail, and the panel says so)."""
        from desktop_app.core.engines import OFFLINE_PROFILE
        from desktop_app.panel_history import conversation_of

        history = self.history()
        if history is None:
            return None
        try:
            found = conversation_of(history, entry_id)
        except ScreenScribeError as exc:
            self.notify("Cannot open that entry", str(exc), error=True)
            return None
        if found is None:
            self.notify("History", "That entry is no longer in the history.")
            return None
        root, exchanges, picture, full = found
        if root.profile == OFFLINE_PROFILE.name:
            chosen: tuple[AnswerSource, Profile] = (self.local_source(), OFFLINE_PROFILE)
        else:
            name = root.profile if root.profile in self.settings.profiles else None
            profile = resolve_profile(self.settings, name)
            chosen = (self.client_for(profile), profile)
        try:
            prepared = _prepare(picture, chosen)
        except ScreenScribeError as exc:
            self.notify("Cannot open that entry", str(exc), error=True)
            return None
        panel = self.open_panel(
            prepared,
            root.mode,
            root.prompt,
            root.source or "history",
            None,
            QGuiApplication.primaryScreen(),
            chosen,
            restore=(exchanges, root.id),
        )
        if not full:
            panel.note("Only a thumbnail of this picture was kept: follow-ups see it small.")
        return panel

    def open_settings(self, page: str = "endpoints", profile: str | None = None) -> None:
        """The settings dialog at ``page`` (endpoints, presets, general)."""
        if self._settings_dialog is None:
            from desktop_app.ui.settings_dialog import SettingsDialog

            self._settings_dialog = SettingsDialog(self.settings)
            self._settings_dialog.setWindowIcon(app_icon())
            self._settings_dialog.settings_changed.connect(self.apply_settings)
            self._settings_dialog.hotkey_recording.connect(
                self._on_settings_dialog_hotkey_recording
            )
            if self.hotkeys is not None:
                self._settings_dialog.set_hotkey_status(
                    self.hotkeys.describe(), self.hotkey_problems
                )
        self._settings_dialog.show_page(page, profile=profile)

    def _offer_presets(self) -> None:
        self.surface.set_presets(
            [(name, p.display_name) for name, p in self.settings.presets.items()]
        )

    def apply_settings(self, settings: Settings) -> None:
        """New settings (saved already) apply from the next request on; panels that are
        open keep the endpoint they started with."""
        old, self.settings = self.settings, settings
        self._key_probe.forget()
        self._offer_presets()
        if self.hotkeys is not None and (
            {n: p.hotkey for n, p in old.presets.items()}
            != {n: p.hotkey for n, p in settings.presets.items()}
            or old.clipboard_hotkey != settings.clipboard_hotkey
        ):
            self._register_hotkeys()
        if self.history_window is not None:
            self.history_window.set_catalog(settings.presets, settings.profiles)
        self._retired.extend(self._clients.values())  # a key, URL or timeout may differ
        self._clients.clear()
        self._close_retired()
        if self._history is not None:
            if settings.history_enabled:
                self._history.max_entries = settings.history_max_entries
                self._history.max_age_days = settings.history_max_days
            else:
                self._retired.append(self._history)
                self._history = None
                self._close_retired()
        if settings.history_enabled and not old.history_enabled:
            self._history_opened = False  # open again on the next request
        if settings.theme != old.theme:
            from desktop_app.ui.theme import apply_theme

            apply_theme(settings.theme)
        if settings.start_at_login != old.start_at_login:
            from desktop_app.autostart import set_start_at_login

            try:
                set_start_at_login(settings.start_at_login)
            except ScreenScribeError as exc:
                self.notify("Start at login", str(exc), error=True)


def _prepare(image: PILImage | str | bytes, chosen: tuple[AnswerSource, Profile]) -> PreparedImage:
    """Sizes and encodes a picture for whoever answers: the model's pixel budget for an
    endpoint, the pixels as they are for the offline engine."""
    from desktop_app.core.imaging import prepare_image

    source, profile = chosen
    return prepare_image(
        image,
        min_tokens=profile.min_image_tokens,
        max_tokens=profile.max_image_tokens,
        fit=source.can_chat,
    )


def _screen_named(name: str) -> QScreen | None:
    for screen in QGuiApplication.screens():
        if screen.name() == name:
            return screen
    return QGuiApplication.primaryScreen()


def run_app(command: list[str] | None = None, *, one_shot: bool = False) -> int:
    """Starts the app (or, if one runs already, hands ``command`` to it)."""
    from desktop_app.first_paint import qt_application

    app = qt_application()
    app.setWindowIcon(app_icon())
    controller = AppController(app, one_shot=one_shot)
    if not controller.listen():
        instance.forward(command or ["show"])
        return 0
    controller.start()
    if command:
        QTimer.singleShot(0, lambda: _run_initial(controller, command))
    return app.exec()


def _run_initial(controller: AppController, command: list[str]) -> None:
    error = controller.handle_argv(command)
    if error:
        print(f"screenscribe: {error}", file=sys.stderr)
        controller.quit()
