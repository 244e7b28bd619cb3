"""What every capture backend shares: the picture, the error, the protocol, session checks.

Coordinates: Qt gives each screen a *logical* geometry (device-independent pixels). On X11
and Windows a screen's native top-left equals its logical top-left and its physical size is
``round(logical size * devicePixelRatio)``; on macOS the platform does the scaling and native
geometry is in points. The picture is always in *physical* pixels; ``ScreenPicture`` maps
widget-local logical coordinates onto it the way Qt itself does (multiply by the ratio).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication, QImage, QScreen

from desktop_app.core.errors import ImageError, ScreenScribeError
from desktop_app.core.models import Region

LOGGER_NAME = "screenscribe.capture"

WAYLAND_MESSAGE = (
    "Screen capture on Wayland needs the xdg-desktop-portal Screenshot portal, which "
    "ScreenScribe does not support yet; run the app in an X11 session or use "
    "`screenscribe ocr` on a saved screenshot."
)


class CaptureError(ScreenScribeError):
    """The screens could not be captured (no backend works here, or the grab failed)."""

    exit_code = 2


@dataclass(frozen=True, eq=False)
class ScreenPicture:
    """The frozen picture of one screen, taken before any window of ours was shown.

    ``image`` is in physical pixels (``Format_RGB32``, opaque; its pixel buffer lives as
    long as it or any copy of it, independent of the backend that made it) and carries
    ``device_pixel_ratio`` as its own ``devicePixelRatio()``, so
    ``QPainter.drawImage(QPointF(0, 0), image)`` on a widget covering the screen paints it
    pixel for pixel. ``geometry`` is the screen's logical geometry in Qt coordinates (it may
    start at negative coordinates). Equality is identity: comparing pictures is not cheap.
    """

    name: str
    geometry: tuple[int, int, int, int]
    device_pixel_ratio: float
    image: QImage

    @property
    def physical_size(self) -> tuple[int, int]:
        return self.image.width(), self.image.height()

    def to_physical(self, x: float, y: float) -> tuple[int, int]:
        """The picture pixel under widget-local logical point ``(x, y)`` (floor, clamped)."""
        width, height = self.physical_size
        ratio = self.device_pixel_ratio
        return (
            _clamp(math.floor(x * ratio), 0, width - 1),
            _clamp(math.floor(y * ratio), 0, height - 1),
        )

    def global_to_physical(self, x: float, y: float) -> tuple[int, int]:
        """Like ``to_physical`` for a point in global logical coordinates (``QCursor.pos()``)."""
        return self.to_physical(x - self.geometry[0], y - self.geometry[1])

    def to_physical_rect(self, x: float, y: float, width: float, height: float) -> Region:
        """The physical pixels covering a widget-local logical rectangle, clamped to the
        picture: left/top edges floor, right/bottom edges ceil, so no covered pixel is lost
        at fractional ratios. May be empty (0 wide or high) when the rectangle lies outside.
        """
        pw, ph = self.physical_size
        ratio = self.device_pixel_ratio
        x0, x1 = sorted((x, x + width))
        y0, y1 = sorted((y, y + height))
        left = _clamp(math.floor(x0 * ratio), 0, pw)
        top = _clamp(math.floor(y0 * ratio), 0, ph)
        right = _clamp(math.ceil(x1 * ratio), left, pw)
        bottom = _clamp(math.ceil(y1 * ratio), top, ph)
        return Region(left, top, right - left, bottom - top)

    def crop_bgra(self, x: int, y: int, w: int, h: int) -> tuple[bytes, int, int, int]:
        """Physical rectangle (clamped to the picture) -> ``(bytes, width, height, stride)``,
        ready for ``core.imaging.image_from_bgra``. Raises ImageError when nothing is left."""
        pw, ph = self.physical_size
        left, top = _clamp(x, 0, pw), _clamp(y, 0, ph)
        right, bottom = _clamp(x + w, left, pw), _clamp(y + h, top, ph)
        width, height = right - left, bottom - top
        if width <= 0 or height <= 0:
            raise ImageError(
                f"The selected region ({w} x {h} at {x}, {y}) lies outside the picture of "
                f"screen {self.name or '?'} ({pw} x {ph})."
            )
        part = self.image.copy(QRect(left, top, width, height))
        return bytes(part.constBits()), width, height, part.bytesPerLine()


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


class CaptureBackend(Protocol):
    """One way to take the pictures (NormCap-style handler). Constructing one is cheap."""

    name: str

    def is_compatible(self) -> bool:
        """Can this backend work in this kind of session at all (platform, display server)?"""
        ...

    def is_available(self) -> tuple[bool, str]:
        """Is what it needs present? ``(False, reason and what to install)`` when not."""
        ...

    def warm(self) -> None:
        """Pay set-up costs now so that a capture later is fast. May raise CaptureError."""
        ...

    def capture(self, screens: Sequence[QScreen]) -> list[ScreenPicture]:
        """One picture per screen, in the given order. Raises CaptureError."""
        ...

    def close(self) -> None: ...


def platform_name() -> str:
    """The Qt platform plugin in use ("xcb", "wayland", "windows", "cocoa", ...); "" before
    a QGuiApplication exists."""
    return QGuiApplication.platformName()


def is_wayland_session(platform: str, environ: Mapping[str, str]) -> bool:
    """A Wayland session: the Qt platform is Wayland, or a Wayland compositor is announced
    (then even an X11 connection goes to XWayland, which only shows X11 clients' pixels)."""
    return platform.startswith("wayland") or bool(environ.get("WAYLAND_DISPLAY"))


def environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def screen_geometry(screen: QScreen) -> tuple[int, int, int, int]:
    g = screen.geometry()
    return g.x(), g.y(), g.width(), g.height()


def physical_size(logical: tuple[int, int, int, int], ratio: float) -> tuple[int, int]:
    """A screen's physical size from its logical size, as Qt computes it on X11/Windows."""
    return round(logical[2] * ratio), round(logical[3] * ratio)
