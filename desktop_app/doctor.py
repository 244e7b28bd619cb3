"""``screenscribe doctor``: what works on this machine, and what to do about what doesn't."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time

from desktop_app import __version__
from desktop_app.cli import load_settings_reporting, make_client, profile_from_args
from desktop_app.core.errors import ScreenScribeError

OK, WARN, FAIL = "ok", "warn", "FAIL"

_TRAY_PROBE = """
import sys
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
app = QApplication(sys.argv[:1])
print("yes" if QSystemTrayIcon.isSystemTrayAvailable() else "no")
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

    t0 = time.perf_counter()
    try:
        with make_client(profile, quiet=True) as client:
            models = client.list_models()
        ms = (time.perf_counter() - t0) * 1000
        if profile.model in models:
            _line(OK, "endpoint", f"reachable in {ms:.0f} ms; model {profile.model} is served")
        else:
            _line(
                WARN,
                "endpoint",
                f"reachable in {ms:.0f} ms, but it does not list "
                f"{profile.model}; it serves: {', '.join(models) or 'nothing'}",
            )
    except ScreenScribeError as exc:
        failed = True
        _line(FAIL, "endpoint", str(exc))

    session = os.environ.get("XDG_SESSION_TYPE", "")
    if os.environ.get("WAYLAND_DISPLAY"):
        _line(
            WARN,
            "display",
            f"Wayland ({os.environ['WAYLAND_DISPLAY']}): screen capture "
            "through the portal comes in a later version",
        )
    elif os.environ.get("DISPLAY") or sys.platform in ("win32", "darwin"):
        _line(
            OK,
            "display",
            os.environ.get("DISPLAY", sys.platform) + (f" ({session})" if session else ""),
        )
        _check_capture()
        _check_tray()
    else:
        _line(WARN, "display", "none: the command line works, the desktop app needs a screen")
    return 1 if failed else 0


def _check_capture() -> None:
    try:
        import mss

        t0 = time.perf_counter()
        with mss.MSS() as grabber:
            monitors = grabber.monitors[1:]
            grabber.grab(
                {"left": monitors[0]["left"], "top": monitors[0]["top"], "width": 1, "height": 1}
            )
        ms = (time.perf_counter() - t0) * 1000
        sizes = ", ".join(f"{m['width']}x{m['height']}" for m in monitors)
        _line(OK, "capture", f"mss: {len(monitors)} monitor(s) {sizes}, {ms:.0f} ms")
    except Exception as exc:  # noqa: BLE001 -- any failure is a finding to report
        _line(FAIL, "capture", f"mss cannot grab the screen: {exc}")


def _check_tray() -> None:
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _TRAY_PROBE],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        _line(WARN, "tray", "the Qt probe did not answer in 20 s")
        return
    answer = proc.stdout.strip()
    if answer == "yes":
        _line(OK, "tray", "a system tray is available")
    elif answer == "no":
        _line(WARN, "tray", "no system tray here: the app opens a small window instead")
    else:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        _line(FAIL, "tray", f"Qt could not start: {last} (QT_DEBUG_PLUGINS=1 tells more)")
