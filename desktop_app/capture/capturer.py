"""The capture entry point the app uses: picks a backend, takes one picture per screen."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from PySide6.QtCore import QThread
from PySide6.QtGui import QGuiApplication

from desktop_app.capture.base import (
    LOGGER_NAME,
    WAYLAND_MESSAGE,
    CaptureBackend,
    CaptureError,
    ScreenPicture,
    environment,
    is_wayland_session,
    platform_name,
)
from desktop_app.capture.handlers import BACKENDS

log = logging.getLogger(LOGGER_NAME)


class Capturer:
    """Created once at start-up and ``warm()``-ed; ``capture()`` on the GUI thread.

    ``prefer`` forces one backend by name ("mss", "qt"): it is used even where it does not
    look compatible (logged), but must be available. ``environ`` replaces ``os.environ``
    for the session checks (WAYLAND_DISPLAY, DISPLAY).
    """

    def __init__(
        self, prefer: str | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self._environ = environment(environ)
        self._backends: list[CaptureBackend] = [factory(environ) for factory in BACKENDS]
        names = [b.name for b in self._backends]
        if prefer is not None and prefer not in names:
            raise CaptureError(
                f"Unknown capture backend {prefer!r}; choose one of: {', '.join(names)}."
            )
        self._prefer = prefer
        self._usable: list[CaptureBackend] | None = None
        self._skipped: list[str] = []
        self.backend_name: str | None = None

    def warm(self) -> None:
        """Choose the backends and prepare the first (mss: load libxcb, connect, map the
        shared memory: 60-100 ms here), so that ``capture()`` later takes about 5 ms a
        full-HD screen. Never raises: problems surface on capture."""
        usable = self._resolve()
        if usable:
            try:
                usable[0].warm()
            except CaptureError as exc:
                log.warning("capture backend %s failed to warm up: %s", usable[0].name, exc)

    def capture(self) -> list[ScreenPicture]:
        """One picture per ``QGuiApplication.screens()``, in that order. Call it before any
        window of ours is shown. Raises CaptureError when no backend can take them."""
        app = QGuiApplication.instance()
        if app is None or QThread.currentThread() is not app.thread():
            raise RuntimeError("Capturer.capture() needs a QGuiApplication and its thread.")
        screens = QGuiApplication.screens()
        if not screens:
            raise CaptureError("There is no screen to capture.")
        ran: list[str] = []  # the failures of backends that were tried
        for backend in self._resolve():
            try:
                pictures = backend.capture(screens)
            except CaptureError as exc:
                log.warning("capture backend %s failed: %s", backend.name, exc)
                ran.append(f"{backend.name}: {exc}")
                continue
            if self.backend_name != backend.name:
                log.info("capturing screens with the %s backend", backend.name)
            self.backend_name = backend.name
            return pictures
        if is_wayland_session(platform_name(), self._environ):
            # A backend that ran knows best (the portal: "permission not granted");
            # with none that could run, what to install.
            if len(ran) == 1:
                raise CaptureError(ran[0].split(": ", 1)[1])
            raise CaptureError("; ".join(ran) if ran else WAYLAND_MESSAGE)
        failures = [*self._skipped, *ran]
        raise CaptureError(f"Screen capture failed ({'; '.join(failures)}).")

    def describe(self) -> tuple[list[str], list[str]]:
        """For doctor: the backends that can be used here, in order, and why each of
        the others was skipped (``"name: reason"``). Takes no picture."""
        usable = self._resolve()
        return [b.name for b in usable], list(self._skipped)

    def release_buffers(self) -> None:
        """Gives back what a backend keeps only to capture faster (mss: the screen-sized
        shared memory), keeping the choice of backend; for an idle app."""
        for backend in self._usable or ():
            release = getattr(backend, "release", None)
            if release is not None:
                release()

    def close(self) -> None:
        for backend in self._backends:
            backend.close()
        self._usable = None

    def _resolve(self) -> list[CaptureBackend]:
        if self._usable is not None:
            return self._usable
        platform = platform_name()
        usable: list[CaptureBackend] = []
        skipped: list[str] = []
        for backend in self._backends:
            forced = backend.name == self._prefer
            if self._prefer is not None and not forced:
                continue
            if not backend.is_compatible():
                why = f"not compatible with this session (Qt platform {platform!r}"
                why += ", Wayland)" if is_wayland_session(platform, self._environ) else ")"
                if not forced:
                    log.info("capture backend %s skipped: %s", backend.name, why)
                    skipped.append(f"{backend.name}: {why}")
                    continue
                log.warning("capture backend %s forced although %s", backend.name, why)
            try:
                ok, reason = backend.is_available()
            except CaptureError as exc:
                ok, reason = False, str(exc)
            if not ok:
                log.info("capture backend %s skipped: %s", backend.name, reason)
                skipped.append(f"{backend.name}: {reason}")
                continue
            usable.append(backend)
        self._usable, self._skipped = usable, skipped
        return usable
