"""Capture through the xdg-desktop-portal Screenshot portal (GNOME, KDE Plasma, and any
Wayland desktop with a portal backend), over D-Bus with QtDBus.

``Screenshot("", {handle_token, interactive: false})`` on org.freedesktop.portal.Desktop
returns the path of a Request object; the answer comes later as that Request's
``Response(u code, a{sv} results)`` signal: 0 with ``uri``, a file holding the whole
desktop; 1 when the user cancelled (or refused in the desktop's dialog); 2 for anything
else, which is also what xdg-desktop-portal answers where the screenshot permission is
stored as denied. A request whose permission dialog nobody answers, or a backend that
hangs, never answers at all: hence the timeout, and a message that says what to allow.

The signal is subscribed before the call, on the path the portal will use
(``request/SENDER/TOKEN``), so that an early answer is not lost. Waiting runs a local
event loop (user input excluded) on the GUI thread; a second capture meanwhile is refused.
The portal writes a file per screenshot (GNOME into the Pictures folder): it is deleted
once read. The picture covers the whole desktop at one scale; it is cut per screen like
grim's (``base.cut_desktop``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import SLOT, QEventLoop, QObject, QTimer, QUrl, Slot
from PySide6.QtDBus import QDBus, QDBusConnection, QDBusMessage, QDBusObjectPath, QDBusVariant
from PySide6.QtGui import QImage, QScreen

from desktop_app.capture.base import (
    LOGGER_NAME,
    PORTAL_HINT,
    CaptureError,
    ScreenPicture,
    cut_desktop,
    environment,
    is_wayland_session,
    platform_name,
    wayland_layout,
)

log = logging.getLogger(LOGGER_NAME)

PORTAL_SERVICE = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT_INTERFACE = "org.freedesktop.portal.Screenshot"
REQUEST_INTERFACE = "org.freedesktop.portal.Request"
_DBUS = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")

PERMISSION_MESSAGE = (
    "The screenshot permission was not granted; allow ScreenScribe to take screenshots in "
    "your desktop's privacy settings"
)
_NO_PORTAL_ERRORS = ("ServiceUnknown", "NameHasNoOwner", "Spawn.")
_NO_SCREENSHOT_ERRORS = ("UnknownMethod", "UnknownInterface", "UnknownObject", "InvalidArgs")
_TIMEOUT_ERRORS = ("NoReply", "Timeout", "TimedOut")
_DENIED_ERRORS = ("AccessDenied", "NotAllowed")


class _Response(QObject):
    """Receives a Request's Response signal and ends the wait for it. The signal is
    subscribed without a sender (QtDBus's tracking of a just-started portal's name warns
    about a race it lost); the sender is checked here instead, once the portal is known."""

    def __init__(self) -> None:
        super().__init__()
        self.portal: str | None = None  # the portal's unique bus name
        self.code: int | None = None
        self.results: dict[str, Any] = {}
        self.early: list[tuple[str, int, dict[str, Any]]] = []  # before the portal is known
        self.loop: QEventLoop | None = None

    @Slot("uint", "QVariantMap", QDBusMessage)
    def _on_request_response(
        self, code: int, results: dict[str, Any], message: QDBusMessage
    ) -> None:
        self._take(message.service(), int(code), dict(results))

    def set_portal(self, name: str) -> None:
        self.portal = name
        for sender, code, results in self.early:
            self._take(sender, code, results)

    def _take(self, sender: str, code: int, results: dict[str, Any]) -> None:
        if self.portal is None:
            self.early.append((sender, code, results))
            return
        if sender != self.portal or self.code is not None:
            log.info("ignoring a portal response from %s (the portal is %s)", sender, self.portal)
            return
        self.code, self.results = code, results
        if self.loop is not None:
            self.loop.quit()


# A str at run time (PySide6 refuses bytes here, although its stubs ask for bytes).
_RESPONSE_SLOT: Any = SLOT("_on_request_response(uint,QVariantMap,QDBusMessage)")


class PortalBackend:
    """``timeout``: seconds to wait for the portal's answer, a permission dialog included
    (NormCap raised its own from 7 s to 10 s after users' reports); ``call_timeout``:
    seconds for a plain D-Bus call (starting the portal included)."""

    name = "portal"

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        timeout: float = 10.0,
        call_timeout: float = 5.0,
    ) -> None:
        self._environ = environment(environ)
        self._timeout = timeout
        self._call_timeout = call_timeout
        self._bus: QDBusConnection | None = None
        self._bus_name: str | None = None  # a private connection's name (not the shared one)
        self._busy = False

    # --- strategy-list protocol ----------------------------------------------------------

    def is_compatible(self) -> bool:
        if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
            return False
        return is_wayland_session(platform_name(), self._environ)

    def is_available(self) -> tuple[bool, str]:
        """A session bus on which the portal runs or can be started (not started here)."""
        try:
            bus = self._connect()
        except CaptureError as exc:
            return False, str(exc)
        for member in ("NameHasOwner", "ListActivatableNames"):
            args = [PORTAL_SERVICE] if member == "NameHasOwner" else []
            reply = self._call(bus, *_DBUS, member, args)
            values = (
                reply.arguments() if reply.type() == QDBusMessage.MessageType.ReplyMessage else []
            )
            found = values[0] if values else None
            if found is True or (isinstance(found, list) and PORTAL_SERVICE in found):
                return True, ""
        return False, (
            f"no desktop portal on the D-Bus session bus ({PORTAL_SERVICE} is neither running "
            f"nor installed): {PORTAL_HINT}."
        )

    def warm(self) -> None:
        """Start the portal (its first answer can take a second) and check that it has the
        Screenshot portal. Raises CaptureError when not."""
        bus = self._connect()
        reply = self._call(
            bus,
            PORTAL_SERVICE,
            PORTAL_PATH,
            "org.freedesktop.DBus.Properties",
            "Get",
            [SCREENSHOT_INTERFACE, "version"],
        )
        if reply.type() != QDBusMessage.MessageType.ReplyMessage:
            raise CaptureError(self._call_failed(reply))
        version = reply.arguments()[0]
        if isinstance(version, QDBusVariant):
            version = version.variant()
        log.info("Screenshot portal version %s", version)

    def capture(self, screens: Sequence[QScreen]) -> list[ScreenPicture]:
        if self._busy:
            raise CaptureError("A screenshot through the desktop portal is already in progress.")
        # The layout as the request leaves: the QScreens are not touched after the wait
        # (a screen unplugged meanwhile deletes its QScreen).
        layout = wayland_layout(screens, self._environ)
        self._busy = True
        try:
            image = self._screenshot(self._connect())
        finally:
            self._busy = False
        return cut_desktop(image, layout, "Screenshot portal")

    def close(self) -> None:
        if self._bus_name is not None:
            QDBusConnection.disconnectFromBus(self._bus_name)
        self._bus = self._bus_name = None

    # --- internals -----------------------------------------------------------------------

    def _connect(self) -> QDBusConnection:
        if self._bus is not None and self._bus.isConnected():
            return self._bus
        address = self._environ.get("DBUS_SESSION_BUS_ADDRESS", "")
        runtime = self._environ.get("XDG_RUNTIME_DIR", "")
        if not address and runtime and os.path.exists(os.path.join(runtime, "bus")):
            address = f"unix:path={os.path.join(runtime, 'bus')}"  # the systemd user bus
        if not address:  # and not libdbus's X11 autolaunch: a bus of its own has no portal
            raise CaptureError(
                "no D-Bus session bus to reach the desktop portal "
                "(DBUS_SESSION_BUS_ADDRESS is not set)."
            )
        if self._environ is os.environ:
            bus = QDBusConnection.sessionBus()
        else:  # another environment (tests): its bus, on a connection of our own
            self._bus_name = f"screenscribe-portal-{id(self):x}"
            bus = QDBusConnection.connectToBus(address, self._bus_name)
        if not bus.isConnected():
            error = bus.lastError()
            why = error.message() or error.name()
            raise CaptureError(f"no D-Bus session bus to reach the desktop portal ({why}).")
        self._bus = bus
        return bus

    def _call(
        self,
        bus: QDBusConnection,
        service: str,
        path: str,
        interface: str,
        member: str,
        args: Sequence[object],
    ) -> QDBusMessage:
        message = QDBusMessage.createMethodCall(service, path, interface, member)
        message.setArguments(list(args))
        return bus.call(message, QDBus.CallMode.Block, round(self._call_timeout * 1000))

    def _call_failed(self, reply: QDBusMessage) -> str:
        name, text = reply.errorName(), reply.errorMessage()
        detail = f"{name}: {text}" if text else name
        if any(e in name for e in _NO_PORTAL_ERRORS):
            return f"The desktop portal could not be reached ({detail}): {PORTAL_HINT}."
        if any(e in name for e in _NO_SCREENSHOT_ERRORS):
            return (
                f"The desktop portal has no Screenshot portal ({detail}): install the portal "
                "backend for your desktop (xdg-desktop-portal-gnome, xdg-desktop-portal-kde, "
                "or xdg-desktop-portal-wlr)."
            )
        if any(e in name for e in _TIMEOUT_ERRORS):
            return f"The desktop portal did not answer within {self._call_timeout:g} s ({detail})."
        if any(e in name for e in _DENIED_ERRORS):
            return f"{PERMISSION_MESSAGE} ({detail})."
        return f"The Screenshot portal failed ({detail})."

    def _screenshot(self, bus: QDBusConnection) -> QImage:
        token = f"screenscribe_{os.urandom(8).hex()}"
        sender = bus.baseService().lstrip(":").replace(".", "_")
        expected = f"{PORTAL_PATH}/request/{sender}/{token}"
        response = _Response()
        subscribed = [expected]
        if not bus.connect("", expected, REQUEST_INTERFACE, "Response", response, _RESPONSE_SLOT):
            raise CaptureError(f"Could not listen for the portal's answer on {expected}.")
        try:
            reply = self._call(
                bus,
                PORTAL_SERVICE,
                PORTAL_PATH,
                SCREENSHOT_INTERFACE,
                "Screenshot",
                ["", {"handle_token": token, "interactive": False}],
            )
            if reply.type() != QDBusMessage.MessageType.ReplyMessage:
                raise CaptureError(self._call_failed(reply))
            handle = reply.arguments()[0] if reply.arguments() else None
            path = handle.path() if isinstance(handle, QDBusObjectPath) else expected
            if path != expected:  # portals before 0.9 pick their own path
                bus.connect("", path, REQUEST_INTERFACE, "Response", response, _RESPONSE_SLOT)
                subscribed.append(path)
            owner = self._call(bus, *_DBUS, "GetNameOwner", [PORTAL_SERVICE]).arguments()
            response.set_portal(str(owner[0]) if owner else "")
            if response.code is None:
                self._wait(response)
            if response.code is None:
                close = QDBusMessage.createMethodCall(
                    PORTAL_SERVICE, path, REQUEST_INTERFACE, "Close"
                )
                bus.send(close)  # withdraw a dialog that may still be open
                raise CaptureError(
                    f"{PERMISSION_MESSAGE}: the desktop portal did not answer the screenshot "
                    f"request within {self._timeout:g} s (a denied or unanswered request may "
                    "never be answered)."
                )
        finally:
            for path in subscribed:
                bus.disconnect("", path, REQUEST_INTERFACE, "Response", response, _RESPONSE_SLOT)
        return self._read(response.code, response.results)

    def _wait(self, response: _Response) -> None:
        loop = QEventLoop()
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        response.loop = loop
        timer.start(round(self._timeout * 1000))
        loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        timer.stop()
        response.loop = None

    def _read(self, code: int, results: Mapping[str, Any]) -> QImage:
        if code == 1:
            raise CaptureError(
                "The screenshot was cancelled or refused in the desktop's dialog (portal "
                f"response 1). {PERMISSION_MESSAGE}, or accept the dialog when it asks."
            )
        if code == 2:
            raise CaptureError(
                "The desktop portal refused the screenshot (portal response 2). "
                f"{PERMISSION_MESSAGE}; if it is allowed, the portal backend failed "
                "(see the desktop's log)."
            )
        if code != 0:
            raise CaptureError(f"The Screenshot portal answered with unknown response {code}.")
        uri = results.get("uri")
        if isinstance(uri, QDBusVariant):
            uri = uri.variant()
        url = QUrl(uri) if isinstance(uri, str) else QUrl()
        if not url.isLocalFile():
            raise CaptureError(f"The Screenshot portal gave no file to read (results {results}).")
        path = url.toLocalFile()
        image = QImage(path)
        if image.isNull():
            raise CaptureError(f"The Screenshot portal's picture {path} could not be read.")
        try:
            os.remove(path)
        except OSError as exc:
            log.info("could not delete the portal's screenshot %s: %s", path, exc)
        return image
