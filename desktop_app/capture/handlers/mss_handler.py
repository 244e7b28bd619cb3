"""Capture with mss: X11 (XCB shared memory), Windows (GDI) and macOS (CoreGraphics).

One ``mss.MSS`` object is created and reused. mss finds its five libxcb libraries with
``ctypes.util.find_library``, which runs ``ldconfig -p`` once per name (30-40 ms of a cold
launch here); Qt's xcb plugin has loaded the same libraries already, so
``_loaded_libraries_first`` answers from the process's own memory map (and, for a library
not loaded, from the folder those are in) and leaves the rest to ctypes. On Linux the
object belongs to the thread that created it, so it is made on the GUI thread by
``warm()`` or the first capture. Each QScreen is matched to an mss monitor; on
X11 and Windows the bounding box of the matched monitors is grabbed once and each screen is
cut out of it (one X request instead of one per screen; see bench/bench_capture.py), on
macOS (monitors in points, pictures in pixels) each monitor is grabbed on its own.

No pixel is copied after mss: each picture's QImage is a view into the fresh ``bytearray``
mss returns (PySide6 keeps that buffer alive for as long as the QImage, or any copy of
it, lives). Copying it into Qt-owned memory cost 10-14 ms per 1920x1080 screen here
(mostly page faults on fresh memory), three times the grab itself.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import glob
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QRect
from PySide6.QtGui import QImage, QScreen

from desktop_app.capture.base import (
    LOGGER_NAME,
    CaptureError,
    ScreenPicture,
    environment,
    is_wayland_session,
    physical_size,
    platform_name,
    screen_geometry,
)

if TYPE_CHECKING:
    import mss

log = logging.getLogger(LOGGER_NAME)

Rect = tuple[int, int, int, int]  # left, top, width, height
MatchKind = Literal["exact", "points", "top-left", "order"]
Strategy = Literal["auto", "virtual", "monitors"]


_SONAME = re.compile(r"/lib([\w+-]+?)\.so(?:\.\d+)*$")


def loaded_libraries(maps: str = "/proc/self/maps") -> dict[str, str]:
    """Shared libraries mapped into this process: short name (``xcb-shm``) -> path."""
    found: dict[str, str] = {}
    try:
        with open(maps, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split(None, 5)  # address perms offset dev inode path
                m = _SONAME.search(fields[5].strip()) if len(fields) == 6 else None
                if m and m.group(1) not in found:
                    found[m.group(1)] = fields[5].strip()
    except OSError:
        return {}
    return found


@contextlib.contextmanager
def _loaded_libraries_first() -> Iterator[None]:
    """While mss starts: ``ctypes.util.find_library`` answers with a library this process
    has already loaded (the same file the dynamic linker would give), else as usual."""
    if not sys.platform.startswith("linux"):
        yield
        return
    loaded = loaded_libraries()
    folders = list(dict.fromkeys(os.path.dirname(path) for path in loaded.values()))
    original = ctypes.util.find_library

    def find_library(name: str) -> str | None:
        if name in loaded:
            return loaded[name]
        # Not loaded (mss.linux also looks for libXfixes and libXrandr at import): the
        # versioned file beside the system libraries that are, else ldconfig.
        for folder in folders:
            found = sorted(glob.glob(os.path.join(glob.escape(folder), f"lib{name}.so.[0-9]*")))
            if found:
                return min(found, key=len)  # the soname link: libXfixes.so.3
        return original(name)

    ctypes.util.find_library = find_library
    try:
        yield
    finally:
        ctypes.util.find_library = original


@dataclass(frozen=True, slots=True)
class ScreenInfo:
    """What matching needs to know of a QScreen."""

    name: str
    geometry: Rect  # logical
    ratio: float


def match_monitors(
    screens: Sequence[ScreenInfo], monitors: Sequence[Rect]
) -> list[tuple[int, MatchKind]] | None:
    """For each screen, the index into ``monitors`` (mss monitors 1.., without the
    all-in-one entry 0) and how it was matched; None if some screen has no monitor.

    Tried in turn for all screens: the physical rectangle Qt implies (X11, Windows), the
    logical one (macOS, where mss works in points), the same top-left corner, then the
    order of the remaining ones (only when as many monitors as screens are left).
    """
    result: list[tuple[int, MatchKind] | None] = [None] * len(screens)
    used: set[int] = set()

    def claim(i: int, key: Rect | tuple[int, int], kind: MatchKind, width: int) -> None:
        for j, mon in enumerate(monitors):
            if j not in used and mon[:width] == key:
                result[i] = (j, kind)
                used.add(j)
                return

    passes: list[tuple[MatchKind, int]] = [("exact", 4), ("points", 4), ("top-left", 2)]
    for kind, width in passes:
        for i, s in enumerate(screens):
            if result[i] is not None:
                continue
            if kind == "exact":
                key: Rect | tuple[int, int] = (*s.geometry[:2], *physical_size(s.geometry, s.ratio))
            elif kind == "points":
                key = s.geometry
            else:
                key = s.geometry[:2]
            claim(i, key, kind, width)
    missing = [i for i, r in enumerate(result) if r is None]
    free = [j for j in range(len(monitors)) if j not in used]
    if missing and len(missing) == len(free):
        for i, j in zip(missing, free, strict=True):
            result[i] = (j, "order")
    if any(r is None for r in result):
        return None
    return [r for r in result if r is not None]


class MssBackend:
    """The default backend wherever mss works: about 5 ms a full-HD screen once warm (the
    Qt backend: about 14 ms). ``strategy`` is for benchmarks: "virtual" grabs the bounding
    box once, "monitors" each monitor; "auto" is "monitors" on macOS, else "virtual"."""

    name = "mss"

    def __init__(
        self, environ: Mapping[str, str] | None = None, *, strategy: Strategy = "auto"
    ) -> None:
        self._environ = environment(environ)
        self._strategy: Literal["virtual", "monitors"] = (
            ("monitors" if sys.platform == "darwin" else "virtual")
            if strategy == "auto"
            else strategy
        )
        self._sct: mss.MSS | None = None
        self._thread: int | None = None
        self._primed = False
        self._layout_checked: object = None

    # --- strategy-list protocol ----------------------------------------------------------

    def is_compatible(self) -> bool:
        platform = platform_name()
        if is_wayland_session(platform, self._environ):
            return False
        if sys.platform in ("win32", "darwin"):
            return True
        # X11: Qt talks to an X server, or (before Qt starts) one is announced.
        return platform == "xcb" or (not platform and bool(self._environ.get("DISPLAY")))

    def is_available(self) -> tuple[bool, str]:
        try:
            self._ensure()
        except CaptureError as exc:
            return False, str(exc)
        return True, ""

    def warm(self) -> None:
        """Create the mss object, read the monitors and grab the whole screen once: the
        first grab pays for mapping the shared memory (about 40 ms for 3200x1080 here)."""
        sct = self._ensure()
        if self._primed:
            return
        from mss.exception import ScreenShotError

        try:
            sct.grab(sct.monitors[0])
        except ScreenShotError as exc:
            log.info("mss could not grab the screen while warming up: %s", exc)
        self._primed = True

    def capture(self, screens: Sequence[QScreen]) -> list[ScreenPicture]:
        infos = [ScreenInfo(s.name(), screen_geometry(s), s.devicePixelRatio()) for s in screens]
        sct = self._ensure()
        from mss.exception import ScreenShotError

        layout = tuple(infos)
        try:
            matches = self._match(sct, infos)
            if self._layout_checked != layout and (
                matches is None or any(k not in ("exact", "points") for _, k in matches)
            ):
                # mss caches the monitor list: the layout may have changed since it was read.
                # Re-read once per new layout (a new mss object costs ~60 ms).
                sct = self._renew("the screen layout differs from the one mss knows")
                matches = self._match(sct, infos)
            self._layout_checked = layout
            if matches is None:
                raise CaptureError(
                    f"mss sees monitors {self._monitor_rects(sct)} that do not match the "
                    f"screens {[(i.name, i.geometry, i.ratio) for i in infos]}."
                )
            try:
                return self._grab(sct, infos, matches)
            except ScreenShotError as exc:
                # e.g. the screen grew beyond mss's shared-memory buffer: start afresh once.
                log.info("mss grab failed (%s); retrying with a new mss object", exc)
                sct = self._renew("a grab failed")
                matches = self._match(sct, infos)
                if matches is None:
                    raise CaptureError("mss lost track of the monitors during capture.") from exc
                return self._grab(sct, infos, matches)
        except ScreenShotError as exc:
            raise CaptureError(f"mss could not grab the screen: {exc}") from exc

    def release(self) -> None:
        """Gives back the shared-memory buffer (the screen's size: 8 MiB at 1920x1080,
        32 MiB at 3840x2160) while the libraries stay loaded: the next capture makes a
        new one, 5 ms later at 1920x1080 (25 ms at 3840x2160) than a warm capture."""
        self.close()

    def close(self) -> None:
        if self._sct is not None:
            self._sct.close()
            self._sct = None
            self._thread = None
            self._primed = False

    # --- internals -----------------------------------------------------------------------

    def _ensure(self) -> mss.MSS:
        if self._sct is not None:
            if self._thread != threading.get_ident():
                raise RuntimeError(
                    "The mss capture backend must be used on the thread that created it."
                )
            return self._sct
        try:
            import mss
            from mss.exception import ScreenShotError
        except ImportError:
            raise CaptureError(
                "The Python package mss is not installed (pip install mss)."
            ) from None
        try:
            with _loaded_libraries_first():
                self._sct = mss.MSS()
        except (ScreenShotError, OSError) as exc:
            raise CaptureError(f"mss cannot open the display: {exc}") from exc
        self._thread = threading.get_ident()
        return self._sct

    def _renew(self, why: str) -> mss.MSS:
        log.info("renewing the mss object: %s", why)
        self.close()
        return self._ensure()

    @staticmethod
    def _monitor_rects(sct: mss.MSS) -> list[Rect]:
        return [(m["left"], m["top"], m["width"], m["height"]) for m in sct.monitors]

    def _match(
        self, sct: mss.MSS, infos: Sequence[ScreenInfo]
    ) -> list[tuple[int, MatchKind]] | None:
        """Matches as indices into ``sct.monitors`` (entry 0, the root, only without RandR)."""
        everything = self._monitor_rects(sct)
        offset = 1 if len(everything) > 1 else 0
        monitors = everything[offset:]
        matches = match_monitors(infos, monitors)
        if matches is None:
            return None
        for info, (j, kind) in zip(infos, matches, strict=True):
            if kind not in ("exact", "points"):
                log.info("screen %s matched mss monitor %s by %s", info.name, monitors[j], kind)
        return [(j + offset, kind) for j, kind in matches]

    def _grab(
        self,
        sct: mss.MSS,
        infos: Sequence[ScreenInfo],
        matches: Sequence[tuple[int, MatchKind]],
    ) -> list[ScreenPicture]:
        everything = self._monitor_rects(sct)
        rects = [everything[j] for j, _kind in matches]
        if self._strategy == "virtual":
            images = self._grab_virtual(sct, rects)
        else:
            images = [self._grab_one(sct, rect) for rect in rects]
        pictures = []
        for info, image in zip(infos, images, strict=True):
            image.setDevicePixelRatio(info.ratio)
            pictures.append(ScreenPicture(info.name, info.geometry, info.ratio, image))
        return pictures

    @staticmethod
    def _grab_one(sct: mss.MSS, rect: Rect) -> QImage:
        left, top, width, height = rect
        shot = sct.grab({"left": left, "top": top, "width": width, "height": height})
        w, h = shot.size  # in pixels also where the monitor is given in points (macOS)
        return QImage(_opaque(shot.raw), w, h, w * 4, QImage.Format.Format_RGB32)

    @staticmethod
    def _grab_virtual(sct: mss.MSS, rects: Sequence[Rect]) -> list[QImage]:
        """Grab the bounding box of ``rects`` (clipped to the root window) in one request;
        each screen's image is a view into that one buffer (no copy). A screen reaching
        outside the root is copied out instead, the missing part black."""
        root = sct.monitors[0]
        left = max(min(r[0] for r in rects), root["left"])
        top = max(min(r[1] for r in rects), root["top"])
        right = min(max(r[0] + r[2] for r in rects), root["left"] + root["width"])
        bottom = min(max(r[1] + r[3] for r in rects), root["top"] + root["height"])
        if right <= left or bottom <= top:
            raise CaptureError(f"No screen lies inside the X screen {root}.")
        shot = sct.grab({"left": left, "top": top, "width": right - left, "height": bottom - top})
        w, h = shot.size
        stride = w * 4
        buf = _opaque(shot.raw)
        images = []
        for x, y, rw, rh in rects:
            cx, cy = x - left, y - top
            if cx >= 0 and cy >= 0 and cx + rw <= w and cy + rh <= h:
                part = memoryview(buf)[cy * stride + cx * 4 :]
                images.append(QImage(part, rw, rh, stride, QImage.Format.Format_RGB32))
            else:
                whole = QImage(buf, w, h, stride, QImage.Format.Format_RGB32)
                images.append(whole.copy(QRect(cx, cy, rw, rh)))  # outside: 0xff000000
        return images


def _opaque(buf: bytearray) -> bytearray:
    """Set the padding byte of every BGRX pixel to 0xff, in place (2 ms for 1920x1080).

    X servers leave 0 there where no client drew; Qt's RGB32 requires 0xff, or the picture
    turns transparent when painted onto an ARGB32 premultiplied (translucent) surface.
    """
    buf[3::4] = b"\xff" * (len(buf) // 4)
    return buf
