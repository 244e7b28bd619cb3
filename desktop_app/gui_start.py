"""Starting the desktop app: the tray app, or a one-shot command such as ``capture``.

Kept apart from ``cli`` so that ``screenscribe`` with no arguments (the tray app, which
then runs for days) starts without building the command line's argument parser: with it
alive in ``cli.main``'s frame for the app's whole life, that was 0.8 MiB of the idle
app's memory.
"""

from __future__ import annotations

import os
import sys

__all__ = ["start_gui"]

EXIT_USAGE = 2


def start_gui(command: list[str] | None = None, *, one_shot: bool = False) -> int:
    if (
        sys.platform.startswith("linux")
        and not os.environ.get("DISPLAY")
        and not os.environ.get("WAYLAND_DISPLAY")
        and not os.environ.get("QT_QPA_PLATFORM")
    ):
        print(
            "screenscribe: No display: the desktop app needs a graphical session (DISPLAY "
            "or WAYLAND_DISPLAY is not set). The command line works without one: "
            "`screenscribe ocr IMAGE`.",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_USAGE
    from desktop_app.pyside_setup import skip_feature_source_scan

    skip_feature_source_scan()  # before the app's modules: see pyside_setup
    if one_shot and command and command[0] == "capture":
        from desktop_app.first_paint import capture_first

        first = capture_first(command)
        if first is not None:
            return first.run()
    from desktop_app.app import run_app

    return run_app(command, one_shot=one_shot)
