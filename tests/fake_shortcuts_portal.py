"""A stand-in for xdg-desktop-portal's GlobalShortcuts portal, for what a real one does only
with a desktop that has it (KDE Plasma, GNOME 48+, Hyprland) and a person at its dialog:
approve, approve with another key, decline, never answer, a key pressed.

Run as ``python -m tests.fake_shortcuts_portal --calls FILE [options]`` with
DBUS_SESSION_BUS_ADDRESS set (tests/hotkeys/test_portal.py does): it owns
org.freedesktop.portal.Desktop, prints ``ready``, and answers as xdg-desktop-portal does on
the wire (src/global-shortcuts.c): each method returns its Request's object path
``/org/freedesktop/portal/desktop/request/SENDER/TOKEN`` (``o``), then that Request emits
``Response`` (``ua{sv}``) to the caller alone; CreateSession's results hold
``session_handle`` as a string (``s``), BindShortcuts' hold ``shortcuts``
(``a(sa{sv})``: description, trigger_description). BindShortcuts on a session of another
connection is refused with AccessDenied "Invalid session", as the real one does.

Spoken with jeepney (as the backend is; QtDBus cannot send ``a(sa{sv})`` from Python).
Each call, ``Session.Close`` and ``Request.Close`` included, is appended to FILE as a JSON
line. A test drives the desktop's side through ``org.screenscribe.FakePortal`` on
``/org/screenscribe/FakePortal``: ``Activate(s id)`` emits Activated and Deactivated for
the latest session that bound ``id`` (closed or not), ``ActivateIn(o session, s id)`` for
that session (closed or not), ``ChangeTrigger(s id, s text)``
emits ShortcutsChanged, ``CloseSession()`` ends the latest session as the desktop would
(``org.freedesktop.portal.Session::Closed``).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jeepney import (  # type: ignore[import-untyped, unused-ignore]
    DBusAddress,
    HeaderFields,
    MessageType,
    new_error,
    new_method_return,
    new_signal,
)
from jeepney.bus_messages import message_bus  # type: ignore[import-untyped, unused-ignore]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped, unused-ignore]

PORTAL_SERVICE = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS = "org.freedesktop.portal.GlobalShortcuts"
REQUEST = "org.freedesktop.portal.Request"
SESSION = "org.freedesktop.portal.Session"
PROPERTIES = "org.freedesktop.DBus.Properties"
CONTROL_PATH = "/org/screenscribe/FakePortal"
CONTROL = "org.screenscribe.FakePortal"


@dataclass
class Session:
    path: str
    owner: str
    shortcuts: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> described
    closed: bool = False


def plain(value: Any) -> Any:
    """jeepney's variants ((signature, value)) and tuples made JSON-friendly."""
    if isinstance(value, dict):
        return {
            k: plain(v[1] if isinstance(v, tuple) and len(v) == 2 else v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=Path, required=True)
    parser.add_argument("--code", type=int, default=0, help="BindShortcuts' Response code")
    parser.add_argument("--session-code", type=int, default=0, help="CreateSession's code")
    parser.add_argument("--silent", action="store_true", help="never answer BindShortcuts")
    parser.add_argument(
        "--assign", action="append", default=[], metavar="ID=TEXT", help="bind another key"
    )
    parser.add_argument("--omit", action="append", default=[], help="leave ID unbound")
    parser.add_argument("--version", type=int, default=1)
    parser.add_argument(
        "--no-shortcuts", action="store_true", help="a portal without GlobalShortcuts"
    )
    parser.add_argument("--delay-ms", type=int, default=20)
    args = parser.parse_args(argv)
    assigned = dict(item.split("=", 1) for item in args.assign)

    conn = open_dbus_connection(bus=os.environ["DBUS_SESSION_BUS_ADDRESS"])
    sessions: dict[str, Session] = {}
    requests: set[str] = set()
    later: list[tuple[float, int, Callable[[], None]]] = []
    order = itertools.count()

    def record(entry: dict[str, Any]) -> None:
        with args.calls.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    def after(callback: Callable[[], None]) -> None:
        heapq.heappush(later, (time.monotonic() + args.delay_ms / 1000, next(order), callback))

    def emit(
        path: str, interface: str, member: str, signature: str, body: tuple[Any, ...], to: str
    ) -> None:
        message = new_signal(DBusAddress(path, interface=interface), member, signature, body)
        message.header.fields[HeaderFields.destination] = to  # as x-d-p: to the caller only
        conn.send(message)

    def respond(path: str, to: str, code: int, results: dict[str, Any]) -> None:
        def send() -> None:
            if path in requests:  # not withdrawn with Request.Close meanwhile
                requests.discard(path)
                emit(path, REQUEST, "Response", "ua{sv}", (code, results), to)

        after(send)

    def request_path(sender: str, options: dict[str, Any]) -> str:
        token = options.get("handle_token", ("s", f"t{next(order)}"))[1]
        path = f"{PORTAL_PATH}/request/{sender.lstrip(':').replace('.', '_')}/{token}"
        requests.add(path)
        return path

    def described(session: Session) -> list[tuple[str, dict[str, tuple[str, str]]]]:
        return [
            (sid, {k: ("s", v) for k, v in info.items()}) for sid, info in session.shortcuts.items()
        ]

    def latest_with(shortcut_id: str) -> Session | None:
        found = [s for s in sessions.values() if shortcut_id in s.shortcuts]
        return found[-1] if found else None

    def handle(msg: Any) -> Any:
        fields = msg.header.fields
        sender = fields.get(HeaderFields.sender, "")
        path = fields.get(HeaderFields.path, "")
        interface = fields.get(HeaderFields.interface, "")
        member = fields.get(HeaderFields.member, "")
        body = msg.body
        if (path, interface, member) == (PORTAL_PATH, PROPERTIES, "Get"):
            if body[0] == SHORTCUTS and not args.no_shortcuts and body[1] == "version":
                return new_method_return(msg, "v", (("u", args.version),))
            exported = body[0] == SHORTCUTS and not args.no_shortcuts
            what = "No such property" if exported else f"No such interface “{body[0]}”"
            return new_error(msg, "org.freedesktop.DBus.Error.InvalidArgs", "s", (what,))
        if path == PORTAL_PATH and interface == SHORTCUTS and not args.no_shortcuts:
            if member == "CreateSession":
                (options,) = body
                handle_path = request_path(sender, options)
                token = options.get("session_handle_token", ("s", f"s{next(order)}"))[1]
                session_path = (
                    f"{PORTAL_PATH}/session/{sender.lstrip(':').replace('.', '_')}/{token}"
                )
                record(
                    {
                        "method": "CreateSession",
                        "options": plain(options),
                        "handle": handle_path,
                        "session": session_path,
                    }
                )
                results: dict[str, Any] = {}
                if args.session_code == 0:
                    sessions[session_path] = Session(session_path, sender)
                    results = {"session_handle": ("s", session_path)}
                respond(handle_path, sender, args.session_code, results)
                return new_method_return(msg, "o", (handle_path,))
            if member == "BindShortcuts":
                session_path, shortcuts, parent_window, options = body
                session = sessions.get(session_path)
                if session is None or session.owner != sender or session.closed:
                    return new_error(
                        msg, "org.freedesktop.DBus.Error.AccessDenied", "s", ("Invalid session",)
                    )
                handle_path = request_path(sender, options)
                record(
                    {
                        "method": "BindShortcuts",
                        "session": session_path,
                        "shortcuts": plain(shortcuts),
                        "parent_window": parent_window,
                        "options": plain(options),
                        "handle": handle_path,
                    }
                )
                if args.code == 0:
                    for sid, info in shortcuts:
                        if sid in args.omit:
                            continue
                        wanted = info.get("preferred_trigger", ("s", ""))[1]
                        session.shortcuts[sid] = {
                            "description": info["description"][1],
                            "trigger_description": assigned.get(sid, wanted),
                        }
                if not args.silent:
                    results = (
                        {"shortcuts": ("a(sa{sv})", described(session))} if args.code == 0 else {}
                    )
                    respond(handle_path, sender, args.code, results)
                return new_method_return(msg, "o", (handle_path,))
        if interface == SESSION and member == "Close" and path in sessions:
            record({"method": "Session.Close", "path": path})
            sessions[path].closed = True
            return new_method_return(msg)
        if interface == REQUEST and member == "Close" and path in requests:
            record({"method": "Request.Close", "path": path})
            requests.discard(path)
            return new_method_return(msg)
        if path == CONTROL_PATH and interface == CONTROL:
            if member in ("Activate", "ActivateIn"):
                *where, shortcut_id = body
                session = sessions.get(where[0]) if where else latest_with(shortcut_id)
                if session is None:
                    return new_error(msg, "org.screenscribe.Error.NoShortcut", "s", (shortcut_id,))
                stamp = int(time.monotonic() * 1000)
                for signal in ("Activated", "Deactivated"):
                    emit(
                        PORTAL_PATH,
                        SHORTCUTS,
                        signal,
                        "osta{sv}",
                        (session.path, shortcut_id, stamp, {}),
                        session.owner,
                    )
                return new_method_return(msg, "o", (session.path,))
            if member == "ChangeTrigger":
                shortcut_id, text = body
                session = latest_with(shortcut_id)
                if session is None:
                    return new_error(msg, "org.screenscribe.Error.NoShortcut", "s", (shortcut_id,))
                session.shortcuts[shortcut_id]["trigger_description"] = text
                emit(
                    PORTAL_PATH,
                    SHORTCUTS,
                    "ShortcutsChanged",
                    "oa(sa{sv})",
                    (session.path, described(session)),
                    session.owner,
                )
                return new_method_return(msg)
            if member == "CloseSession":
                live = [s for s in sessions.values() if not s.closed]
                if not live:
                    return new_error(msg, "org.screenscribe.Error.NoSession", "s", ("none",))
                live[-1].closed = True
                emit(live[-1].path, SESSION, "Closed", "a{sv}", ({},), live[-1].owner)
                return new_method_return(msg, "o", (live[-1].path,))
        return new_error(
            msg,
            "org.freedesktop.DBus.Error.UnknownMethod",
            "s",
            (f"No such method “{member}” on “{interface}” at {path}",),
        )

    reply = conn.send_and_get_reply(message_bus.RequestName(PORTAL_SERVICE, 4), timeout=10)
    if reply.body != (1,):
        print(f"could not own {PORTAL_SERVICE}: {reply.body}", flush=True)
        return 1
    print("ready", flush=True)
    while True:
        timeout = max(0.0, later[0][0] - time.monotonic()) if later else None
        try:
            msg = conn.receive(timeout=timeout)
        except TimeoutError:
            msg = None
        except ConnectionResetError:
            return 0  # the bus went away
        while later and later[0][0] <= time.monotonic():
            heapq.heappop(later)[2]()
        if msg is not None and msg.header.message_type == MessageType.method_call:
            conn.send(handle(msg))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
