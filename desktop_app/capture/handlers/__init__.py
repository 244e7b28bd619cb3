"""Capture backends, in order of preference (DESIGN.md convention 1)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from desktop_app.capture.base import CaptureBackend
from desktop_app.capture.handlers.mss_handler import MssBackend
from desktop_app.capture.handlers.qt_handler import QtBackend

BackendFactory = Callable[[Mapping[str, str] | None], CaptureBackend]

#: Tried in this order; the first compatible and available one is used.
BACKENDS: list[BackendFactory] = [MssBackend, QtBackend]

__all__ = ["BACKENDS", "BackendFactory", "MssBackend", "QtBackend"]
