"""Global hotkeys on X11: passive key grabs on the root window, with python-xlib.

python-xlib (pure Python, no libX11) rather than ctypes on libX11: its errors arrive per
request (``onerror=CatchError``) instead of through Xlib's one process-wide error handler,
which mss or another library in the process may also set; and it needs no XInitThreads.
TESTING.md measured it: XGrabKey registers in 0.3 ms and fires about 15 ms after
``xdotool key``.

How it works:

* One Display connection of its own (not Qt's), so the grabs belong to it and its events
  never pass through Qt's event loop.
* ``register`` grabs the key's keycode with the modifiers, once for each combination of
  the lock modifiers (Caps Lock, Num Lock and Scroll Lock where it is mapped), so the
  hotkey fires whatever lock keys are on. Then ``sync`` (a round trip): a BadAccess for any
  of them means another client holds the combination; every grab of the attempt is then
  released and HotkeyConflict raised, so nothing stays half-grabbed.
* A daemon thread waits in ``select`` on the connection's socket and a wake-up pipe, reads
  the events and hands each press to the callback on that thread. ``close`` writes to the
  pipe, so it returns within milliseconds.
* Auto-repeat: a held key makes the server send KeyRelease and KeyPress pairs with the
  same timestamp; a KeyPress whose time equals its key's last KeyRelease is a repeat and
  does not fire again. (XkbSetDetectableAutoRepeat would do the same, but python-xlib has
  no XKB.)
* One lock serialises all use of the connection between the GUI thread (register,
  unregister) and the reader thread; python-xlib's own locks are no-ops unless
  ``Xlib.threaded`` is imported, which would change it for the whole process.

Not handled: a keyboard layout change (MappingNotify) refreshes the keymap cache but
does not move existing grabs to new keycodes; set the hotkeys again for that.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import select
import socket
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from desktop_app.hotkeys.base import (
    LOGGER_NAME,
    HotkeyCallback,
    HotkeyConflict,
    HotkeyError,
    KeyCombo,
    Modifier,
    environment,
    parse_sequence,
    x11_compatible,
)

if TYPE_CHECKING:
    from Xlib.display import Display  # type: ignore[import-untyped, unused-ignore]
    from Xlib.protocol.rq import Event  # type: ignore[import-untyped, unused-ignore]

log = logging.getLogger(LOGGER_NAME)


def _core_display(xdisplay: Any, name: str) -> Display:
    """An Xlib display that speaks the core protocol only. Xlib's Display imports and
    sets up a module for every extension the server has (13 on Xvfb, one round trip
    each, 1.9 MiB kept); grabbing keys needs none of them."""
    from Xlib import ext as xext  # type: ignore[import-untyped, unused-ignore]

    known = xext.__extensions__
    xext.__extensions__ = []  # read by Display.__init__; no other thread opens one
    try:
        return xdisplay.Display(name)
    finally:
        xext.__extensions__ = known


# X11 core protocol constants (X.h); spelled here so the module imports without Xlib.
_SHIFT, _LOCK, _CONTROL = 1 << 0, 1 << 1, 1 << 2
_MOD_MASKS = (1 << 3, 1 << 4, 1 << 5, 1 << 6, 1 << 7)  # Mod1 .. Mod5
_KEYBOARD_MASKS = 0xFF  # Shift, Lock, Control, Mod1-5 (not the mouse buttons)
_KEY_PRESS, _KEY_RELEASE, _MAPPING_NOTIFY = 2, 3, 34
_GRAB_MODE_ASYNC = 1
_MAPPING_KEYBOARD = 1
_NO_SYMBOL = 0

INSTALL_HINT = "install python-xlib (pip install python-xlib)"


@dataclass(frozen=True, slots=True)
class _Grab:
    key_id: str
    combo: KeyCombo
    keycode: int
    mask: int  # the modifier mask, without lock modifiers


def _keysym_of(combo: KeyCombo) -> int:
    """The keysym of the combination's key: by name for named keys and ASCII punctuation,
    from the character for the others (Latin-1 keysyms equal the code point, the rest of
    Unicode is 0x1000000 + it); 0 when there is none."""
    from Xlib import XK  # type: ignore[import-untyped, unused-ignore]

    key = combo.key
    if not combo.is_character or len(key) != 1 or key.isascii():
        return int(XK.string_to_keysym(combo.keysym_name))
    code = ord(key.lower()) if len(key.lower()) == 1 else ord(key)
    return code if 0xA0 <= code <= 0xFF else 0x1000000 | code


def _close_sockets_left_in(exc: BaseException) -> None:
    """python-xlib 0.33 leaves the socket of a failed connection open (the tracebacks
    still reference it; a ResourceWarning once they go): close the ones it left."""
    seen: set[int] = set()
    chained: BaseException | None = exc
    while chained is not None and id(chained) not in seen:
        seen.add(id(chained))
        tb = chained.__traceback__
        while tb is not None:
            for value in tb.tb_frame.f_locals.values():
                if isinstance(value, socket.socket):
                    value.close()
            tb = tb.tb_next
        chained = chained.__cause__ or chained.__context__


class X11Backend:
    """Passive key grabs on the root window of ``$DISPLAY`` (python-xlib)."""

    name = "x11"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environment(environ)
        self._lock = threading.Lock()
        self._display: Display | None = None
        self._open_error: str | None = None
        self._grabs: dict[str, _Grab] = {}
        self._by_keys: dict[tuple[int, int], str] = {}  # (keycode, mask) -> key_id
        self._callbacks: dict[str, HotkeyCallback] = {}
        self._last_release: dict[int, int] = {}  # keycode -> time of its last KeyRelease
        self._lock_variants: tuple[int, ...] = (0,)
        self._modifier_masks: dict[Modifier, int] = {}
        self._ignored_masks = 0
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()
        self._closed = False
        #: Key presses recognised as auto-repeat and not passed on (for tests, diagnosis).
        self.repeats_ignored = 0

    # --- the strategy protocol ----------------------------------------------------------

    def is_compatible(self) -> bool:
        return x11_compatible(self._environ, sys.platform)

    def is_available(self) -> tuple[bool, str]:
        try:
            self._ensure_open()
        except HotkeyError as exc:
            return False, str(exc)
        return True, ""

    @property
    def display_name(self) -> str:
        return self._environ.get("DISPLAY", "")

    def register(self, key_id: str, sequence: str, callback: HotkeyCallback) -> None:
        combo = parse_sequence(sequence)
        display = self._ensure_open()
        if key_id in self._grabs:
            self.unregister(key_id)
        from Xlib import error as xerror  # type: ignore[import-untyped, unused-ignore]

        try:
            with self._lock:
                keycode, mask = self._keys_of(display, combo)
                holder = self._by_keys.get((keycode, mask))
                if holder is not None:
                    raise HotkeyError(f"{combo} is already the hotkey of “{holder}”.")
                root = display.screen().root
                catchers = []
                for variant in self._lock_variants:
                    catcher = xerror.CatchError()
                    root.grab_key(
                        keycode,
                        mask | variant,
                        False,
                        _GRAB_MODE_ASYNC,
                        _GRAB_MODE_ASYNC,
                        onerror=catcher,
                    )
                    catchers.append(catcher)
                display.sync()
                errors = [c.get_error() for c in catchers if c.get_error() is not None]
                if errors:
                    for variant in self._lock_variants:
                        root.ungrab_key(keycode, mask | variant)
                    display.sync()
                    if any(isinstance(e, xerror.BadAccess) for e in errors):
                        raise HotkeyConflict(str(combo))
                    raise HotkeyError(f"The X server refused to grab {combo}: {errors[0]}.")
                self._grabs[key_id] = _Grab(key_id, combo, keycode, mask)
                self._by_keys[keycode, mask] = key_id
                self._callbacks[key_id] = callback
        except (xerror.ConnectionClosedError, OSError) as exc:
            raise HotkeyError(
                f"The connection to X display {self.display_name} broke: {exc}"
            ) from exc
        finally:
            self._wake()  # the round trip may have queued events: let the reader see them
        log.info("hotkey %s grabbed for %s (keycode %d, mask %#x)", combo, key_id, keycode, mask)

    def unregister(self, key_id: str) -> None:
        with self._lock:
            grab = self._grabs.pop(key_id, None)
            self._callbacks.pop(key_id, None)
            if grab is None or self._display is None:
                return
            from Xlib import error as xerror  # type: ignore[import-untyped, unused-ignore]

            self._by_keys.pop((grab.keycode, grab.mask), None)
            try:
                root = self._display.screen().root
                for variant in self._lock_variants:
                    root.ungrab_key(grab.keycode, grab.mask | variant)
                self._display.sync()
            except (xerror.ConnectionClosedError, OSError) as exc:  # the grabs went with it
                log.warning("could not release hotkey %s: %s", grab.combo, exc)
        self._wake()
        log.info("hotkey %s released (%s)", grab.combo, key_id)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        self._wake()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)
            if thread.is_alive():
                log.warning("the X11 hotkey thread did not stop within 2 s")
        with self._lock:
            display, self._display = self._display, None
            self._grabs.clear()
            self._by_keys.clear()
            self._callbacks.clear()
            if display is not None:
                with contextlib.suppress(Exception):
                    display.close()  # the server drops every grab of the connection
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    # --- the connection -------------------------------------------------------------------

    def _ensure_open(self) -> Display:
        if self._closed:
            raise HotkeyError("The X11 hotkey backend has been closed.")
        if self._display is not None:
            return self._display
        if self._open_error is not None:
            raise HotkeyError(self._open_error)
        name = self.display_name
        try:
            from Xlib import display as xdisplay  # type: ignore[import-untyped, unused-ignore]
            from Xlib import error as xerror  # type: ignore[import-untyped, unused-ignore]
        except ImportError:
            self._open_error = f"python-xlib is missing: {INSTALL_HINT}."
            raise HotkeyError(self._open_error) from None
        if not name:
            self._open_error = "DISPLAY is not set: there is no X server to grab keys on."
            raise HotkeyError(self._open_error)
        try:
            display = _core_display(xdisplay, name)
            self._read_modifiers(display)
        except (xerror.DisplayError, xerror.ConnectionClosedError, OSError) as exc:
            _close_sockets_left_in(exc)
            self._open_error = f"Cannot open X display {name}: {exc}"
            raise HotkeyError(self._open_error) from None
        self._display = display
        self._wake_r, self._wake_w = os.pipe()
        if sys.platform != "win32":  # os.set_blocking is POSIX; X11 never runs on Windows
            os.set_blocking(self._wake_r, False)
            os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(
            target=self._run, args=(display,), name="screenscribe-hotkeys-x11", daemon=True
        )
        self._thread.start()
        return display

    def _read_modifiers(self, display: Display) -> None:
        """Which ModN is Alt, Meta (Super), Num Lock and Scroll Lock on this server."""
        from Xlib import XK  # type: ignore[import-untyped, unused-ignore]

        mapping = display.get_modifier_mapping()

        def mask_of(*keysym_names: str) -> int:
            codes = {display.keysym_to_keycode(XK.string_to_keysym(n)) for n in keysym_names}
            codes.discard(0)
            for index, mask in enumerate(_MOD_MASKS):
                if codes & set(mapping[3 + index]):
                    return mask
            return 0

        alt = mask_of("Alt_L", "Alt_R") or _MOD_MASKS[0]
        meta = mask_of("Super_L", "Super_R") or _MOD_MASKS[3]
        num_lock = mask_of("Num_Lock")
        scroll_lock = mask_of("Scroll_Lock")
        self._modifier_masks = {
            Modifier.SHIFT: _SHIFT,
            Modifier.CTRL: _CONTROL,
            Modifier.ALT: alt,
            Modifier.META: meta,
        }
        locks = sorted({m for m in (_LOCK, num_lock, scroll_lock) if m and m not in (alt, meta)})
        self._ignored_masks = sum(locks)
        self._lock_variants = tuple(
            sorted(
                {sum(c) for n in range(len(locks) + 1) for c in itertools.combinations(locks, n)}
            )
        )

    def _keys_of(self, display: Display, combo: KeyCombo) -> tuple[int, int]:
        """(keycode, modifier mask) to grab; Shift is added when the key's character is
        on the shifted level of its key ("Ctrl+!" is Ctrl+Shift+1 on a US layout)."""
        keysym = _keysym_of(combo)
        found = list(display.keysym_to_keycodes(keysym)) if keysym != _NO_SYMBOL else []
        if not found:
            raise HotkeyError(f"{combo}: the keyboard layout has no {combo.key} key.")
        keycode, index = min(found, key=lambda pair: (pair[1], pair[0]))
        mask = 0
        for flag, bits in self._modifier_masks.items():
            if flag in combo.modifiers:
                mask |= bits
        if index % 2 == 1 and combo.is_character and not combo.key.isalpha():
            mask |= _SHIFT
        return int(keycode), mask

    # --- the reader thread ----------------------------------------------------------------

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._wake_w, b"x")

    def _run(self, display: Display) -> None:
        from Xlib import error as xerror  # type: ignore[import-untyped, unused-ignore]

        try:
            fd = display.fileno()
            while not self._closing.is_set():
                readable, _, _ = select.select([fd, self._wake_r], [], [])
                if self._wake_r in readable:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                if self._closing.is_set():
                    break
                fired: list[tuple[str, HotkeyCallback]] = []
                with self._lock:
                    if self._display is None:
                        break
                    while display.pending_events():
                        key_id = self._handle(display, display.next_event())
                        callback = self._callbacks.get(key_id) if key_id else None
                        if key_id and callback is not None:
                            fired.append((key_id, callback))
                for key_id, callback in fired:
                    if self._closing.is_set():
                        break
                    try:
                        callback(key_id)
                    except Exception:
                        log.exception("the callback of hotkey %s failed", key_id)
        except (xerror.ConnectionClosedError, OSError, ValueError) as exc:
            if not self._closing.is_set():
                log.warning("X11 hotkeys stopped: the connection to the X server broke (%s)", exc)

    def _handle(self, display: Display, event: Event) -> str | None:
        """The key_id a KeyPress fires, or None (a repeat, a release, another event)."""
        kind = int(getattr(event, "type", 0)) & 0x7F
        if kind == _KEY_RELEASE:
            self._last_release[int(getattr(event, "detail", 0))] = int(getattr(event, "time", 0))
        elif kind == _KEY_PRESS:
            keycode, time = int(getattr(event, "detail", 0)), int(getattr(event, "time", 0))
            if self._last_release.get(keycode) == time:
                self.repeats_ignored += 1
                return None
            state = int(getattr(event, "state", 0)) & _KEYBOARD_MASKS & ~self._ignored_masks
            return self._by_keys.get((keycode, state))
        elif kind == _MAPPING_NOTIFY and getattr(event, "request", None) == _MAPPING_KEYBOARD:
            display.refresh_keyboard_mapping(event)
        return None


__all__ = ["INSTALL_HINT", "X11Backend"]
