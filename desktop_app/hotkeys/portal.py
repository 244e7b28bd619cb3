"""Global hotkeys on Wayland through xdg-desktop-portal's GlobalShortcuts portal (KDE Plasma
5.27+, GNOME 48+, Hyprland's portal): the desktop binds the keys, usually after the user
approves them in a dialog of its own, and may bind other keys than the ones asked for.

The conversation (``org.freedesktop.portal.GlobalShortcuts``, version 1)::

    CreateSession({handle_token, session_handle_token}) -> Request; Response: session_handle
    BindShortcuts(session, [(id, {description, preferred_trigger})], "", {handle_token})
        -> Request; Response 0: {shortcuts: [(id, {description, trigger_description})]},
           1: the user declined in the dialog, 2: refused or failed
    Activated(session, id, timestamp, options) on each press; ShortcutsChanged(session,
    shortcuts) when the user rebinds them in the desktop's settings
    org.freedesktop.portal.Session.Close() on the session ends it

Decisions a newcomer would question:

* **jeepney, not QtDBus.** BindShortcuts takes an array of structures, ``a(sa{sv})``.
  QtDBus marshals an array only of a type registered with ``qDBusRegisterMetaType``,
  which PySide6 does not expose: a Python list of tuples fails with "Unregistered type
  PySide::PyObjectWrapper", and a hand-built ``QDBusArgument`` aborts the process inside
  libdbus ("Writing an element of type struct, but the expected type here is array").
  A second connection cannot help: a portal session belongs to the connection that made
  it, and Activated is sent to that connection only. So the backend speaks D-Bus with
  jeepney (pure Python, already installed with keyring on Linux) on a connection of its
  own, and reads it on the GUI thread through a QSocketNotifier: no thread, no lock; the
  callbacks and the signals below run on the thread that created the backend.
* **Batching.** The portal binds a whole list per call and shows one dialog per call, so
  ``register``/``unregister`` only record the wanted set; it is bound when the event loop
  next runs (a zero-time timer), in one request: ``set_hotkeys`` with five presets asks
  once, not five times.
* **A new session for each change of the set.** The specification says nothing of a
  second BindShortcuts on one session (backends differ) and has no way to unbind one
  shortcut; closing a session releases its shortcuts. So a change closes the session in
  use (withdrawing a dialog still open) and binds the whole new set in a new one. The
  desktop keeps the user's choices per application and shortcut id (the preset name),
  so an unchanged key is normally not asked for again.
* **register() does not wait for the user.** It raises HotkeyError only for what it can
  tell at once (an unusable key, no portal, a closed backend). What the desktop answers
  later comes as signals on the GUI thread: ``shortcuts_bound`` ({key_id: Binding}, with
  the key the desktop actually bound: its ``trigger_description``) and
  ``shortcuts_failed`` ({key_id: sentence}) for a declined dialog (response 1), a refusal
  (2), no answer within ``answer_timeout`` (30 s: the user may be reading the dialog), a
  key left unbound, the session ended by the desktop, or the bus gone. A failed key is
  no longer registered: registering it again asks again.
* Preferred triggers are written as the freedesktop shortcuts specification says:
  modifiers CTRL, ALT, SHIFT, LOGO and an xkbcommon keysym name (``CTRL+ALT+o``,
  ``SHIFT+LOGO+F2``, ``CTRL+ALT+comma``); a key without such a name is offered without a
  preferred trigger, for the user to choose in the dialog.

Not handled: a portal restarted while the app runs (its shortcuts stop until the hotkeys
are set again); the host app registry (org.freedesktop.host.portal.Registry, x-d-p 1.19+)
that would give the desktop ScreenScribe's application id instead of guessing it; a key
held down where a desktop repeats Activated (none known to).
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import select
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier, QTimer, Signal

from desktop_app.hotkeys.base import (
    LOGGER_NAME,
    HotkeyCallback,
    HotkeyError,
    KeyCombo,
    Modifier,
    environment,
    manual_binding_hint,
    parse_sequence,
    portal_compatible,
)

if TYPE_CHECKING:
    import socket

    from jeepney import Message  # type: ignore[import-untyped, unused-ignore]

log = logging.getLogger(LOGGER_NAME)

PORTAL_SERVICE = "org.freedesktop.portal.Desktop"
PORTAL_PATH = "/org/freedesktop/portal/desktop"
SHORTCUTS_INTERFACE = "org.freedesktop.portal.GlobalShortcuts"
REQUEST_INTERFACE = "org.freedesktop.portal.Request"
SESSION_INTERFACE = "org.freedesktop.portal.Session"
_PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"

#: Where the GlobalShortcuts portal is (xdg-desktop-portal 1.16 has the interface but
#: exports it only where a portal backend implements it).
SHORTCUTS_HINT = (
    "global shortcuts through the desktop portal need KDE Plasma 5.27 or later, GNOME 48 "
    "or later, or Hyprland with xdg-desktop-portal-hyprland"
)
PORTAL_INSTALL_HINT = "install xdg-desktop-portal and the portal backend of your desktop"

_NO_PORTAL_ERRORS = ("ServiceUnknown", "NameHasNoOwner", "Spawn.")
_NO_INTERFACE_ERRORS = (
    "InvalidArgs",
    "UnknownInterface",
    "UnknownProperty",
    "UnknownMethod",
    "UnknownObject",
)

_XDG_MODIFIERS = {
    Modifier.CTRL: "CTRL",
    Modifier.ALT: "ALT",
    Modifier.SHIFT: "SHIFT",
    Modifier.META: "LOGO",
}
_DESCRIBED_MODIFIERS = {
    "ctrl": Modifier.CTRL,
    "control": Modifier.CTRL,
    "primary": Modifier.CTRL,
    "alt": Modifier.ALT,
    "shift": Modifier.SHIFT,
    "logo": Modifier.META,
    "super": Modifier.META,
    "meta": Modifier.META,
    "win": Modifier.META,
}
_QT_MODIFIERS = {
    Modifier.META: "Meta",
    Modifier.CTRL: "Ctrl",
    Modifier.ALT: "Alt",
    Modifier.SHIFT: "Shift",
}
_KEYSYM_NAME = re.compile(r"[A-Za-z0-9_]+")


def xdg_trigger(combo: KeyCombo) -> str | None:
    """The combination as the freedesktop shortcuts specification writes it
    (``CTRL+ALT+o``, ``SHIFT+LOGO+F2``, ``CTRL+ALT+Print``, ``CTRL+ALT+comma``), or None
    for a key without an xkbcommon keysym name made of letters, digits and underscores."""
    key = combo.keysym_name
    if not _KEYSYM_NAME.fullmatch(key):
        return None
    modifiers = [text for flag, text in _XDG_MODIFIERS.items() if flag in combo.modifiers]
    return "+".join([*modifiers, key])


def same_keys(description: str, combo: KeyCombo) -> bool | None:
    """Whether a desktop's ``trigger_description`` names ``combo``: True or False where
    it can tell ("Ctrl+Alt+O", "CTRL+ALT+o", "Meta+Shift+F2", "LOGO+SHIFT+F2"), None
    where it cannot (another wording, several triggers, an empty text)."""
    text = description.strip()
    if not text:
        return None
    if text.endswith("++"):
        rest, key = text[:-2], "+"
    else:
        rest, _, key = text.rpartition("+")
    modifiers = Modifier.NONE
    for word in filter(None, (part.strip() for part in rest.split("+"))):
        flag = _DESCRIBED_MODIFIERS.get(word.lower())
        if flag is None:
            return None
        modifiers |= flag
    key = key.strip()
    if not key:
        return None
    if key.lower() in {combo.key.lower(), combo.keysym_name.lower()}:
        return modifiers == combo.modifiers
    words = [text for flag, text in _QT_MODIFIERS.items() if flag in modifiers]
    try:  # another spelling of a key ScreenScribe knows ("PageUp"), or another key
        return parse_sequence("+".join([*words, key])) == combo
    except HotkeyError:
        return None


@dataclass(frozen=True, slots=True)
class Binding:
    """What the desktop bound for one key_id: ``sequence`` is what ScreenScribe asked for
    (Qt's portable text), ``trigger`` the desktop's own description of the key it bound
    ("" where it did not say), ``changed`` whether that is recognisably another key."""

    key_id: str
    sequence: str
    trigger: str
    changed: bool

    def __str__(self) -> str:
        if self.changed:
            return (
                f"The desktop bound “{self.key_id}” to {self.trigger} instead of {self.sequence}."
            )
        if not self.trigger:
            return (
                f"The desktop bound “{self.key_id}” without saying to which key "
                f"({self.sequence} was asked for)."
            )
        return f"“{self.key_id}” is bound to {self.trigger}."


@dataclass(frozen=True, slots=True)
class _Wanted:
    key_id: str
    sequence: str  # canonical portable text
    combo: KeyCombo
    trigger: str | None  # the preferred trigger offered to the desktop
    callback: HotkeyCallback


@dataclass
class _Attempt:
    """One session: the set it binds, its handle once created, its open requests."""

    keys: dict[str, _Wanted]
    session: str = ""
    requests: dict[str, str] = field(default_factory=dict)  # path -> "session" | "bind"
    bound: bool = False

    def signature(self) -> dict[str, tuple[str, str | None]]:
        return _signature(self.keys)


def _signature(keys: Mapping[str, _Wanted]) -> dict[str, tuple[str, str | None]]:
    return {k: (w.sequence, w.trigger) for k, w in keys.items()}


def _unwrap(value: Any) -> Any:
    """jeepney gives a variant as (signature, value)."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return value[1]
    return value


class _Wire:
    """A session-bus connection of the backend's own, spoken with jeepney: blocking
    round trips for the checks, non-blocking reads for the rest. Messages that arrive
    during a round trip wait in ``backlog``."""

    def __init__(self, address: str, timeout: float) -> None:
        from jeepney import Parser
        from jeepney.bus import get_connectable_addresses  # type: ignore[import-untyped, unused-ignore]
        from jeepney.bus_messages import message_bus  # type: ignore[import-untyped, unused-ignore]
        from jeepney.io.blocking import prep_socket  # type: ignore[import-untyped, unused-ignore]

        target = next(get_connectable_addresses(address))
        self.sock: socket.socket = prep_socket(target, timeout=timeout)
        self.parser: Any = Parser()
        self.backlog: deque[Message] = deque()
        self._serials = itertools.count(1)
        try:
            reply = self.call(message_bus.Hello(), timeout)
        except BaseException:
            self.sock.close()
            raise
        if reply is None:
            self.sock.close()
            raise TimeoutError(f"the bus did not answer Hello within {timeout:g} s")
        self.unique_name = str(reply.body[0])

    def send(self, message: Message) -> int:
        serial = next(self._serials)
        self.sock.sendall(message.serialise(serial=serial))
        return serial

    def read(self, timeout: float) -> None:
        """Take what has arrived (waiting up to ``timeout``); ConnectionError at the end."""
        ready, _, _ = select.select([self.sock], [], [], max(timeout, 0.0))
        if ready:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionResetError("the D-Bus session bus closed the connection")
            self.parser.add_data(data)

    def call(self, message: Message, timeout: float) -> Message | None:
        """Send and wait for the reply (None after ``timeout`` seconds)."""
        from jeepney import HeaderFields

        serial = self.send(message)
        deadline = time.monotonic() + timeout
        while True:
            while (incoming := self.parser.get_next_message()) is not None:
                if incoming.header.fields.get(HeaderFields.reply_serial) == serial:
                    return incoming
                self.backlog.append(incoming)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.read(remaining)

    def pending(self) -> Iterator[Message]:
        while self.backlog:
            yield self.backlog.popleft()
        while (incoming := self.parser.get_next_message()) is not None:
            yield incoming

    def close(self) -> None:
        self.sock.close()


class PortalBackend(QObject):
    """Global shortcuts through xdg-desktop-portal (see the module's docstring).

    ``answer_timeout``: seconds to wait for the desktop's answer to a request, its dialog
    included; ``call_timeout``: seconds for a plain D-Bus round trip (starting the portal
    included). Create, use and close it on a thread with a running Qt event loop (the GUI
    thread): the answers, the callbacks and the signals arrive there.
    """

    name = "portal"

    #: {key_id: Binding} for the keys the desktop bound (after its dialog, and again when
    #: the user changes them in the desktop's settings).
    shortcuts_bound = Signal(object)
    #: {key_id: sentence} for keys the desktop did not bind or no longer serves; they are
    #: no longer registered.
    shortcuts_failed = Signal(object)

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        answer_timeout: float = 30.0,
        call_timeout: float = 5.0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._environ = environment(environ)
        self._answer_timeout = answer_timeout
        self._call_timeout = call_timeout
        self._wire: _Wire | None = None
        self._open_error: str | None = None
        self._portal_owner = ""
        self._version: int | None = None
        self._notifier: QSocketNotifier | None = None
        self._replies: dict[int, Callable[[Message], None]] = {}
        self._wanted: dict[str, _Wanted] = {}
        self._attempt: _Attempt | None = None
        self._bindings: dict[str, Binding] = {}
        self._closed = False
        self._flush_timer = self._single_shot(0, self._flush)
        self._drain_timer = self._single_shot(0, self._drain)
        self._answer_timer = self._single_shot(round(answer_timeout * 1000), self._on_no_answer)

    def _single_shot(self, msec: int, slot: Callable[[], None]) -> QTimer:
        timer = QTimer(self)
        timer.setSingleShot(True)
        timer.setInterval(msec)
        timer.timeout.connect(slot)
        return timer

    # --- the strategy protocol ----------------------------------------------------------

    def is_compatible(self) -> bool:
        return portal_compatible(self._environ, sys.platform)

    def is_available(self) -> tuple[bool, str]:
        """A session bus, and on it a portal that exports GlobalShortcuts (its ``version``
        property is read, which starts the portal where it is not running)."""
        try:
            self._ensure_portal()
        except HotkeyError as exc:
            return False, str(exc)
        return True, ""

    def register(self, key_id: str, sequence: str, callback: HotkeyCallback) -> None:
        """Add ``key_id`` to the set bound when the event loop next runs; returns before
        the desktop answers (see ``shortcuts_bound`` and ``shortcuts_failed``)."""
        combo = parse_sequence(sequence)
        self._ensure_portal()
        if QCoreApplication.instance() is None:
            raise HotkeyError(
                "The portal hotkey backend needs a running Qt application: the desktop's "
                "answers arrive through its event loop."
            )
        self._watch()
        trigger = xdg_trigger(combo)
        if trigger is None:
            log.info("%s has no name in the shortcuts specification: offered unbound", combo)
        self._wanted[key_id] = _Wanted(key_id, str(combo), combo, trigger, callback)
        self._flush_timer.start()

    def unregister(self, key_id: str) -> None:
        """Drop ``key_id``; the remaining set is bound again in a new session (or the
        session closed, where none remains) when the event loop next runs."""
        if self._wanted.pop(key_id, None) is not None:
            self._bindings.pop(key_id, None)
            if not self._closed:
                self._flush_timer.start()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for timer in (self._flush_timer, self._drain_timer, self._answer_timer):
            timer.stop()
        self._end_attempt()
        self._unwatch()
        if self._wire is not None:
            self._wire.close()  # the portal also closes the sessions of a connection that went
            self._wire = None
        self._wanted.clear()
        self._bindings.clear()
        self._replies.clear()

    # --- what the desktop said ------------------------------------------------------------

    @property
    def version(self) -> int | None:
        """The GlobalShortcuts portal's version, once ``is_available`` has read it."""
        return self._version

    @property
    def bindings(self) -> dict[str, Binding]:
        """The keys the desktop bound in the session in use."""
        return dict(self._bindings)

    @property
    def session(self) -> str:
        """The object path of the session in use, "" where none is."""
        return self._attempt.session if self._attempt is not None else ""

    @property
    def pending(self) -> bool:
        """Whether a change waits to be bound or a request waits for the desktop."""
        attempt = self._attempt
        return self._flush_timer.isActive() or (attempt is not None and bool(attempt.requests))

    # --- the connection -------------------------------------------------------------------

    def _address(self) -> str:
        address = self._environ.get("DBUS_SESSION_BUS_ADDRESS", "")
        runtime = self._environ.get("XDG_RUNTIME_DIR", "")
        if not address and runtime and os.path.exists(os.path.join(runtime, "bus")):
            address = f"unix:path={os.path.join(runtime, 'bus')}"  # the systemd user bus
        return address

    def _ensure_wire(self) -> _Wire:
        if self._closed:
            raise HotkeyError("The portal hotkey backend has been closed.")
        if self._wire is not None:
            return self._wire
        if self._open_error is not None:
            raise HotkeyError(self._open_error)
        address = self._address()
        if not address:
            self._open_error = (
                "no D-Bus session bus to reach the desktop portal "
                "(DBUS_SESSION_BUS_ADDRESS is not set)"
            )
            raise HotkeyError(self._open_error)
        try:
            wire = _Wire(address, self._call_timeout)
        except ImportError:
            self._open_error = "jeepney is missing: pip install jeepney"
            raise HotkeyError(self._open_error) from None
        except (OSError, ValueError, RuntimeError, StopIteration) as exc:
            # ValueError: jeepney's AuthenticationError; RuntimeError: a transport it lacks
            self._open_error = (
                f"no D-Bus session bus to reach the desktop portal ({address}: "
                f"{exc or type(exc).__name__})"
            )
            raise HotkeyError(self._open_error) from None
        self._wire = wire
        return wire

    def _ensure_portal(self) -> _Wire:
        wire = self._ensure_wire()
        if self._version is not None:
            return wire
        from jeepney import DBusAddress, MatchRule, message_bus, new_method_call

        get = new_method_call(
            DBusAddress(PORTAL_PATH, PORTAL_SERVICE, _PROPERTIES_INTERFACE),
            "Get",
            "ss",
            (SHORTCUTS_INTERFACE, "version"),
        )
        reply = self._round_trip(wire, get)
        if reply is None:
            raise HotkeyError(
                f"the desktop portal did not answer within {self._call_timeout:g} s "
                f"({PORTAL_SERVICE} is starting or hangs)"
            )
        error = _error_of(reply)
        if error is not None:
            name, text = error
            detail = f"{name}: {text}" if text else name
            if any(e in name for e in _NO_PORTAL_ERRORS):
                raise HotkeyError(
                    f"no desktop portal on the D-Bus session bus ({detail}): {PORTAL_INSTALL_HINT}"
                )
            if any(e in name for e in _NO_INTERFACE_ERRORS):
                raise HotkeyError(
                    f"the desktop portal has no GlobalShortcuts portal ({detail}): {SHORTCUTS_HINT}"
                )
            raise HotkeyError(f"the desktop portal's GlobalShortcuts portal failed ({detail})")
        version = _unwrap(reply.body[0]) if reply.body else None
        owner = self._round_trip(wire, message_bus.GetNameOwner(PORTAL_SERVICE))
        if owner is None or _error_of(owner) is not None or not owner.body:
            raise HotkeyError("the desktop portal left the D-Bus session bus as it started")
        rule = MatchRule(type="signal", sender=PORTAL_SERVICE, path_namespace=PORTAL_PATH)
        self._round_trip(wire, message_bus.AddMatch(rule))
        self._portal_owner = str(owner.body[0])
        self._version = int(version) if isinstance(version, int) else 0
        log.info("GlobalShortcuts portal version %s (%s)", self._version, self._portal_owner)
        return wire

    def _round_trip(self, wire: _Wire, message: Message) -> Message | None:
        try:
            reply = wire.call(message, self._call_timeout)
        except OSError as exc:
            self._lost(exc)
            raise HotkeyError(f"the D-Bus session bus connection broke ({exc})") from None
        if self._notifier is not None:
            self._drain_timer.start()  # what arrived meanwhile
        else:
            wire.backlog.clear()  # nothing is waiting for anything yet
        return reply

    def _watch(self) -> None:
        """Read the connection on this thread's event loop from now on."""
        if self._notifier is not None or self._wire is None:
            return
        notifier = QSocketNotifier(self._wire.sock.fileno(), QSocketNotifier.Type.Read, self)
        notifier.activated.connect(self._on_wire_readable)
        self._notifier = notifier
        self._drain_timer.start()

    def _unwatch(self) -> None:
        # Possibly from within the notifier's own signal: disabled now, deleted later.
        notifier, self._notifier = self._notifier, None
        if notifier is not None:
            notifier.setEnabled(False)
            notifier.deleteLater()

    def _on_wire_readable(self) -> None:
        wire = self._wire
        if wire is None:
            return
        try:
            wire.read(0)
        except OSError as exc:
            self._lost(exc)
            return
        self._drain()

    def _drain(self) -> None:
        wire = self._wire
        while wire is not None and wire is self._wire:
            incoming = next(wire.pending(), None)
            if incoming is None:
                return
            self._dispatch(incoming)

    def _send(self, message: Message, on_reply: Callable[[Message], None] | None = None) -> bool:
        wire = self._wire
        if wire is None:
            return False
        try:
            serial = wire.send(message)
        except OSError as exc:
            self._lost(exc)
            return False
        if on_reply is not None:
            self._replies[serial] = on_reply
        return True

    def _lost(self, exc: BaseException) -> None:
        """The bus went: every key stops; the next register connects again."""
        log.warning("the D-Bus session bus connection broke: %s", exc)
        self._unwatch()
        if self._wire is not None:
            self._wire.close()
            self._wire = None
        self._version = None
        self._replies.clear()
        self._answer_timer.stop()
        self._attempt = None
        if self._wanted:
            self._fail(
                dict(self._wanted),
                lambda w: (
                    f"The connection to the D-Bus session bus broke ({exc}), so "
                    f"{w.sequence} for “{w.key_id}” no longer works"
                ),
            )

    # --- binding --------------------------------------------------------------------------

    def _flush(self) -> None:
        if self._closed:
            return
        attempt = self._attempt
        if attempt is not None and attempt.signature() == _signature(self._wanted):
            return
        self._end_attempt()
        self._bindings.clear()
        if self._wanted:
            self._start_attempt(dict(self._wanted))

    def _path_of(self, kind: str, token: str) -> str:
        sender = self._wire.unique_name if self._wire is not None else ""
        return f"{PORTAL_PATH}/{kind}/{sender.lstrip(':').replace('.', '_')}/{token}"

    def _start_attempt(self, keys: dict[str, _Wanted]) -> None:
        from jeepney import DBusAddress, new_method_call

        attempt = _Attempt(keys)
        self._attempt = attempt
        token = f"screenscribe_{os.urandom(8).hex()}"
        request = self._path_of("request", token)
        attempt.requests[request] = "session"
        message = new_method_call(
            DBusAddress(PORTAL_PATH, PORTAL_SERVICE, SHORTCUTS_INTERFACE),
            "CreateSession",
            "a{sv}",
            ({"handle_token": ("s", token), "session_handle_token": ("s", token)},),
        )
        log.info("global shortcuts: new session for %s", ", ".join(keys))
        self._answer_timer.start()
        self._send(message, lambda reply: self._on_request_made(attempt, request, reply))

    def _bind(self, attempt: _Attempt) -> None:
        from jeepney import DBusAddress, new_method_call

        token = f"screenscribe_{os.urandom(8).hex()}"
        request = self._path_of("request", token)
        attempt.requests[request] = "bind"
        shortcuts = []
        for wanted in attempt.keys.values():
            info: dict[str, tuple[str, str]] = {
                "description": (
                    "s",
                    f"Capture a region with the ScreenScribe preset “{wanted.key_id}”",
                )
            }
            if wanted.trigger is not None:
                info["preferred_trigger"] = ("s", wanted.trigger)
            shortcuts.append((wanted.key_id, info))
        message = new_method_call(
            DBusAddress(PORTAL_PATH, PORTAL_SERVICE, SHORTCUTS_INTERFACE),
            "BindShortcuts",
            "oa(sa{sv})sa{sv}",
            (attempt.session, shortcuts, "", {"handle_token": ("s", token)}),
        )
        self._answer_timer.start()
        self._send(message, lambda reply: self._on_request_made(attempt, request, reply))

    def _on_request_made(self, attempt: _Attempt, expected: str, reply: Message) -> None:
        """The method's own reply: the Request's path, or an error."""
        if attempt is not self._attempt:
            return
        error = _error_of(reply)
        if error is not None:
            attempt.requests.pop(expected, None)
            name, text = error
            detail = f"{name}: {text}" if text else name
            self._fail_attempt(
                attempt,
                lambda w: (
                    f"The GlobalShortcuts portal refused the request for {w.sequence} for "
                    f"“{w.key_id}” ({detail})"
                ),
            )
            return
        handle = str(reply.body[0]) if reply.body else expected
        if handle != expected and expected in attempt.requests:  # portals before 0.9
            attempt.requests[handle] = attempt.requests.pop(expected)

    def _on_response(self, path: str, code: int, results: Mapping[str, Any]) -> None:
        attempt = self._attempt
        if attempt is None or path not in attempt.requests:
            return
        stage = attempt.requests.pop(path)
        self._answer_timer.stop()
        if code != 0:
            self._fail_attempt(attempt, _refusal(code))
            return
        if stage == "session":
            session = _unwrap(results.get("session_handle", ""))
            if not session:
                self._fail_attempt(
                    attempt,
                    lambda w: (
                        f"The GlobalShortcuts portal opened no session for {w.sequence} for "
                        f"“{w.key_id}” (its answer had no session_handle)"
                    ),
                )
                return
            attempt.session = str(session)
            self._bind(attempt)
            return
        attempt.bound = True
        self._take_shortcuts(attempt, _unwrap(results.get("shortcuts", [])), report_missing=True)

    def _take_shortcuts(self, attempt: _Attempt, shortcuts: Any, *, report_missing: bool) -> None:
        described: dict[str, str] = {}
        for entry in shortcuts if isinstance(shortcuts, list) else []:
            shortcut_id, info = entry
            trigger = _unwrap(info.get("trigger_description", "")) if isinstance(info, dict) else ""
            described[str(shortcut_id)] = str(trigger or "")
        bound: dict[str, Binding] = {}
        for key_id, wanted in attempt.keys.items():
            if key_id not in described:
                continue
            trigger = described[key_id]
            bound[key_id] = Binding(
                key_id, wanted.sequence, trigger, same_keys(trigger, wanted.combo) is False
            )
        missing = {k: w for k, w in attempt.keys.items() if k not in described}
        if report_missing and missing:
            for key_id in missing:
                del attempt.keys[key_id]
        self._bindings.update(bound)
        for binding in bound.values():
            log.info("global shortcut: %s", binding)
        if report_missing and missing:
            self._fail(
                missing,
                lambda w: (
                    f"The desktop left {w.sequence} for “{w.key_id}” without a key in its "
                    "global shortcuts dialog"
                ),
            )
        if bound:
            self.shortcuts_bound.emit(bound)

    def _on_no_answer(self) -> None:
        attempt = self._attempt
        if attempt is None or not attempt.requests:
            return
        timeout = self._answer_timeout
        self._fail_attempt(
            attempt,
            lambda w: (
                f"The desktop did not answer the request to bind {w.sequence} for "
                f"“{w.key_id}” within {timeout:g} s (nobody accepted its global shortcuts "
                "dialog, or its portal backend hangs)"
            ),
        )

    def _fail_attempt(self, attempt: _Attempt, why: Callable[[_Wanted], str]) -> None:
        """The whole set of ``attempt`` is not bound: end its session, drop its keys."""
        if attempt is not self._attempt:
            return
        self._end_attempt()
        self._fail(attempt.keys, why)

    def _fail(self, keys: Mapping[str, _Wanted], why: Callable[[_Wanted], str]) -> None:
        problems: dict[str, str] = {}
        for key_id, wanted in keys.items():
            if self._wanted.get(key_id) is wanted:  # not registered anew meanwhile
                del self._wanted[key_id]
            self._bindings.pop(key_id, None)
            hint = manual_binding_hint(key_id, wanted.sequence, self._environ)
            problems[key_id] = f"{why(wanted)}; {hint}."
            log.warning("global shortcut %s for %s: %s", wanted.sequence, key_id, why(wanted))
        if problems and not self._closed:
            self.shortcuts_failed.emit(problems)

    def _end_attempt(self) -> None:
        """Withdraw the open requests of the session in use and close it."""
        attempt, self._attempt = self._attempt, None
        self._answer_timer.stop()
        if attempt is None or self._wire is None:
            return
        from jeepney import DBusAddress, new_method_call

        for path in attempt.requests:
            self._send(
                new_method_call(DBusAddress(path, PORTAL_SERVICE, REQUEST_INTERFACE), "Close")
            )
        attempt.requests.clear()
        if attempt.session:
            close = new_method_call(
                DBusAddress(attempt.session, PORTAL_SERVICE, SESSION_INTERFACE), "Close"
            )
            self._send(close)
            log.info("global shortcuts: session %s closed", attempt.session)

    # --- incoming messages ----------------------------------------------------------------

    def _dispatch(self, message: Message) -> None:
        from jeepney import HeaderFields, MessageType

        header = message.header
        kind = header.message_type
        if kind in (MessageType.method_return, MessageType.error):
            handler = self._replies.pop(header.fields.get(HeaderFields.reply_serial, -1), None)
            if handler is not None:
                handler(message)
            return
        if kind != MessageType.signal or header.fields.get(HeaderFields.sender) != (
            self._portal_owner
        ):
            return
        path = str(header.fields.get(HeaderFields.path, ""))
        signal = (header.fields.get(HeaderFields.interface), header.fields.get(HeaderFields.member))
        body = message.body
        if signal == (REQUEST_INTERFACE, "Response") and _shaped(body, int, dict):
            self._on_response(path, int(body[0]), body[1])
        elif signal == (SHORTCUTS_INTERFACE, "Activated") and _shaped(body, str, str):
            self._on_activated(body[0], body[1])
        elif signal == (SHORTCUTS_INTERFACE, "ShortcutsChanged") and _shaped(body, str, list):
            attempt = self._attempt
            if attempt is not None and attempt.bound and body[0] == attempt.session:
                self._take_shortcuts(attempt, body[1], report_missing=False)
        elif signal == (SESSION_INTERFACE, "Closed"):
            self._on_session_closed(path)

    def _on_activated(self, session: str, shortcut_id: str) -> None:
        attempt = self._attempt
        if attempt is None or not attempt.bound or session != attempt.session:
            return
        wanted = self._wanted.get(shortcut_id)
        if wanted is None or attempt.keys.get(shortcut_id) is not wanted:
            return
        wanted.callback(shortcut_id)

    def _on_session_closed(self, path: str) -> None:
        attempt = self._attempt
        if attempt is None or path != attempt.session:
            return
        attempt.session = ""  # it is gone: nothing to close
        self._fail_attempt(
            attempt,
            lambda w: (
                f"The desktop ended the global shortcuts session, so {w.sequence} for "
                f"“{w.key_id}” no longer works"
            ),
        )


def _shaped(body: Any, *types: type) -> bool:
    """Whether a signal's arguments start with values of ``types``."""
    return (
        isinstance(body, tuple)
        and len(body) >= len(types)
        and all(isinstance(value, kind) for value, kind in zip(body, types, strict=False))
    )


def _error_of(message: Message) -> tuple[str, str] | None:
    """(error name, text) of an error reply, None for another message."""
    from jeepney import HeaderFields, MessageType

    if message.header.message_type != MessageType.error:
        return None
    name = str(message.header.fields.get(HeaderFields.error_name, "an error"))
    body = message.body
    text = str(body[0]) if body and isinstance(body[0], str) else ""
    return name, text


def _refusal(code: int) -> Callable[[_Wanted], str]:
    if code == 1:
        return lambda w: (
            f"{w.sequence} for “{w.key_id}” was declined in the desktop's global shortcuts "
            "dialog (portal response 1)"
        )
    if code == 2:
        return lambda w: (
            f"The desktop refused the global shortcut {w.sequence} for “{w.key_id}” (portal "
            "response 2: its portal backend failed or does not allow it)"
        )
    return lambda w: (
        f"The GlobalShortcuts portal answered the request for {w.sequence} for "
        f"“{w.key_id}” with unknown response {code}"
    )


__all__ = [
    "PORTAL_INSTALL_HINT",
    "SHORTCUTS_HINT",
    "Binding",
    "PortalBackend",
    "same_keys",
    "xdg_trigger",
]
