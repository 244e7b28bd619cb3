"""``screenscribe doctor``: what works on this machine, and what to do about what doesn't."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys

from desktop_app import __version__
from desktop_app.cli import load_settings_reporting, profile_from_args
from desktop_app.core.errors import ScreenScribeError

OK, WARN, FAIL = "ok", "warn", "FAIL"

# Run in a child process: a broken Qt install must not take doctor down with it, and
# the desktop checks need a QApplication that the rest of doctor does not.
_DESKTOP_PROBE = """
import json, sys
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
app = QApplication(sys.argv[:1])
out = {"platform": app.platformName(),
       "tray": QSystemTrayIcon.isSystemTrayAvailable()}
from desktop_app.capture import Capturer
capturer = Capturer()
out["capture"], out["capture_skipped"] = capturer.describe()
capturer.close()
from desktop_app.hotkeys import HotkeyManager
hotkeys = HotkeyManager()
out["hotkeys"] = hotkeys.describe()
out["hotkeys_ok"] = hotkeys.backend_name != "none"
hotkeys.close()
from desktop_app import clipboard
out["wl_clipboard"] = clipboard.wl_clipboard_available()
print(json.dumps(out))
"""


def _line(status: str, what: str, detail: str) -> None:
    print(f"[{status:>4}] {what:<14} {detail}", flush=True)


def run_doctor(args: argparse.Namespace) -> int:
    failed = False
    print(
        f"ScreenScribe {__version__}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    from desktop_app.core.settings import settings_path

    settings = load_settings_reporting()
    _line(OK, "settings", str(settings_path()))
    try:
        profile = profile_from_args(args, settings)
    except ScreenScribeError as exc:
        _line(FAIL, "profile", str(exc))
        return 1
    _line(OK, "profile", f"{profile.name}: {profile.base_url} model {profile.model}")

    from desktop_app.core import secrets

    backend = secrets.backend_description()
    source = secrets.key_source(profile.name)
    if source == "environment":
        _line(OK, "API key", "from $SCREENSCRIBE_API_KEY")
    elif source == "keyring":
        _line(OK, "API key", f"in the keyring ({backend})")
    else:
        _line(
            WARN,
            "API key",
            "none (fine for a local server; a hosted API needs one: `screenscribe key set`)",
        )
    _line(OK if secrets.backend_available() else WARN, "keyring", backend)

    from desktop_app.core.connection import check_connection

    report = check_connection(profile, secrets.get_api_key(profile.name))
    for step in report.steps:
        if step.ok is None:
            continue
        _line(OK if step.ok else FAIL, f"endpoint {step.name}", step.detail)
    if report.ok:
        ttft = f"{report.ttft_ms:.0f} ms" if report.ttft_ms is not None else "?"
        total = f"{report.total_ms:.0f} ms" if report.total_ms is not None else "?"
        _line(OK, "endpoint", f"a test image answered: first token {ttft}, whole answer {total}")
    else:
        failed = True  # the failing step said why, above

    session = os.environ.get("XDG_SESSION_TYPE", "")
    if (
        os.environ.get("WAYLAND_DISPLAY")
        or os.environ.get("DISPLAY")
        or sys.platform
        in (
            "win32",
            "darwin",
        )
    ):
        where = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY") or sys.platform
        kind = "Wayland" if os.environ.get("WAYLAND_DISPLAY") else session or "X11"
        _line(OK, "display", f"{where} ({kind})")
        _check_desktop()
    else:
        _line(WARN, "display", "none: the command line works, the desktop app needs a screen")
    return 1 if failed else 0


def _check_desktop() -> None:
    """Tray, capture, hotkey and clipboard backends: which one works here, and why the
    others do not."""
    import json

    try:
        proc = subprocess.run(
            [sys.executable, "-c", _DESKTOP_PROBE],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        _line(WARN, "desktop", "the Qt probe did not answer in 30 s")
        return
    try:
        found = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        _line(FAIL, "desktop", f"Qt could not start: {last} (QT_DEBUG_PLUGINS=1 tells more)")
        return
    if found["tray"]:
        _line(OK, "tray", "a system tray is available")
    else:
        _line(WARN, "tray", "no system tray here: the app opens a small window instead")
    usable, skipped = found["capture"], found["capture_skipped"]
    others = f" (skipped: {'; '.join(skipped)})" if skipped else ""
    if usable:
        _line(OK, "capture", f"{usable[0]}{others}")
    else:
        _line(FAIL, "capture", f"no backend works here{others}")
    _line(OK if found["hotkeys_ok"] else WARN, "hotkeys", found["hotkeys"])
    if os.environ.get("WAYLAND_DISPLAY"):
        if found["wl_clipboard"]:
            _line(OK, "clipboard", "Qt, and wl-copy/wl-paste when no window of ours has focus")
        else:
            _line(
                WARN,
                "clipboard",
                "Qt only: install wl-clipboard so answers are copied even when "
                "another window has the focus",
            )
    else:
        _line(OK, "clipboard", f"Qt ({found['platform']})")
