"""Capture with Qt's ``QScreen.grabWindow(0)``: the fallback where mss cannot work.

About 15 ms per full-HD screen on X11 (against 1-2 ms for mss), and it needs the GUI
thread. On Wayland it returns black pictures, so it does not claim to work there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from PySide6.QtGui import QImage, QScreen

from desktop_app.capture.base import (
    LOGGER_NAME,
    CaptureError,
    ScreenPicture,
    environment,
    is_wayland_session,
    physical_size,
    platform_name,
    screen_geometry,
)

log = logging.getLogger(LOGGER_NAME)

# Platforms whose grabWindow(0) returns the screen's pixels. "offscreen" returns what our
# own (offscreen) windows show, black elsewhere: a real picture of a fake screen, for tests.
_PLATFORMS = ("xcb", "windows", "cocoa", "offscreen")


class QtBackend:
    name = "qt"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environment(environ)

    def is_compatible(self) -> bool:
        platform = platform_name()
        return platform in _PLATFORMS and not is_wayland_session(platform, self._environ)

    def is_available(self) -> tuple[bool, str]:
        return True, ""  # part of QtGui

    def warm(self) -> None:
        """Nothing to prepare."""

    def capture(self, screens: Sequence[QScreen]) -> list[ScreenPicture]:
        pictures = []
        for screen in screens:
            geometry = screen_geometry(screen)
            ratio = screen.devicePixelRatio()
            image = screen.grabWindow(0).toImage()  # physical pixels, ratio set on it
            if image.isNull():
                raise CaptureError(f"Qt returned no picture of screen {screen.name()!r}.")
            if image.format() != QImage.Format.Format_RGB32:
                image = image.convertToFormat(QImage.Format.Format_RGB32)
            expected = physical_size(geometry, ratio)
            if (image.width(), image.height()) != expected:
                log.info(
                    "Qt grabbed %s at %dx%d, expected %dx%d",
                    screen.name(),
                    image.width(),
                    image.height(),
                    *expected,
                )
            image.setDevicePixelRatio(ratio)
            pictures.append(ScreenPicture(screen.name(), geometry, ratio, image))
        return pictures

    def close(self) -> None:
        """Nothing to release."""
