"""A stand-in for the xdg-desktop-portal Screenshot portal, for answers the real one gives
only with a person at a dialog (cancelled, denied, never answered).

Run as ``python -m tests.fake_portal --calls FILE [options]`` with DBUS_SESSION_BUS_ADDRESS
set (tests.wayland.fake_portal does): it owns org.freedesktop.portal.Desktop, prints
``ready``, and answers every Screenshot call the way xdg-desktop-portal 1.16 does on the
wire (checked against the real one with xdg-desktop-portal-wlr): the method returns the
Request's object path ``/org/freedesktop/portal/desktop/request/SENDER/TOKEN`` (``o``),
then the Request emits ``Response`` (``ua{sv}``) from the portal's own connection. Each
call, and each ``Request.Close``, is appended to FILE as a JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import ClassInfo, Property, QCoreApplication, QObject, QTimer, Signal, Slot
from PySide6.QtDBus import QDBusConnection, QDBusMessage, QDBusObjectPath


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=Path, required=True)
    parser.add_argument("--code", type=int, default=0, help="the Response code (0, 1, 2)")
    parser.add_argument("--uri", default=None, help="results: {'uri': URI}")
    parser.add_argument("--silent", action="store_true", help="never emit Response")
    parser.add_argument("--delay-ms", type=int, default=20)
    parser.add_argument(
        "--own-handle", action="store_true", help="answer on a path of its own (portals < 0.9)"
    )
    args = parser.parse_args(argv)

    app = QCoreApplication([])
    bus = QDBusConnection.sessionBus()
    requests: list[QObject] = []

    def record(entry: dict[str, Any]) -> None:
        with args.calls.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    @ClassInfo({"D-Bus Interface": "org.freedesktop.portal.Request"})
    class Request(QObject):
        Response = Signal("uint", "QVariantMap")

        def __init__(self, path: str) -> None:
            super().__init__()
            self.path = path

        @Slot()
        def Close(self) -> None:
            record({"close": self.path})

    def get_version() -> int:
        return 2

    @ClassInfo({"D-Bus Interface": "org.freedesktop.portal.Screenshot"})
    class Screenshot(QObject):
        version = Property(int, get_version)

        @Slot(str, "QVariantMap", QDBusMessage, result=QDBusObjectPath)
        def Screenshot(
            self, parent_window: str, options: dict[str, Any], message: QDBusMessage
        ) -> QDBusObjectPath:
            sender = message.service().lstrip(":").replace(".", "_")
            token = "other_path" if args.own_handle else str(options.get("handle_token"))
            path = f"/org/freedesktop/portal/desktop/request/{sender}/{token}"
            record({"parent_window": parent_window, "options": options, "handle": path})
            request = Request(path)
            requests.append(request)
            flags = (
                QDBusConnection.RegisterOption.ExportAllSignals
                | QDBusConnection.RegisterOption.ExportAllSlots
            )
            bus.registerObject(path, request, flags)
            if not args.silent:
                results = {} if args.uri is None else {"uri": args.uri}
                QTimer.singleShot(args.delay_ms, lambda: request.Response.emit(args.code, results))
            return QDBusObjectPath(path)

    portal = Screenshot()
    flags = (
        QDBusConnection.RegisterOption.ExportAllSlots
        | QDBusConnection.RegisterOption.ExportAllProperties
    )
    if not bus.registerObject("/org/freedesktop/portal/desktop", portal, flags):
        print("could not register the portal object", flush=True)
        return 1
    if not bus.registerService("org.freedesktop.portal.Desktop"):
        print("could not own org.freedesktop.portal.Desktop", flush=True)
        return 1
    print("ready", flush=True)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
