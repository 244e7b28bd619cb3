"""What every capture backend shares: the picture, the error, the protocol, session checks.

Coordinates: Qt gives each screen a *logical* geometry (device-independent pixels). On X11
and Windows a screen's native top-left equals its logical top-left and its physical size is
``round(logical size * devicePixelRatio)``; on macOS the platform does the scaling and native
geometry is in points. The picture is always in *physical* pixels; ``ScreenPicture`` maps
widget-local logical coordinates onto it the way Qt itself does (multiply by the ratio).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QGuiApplication, QImage, QScreen

from desktop_app.core.errors import ImageError, ScreenScribeError
from desktop_app.core.models import Region

LOGGER_NAME = "screenscribe.capture"

log = logging.getLogger(LOGGER_NAME)

#: What to install for Wayland capture (also part of the backends' "unavailable" reasons).
GRIM_HINT = (
    "on sway, Hyprland, river and other wlroots compositors install grim (the package is "
    "called grim everywhere)"
)
PORTAL_HINT = (
    "install xdg-desktop-portal and the portal backend for your desktop "
    "(xdg-desktop-portal-gnome, xdg-desktop-portal-kde, or xdg-desktop-portal-wlr for "
    "wlroots compositors) and allow ScreenScribe to take screenshots in the desktop's "
    "privacy settings"
)
WAYLAND_MESSAGE = (
    "Screen capture on Wayland needs grim or the xdg-desktop-portal Screenshot portal: "
    f"{GRIM_HINT}; elsewhere (GNOME, KDE Plasma) {PORTAL_HINT}. Until then, run the app in "
    "an X11 session or use `screenscribe ocr` on a saved screenshot."
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


# --- Wayland: where each screen is, and cutting one picture of the whole desktop ---------

Rect = tuple[int, int, int, int]  # left, top, width, height


def desktop_names(environ: Mapping[str, str]) -> list[str]:
    """``XDG_CURRENT_DESKTOP`` as lower-case names ("sway", "gnome", "kde", ...)."""
    return [n.strip().lower() for n in environ.get("XDG_CURRENT_DESKTOP", "").split(":") if n]


def subprocess_env(environ: Mapping[str, str]) -> dict[str, str] | None:
    """The environment for a helper program: inherited, or ``environ`` laid over ours."""
    return None if environ is os.environ else {**os.environ, **environ}


@dataclass(frozen=True, slots=True)
class ScreenLayout:
    """One QScreen on a Wayland desktop: its logical geometry (Qt's), the compositor's name
    for its output (None where unknown) and the output's scale: physical pixels per logical
    pixel, which may be fractional (1.5) even where Qt reports a rounded-up ratio (2)."""

    screen: str
    geometry: Rect
    output: str | None
    scale: float


@dataclass(frozen=True, slots=True)
class SwayOutput:
    name: str
    rect: Rect  # logical
    scale: float


def sway_outputs(environ: Mapping[str, str], timeout: float) -> list[SwayOutput] | None:
    """The active outputs as sway knows them (``swaymsg -t get_outputs``), or None where
    this is not sway or swaymsg fails (logged)."""
    if not environ.get("SWAYSOCK") and "sway" not in desktop_names(environ):
        return None
    path = environ.get("PATH", os.defpath)
    import json

    swaymsg = shutil.which("swaymsg", path=path)
    if swaymsg is None:
        log.info("sway session, but swaymsg is not installed: using Qt's screen scales")
        return None
    try:
        proc = subprocess.run(
            [swaymsg, "-t", "get_outputs", "-r"],
            env=subprocess_env(environ),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        data = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        log.info("swaymsg -t get_outputs failed: %s", exc)
        return None
    if not isinstance(data, list):
        log.info("swaymsg -t get_outputs failed: %s", proc.stderr.decode(errors="replace"))
        return None
    outputs = []
    for item in data:
        try:
            if not item.get("active", True):
                continue
            r = item["rect"]
            rect = (int(r["x"]), int(r["y"]), int(r["width"]), int(r["height"]))
            outputs.append(SwayOutput(str(item["name"]), rect, float(item["scale"])))
        except (KeyError, TypeError, ValueError, AttributeError):
            log.info("swaymsg gave an output this version does not understand: %r", item)
    return outputs


def wayland_layout(screens: Sequence[QScreen], environ: Mapping[str, str]) -> list[ScreenLayout]:
    """Each screen's output name and scale: sway's own where this is sway (by name, else
    by logical rectangle), else Qt's (whose screen names are the output names only when Qt
    itself runs on Wayland, not through XWayland)."""
    sway = sway_outputs(environ, timeout=2.0)
    native = platform_name().startswith("wayland")
    layout = []
    for screen in screens:
        name, geometry, ratio = screen.name(), screen_geometry(screen), screen.devicePixelRatio()
        if sway is not None:
            match = next((o for o in sway if o.name == name), None) or next(
                (o for o in sway if o.rect == geometry), None
            )
            if match is not None:
                layout.append(ScreenLayout(name, geometry, match.name, match.scale))
                continue
            log.info("screen %s %s is none of sway's outputs %s", name, geometry, sway)
        layout.append(ScreenLayout(name, geometry, name if native else None, ratio))
    return layout


def picture_of(layout: ScreenLayout, image: QImage) -> ScreenPicture:
    """The picture of one screen from an image of exactly its output. Its ratio is the
    output's scale, or, where the image's size says otherwise, the image's own."""
    if image.format() != QImage.Format.Format_RGB32:
        image = image.convertToFormat(QImage.Format.Format_RGB32)
    ratio = layout.scale
    expected = physical_size(layout.geometry, ratio)
    if abs(expected[0] - image.width()) > 1 or abs(expected[1] - image.height()) > 1:
        ratio = image.width() / layout.geometry[2] if layout.geometry[2] else 1.0
        log.info(
            "screen %s: picture %dx%d, expected %dx%d; using ratio %g",
            layout.screen,
            image.width(),
            image.height(),
            *expected,
            ratio,
        )
    image.setDevicePixelRatio(ratio)
    return ScreenPicture(layout.screen, layout.geometry, ratio, image)


def cut_desktop(image: QImage, layout: Sequence[ScreenLayout], source: str) -> list[ScreenPicture]:
    """Cut one picture of the whole desktop (grim without ``-o``, the Screenshot portal)
    into one picture per screen.

    Such a picture covers the bounding box of the outputs in logical coordinates at one
    scale for all (grim and the portals take the largest output scale): each screen's
    logical rectangle is cut at that scale, then resampled to the screen's own physical
    size where its scale is another. Pixels of the outputs at the largest scale come out
    exact; those of the others as exact as the compositor's own scaling allowed.
    """
    if image.isNull() or not layout:
        raise CaptureError(f"The {source} gave an empty picture.")
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    left = min(s.geometry[0] for s in layout)
    top = min(s.geometry[1] for s in layout)
    width = max(s.geometry[0] + s.geometry[2] for s in layout) - left
    height = max(s.geometry[1] + s.geometry[3] for s in layout) - top
    sx, sy = image.width() / width, image.height() / height
    if abs(sx * height - image.height()) > 2 or abs(sy * width - image.width()) > 2:
        raise CaptureError(
            f"The {source} gave a picture of {image.width()} x {image.height()} pixels, "
            f"which does not fit the screens ({width} x {height} logical pixels from "
            f"{left}, {top}): the screen layout may have changed meanwhile."
        )
    pictures = []
    for screen in layout:
        x, y, w, h = screen.geometry
        x0, y0 = round((x - left) * sx), round((y - top) * sy)
        x1, y1 = round((x - left + w) * sx), round((y - top + h) * sy)
        part = image.copy(QRect(x0, y0, x1 - x0, y1 - y0))
        target = physical_size(screen.geometry, screen.scale)
        if (part.width(), part.height()) != target:
            part = part.scaled(
                *target,
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        pictures.append(picture_of(screen, part))
    return pictures
