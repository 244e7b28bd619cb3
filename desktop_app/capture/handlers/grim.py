"""Capture with grim on wlroots compositors (sway, Hyprland, river, Wayfire, labwc ...).

grim speaks the wlr-screencopy protocol, which GNOME and KDE do not offer (the portal
backend serves those). One ``grim -t ppm -o OUTPUT -`` per screen, all started at once:
each picture is exactly that output's pixels at its own scale, mixed scales included.

Why not one grim of the whole layout, cut per screen: grim renders the layout at the
largest output scale, so a scale-1 output next to a scale-2 one comes back upscaled
(bilinear; its edges blurred) and has to be scaled down again, and it is slower. Measured
on headless sway (software rendering, 2 cores) with 1920x1080 at scale 1 beside
2560x1600 at scale 2, median of 7, including decoding: per output 126 ms (in parallel or
one after the other alike: sway copies one output at a time); the whole 6400x2160 layout
444 ms as PPM, 910 ms as PNG level 1, 1317 ms as grim's default PNG. PPM on a pipe skips
PNG's compression and a temporary file; it is decoded here (3 ms for 1920x1080, Qt's PPM
reader: 9 ms). Where the screens' output names are not known (Qt through XWayland on a
compositor other than sway) the whole layout is taken and cut after all.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence

from PySide6.QtGui import QImage, QScreen

from desktop_app.capture.base import (
    GRIM_HINT,
    LOGGER_NAME,
    CaptureError,
    ScreenPicture,
    cut_desktop,
    desktop_names,
    environment,
    is_wayland_session,
    picture_of,
    platform_name,
    subprocess_env,
    wayland_layout,
)

log = logging.getLogger(LOGGER_NAME)

#: Desktops whose compositor has no wlr-screencopy (grim cannot work there).
_NO_SCREENCOPY = frozenset({"gnome", "kde", "plasma", "unity", "budgie", "pantheon"})


class GrimBackend:
    """``timeout``: seconds for all grim runs of one capture together."""

    name = "grim"

    def __init__(self, environ: Mapping[str, str] | None = None, *, timeout: float = 5.0) -> None:
        self._environ = environment(environ)
        self._timeout = timeout

    # --- strategy-list protocol ----------------------------------------------------------

    def is_compatible(self) -> bool:
        if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
            return False
        if not is_wayland_session(platform_name(), self._environ):
            return False
        return not _NO_SCREENCOPY.intersection(desktop_names(self._environ))

    def is_available(self) -> tuple[bool, str]:
        if self._grim() is None:
            return False, f"grim is not installed: {GRIM_HINT}."
        return True, ""

    def warm(self) -> None:
        """Nothing to prepare: grim is a new process every time."""

    def capture(self, screens: Sequence[QScreen]) -> list[ScreenPicture]:
        grim = self._grim()
        if grim is None:
            raise CaptureError(f"grim is not installed: {GRIM_HINT}.")
        layout = wayland_layout(screens, self._environ)
        deadline = time.monotonic() + self._timeout
        if all(s.output is not None for s in layout):
            commands = [[grim, "-t", "ppm", "-o", s.output or "", "-"] for s in layout]
            images = self._run(commands, deadline)
            return [picture_of(s, image) for s, image in zip(layout, images, strict=True)]
        log.info("grim: output names unknown for %s; cutting the whole layout", layout)
        (image,) = self._run([[grim, "-t", "ppm", "-"]], deadline)
        return cut_desktop(image, layout, "grim")

    def close(self) -> None:
        """Nothing to release."""

    # --- internals -----------------------------------------------------------------------

    def _grim(self) -> str | None:
        return shutil.which("grim", path=self._environ.get("PATH"))

    def _run(self, commands: Sequence[list[str]], deadline: float) -> list[QImage]:
        """Start every command at once; their PPM outputs as images."""
        env = subprocess_env(self._environ)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            for command in commands:
                procs.append(
                    subprocess.Popen(
                        command,
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                    )
                )
            results = []
            for command, proc in zip(commands, procs, strict=True):
                try:
                    out, err = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    raise CaptureError(
                        f"grim did not finish within {self._timeout:g} s "
                        f"({' '.join(command[1:])}): the compositor did not answer."
                    ) from None
                if proc.returncode != 0:
                    raise CaptureError(_failure(command, proc.returncode, err, self._environ))
                results.append(_ppm_image(out, command))
            return results
        except OSError as exc:
            raise CaptureError(f"grim could not be run: {exc}") from exc
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                for stream in (proc.stdout, proc.stderr):
                    if stream is not None:
                        stream.close()


def _failure(command: Sequence[str], code: int, stderr: bytes, environ: Mapping[str, str]) -> str:
    text = stderr.decode(errors="replace").strip()[-500:]
    what = f"grim failed (exit status {code}): {text or 'no message'}"
    low = text.lower()
    if "screencopy" in low or "screen capture" in low:
        return (
            f"{what}. This compositor does not offer wlr-screencopy (GNOME and KDE do not); "
            "the Screenshot portal serves those."
        )
    if "display" in low and ("connect" in low or "create" in low):
        shown = environ.get("WAYLAND_DISPLAY", "not set")
        return f"{what}. grim cannot reach the Wayland compositor (WAYLAND_DISPLAY={shown})."
    if "unknown output" in low:
        return f"{what}. The screens changed while capturing ({' '.join(command[1:])})."
    return what


def _ppm_image(data: bytes, command: Sequence[str]) -> QImage:
    """grim's binary PPM (``P6 W H 255``, RGB) as a Format_RGB32 image."""
    parts = data[:64].split(maxsplit=4)
    width = height = -1
    if len(parts) == 5 and parts[0] == b"P6" and parts[3] == b"255" and parts[1].isdigit():
        width, height = int(parts[1]), int(parts[2]) if parts[2].isdigit() else -1
    size = width * height * 3
    if width <= 0 or height <= 0 or len(data) < size:
        image = QImage.fromData(data)  # another flavour: Qt's reader, or null
        if image.isNull():
            raise CaptureError(
                f"grim gave no readable picture ({len(data)} bytes, {' '.join(command[1:])})."
            )
        return image.convertToFormat(QImage.Format.Format_RGB32)
    # A single whitespace byte ends the header; the pixels are the last `size` bytes.
    pixels = data[len(data) - size :]
    return QImage(pixels, width, height, width * 3, QImage.Format.Format_RGB888).convertToFormat(
        QImage.Format.Format_RGB32
    )
