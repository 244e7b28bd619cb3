"""Screen capture against real X servers: known pixels painted, captured, compared exactly.

In-process tests run on pytest-xvfb's 1920x1080 display (Qt on xcb). Layouts with several
monitors, mixed scale factors or special environments run Qt in a subprocess on an Xvfb
of their own (tests/xserver.py).
"""

from __future__ import annotations

import ast
import gc
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from desktop_app.capture import (
    BACKENDS,
    WAYLAND_MESSAGE,
    CaptureError,
    Capturer,
    MssBackend,
    QtBackend,
    ScreenPicture,
)
from desktop_app.capture.handlers.mss_handler import ScreenInfo, match_monitors
from desktop_app.core.errors import ImageError, ScreenScribeError
from desktop_app.core.imaging import image_from_bgra
from tests.xserver import (
    TWO_MONITORS,
    Monitor,
    XServer,
    block_pattern,
    qt_json,
    run_qt_script,
    xserver_fixture,
    xvfb,
)

# --- helpers -------------------------------------------------------------------------


def to_qimage(pattern: Image.Image, ratio: float = 1.0) -> QImage:
    w, h = pattern.size
    image = QImage(pattern.tobytes(), w, h, w * 3, QImage.Format.Format_RGB888).convertToFormat(
        QImage.Format.Format_RGB32
    )
    image.setDevicePixelRatio(ratio)
    return image


def picture_rgb(
    picture: ScreenPicture, x: int = 0, y: int = 0, w: int = 0, h: int = 0
) -> Image.Image:
    pw, ph = picture.physical_size
    return image_from_bgra(*picture.crop_bgra(x, y, w or pw, h or ph))


def differing_pixels(a: Image.Image, b: Image.Image) -> int:
    assert a.size == b.size
    pa, pb = a.tobytes(), b.tobytes()
    return sum(1 for i in range(0, len(pa), 3) if pa[i : i + 3] != pb[i : i + 3])


def hand_made(
    geometry: tuple[int, int, int, int], ratio: float, physical: tuple[int, int], seed: int = 3
) -> tuple[ScreenPicture, Image.Image]:
    pattern = block_pattern(*physical, seed=seed)
    return ScreenPicture("HAND", geometry, ratio, to_qimage(pattern, ratio)), pattern


# --- in-process, on pytest-xvfb's display -------------------------------------------


class PatternWindow(QWidget):
    def __init__(self, image: QImage) -> None:
        super().__init__(None, Qt.WindowType.FramelessWindowHint)
        self.image = image
        self.painted = False

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.drawImage(QPointF(0, 0), self.image)
        painter.end()
        self.painted = True


@pytest.fixture
def xcb_app(qapp: QApplication, monkeypatch: pytest.MonkeyPatch) -> QApplication:
    if QGuiApplication.platformName() != "xcb":
        pytest.fail(f"capture tests need Qt on xcb (pytest-xvfb), got {qapp.platformName()!r}")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return qapp


@pytest.fixture
def pattern_on_screen(xcb_app: QApplication, qtbot: QtBot) -> Iterator[Image.Image]:
    """A frameless window covering the primary screen, painting a known pattern."""
    screen = QGuiApplication.primaryScreen()
    geometry = screen.geometry()
    assert screen.devicePixelRatio() == 1.0
    pattern = block_pattern(geometry.width(), geometry.height(), seed=7)
    window = PatternWindow(to_qimage(pattern))
    qtbot.addWidget(window)
    window.setGeometry(geometry)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: window.painted)
    probe = pattern.getpixel((17, 9))
    capturer = Capturer("qt")
    # The backing store reaches the X server after paintEvent: wait until it shows there.
    qtbot.waitUntil(
        lambda: picture_rgb(capturer.capture()[0], 17, 9, 1, 1).getpixel((0, 0)) == probe
    )
    yield pattern
    window.close()


@pytest.mark.parametrize("prefer", [None, "mss", "qt"])
def test_capture_equals_the_pixels_on_screen(
    pattern_on_screen: Image.Image, prefer: str | None
) -> None:
    capturer = Capturer(prefer)
    try:
        pictures = capturer.capture()
    finally:
        capturer.close()
    assert capturer.backend_name == (prefer or "mss")
    assert len(pictures) == len(QGuiApplication.screens()) == 1
    picture = pictures[0]
    assert picture.geometry == (0, 0, 1920, 1080)
    assert picture.device_pixel_ratio == 1.0
    assert picture.physical_size == (1920, 1080)
    assert picture.image.format() == QImage.Format.Format_RGB32
    got = picture_rgb(picture)
    assert got.size == pattern_on_screen.size
    assert got.tobytes() == pattern_on_screen.tobytes(), differing_pixels(got, pattern_on_screen)
    # A region, through the path the app takes (crop_bgra -> core.imaging).
    region = picture_rgb(picture, 333, 222, 800, 600)
    assert region.tobytes() == pattern_on_screen.crop((333, 222, 1133, 822)).tobytes()


def test_captured_picture_outlives_everything_that_made_it(
    pattern_on_screen: Image.Image,
) -> None:
    """The mss backend hands out QImages that view mss's own buffer: PySide6 must keep it
    alive for the QImage and every copy of it, after the picture and the capturer are gone."""
    capturer = Capturer("mss")
    picture = capturer.capture()[0]
    capturer.close()  # the mss object and its shared memory are gone
    image = QImage(picture.image)  # a shallow Qt copy: shares the pixel data
    del picture
    gc.collect()
    churn = [bytearray(b"\x5a" * (1920 * 1080 * 4)) for _ in range(4)]  # reuse freed memory
    assert len(churn) == 4
    again = ScreenPicture("again", (0, 0, 1920, 1080), 1.0, image)
    got = image_from_bgra(*again.crop_bgra(0, 0, 1920, 1080))
    assert got.tobytes() == pattern_on_screen.tobytes()


_UNDRAWN = """
import json
import mss
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from desktop_app.capture import Capturer

app = QGuiApplication([])
with mss.MSS() as sct:
    raw = sct.grab(sct.monitors[0]).raw
capturer = Capturer("mss")
out = {"raw_padding": sorted(set(raw[3::4])), "pictures": []}
for p in capturer.capture():
    w, h = p.physical_size
    target = QImage(32, 32, QImage.Format.Format_ARGB32_Premultiplied)
    target.fill(Qt.GlobalColor.transparent)
    painter = QPainter(target)
    painter.drawImage(QPointF(0, 0), p.image)
    painter.end()
    out["pictures"].append({
        "name": p.name, "padding": sorted(set(p.crop_bgra(0, 0, w, h)[0][3::4])),
        "painted_alpha": target.pixelColor(5, 5).alpha(),
    })
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("size", "monitors"), [((640, 480), ()), ((3200, 1080), TWO_MONITORS)], ids=["whole", "cut"]
)
def test_pixels_the_x_server_never_drew_come_out_opaque(
    size: tuple[int, int], monitors: tuple[Monitor, ...]
) -> None:
    """A fresh X server holds 0 in the padding byte of its pixels (so do parts no client
    painted); Qt's RGB32 needs 0xff there, or the picture turns transparent when painted
    on a translucent overlay (an ARGB32 premultiplied surface)."""
    with xvfb(*size, monitors=monitors) as server:
        result = qt_json(run_qt_script(server.display, _UNDRAWN, scale_factors="RIGHT=2"))
    assert result["raw_padding"] == [0]  # the condition this test is about
    assert len(result["pictures"]) == max(1, len(monitors))
    for picture in result["pictures"]:
        assert picture["padding"] == [255], picture
        assert picture["painted_alpha"] == 255, picture


def test_warm_capture_is_fast(pattern_on_screen: Image.Image) -> None:
    capturer = Capturer()
    start = time.perf_counter()
    capturer.warm()
    warm_s = time.perf_counter() - start
    capturer.capture()
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        pictures = capturer.capture()
        timings.append(time.perf_counter() - start)
    capturer.close()
    assert capturer.backend_name == "mss"
    assert (
        picture_rgb(pictures[0], 0, 0, 64, 64).tobytes()
        == pattern_on_screen.crop((0, 0, 64, 64)).tobytes()
    )
    assert sorted(timings)[2] < 0.050, (timings, warm_s)


def _shm_mapped() -> bool:
    with open("/proc/self/maps", encoding="utf-8") as f:
        return "mss-shm" in f.read()


def test_release_buffers_gives_the_shared_memory_back_and_capture_still_works(
    pattern_on_screen: Image.Image,
) -> None:
    """An idle app keeps no screen-sized buffer; the next capture makes one again."""
    capturer = Capturer()
    capturer.warm()
    assert _shm_mapped()
    capturer.release_buffers()
    assert not _shm_mapped()
    pictures = capturer.capture()
    assert _shm_mapped()
    assert (
        picture_rgb(pictures[0], 0, 0, 64, 64).tobytes()
        == pattern_on_screen.crop((0, 0, 64, 64)).tobytes()
    )
    assert capturer.backend_name == "mss"
    capturer.release_buffers()
    assert not _shm_mapped()
    capturer.close()


def test_capture_off_the_gui_thread_is_refused(xcb_app: QApplication) -> None:
    capturer = Capturer()
    capturer.warm()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            capturer.capture()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    capturer.close()
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)


# --- errors ----------------------------------------------------------------------------


def test_unknown_backend_name_lists_the_known_ones() -> None:
    with pytest.raises(CaptureError) as info:
        Capturer("nope")
    assert str(info.value) == (
        "Unknown capture backend 'nope'; choose one of: mss, grim, portal, qt."
    )
    assert info.value.exit_code == 2
    assert isinstance(info.value, ScreenScribeError)
    assert [factory(None).name for factory in BACKENDS] == ["mss", "grim", "portal", "qt"]


def test_wayland_session_is_refused_with_what_is_missing(xcb_app: QApplication) -> None:
    """Qt itself runs on xcb here (XWayland-like): the announced compositor decides. With
    neither grim on PATH nor a session bus for the portal, the message says what to get."""
    environ = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "PATH": "/nonexistent"}
    assert not MssBackend(environ).is_compatible()
    assert not QtBackend(environ).is_compatible()
    capturer = Capturer(environ=environ)
    capturer.warm()  # never raises: the app still starts (tray, clipboard, CLI)
    with pytest.raises(CaptureError) as info:
        capturer.capture()
    assert str(info.value) == WAYLAND_MESSAGE
    assert capturer.backend_name is None


@pytest.mark.skipif(shutil.which("grim") is None, reason="grim is not installed (Debian: grim)")
def test_on_wayland_the_backend_that_ran_says_what_went_wrong(
    xcb_app: QApplication, tmp_path: Path
) -> None:
    """grim is there but cannot reach a compositor: its own words, not the install hint."""
    environ = {
        "DISPLAY": ":0",
        "WAYLAND_DISPLAY": "wayland-0",
        "XDG_RUNTIME_DIR": str(tmp_path),
        "PATH": os.environ["PATH"],
    }
    with pytest.raises(CaptureError) as info:
        Capturer(environ=environ).capture()
    assert "grim cannot reach the Wayland compositor" in str(info.value)
    assert str(info.value) != WAYLAND_MESSAGE


def test_a_skipped_backend_says_why_in_the_log(
    xcb_app: QApplication, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="screenscribe.capture")
    environ = {"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "PATH": "/nonexistent"}
    with pytest.raises(CaptureError):
        Capturer(environ=environ).capture()
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert skipped[0] == (
        "capture backend mss skipped: not compatible with this session (Qt platform 'xcb', Wayland)"
    )
    assert skipped[1].startswith("capture backend grim skipped: ")
    assert "grim" in skipped[1].split("skipped: ", 1)[1]
    assert skipped[2] == (
        "capture backend portal skipped: no D-Bus session bus to reach the desktop portal "
        "(DBUS_SESSION_BUS_ADDRESS is not set)."
    )
    assert skipped[3] == (
        "capture backend qt skipped: not compatible with this session (Qt platform 'xcb', Wayland)"
    )
    assert len(skipped) == 4


def test_a_forced_backend_overrides_the_session_check(
    pattern_on_screen: Image.Image, caplog: pytest.LogCaptureFixture
) -> None:
    """The escape hatch for a wrong guess: here the X server is real, whatever
    WAYLAND_DISPLAY claims."""
    caplog.set_level(logging.INFO, logger="screenscribe.capture")
    capturer = Capturer("mss", environ={"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"})
    picture = capturer.capture()[0]
    capturer.close()
    assert capturer.backend_name == "mss"
    assert picture_rgb(picture).tobytes() == pattern_on_screen.tobytes()
    assert any("forced although not compatible" in r.getMessage() for r in caplog.records)


small_x = xserver_fixture(640, 480)


def test_wayland_display_in_the_real_environment_is_refused(small_x: XServer) -> None:
    """The same, with WAYLAND_DISPLAY really set in a fresh process."""
    proc = run_qt_script(
        small_x.display,
        "import json\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "from desktop_app.capture import Capturer, CaptureError\n"
        "app = QGuiApplication([])\n"
        "try:\n"
        "    Capturer().capture()\n"
        "    out = {'error': None}\n"
        "except CaptureError as exc:\n"
        "    out = {'error': str(exc), 'code': exc.exit_code}\n"
        "print(json.dumps(out))\n",
        env={"WAYLAND_DISPLAY": "wayland-0", "PATH": "/nonexistent"},
    )
    assert qt_json(proc) == {"error": WAYLAND_MESSAGE, "code": 2}


def test_offscreen_platform_uses_the_qt_backend(small_x: XServer) -> None:
    """No X server behind Qt: mss must not grab some unrelated display."""
    proc = run_qt_script(
        small_x.display,
        "import json\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "from desktop_app.capture import Capturer\n"
        "app = QGuiApplication([])\n"
        "c = Capturer()\n"
        "p = c.capture()\n"
        "print(json.dumps({'backend': c.backend_name, "
        "'sizes': [list(x.physical_size) for x in p], "
        "'screen': list(app.primaryScreen().size().toTuple())}))\n",
        env={"QT_QPA_PLATFORM": "offscreen"},
    )
    result = qt_json(proc)
    assert result["backend"] == "qt"
    assert len(result["sizes"]) == 1
    assert result["sizes"] == [result["screen"]]  # the offscreen screen's own size,
    assert result["screen"] != [640, 480]  # not the X screen's


# --- several monitors, mixed scale factors (subprocess, own Xvfb) -----------------------

_MULTI = """
import hashlib, json, time
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QApplication, QWidget
from desktop_app.capture import Capturer
from desktop_app.core.imaging import image_from_bgra
from tests.xserver import block_pattern

app = QApplication([])

class Window(QWidget):
    def __init__(self, image):
        super().__init__(None, Qt.WindowType.FramelessWindowHint)
        self.image, self.painted = image, False
    def paintEvent(self, event):
        p = QPainter(self); p.drawImage(QPointF(0, 0), self.image); p.end()
        self.painted = True

def rgb(picture, x, y, w, h):
    return image_from_bgra(*picture.crop_bgra(x, y, w, h))

patterns, windows = {}, []
for i, screen in enumerate(app.screens()):
    g, ratio = screen.geometry(), screen.devicePixelRatio()
    if g.x() < 0:
        continue  # no pixels exist left of the X screen: nothing can be shown there
    size = (round(g.width() * ratio), round(g.height() * ratio))
    pattern = block_pattern(*size, seed=11 + i)
    image = QImage(pattern.tobytes(), *size, size[0] * 3, QImage.Format.Format_RGB888)
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    image.setDevicePixelRatio(ratio)
    window = Window(image)
    window.setGeometry(g)
    window.show()
    patterns[screen.name()], windows = pattern, windows + [window]

deadline = time.monotonic() + 5
while not all(w.painted for w in windows) and time.monotonic() < deadline:
    app.processEvents()
    time.sleep(0.002)

def matches(pictures):
    return all(
        rgb(p, 3, 5, 1, 1).getpixel((0, 0)) == patterns[p.name].getpixel((3, 5))
        for p in pictures if p.name in patterns
    )

out = {}
for prefer in ("mss", "qt"):
    capturer = Capturer(prefer)
    pictures = capturer.capture()
    while not matches(pictures) and time.monotonic() < deadline:
        app.processEvents()
        pictures = capturer.capture()
    rows = []
    for p in pictures:
        w, h = p.physical_size
        got = rgb(p, 0, 0, w, h)
        pattern = patterns.get(p.name)
        crop = rgb(p, *CROP)
        rows.append({
            "name": p.name, "geometry": list(p.geometry), "ratio": p.device_pixel_ratio,
            "physical": [w, h], "image_ratio": p.image.devicePixelRatio(),
            "equal": pattern is not None and got.tobytes() == pattern.tobytes(),
            "black": got.getextrema() == ((0, 0), (0, 0), (0, 0)),
            "crop": list(crop.size), "crop_sha": hashlib.sha256(crop.tobytes()).hexdigest(),
            "pattern_crop_sha": None if pattern is None else hashlib.sha256(
                pattern.crop((CROP[0], CROP[1], CROP[0] + CROP[2], CROP[1] + CROP[3])).tobytes()
            ).hexdigest(),
            "opaque": set(p.crop_bgra(0, 0, w, h)[0][3::4]) == {255},
            "global_probe": list(p.global_to_physical(*GLOBAL_PROBE)),
        })
    out[prefer] = {"backend": capturer.backend_name, "pictures": rows}
    capturer.close()
print(json.dumps(out))
"""


def _run_multi(
    monitors: tuple[Monitor, ...], width: int, scale_factors: str, global_probe: tuple[float, float]
) -> dict[str, dict[str, object]]:
    code = f"CROP = (100, 100, 200, 50)\nGLOBAL_PROBE = {global_probe!r}\n" + _MULTI
    with xvfb(width, 1080, monitors=monitors) as server:
        proc = run_qt_script(server.display, code, scale_factors=scale_factors)
    result: dict[str, dict[str, object]] = qt_json(proc)
    return result


def test_two_monitors_with_different_scale_factors() -> None:
    result = _run_multi(TWO_MONITORS, 3200, "LEFT=1;RIGHT=2", (1920 + 50.5, 10.0))
    for prefer in ("mss", "qt"):
        assert result[prefer]["backend"] == prefer
        pictures = {p["name"]: p for p in result[prefer]["pictures"]}  # type: ignore[attr-defined]
        assert set(pictures) == {"LEFT", "RIGHT"}
        left, right = pictures["LEFT"], pictures["RIGHT"]
        assert (left["geometry"], left["ratio"], left["physical"]) == (
            [0, 0, 1920, 1080],
            1,
            [1920, 1080],
        )
        assert right["geometry"] == [1920, 0, 640, 540]
        assert right["ratio"] == 2.0
        assert right["image_ratio"] == 2.0
        assert right["physical"] == [1280, 1080]
        assert right["crop"] == [200, 50]
        assert right["crop_sha"] == right["pattern_crop_sha"], prefer
        assert left["crop_sha"] == left["pattern_crop_sha"], prefer
        assert right["equal"], prefer
        assert left["equal"], prefer
        assert right["opaque"]
        assert left["opaque"]
        assert right["global_probe"] == [101, 20]


def test_screen_at_negative_coordinates() -> None:
    """RandR accepts a monitor left of the X screen (x = -1280). Qt and mss list it, but no
    framebuffer pixels exist there: its picture is black, and the others stay exact."""
    neg = Monitor("NEG", 1280, 1024, -1280, 0, 338, 286)
    result = _run_multi((*TWO_MONITORS, neg), 3200, "LEFT=1;RIGHT=2;NEG=2", (-1280 + 10.5, 20.25))
    for prefer in ("mss", "qt"):
        assert result[prefer]["backend"] == prefer
        pictures = {p["name"]: p for p in result[prefer]["pictures"]}  # type: ignore[attr-defined]
        assert set(pictures) == {"LEFT", "RIGHT", "NEG"}
        neg_picture = pictures["NEG"]
        assert neg_picture["geometry"] == [-1280, 0, 640, 512]
        assert neg_picture["ratio"] == 2.0
        assert neg_picture["physical"] == [1280, 1024]
        assert neg_picture["black"]
        assert neg_picture["opaque"]
        assert neg_picture["global_probe"] == [21, 40]
        assert pictures["LEFT"]["equal"], prefer
        assert pictures["RIGHT"]["equal"], prefer


_LAYOUT_CHANGE = """
import json, logging, subprocess
logs = []
class Handler(logging.Handler):
    def emit(self, record):
        logs.append(record.getMessage())
logger = logging.getLogger("screenscribe.capture")
logger.addHandler(Handler())
logger.setLevel(logging.INFO)
from desktop_app.capture import Capturer
capturer = Capturer()
capturer.warm()  # before Qt starts: mss reads the monitors of the one-output layout
for name, geometry, output in (
    ("LEFT", "1920/508x1080/286+0+0", "screen"), ("RIGHT", "1280/338x1080/286+1920+0", "none")
):
    subprocess.run(["xrandr", "--setmonitor", name, geometry, output], check=True,
                   capture_output=True)
from PySide6.QtGui import QGuiApplication
app = QGuiApplication([])
pictures = capturer.capture()
print(json.dumps({"backend": capturer.backend_name, "logs": logs, "pictures": [
    [p.name, list(p.geometry), list(p.physical_size)] for p in pictures]}))
"""


def test_mss_rereads_monitors_that_changed_after_warm() -> None:
    """mss caches the monitor list; when Qt's screens no longer match it, the backend
    starts a new mss object instead of cropping the old layout (or giving up)."""
    with xvfb(3200, 1080) as server:
        result = qt_json(
            run_qt_script(server.display, _LAYOUT_CHANGE, scale_factors="LEFT=1;RIGHT=2")
        )
    assert result["backend"] == "mss"
    assert result["pictures"] == [
        ["LEFT", [0, 0, 1920, 1080], [1920, 1080]],
        ["RIGHT", [1920, 0, 640, 540], [1280, 1080]],
    ]
    assert any(m.startswith("renewing the mss object") for m in result["logs"])


# --- the picture's coordinate mapping (pictures built by hand, real pixels) -------------


def test_to_physical_at_ratio_1_floors_and_clamps() -> None:
    picture, _ = hand_made((0, 0, 64, 48), 1.0, (64, 48))
    assert picture.physical_size == (64, 48)
    assert picture.to_physical(0, 0) == (0, 0)
    assert picture.to_physical(10.9, 5.2) == (10, 5)
    assert picture.to_physical(64, 48) == (63, 47)  # the far edge is the last pixel
    assert picture.to_physical(-3, 100) == (0, 47)


def test_to_physical_at_ratio_2() -> None:
    picture, _ = hand_made((1920, 0, 640, 540), 2.0, (1280, 1080))
    assert picture.to_physical(100, 50) == (200, 100)
    assert picture.to_physical(100.5, 50.75) == (201, 101)
    assert picture.to_physical(639.99, 539.99) == (1279, 1079)
    assert picture.to_physical(640, 540) == (1279, 1079)
    assert picture.global_to_physical(1920 + 100, 50) == (200, 100)


def test_to_physical_at_ratio_1_5() -> None:
    picture, _ = hand_made((0, 0, 1280, 720), 1.5, (1920, 1080))
    assert picture.to_physical(1, 1) == (1, 1)
    assert picture.to_physical(3, 3) == (4, 4)
    assert picture.to_physical(1279.5, 719.5) == (1919, 1079)
    region = picture.to_physical_rect(1, 1, 2, 2)  # logical 1..3 is physical 1.5..4.5
    assert (region.x, region.y, region.width, region.height) == (1, 1, 4, 4)
    whole = picture.to_physical_rect(0, 0, 1280, 720)
    assert (whole.x, whole.y, whole.width, whole.height) == (0, 0, 1920, 1080)


def test_negative_logical_origin() -> None:
    """A screen left of the primary one (Windows, macOS): geometry starts at x = -1280."""
    picture, pattern = hand_made((-1280, 0, 1280, 1024), 2.0, (2560, 2048))
    assert picture.to_physical(0, 0) == (0, 0)  # widget-local: the origin does not matter
    assert picture.to_physical(10.25, 20.5) == (20, 41)
    assert picture.global_to_physical(-1280, 0) == (0, 0)
    assert picture.global_to_physical(-1, 1023.9) == (2558, 2047)
    assert picture.global_to_physical(5, 5) == (2559, 10)  # right of it: clamped
    assert picture.global_to_physical(-2000, -5) == (0, 0)
    region = picture.to_physical_rect(-10, -10, 30, 20)  # sticks out top-left: clamped
    assert (region.x, region.y, region.width, region.height) == (0, 0, 40, 20)
    crop = image_from_bgra(*picture.crop_bgra(region.x, region.y, region.width, region.height))
    assert crop.tobytes() == pattern.crop((0, 0, 40, 20)).tobytes()


def test_crop_bgra_returns_the_exact_pixels() -> None:
    picture, pattern = hand_made((0, 0, 320, 200), 1.0, (320, 200))
    data, width, height, stride = picture.crop_bgra(13, 7, 50, 30)
    assert (width, height, stride) == (50, 30, 200)
    assert len(data) == stride * height
    assert (
        image_from_bgra(data, width, height, stride).tobytes()
        == pattern.crop((13, 7, 63, 37)).tobytes()
    )


def test_crop_bgra_clamps_to_the_picture() -> None:
    picture, pattern = hand_made((0, 0, 320, 200), 1.0, (320, 200))
    data, width, height, stride = picture.crop_bgra(300, 190, 100, 100)
    assert (width, height) == (20, 10)
    assert (
        image_from_bgra(data, width, height, stride).tobytes()
        == pattern.crop((300, 190, 320, 200)).tobytes()
    )
    _, width, height, _ = picture.crop_bgra(-5, -8, 10, 10)
    assert (width, height) == (5, 2)


def test_crop_bgra_outside_the_picture_is_an_image_error() -> None:
    picture, _ = hand_made((0, 0, 320, 200), 1.0, (320, 200))
    with pytest.raises(ImageError, match="lies outside"):
        picture.crop_bgra(320, 0, 10, 10)
    with pytest.raises(ImageError):
        picture.crop_bgra(10, 10, 0, 5)


def test_crop_bgra_at_ratio_2_is_in_physical_pixels() -> None:
    picture, pattern = hand_made((1920, 0, 640, 540), 2.0, (1280, 1080))
    region = picture.to_physical_rect(50, 50, 100, 25)
    assert (region.x, region.y, region.width, region.height) == (100, 100, 200, 50)
    data, width, height, stride = picture.crop_bgra(100, 100, 200, 50)
    got = image_from_bgra(data, width, height, stride)
    assert got.tobytes() == pattern.crop((100, 100, 300, 150)).tobytes()
    assert (
        hashlib.sha256(got.tobytes()).hexdigest()
        != hashlib.sha256(pattern.crop((101, 100, 301, 150)).tobytes()).hexdigest()
    )  # the pattern does reveal a shift of one pixel


# --- the package's boundary ----------------------------------------------------------


def test_capture_never_imports_qtwidgets() -> None:
    package = Path(__file__).resolve().parents[2] / "desktop_app" / "capture"
    files = sorted(package.rglob("*.py"))
    assert len(files) >= 5
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [f"{node.module}.{a.name}" for a in node.names]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not [n for n in names if "QtWidgets" in n], path
    code = (
        "import sys, desktop_app.capture\n"
        "print(sorted(m for m in ('PySide6.QtWidgets', 'mss', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=package.parents[1],
    ).stdout
    assert out.strip() == "[]"  # no widgets; mss and Pillow load on first use


# --- matching QScreens to mss monitors ----------------------------------------------


def _info(name: str, x: int, y: int, w: int, h: int, ratio: float = 1.0) -> ScreenInfo:
    return ScreenInfo(name, (x, y, w, h), ratio)


def test_match_by_physical_rectangle_whatever_the_order() -> None:
    screens = [_info("RIGHT", 1920, 0, 640, 540, 2.0), _info("LEFT", 0, 0, 1920, 1080)]
    monitors = [(0, 0, 1920, 1080), (1920, 0, 1280, 1080)]
    assert match_monitors(screens, monitors) == [(1, "exact"), (0, "exact")]


def test_match_by_points_on_macos() -> None:
    screens = [_info("Built-in", 0, 0, 1440, 900, 2.0)]
    assert match_monitors(screens, [(0, 0, 1440, 900)]) == [(0, "points")]


def test_match_falls_back_to_top_left_then_order() -> None:
    # 1366 px at 125 %: Qt says 1093 logical, round(1093 * 1.25) = 1366 -> exact; but a
    # rounding that lands one pixel off still finds the monitor by its corner.
    screens = [_info("A", 0, 0, 1092, 614, 1.25), _info("B", 5000, 0, 800, 600)]
    monitors = [(0, 0, 1366, 768), (1366, 0, 800, 600)]
    assert match_monitors(screens, monitors) == [(0, "top-left"), (1, "order")]


def test_match_fails_when_monitors_are_missing() -> None:
    screens = [_info("A", 0, 0, 800, 600), _info("B", 800, 0, 800, 600)]
    assert match_monitors(screens, [(0, 0, 1600, 600)]) is None


def test_loaded_libraries_reads_a_memory_map(tmp_path: Path) -> None:
    from desktop_app.capture.handlers.mss_handler import loaded_libraries

    maps = tmp_path / "maps"
    maps.write_text(
        "7f00-7f10 r-xp 00000000 08:01 123   /usr/lib/x86_64-linux-gnu/libxcb-shm.so.0.0.0\n"
        "7f10-7f20 r--p 00000000 08:01 124   /usr/lib/x86_64-linux-gnu/libxcb.so.1.1.0\n"
        "7f20-7f30 rw-p 00000000 00:00 0 \n"
        "7f30-7f40 r-xp 00000000 08:01 125   /opt/my libs/libpython3.11.so.1.0\n"
        "7f40-7f50 r-xp 00000000 08:01 126   [vdso]\n",
        encoding="utf-8",
    )
    assert loaded_libraries(str(maps)) == {
        "xcb-shm": "/usr/lib/x86_64-linux-gnu/libxcb-shm.so.0.0.0",
        "xcb": "/usr/lib/x86_64-linux-gnu/libxcb.so.1.1.0",
    }
    assert loaded_libraries(str(tmp_path / "missing")) == {}


def test_mss_starts_from_the_libraries_qt_loaded_and_leaves_ctypes_as_it_was(
    small_x: XServer,
) -> None:
    """Qt's xcb plugin has libxcb loaded: mss (loading its libraries once per process, so
    in a fresh one) is given those files instead of running ldconfig five times, and
    ctypes.util.find_library is put back afterwards."""
    proc = run_qt_script(
        small_x.display,
        "import ctypes.util, json\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "from desktop_app.capture.handlers.mss_handler import MssBackend\n"
        "app = QGuiApplication([])\n"
        "asked = []\n"
        "original = ctypes.util.find_library\n"
        "def spy(name):\n"
        "    asked.append(name)\n"
        "    return original(name)\n"
        "ctypes.util.find_library = spy\n"
        "b = MssBackend(None)\n"
        "ok = b.is_available()\n"
        "p = b.capture(QGuiApplication.screens())\n"
        "print(json.dumps({'ok': list(ok), 'asked': asked, 'size': list(p[0].physical_size),"
        " 'restored': ctypes.util.find_library is spy}))\n",
    )
    assert qt_json(proc) == {"ok": [True, ""], "asked": [], "size": [640, 480], "restored": True}
