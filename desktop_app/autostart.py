"""Start at login: an XDG autostart entry on Linux and the BSDs, the Run key on Windows,
a LaunchAgent on macOS. Qt-free; the settings dialog's "Start at login" calls it.

The command started is the one that runs now: the ``screenscribe`` script on PATH when
it is ours, else this interpreter with ``-m desktop_app``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Final

from desktop_app.core.errors import ConfigError

APP_ID: Final = "screenscribe"  # the autostart entry's file name and the script's name
ICON: Final = "io.github.screenscribe.ScreenScribe"  # desktop_app.resources.APP_ID, as installed
_RUN_KEY: Final = r"Software\Microsoft\Windows\CurrentVersion\Run"
_AGENT_LABEL: Final = "org.screenscribe.app"


def launch_command() -> list[str]:
    """The command that starts this app: the AppImage or Flatpak it runs from, the
    bundle's own executable when frozen (PyInstaller), the ``screenscribe`` script
    beside this interpreter, else ``python -m desktop_app``. Arguments go after it."""
    if os.environ.get("APPIMAGE"):  # sys.executable is inside its temporary mount
        return [os.environ["APPIMAGE"]]
    if os.environ.get("FLATPAK_ID"):
        return ["flatpak", "run", os.environ["FLATPAK_ID"]]
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = shutil.which(APP_ID)
    if script is not None and Path(script).resolve().parent == Path(sys.executable).parent:
        return [script]
    return [sys.executable, "-m", "desktop_app"]


def _xdg_entry() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME", "").strip() or str(Path.home() / ".config")
    return Path(base) / "autostart" / f"{APP_ID}.desktop"


def _mac_agent() -> Path:
    return Path.home() / "Library" / "LaunchAgents" / f"{_AGENT_LABEL}.plist"


def _desktop_exec(argv: list[str]) -> str:
    """The Exec key's quoting (Desktop Entry spec): arguments with reserved characters
    in double quotes, with backslash before ", `, $ and \\."""
    out = []
    for arg in argv:
        if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
            out.append(arg)
        else:
            escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg)
            out.append(f'"{escaped}"')
    return " ".join(out)


def is_start_at_login() -> bool:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
                winreg.QueryValueEx(key, "ScreenScribe")
        except OSError:
            return False
        return True
    if sys.platform == "darwin":  # pragma: no cover - macOS only
        return _mac_agent().is_file()
    return _xdg_entry().is_file()


def set_start_at_login(enabled: bool) -> None:
    """Adds or removes the start-at-login entry; raises :class:`ConfigError` when the
    system refuses, with what to do."""
    argv = launch_command()
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows only
            _set_windows(enabled, argv)
        elif sys.platform == "darwin":  # pragma: no cover - macOS only
            _set_mac(enabled, argv)
        else:
            _set_xdg(enabled, argv)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        action = "add ScreenScribe to" if enabled else "remove ScreenScribe from"
        raise ConfigError(f"Could not {action} the programs started at login ({reason}).") from exc


def _set_xdg(enabled: bool, argv: list[str]) -> None:
    path = _xdg_entry()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=ScreenScribe\n"
        "Comment=Read and ask about anything on the screen\n"
        f"Exec={_desktop_exec(argv)}\n"
        f"Icon={ICON}\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _set_windows(enabled: bool, argv: list[str]) -> None:  # pragma: no cover - Windows only
    if sys.platform == "win32":
        import contextlib
        import subprocess
        import winreg

        with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
            if enabled:
                command = subprocess.list2cmdline(argv)
                winreg.SetValueEx(key, "ScreenScribe", 0, winreg.REG_SZ, command)
            else:
                with contextlib.suppress(FileNotFoundError):
                    winreg.DeleteValue(key, "ScreenScribe")


def _set_mac(enabled: bool, argv: list[str]) -> None:  # pragma: no cover - macOS only
    path = _mac_agent()
    if not enabled:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    plist = {"Label": _AGENT_LABEL, "ProgramArguments": argv, "RunAtLoad": True}
    import plistlib  # macOS only: not loaded (with an XML parser) elsewhere

    path.write_bytes(plistlib.dumps(plist))


def describe(argv: list[str] | None = None) -> str:
    """The command line started at login, for people."""
    return shlex.join(argv or launch_command())
