"""What every global hotkey backend shares: the errors, the protocol, key sequence parsing,
the session checks that order the backends, and the words for binding a key by hand.

Qt-free (standard library only), so the session checks and the parser can be used and
tested without a QApplication.

A hotkey is written the way Qt's ``QKeySequence.toString(PortableText)`` writes it, which
is what the settings dialog stores: ``Ctrl+Alt+O``, ``Meta+Shift+F2``, ``Ctrl+Alt+Print``.
Modifiers come in Qt's order (Meta, Ctrl, Alt, Shift); on X11 and Windows Meta is the
Super/Windows key. ``parse_sequence`` reads such text (case-insensitive, a few common
aliases such as ``Control`` or ``Escape``) into a ``KeyCombo``; each backend maps the key
onto its own codes.
"""

from __future__ import annotations

import contextlib
import enum
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from desktop_app.core.errors import ScreenScribeError

LOGGER_NAME = "screenscribe.hotkeys"


class HotkeyError(ScreenScribeError):
    """A hotkey could not be used: unparseable, unsupported here, or refused."""

    exit_code = 2  # like a bad setting: the user chooses another key


class HotkeyConflict(HotkeyError):
    """Another program holds the same key combination (X11 BadAccess, Windows
    ERROR_HOTKEY_ALREADY_REGISTERED)."""

    def __init__(self, sequence: str) -> None:
        super().__init__(
            f"{sequence} is already taken by another program; choose another key in "
            "Settings → Presets."
        )
        self.sequence = sequence


#: Called on the backend's own thread with the key_id that was pressed; must return fast.
HotkeyCallback = Callable[[str], None]


class HotkeyBackend(Protocol):
    """One way to get global hotkeys (NormCap-style handler). Constructing one is cheap:
    connections are opened by ``is_available()`` or the first ``register()``."""

    name: str

    def is_compatible(self) -> bool:
        """Can this backend work in this kind of session at all (platform, display server)?"""
        ...

    def is_available(self) -> tuple[bool, str]:
        """Is what it needs present? ``(False, reason and what to install)`` when not."""
        ...

    def register(self, key_id: str, sequence: str, callback: HotkeyCallback) -> None:
        """Grab ``sequence`` globally; ``callback(key_id)`` on each press (not on auto-
        repeat while held), from a thread of the backend's. Replaces an earlier
        registration of ``key_id``. Raises HotkeyConflict when another program holds the
        combination, HotkeyError when it cannot be used; nothing stays grabbed then."""
        ...

    def unregister(self, key_id: str) -> None:
        """Release the key of ``key_id`` (once this returns, others can grab it); an
        unknown ``key_id`` is ignored."""
        ...

    def close(self) -> None:
        """Release everything and stop the backend's thread, promptly; no callback runs
        once this has returned. Idempotent."""
        ...


# --- key sequences -----------------------------------------------------------------------


class Modifier(enum.Flag):
    """Modifier keys, declared in Qt's portable-text order."""

    NONE = 0
    META = enum.auto()
    CTRL = enum.auto()
    ALT = enum.auto()
    SHIFT = enum.auto()


_MODIFIER_NAMES: dict[str, Modifier] = {
    "meta": Modifier.META,
    "super": Modifier.META,
    "win": Modifier.META,
    "ctrl": Modifier.CTRL,
    "control": Modifier.CTRL,
    "alt": Modifier.ALT,
    "shift": Modifier.SHIFT,
}
_MODIFIER_TEXT = {
    Modifier.META: "Meta",
    Modifier.CTRL: "Ctrl",
    Modifier.ALT: "Alt",
    Modifier.SHIFT: "Shift",
}

#: Named keys (Qt's portable spelling) and their X keysym names, which Xlib, xkbcommon,
#: sway and Hyprland all use.
NAMED_KEYS: dict[str, str] = {
    "Esc": "Escape",
    "Tab": "Tab",
    "Backspace": "BackSpace",
    "Return": "Return",
    "Enter": "KP_Enter",
    "Ins": "Insert",
    "Del": "Delete",
    "Pause": "Pause",
    "Print": "Print",
    "SysReq": "Sys_Req",
    "Home": "Home",
    "End": "End",
    "Left": "Left",
    "Up": "Up",
    "Right": "Right",
    "Down": "Down",
    "PgUp": "Prior",
    "PgDown": "Next",
    "Space": "space",
    "Menu": "Menu",
    **{f"F{n}": f"F{n}" for n in range(1, 36)},
}
_KEY_ALIASES: dict[str, str] = {
    **{name.lower(): name for name in NAMED_KEYS},
    "escape": "Esc",
    "insert": "Ins",
    "delete": "Del",
    "pageup": "PgUp",
    "prior": "PgUp",
    "pagedown": "PgDown",
    "next": "PgDown",
    "printscreen": "Print",
    "prtsc": "Print",
    "prtscr": "Print",
    "sysrq": "SysReq",
    "break": "Pause",
}
#: Keys fine on their own (or with Shift only): no program types them as text.
_BARE_KEYS = frozenset({"Print", "Pause", "SysReq", *(f"F{n}" for n in range(1, 36))})
_LOCK_KEYS = frozenset({"capslock", "numlock", "scrolllock"})
_PUNCTUATION_KEYSYMS = {
    "!": "exclam",
    '"': "quotedbl",
    "#": "numbersign",
    "$": "dollar",
    "%": "percent",
    "&": "ampersand",
    "'": "apostrophe",
    "(": "parenleft",
    ")": "parenright",
    "*": "asterisk",
    "+": "plus",
    ",": "comma",
    "-": "minus",
    ".": "period",
    "/": "slash",
    ":": "colon",
    ";": "semicolon",
    "<": "less",
    "=": "equal",
    ">": "greater",
    "?": "question",
    "@": "at",
    "[": "bracketleft",
    "\\": "backslash",
    "]": "bracketright",
    "^": "asciicircum",
    "_": "underscore",
    "`": "grave",
    "{": "braceleft",
    "|": "bar",
    "}": "braceright",
    "~": "asciitilde",
}
_EXAMPLES = "such as Ctrl+Alt+O, Meta+Shift+F2 or Ctrl+Alt+Print"


@dataclass(frozen=True, slots=True)
class KeyCombo:
    """One key with its modifiers. ``key`` is Qt's portable name: an upper-case letter,
    a digit or other single character, or one of ``NAMED_KEYS`` ("F2", "Print", "PgUp")."""

    modifiers: Modifier
    key: str

    def __str__(self) -> str:
        """Qt's portable text, as the settings store it: ``Meta+Ctrl+Alt+Shift+O``."""
        parts = [text for flag, text in _MODIFIER_TEXT.items() if flag in self.modifiers]
        return "+".join([*parts, self.key])

    @property
    def is_character(self) -> bool:
        return self.key not in NAMED_KEYS

    @property
    def keysym_name(self) -> str:
        """The X keysym name of the key ("o", "F2", "Print", "comma"), as Xlib, sway and
        Hyprland spell it; a character without a name is returned as itself."""
        if not self.is_character:
            return NAMED_KEYS[self.key]
        if self.key.isalnum() and self.key.isascii():
            return self.key.lower()
        return _PUNCTUATION_KEYSYMS.get(self.key, self.key)


def _split(text: str) -> list[str]:
    """ "Ctrl+Alt+O" -> ["Ctrl", "Alt", "O"]; a "+" that starts a part is the key itself
    ("Ctrl++" -> ["Ctrl", "+"])."""
    parts: list[str] = []
    rest = text
    while rest:
        cut = rest.find("+", 1)
        if cut == -1:
            parts.append(rest)
            break
        parts.append(rest[:cut])
        rest = rest[cut + 1 :]
    return [part.strip() for part in parts]


def _key_name(part: str, text: str) -> str:
    if len(part) == 1 and part.isprintable() and not part.isspace():
        upper = part.upper()
        return upper if len(upper) == 1 else part
    folded = "".join(part.split()).lower()
    if folded in _KEY_ALIASES:
        return _KEY_ALIASES[folded]
    if folded in _LOCK_KEYS:
        raise HotkeyError(f"“{text}”: {part} is a lock key and cannot be a hotkey.")
    if folded in _MODIFIER_NAMES:
        raise HotkeyError(f"“{text}” names only modifiers; add a key, {_EXAMPLES}.")
    raise HotkeyError(
        f"“{text}”: {part!r} is not a key ScreenScribe can use as a global hotkey; use a "
        f"letter, digit, punctuation, F1–F35, Print, Pause, Ins, Del, Home, End, PgUp, "
        f"PgDown, the arrows, Space, Tab, Return, Esc or Menu, {_EXAMPLES}."
    )


def parse_sequence(sequence: str) -> KeyCombo:
    """Qt-style portable text -> ``KeyCombo``. Raises HotkeyError with a sentence a person
    can act on for an empty text, several key presses ("Ctrl+A, Ctrl+B"), an unknown
    modifier or key, modifiers alone, or a typing key without Ctrl, Alt or Meta."""
    text = sequence.strip()
    if not text:
        raise HotkeyError(f"The hotkey is empty; choose one {_EXAMPLES}.")
    parts = _split(text)
    if any("," in part and len(part) > 1 for part in parts):
        raise HotkeyError(
            f"“{text}” is several key presses in a row; a global hotkey is one "
            f"combination, {_EXAMPLES}."
        )
    *modifier_parts, key_part = parts
    modifiers = Modifier.NONE
    for part in modifier_parts:
        flag = _MODIFIER_NAMES.get(part.lower())
        if flag is None:
            raise HotkeyError(
                f"“{text}”: {part!r} is not a modifier; use Ctrl, Alt, Shift or Meta, {_EXAMPLES}."
            )
        modifiers |= flag
    combo = KeyCombo(modifiers, _key_name(key_part, text))
    if combo.key not in _BARE_KEYS and not modifiers & (
        Modifier.CTRL | Modifier.ALT | Modifier.META
    ):
        raise HotkeyError(
            f"“{text}” would take {combo.key} away from every other program; add Ctrl, "
            f"Alt or Meta, {_EXAMPLES}."
        )
    return combo


def normalize_sequence(sequence: str) -> str:
    """The canonical portable text of ``sequence`` ("ctrl+alt+o" -> "Ctrl+Alt+O")."""
    return str(parse_sequence(sequence))


# --- sessions and the order of backends ----------------------------------------------------


def environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def is_unix_desktop(platform: str) -> bool:
    """Linux or a BSD: where X11 and Wayland sessions are."""
    return platform.startswith(("linux", "freebsd", "openbsd", "netbsd", "dragonfly"))


def is_wayland_session(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("WAYLAND_DISPLAY")) or environ.get("XDG_SESSION_TYPE") == "wayland"


def x11_compatible(environ: Mapping[str, str], platform: str) -> bool:
    """An X11 session: DISPLAY is set and it is not a Wayland session (where DISPLAY is
    XWayland, whose grabs only see keys while an X11 window has the focus), unless Qt
    is forced onto X11 (QT_QPA_PLATFORM=xcb)."""
    if not is_unix_desktop(platform) or not environ.get("DISPLAY"):
        return False
    forced_xcb = environ.get("QT_QPA_PLATFORM", "").startswith("xcb")
    return forced_xcb or not is_wayland_session(environ)


def portal_compatible(environ: Mapping[str, str], platform: str) -> bool:
    """A Wayland session: the xdg-desktop-portal GlobalShortcuts interface may be there
    (GNOME 48+, KDE Plasma 5.27+, Hyprland; not xdg-desktop-portal-wlr)."""
    return is_unix_desktop(platform) and is_wayland_session(environ)


def windows_compatible(environ: Mapping[str, str], platform: str) -> bool:
    return platform == "win32"


def macos_compatible(environ: Mapping[str, str], platform: str) -> bool:
    return platform == "darwin"


def desktop_name(environ: Mapping[str, str]) -> str:
    """ "gnome", "kde", "sway", "hyprland", "xfce", "cinnamon", "mate", or "" when unknown."""
    if environ.get("SWAYSOCK"):
        return "sway"
    if environ.get("HYPRLAND_INSTANCE_SIGNATURE"):
        return "hyprland"
    names = f"{environ.get('XDG_CURRENT_DESKTOP', '')}:{environ.get('DESKTOP_SESSION', '')}"
    tokens = {t.strip().lower() for t in names.replace(";", ":").split(":") if t.strip()}
    for token, desktop in (
        ("gnome", "gnome"),
        ("unity", "gnome"),
        ("kde", "kde"),
        ("plasma", "kde"),
        ("plasmawayland", "kde"),
        ("sway", "sway"),
        ("hyprland", "hyprland"),
        ("xfce", "xfce"),
        ("x-cinnamon", "cinnamon"),
        ("cinnamon", "cinnamon"),
        ("mate", "mate"),
    ):
        if token in tokens:
            return desktop
    return ""


# --- binding a key by hand -----------------------------------------------------------------


CLIPBOARD_KEY = "@clipboard"
"""The key_id of the hotkey that reads the clipboard's image (no preset has an "@")."""


def capture_command(preset: str, environ: Mapping[str, str] | None = None) -> str:
    """The command that starts a capture with ``preset`` from a desktop shortcut:
    ``screenscribe capture --preset NAME``, with the launcher's full path when
    ``screenscribe`` is not on PATH but sits beside this Python (a virtual environment)."""
    env = environment(environ)
    program = "screenscribe"
    if shutil.which(program, path=env.get("PATH")) is None:
        beside = Path(sys.executable).with_name(
            "screenscribe.exe" if sys.platform == "win32" else "screenscribe"
        )
        if beside.is_file():
            program = str(beside)
    if preset == CLIPBOARD_KEY:
        return f"{shlex.quote(program)} clipboard"
    return f"{shlex.quote(program)} capture --preset {shlex.quote(preset)}"


def _sway_keys(combo: KeyCombo) -> str:
    mods = {
        Modifier.META: "Mod4",
        Modifier.CTRL: "Ctrl",
        Modifier.ALT: "Mod1",
        Modifier.SHIFT: "Shift",
    }
    parts = [text for flag, text in mods.items() if flag in combo.modifiers]
    return "+".join([*parts, combo.keysym_name])


def _hyprland_keys(combo: KeyCombo) -> str:
    mods = {
        Modifier.META: "SUPER",
        Modifier.CTRL: "CTRL",
        Modifier.ALT: "ALT",
        Modifier.SHIFT: "SHIFT",
    }
    parts = [text for flag, text in mods.items() if flag in combo.modifiers]
    return f"{' '.join(parts)}, {combo.keysym_name}"


def manual_binding_hint(
    preset: str,
    sequence: str | None,
    environ: Mapping[str, str] | None = None,
    platform: str | None = None,
) -> str:
    """Where and what to bind in the desktop's own keyboard settings, for one preset:
    "bind `screenscribe capture --preset ocr` to Ctrl+Alt+O in Settings → Keyboard ...".
    ``sequence`` None: "to a key". ``platform`` replaces ``sys.platform``."""
    env = environment(environ)
    command = capture_command(preset, env)
    if (platform or sys.platform) == "darwin":
        keys = sequence or "a key"
        return (
            f"make a Quick Action in the Shortcuts app that runs the shell script "
            f"`{command}`, then give it {keys} in System Settings → Keyboard → Keyboard "
            "Shortcuts → Services"
        )
    combo: KeyCombo | None = None
    if sequence is not None:
        with contextlib.suppress(HotkeyError):
            combo = parse_sequence(sequence)
    desktop = desktop_name(env)
    if desktop == "sway":
        keys = _sway_keys(combo) if combo else "KEYS"
        return f"add `bindsym {keys} exec {command}` to ~/.config/sway/config"
    if desktop == "hyprland":
        keys = _hyprland_keys(combo) if combo else "MODS, KEY"
        return f"add `bind = {keys}, exec, {command}` to ~/.config/hypr/hyprland.conf"
    where = {
        "gnome": "Settings → Keyboard → View and Customize Shortcuts → Custom Shortcuts",
        "kde": "System Settings → Keyboard → Shortcuts → Add New → Command or Script",
        "xfce": "Settings → Keyboard → Application Shortcuts",
        "cinnamon": "System Settings → Keyboard → Shortcuts → Custom Shortcuts",
        "mate": "Control Center → Keyboard Shortcuts",
    }.get(desktop, "your desktop's keyboard shortcut settings")
    keys = str(combo) if combo else (sequence or "a key")
    return f"bind `{command}` to {keys} in {where}"


__all__ = [
    "CLIPBOARD_KEY",
    "LOGGER_NAME",
    "NAMED_KEYS",
    "HotkeyBackend",
    "HotkeyCallback",
    "HotkeyConflict",
    "HotkeyError",
    "KeyCombo",
    "Modifier",
    "capture_command",
    "desktop_name",
    "environment",
    "is_wayland_session",
    "macos_compatible",
    "manual_binding_hint",
    "normalize_sequence",
    "parse_sequence",
    "portal_compatible",
    "windows_compatible",
    "x11_compatible",
]
