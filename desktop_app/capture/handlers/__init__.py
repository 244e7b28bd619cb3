"""Capture backends, in order of preference (DESIGN.md convention 1).

mss first (X11, Windows, macOS: 1-5 ms a screen); on Wayland, where mss and Qt's
grabWindow see black or nothing and say they are not compatible, grim (wlroots
compositors: exact per-output pictures, no permission needed), then the Screenshot portal
(GNOME, KDE Plasma, anything with a portal backend); Qt last.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from desktop_app.capture.base import CaptureBackend
from desktop_app.capture.handlers.grim import GrimBackend
from desktop_app.capture.handlers.mss_handler import MssBackend
from desktop_app.capture.handlers.portal import PortalBackend
from desktop_app.capture.handlers.qt_handler import QtBackend

BackendFactory = Callable[[Mapping[str, str] | None], CaptureBackend]

#: Tried in this order; the first compatible and available one is used.
BACKENDS: list[BackendFactory] = [MssBackend, GrimBackend, PortalBackend, QtBackend]

__all__ = ["BACKENDS", "BackendFactory", "GrimBackend", "MssBackend", "PortalBackend", "QtBackend"]
