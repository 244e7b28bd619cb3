"""Frozen pictures of every screen, taken before the overlay shows.

QtGui is allowed here, QtWidgets never. Backends are an ordered strategy list
(``BACKENDS``: mss on X11 and Windows/macOS, grim on wlroots Wayland compositors, the
xdg-desktop-portal Screenshot portal on other Wayland desktops, then Qt); ``Capturer``
picks the first that works::

    capturer = Capturer()      # at start-up
    capturer.warm()            # ~24 ms once, so that capture() takes ~1-2 ms
    pictures = capturer.capture()   # on the GUI thread, before any window of ours shows
    region = pictures[0].to_physical_rect(x, y, w, h)       # widget-local logical rect
    data, width, height, stride = pictures[0].crop_bgra(region.x, region.y,
                                                        region.width, region.height)
    core.imaging.image_from_bgra(data, width, height, stride)
"""

from __future__ import annotations

from desktop_app.capture.base import (
    WAYLAND_MESSAGE,
    CaptureBackend,
    CaptureError,
    ScreenPicture,
)
from desktop_app.capture.capturer import Capturer
from desktop_app.capture.handlers import BACKENDS, MssBackend, QtBackend
from desktop_app.capture.handlers.grim import GrimBackend
from desktop_app.capture.handlers.portal import PortalBackend

__all__ = [
    "BACKENDS",
    "WAYLAND_MESSAGE",
    "CaptureBackend",
    "CaptureError",
    "Capturer",
    "GrimBackend",
    "MssBackend",
    "PortalBackend",
    "QtBackend",
    "ScreenPicture",
]
