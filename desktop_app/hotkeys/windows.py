"""Global hotkeys on Windows: ``RegisterHotKey`` through ctypes, ``WM_HOTKEY`` through a
``QAbstractNativeEventFilter``.

Untested here (no Windows machine in CI); type-checked on every platform. The calls are
the ones QHotkey and PowerToys make:

* ``RegisterHotKey(NULL, id, MOD_* | MOD_NOREPEAT, vk)`` on the GUI thread: with no
  window, WM_HOTKEY is posted to that thread's message queue, which Qt's event
  dispatcher shows to native event filters as "windows_generic_MSG". MOD_NOREPEAT
  (Windows 7+) keeps a held key from firing again.
* ``ERROR_HOTKEY_ALREADY_REGISTERED`` (1409): another program holds the combination.
* The callback runs on the GUI thread, from the event filter.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Mapping
from ctypes import wintypes
from dataclasses import dataclass

from PySide6.QtCore import QAbstractNativeEventFilter, QByteArray, QCoreApplication

from desktop_app.hotkeys.base import (
    LOGGER_NAME,
    HotkeyCallback,
    HotkeyConflict,
    HotkeyError,
    KeyCombo,
    Modifier,
    environment,
    parse_sequence,
    windows_compatible,
)

log = logging.getLogger(LOGGER_NAME)

WM_HOTKEY = 0x0312
MOD_ALT, MOD_CONTROL, MOD_SHIFT, MOD_WIN, MOD_NOREPEAT = 0x1, 0x2, 0x4, 0x8, 0x4000
ERROR_HOTKEY_ALREADY_REGISTERED = 1409
_MODIFIERS = {
    Modifier.ALT: MOD_ALT,
    Modifier.CTRL: MOD_CONTROL,
    Modifier.SHIFT: MOD_SHIFT,
    Modifier.META: MOD_WIN,
}
#: Virtual-key codes of the named keys (winuser.h).
VIRTUAL_KEYS: dict[str, int] = {
    "Esc": 0x1B,
    "Tab": 0x09,
    "Backspace": 0x08,
    "Return": 0x0D,
    "Enter": 0x0D,
    "Ins": 0x2D,
    "Del": 0x2E,
    "Pause": 0x13,
    "Print": 0x2C,  # VK_SNAPSHOT
    "SysReq": 0x2C,
    "Home": 0x24,
    "End": 0x23,
    "Left": 0x25,
    "Up": 0x26,
    "Right": 0x27,
    "Down": 0x28,
    "PgUp": 0x21,
    "PgDown": 0x22,
    "Space": 0x20,
    "Menu": 0x5D,  # VK_APPS
    **{f"F{n}": 0x6F + n for n in range(1, 25)},  # F1 = 0x70 .. F24 = 0x87
}


class _User32:  # pragma: no cover - Windows only
    """The few user32 calls, with their argument types declared."""

    _dll: ctypes.CDLL

    def __init__(self) -> None:
        if sys.platform != "win32":
            raise HotkeyError("Windows hotkeys need Windows.")
        dll = ctypes.WinDLL("user32", use_last_error=True)
        dll.RegisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int, wintypes.UINT, wintypes.UINT]
        dll.RegisterHotKey.restype = wintypes.BOOL
        dll.UnregisterHotKey.argtypes = [wintypes.HWND, ctypes.c_int]
        dll.UnregisterHotKey.restype = wintypes.BOOL
        dll.VkKeyScanW.argtypes = [wintypes.WCHAR]
        dll.VkKeyScanW.restype = ctypes.c_short
        self._dll = dll

    def register(self, hotkey_id: int, modifiers: int, vk: int) -> int:
        """0 on success, else the Windows error code."""
        if sys.platform != "win32":
            return -1
        if self._dll.RegisterHotKey(None, hotkey_id, modifiers, vk):
            return 0
        return ctypes.get_last_error() or -1

    def unregister(self, hotkey_id: int) -> None:
        self._dll.UnregisterHotKey(None, hotkey_id)

    def key_scan(self, char: str) -> int:
        """VkKeyScanW: low byte the virtual key, high byte the shift state; -1: none."""
        return int(self._dll.VkKeyScanW(char))


@dataclass(frozen=True, slots=True)
class _Registration:
    key_id: str
    combo: KeyCombo
    hotkey_id: int
    callback: HotkeyCallback


class _HotkeyFilter(QAbstractNativeEventFilter):  # pragma: no cover - Windows only
    def __init__(self, backend: WindowsBackend) -> None:
        super().__init__()
        self._backend = backend

    def nativeEventFilter(
        self, eventType: QByteArray | bytes | bytearray | memoryview, message: int
    ) -> object:
        kind = eventType.data() if isinstance(eventType, QByteArray) else bytes(eventType)
        if kind != b"windows_generic_MSG":
            return False, 0
        msg = wintypes.MSG.from_address(int(message))
        if msg.message != WM_HOTKEY:
            return False, 0
        return self._backend.dispatch(int(msg.wParam)), 0


class WindowsBackend:  # pragma: no cover - Windows only
    """RegisterHotKey on the GUI thread; needs a running QCoreApplication."""

    name = "windows"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environment(environ)
        self._user32: _User32 | None = None
        self._filter: _HotkeyFilter | None = None
        self._registrations: dict[str, _Registration] = {}
        self._by_id: dict[int, _Registration] = {}
        self._next_id = 1
        self._closed = False

    def is_compatible(self) -> bool:
        return windows_compatible(self._environ, sys.platform)

    def is_available(self) -> tuple[bool, str]:
        try:
            self._ensure()
        except HotkeyError as exc:
            return False, str(exc)
        return True, ""

    def register(self, key_id: str, sequence: str, callback: HotkeyCallback) -> None:
        combo = parse_sequence(sequence)
        user32 = self._ensure()
        vk, modifiers = self._keys_of(user32, combo)
        if key_id in self._registrations:
            self.unregister(key_id)
        hotkey_id = self._next_id
        self._next_id += 1
        error = user32.register(hotkey_id, modifiers | MOD_NOREPEAT, vk)
        if error == ERROR_HOTKEY_ALREADY_REGISTERED:
            raise HotkeyConflict(str(combo))
        if error:
            raise HotkeyError(f"Windows refused the hotkey {combo} (error {error}).")
        registration = _Registration(key_id, combo, hotkey_id, callback)
        self._registrations[key_id] = registration
        self._by_id[hotkey_id] = registration
        log.info("hotkey %s registered for %s", combo, key_id)

    def unregister(self, key_id: str) -> None:
        registration = self._registrations.pop(key_id, None)
        if registration is None or self._user32 is None:
            return
        self._by_id.pop(registration.hotkey_id, None)
        self._user32.unregister(registration.hotkey_id)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for key_id in list(self._registrations):
            self.unregister(key_id)
        app = QCoreApplication.instance()
        if self._filter is not None and app is not None:
            app.removeNativeEventFilter(self._filter)
        self._filter = None

    def dispatch(self, hotkey_id: int) -> bool:
        """Called by the event filter for WM_HOTKEY; True when the id was ours."""
        registration = self._by_id.get(hotkey_id)
        if registration is None or self._closed:
            return False
        try:
            registration.callback(registration.key_id)
        except Exception:
            log.exception("the callback of hotkey %s failed", registration.key_id)
        return True

    def _ensure(self) -> _User32:
        if self._closed:
            raise HotkeyError("The Windows hotkey backend has been closed.")
        if self._user32 is not None:
            return self._user32
        app = QCoreApplication.instance()
        if app is None:
            raise HotkeyError("Windows hotkeys need a running Qt application.")
        user32 = _User32()
        self._filter = _HotkeyFilter(self)
        app.installNativeEventFilter(self._filter)
        self._user32 = user32
        return user32

    def _keys_of(self, user32: _User32, combo: KeyCombo) -> tuple[int, int]:
        modifiers = 0
        for flag, bits in _MODIFIERS.items():
            if flag in combo.modifiers:
                modifiers |= bits
        if combo.key in VIRTUAL_KEYS:
            return VIRTUAL_KEYS[combo.key], modifiers
        if not combo.is_character or len(combo.key) != 1:
            raise HotkeyError(f"{combo}: Windows has no virtual key for {combo.key}.")
        scan = user32.key_scan(combo.key)
        if scan == -1:
            raise HotkeyError(f"{combo}: the keyboard layout has no {combo.key} key.")
        if scan & 0x100 and not combo.key.isalpha():
            modifiers |= MOD_SHIFT  # the character is on the shifted level
        return scan & 0xFF, modifiers


__all__ = ["VIRTUAL_KEYS", "WindowsBackend"]
