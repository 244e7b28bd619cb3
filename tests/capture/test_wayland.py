"""Wayland capture: grim and the Screenshot portal against a real headless sway.

sway runs headless with three outputs at scales 1, 2 and 1.5, each showing a known
picture of exactly its physical size (tests/wayland.py); Qt runs on its ``wayland``
platform in a subprocess. The real xdg-desktop-portal (with xdg-desktop-portal-wlr) runs
on a private D-Bus session bus. Answers the real portal gives only with a person at a
dialog (cancelled, denied, never answered) come from a stand-in portal on a private bus
(tests/fake_portal.py) that sends the same D-Bus messages; those tests run in-process,
with Qt on pytest-xvfb's X server and a Wayland session announced through ``environ``.

Each test needing a program skips, naming its Debian package, only when it is missing.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops, ImageStat
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

from desktop_app.capture import WAYLAND_MESSAGE, CaptureError, Capturer
from desktop_app.capture.base import (
    GRIM_HINT,
    PORTAL_HINT,
    ScreenLayout,
    ScreenPicture,
    cut_desktop,
    sway_outputs,
)
from desktop_app.capture.handlers import BACKENDS
from desktop_app.capture.handlers.grim import GrimBackend
from desktop_app.capture.handlers.portal import PERMISSION_MESSAGE, PortalBackend
from desktop_app.core.imaging import image_from_bgra
from tests.wayland import (
    PORTAL,
    PORTAL_GTK,
    PORTAL_SERVICES,
    PORTAL_WLR,
    Bus,
    Output,
    SwaySession,
    fake_portal,
    live_members,
    missing,
    read_calls,
    session_bus,
    sway_session,
)
from tests.xserver import block_pattern, qt_json

SWAY_MISSING = missing("sway", "swaymsg", "swaybg", "grim")
GRIM_MISSING = missing("grim")
BUS_MISSING = missing("dbus-daemon")
PORTAL_MISSING = missing("dbus-daemon", "dbus-send", "pipewire", PORTAL, PORTAL_WLR, PORTAL_GTK)
# tests/conftest.py skips a test using one of these fixtures where its programs are missing
NEEDS = {"sway": SWAY_MISSING, "real_portal": PORTAL_MISSING, "bus": BUS_MISSING}
BARE_PORTAL_MISSING = missing("dbus-daemon", PORTAL)
SWAY_PORTAL_MISSING = missing("dbus-daemon", PORTAL, PORTAL_WLR, PORTAL_GTK)

#: Scales 1, 2 and 1.5 side by side (logical 640x480, 400x300, 400x300). At 1.5 Qt rounds
#: its device pixel ratio up to 2 (sway 1.7 has no fractional-scale protocol): a picture
#: sized by Qt's ratio would be 800x600 instead of the output's 600x450. At 1.5 swaybg
#: draws at scale 2 and sway scales that down: only a plain colour survives it exactly.
OUTPUTS = (
    Output("HEADLESS-1", 640, 480, 0, 0, 1.0, block_pattern(640, 480, seed=21)),
    Output("HEADLESS-2", 800, 600, 640, 0, 2.0, block_pattern(800, 600, seed=22)),
    Output("HEADLESS-3", 600, 450, 1040, 0, 1.5, "#3a7bd5"),
)
LOGICAL = {
    "HEADLESS-1": [0, 0, 640, 480],
    "HEADLESS-2": [640, 0, 400, 300],
    "HEADLESS-3": [1040, 0, 400, 300],
}
REGION = (10.5, 20.25, 100, 50)  # widget-local logical


def sha(image: Image.Image) -> str:
    return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


def region_box(ratio: float) -> tuple[int, int, int, int]:
    """REGION in physical pixels, as ScreenPicture.to_physical_rect rounds it."""
    x, y, w, h = REGION
    return (
        math.floor(x * ratio),
        math.floor(y * ratio),
        math.ceil((x + w) * ratio),
        math.ceil((y + h) * ratio),
    )


def picture_rgb(picture: ScreenPicture) -> Image.Image:
    return image_from_bgra(*picture.crop_bgra(0, 0, *picture.physical_size))


def qimage_of(image: Image.Image) -> QImage:
    rgb = image.convert("RGB")
    w, h = rgb.size
    return QImage(rgb.tobytes(), w, h, w * 3, QImage.Format.Format_RGB888).copy()


@pytest.fixture(scope="module")
def sway() -> Iterator[SwaySession]:
    with sway_session(*OUTPUTS) as session:
        yield session


# --- grim, for real ----------------------------------------------------------------------

_CAPTURE = """
import hashlib, json, logging, time
logs = []
class Handler(logging.Handler):
    def emit(self, record):
        logs.append(record.getMessage())
logger = logging.getLogger("screenscribe.capture")
logger.addHandler(Handler())
logger.setLevel(logging.INFO)
from PySide6.QtGui import QGuiApplication
from desktop_app.capture import Capturer
from desktop_app.core.imaging import image_from_bgra

app = QGuiApplication([])
capturer = Capturer(PREFER)
capturer.warm()
start = time.perf_counter()
pictures = capturer.capture()
seconds = time.perf_counter() - start
def sha(picture, x, y, w, h):
    return hashlib.sha256(image_from_bgra(*picture.crop_bgra(x, y, w, h)).tobytes()).hexdigest()
rows = []
for p in pictures:
    w, h = p.physical_size
    r = p.to_physical_rect(*REGION)
    rows.append({
        "name": p.name, "geometry": list(p.geometry), "ratio": p.device_pixel_ratio,
        "image_ratio": p.image.devicePixelRatio(), "physical": [w, h],
        "format": p.image.format().name, "sha": sha(p, 0, 0, w, h),
        "region": [r.x, r.y, r.width, r.height], "region_sha": sha(p, r.x, r.y, r.width, r.height),
    })
screens = [[s.name(), s.devicePixelRatio()] for s in app.screens()]
capturer.close()
print(json.dumps({"backend": capturer.backend_name, "pictures": rows, "logs": logs,
                  "seconds": seconds, "screens": screens}))
"""


def capture_in_session(
    session: SwaySession, prefer: str | None, env: dict[str, str | None] | None = None
) -> dict[str, Any]:
    code = f"PREFER = {prefer!r}\nREGION = {REGION!r}\n" + _CAPTURE
    result: dict[str, Any] = qt_json(session.run_qt(code, env=env))
    return result


@pytest.mark.parametrize("prefer", [None, "grim"])
def test_grim_gives_each_output_exactly_its_own_pixels(
    sway: SwaySession, prefer: str | None
) -> None:
    """Mixed scales 1, 2 and 1.5: each picture is its output's physical pixels, every one
    of them, and a logical region maps onto the right ones."""
    result = capture_in_session(sway, prefer)
    assert result["backend"] == "grim"
    assert result["screens"] == [["HEADLESS-1", 1.0], ["HEADLESS-2", 2.0], ["HEADLESS-3", 2.0]]
    pictures = {p["name"]: p for p in result["pictures"]}
    assert list(pictures) == [o.name for o in OUTPUTS]  # Qt's order
    for output in OUTPUTS:
        p = pictures[output.name]
        assert p["geometry"] == LOGICAL[output.name]
        assert p["ratio"] == output.scale  # 1.5, where Qt says 2
        assert p["image_ratio"] == output.scale
        assert p["physical"] == [output.width, output.height]
        assert p["format"] == "Format_RGB32"
        assert p["sha"] == sha(output.picture()), output.name
        box = region_box(output.scale)
        assert p["region"] == [box[0], box[1], box[2] - box[0], box[3] - box[1]]
        assert p["region_sha"] == sha(output.picture().crop(box)), output.name
    if prefer is None:  # the X11 backends say why they stood aside
        assert (
            "capture backend mss skipped: not compatible with this session "
            "(Qt platform 'wayland', Wayland)" in result["logs"]
        )
        assert (
            "capture backend qt skipped: not compatible with this session "
            "(Qt platform 'wayland', Wayland)" in result["logs"]
        )
    assert result["seconds"] < 2.0, result["seconds"]


def test_sway_reports_each_outputs_own_scale(sway: SwaySession) -> None:
    outputs = sway_outputs(sway.env, timeout=5)
    assert outputs is not None
    assert [(o.name, list(o.rect), o.scale) for o in outputs] == [
        (o.name, LOGICAL[o.name], o.scale) for o in OUTPUTS
    ]
    assert sway_outputs({"PATH": os.environ["PATH"]}, timeout=5) is None  # not sway


def test_one_picture_of_the_whole_layout_cut_per_output(sway: SwaySession) -> None:
    """What the portal hands over (xdg-desktop-portal-wlr runs grim without -o): the
    layout rendered at the largest scale, 2. The scale-2 output comes out exact; the others
    are scaled back to their own size, close to their pixels but not all of them (grim
    scales them up bilinearly): why the grim backend takes one output at a time."""
    whole = Image.open(io.BytesIO(sway.grim("-t", "ppm"))).convert("RGB")
    assert whole.size == (1440 * 2, 480 * 2)
    outputs = sway_outputs(sway.env, timeout=5)
    assert outputs is not None
    layout = [ScreenLayout(o.name, o.rect, o.name, o.scale) for o in outputs]
    pictures = cut_desktop(qimage_of(whole), layout, "test")
    for output, picture in zip(OUTPUTS, pictures, strict=True):
        assert picture.name == output.name
        assert picture.physical_size == (output.width, output.height)
        assert picture.device_pixel_ratio == output.scale
        got, want = picture_rgb(picture), output.picture()
        if output.scale == 2.0:
            assert got.tobytes() == want.tobytes()
        else:
            diff = ImageStat.Stat(ImageChops.difference(got, want)).mean
            assert max(diff) < 20, (output.name, diff)  # the same picture, softened
            assert got.tobytes() != want.tobytes()


def test_a_picture_that_does_not_fit_the_layout_is_refused() -> None:
    layout = [ScreenLayout("A", (0, 0, 640, 480), None, 1.0)]
    with pytest.raises(CaptureError, match=r"does not fit the screens \(640 x 480"):
        cut_desktop(qimage_of(Image.new("RGB", (800, 480))), layout, "Screenshot portal")
    with pytest.raises(CaptureError, match="empty picture"):
        cut_desktop(QImage(), layout, "Screenshot portal")


# --- grim's failures, with the real grim --------------------------------------------------


@pytest.fixture
def xcb_app(qapp: QApplication) -> QApplication:
    if QGuiApplication.platformName() != "xcb":
        pytest.fail(f"needs Qt on xcb (pytest-xvfb), got {qapp.platformName()!r}")
    return qapp


def test_grim_missing_says_what_to_install(xcb_app: QApplication, tmp_path: Path) -> None:
    backend = GrimBackend({"WAYLAND_DISPLAY": "wayland-0", "PATH": str(tmp_path)})
    assert backend.is_compatible()
    ok, reason = backend.is_available()
    assert not ok
    assert reason == f"grim is not installed: {GRIM_HINT}."
    assert "install grim" in reason


@pytest.mark.parametrize(
    ("desktop", "wayland", "compatible"),
    [
        ("sway", "wayland-1", True),
        ("Hyprland", "wayland-1", True),
        ("", "wayland-1", True),
        ("GNOME", "wayland-0", False),
        ("KDE", "wayland-0", False),
        ("sway", None, False),
    ],
)
def test_grim_is_for_wlroots_wayland_sessions(
    xcb_app: QApplication, desktop: str, wayland: str | None, compatible: bool
) -> None:
    environ = {"XDG_CURRENT_DESKTOP": desktop, "DISPLAY": ":0"}
    if wayland:
        environ["WAYLAND_DISPLAY"] = wayland
    assert GrimBackend(environ).is_compatible() is compatible


@pytest.mark.skipif(GRIM_MISSING is not None, reason=GRIM_MISSING or "")
def test_grim_without_a_compositor_says_so(xcb_app: QApplication, tmp_path: Path) -> None:
    environ = {
        "WAYLAND_DISPLAY": str(tmp_path / "no-such-socket"),
        "XDG_RUNTIME_DIR": str(tmp_path),
        "PATH": os.environ["PATH"],
    }
    with pytest.raises(CaptureError) as info:
        GrimBackend(environ).capture(QGuiApplication.screens())
    message = str(info.value)
    assert message.startswith("grim failed (exit status 1):"), message
    assert message.endswith(
        f"grim cannot reach the Wayland compositor (WAYLAND_DISPLAY={tmp_path}/no-such-socket)."
    )


@pytest.mark.skipif(GRIM_MISSING is not None, reason=GRIM_MISSING or "")
def test_grim_stuck_on_a_silent_compositor_times_out(xcb_app: QApplication, tmp_path: Path) -> None:
    """A compositor that accepts the connection and never answers."""
    path = tmp_path / "silent"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen()
        environ = {"WAYLAND_DISPLAY": str(path), "PATH": os.environ["PATH"]}
        start = time.monotonic()
        with pytest.raises(CaptureError) as info:
            GrimBackend(environ, timeout=0.5).capture(QGuiApplication.screens())
        elapsed = time.monotonic() - start
    assert str(info.value) == (
        "grim did not finish within 0.5 s (-t ppm -): the compositor did not answer."
    )
    assert 0.4 < elapsed < 3, elapsed


# --- the real Screenshot portal (xdg-desktop-portal + xdg-desktop-portal-wlr) -------------


@pytest.fixture(scope="module")
def real_portal(sway: SwaySession) -> Iterator[Bus]:
    with session_bus(
        sway.env,
        services=PORTAL_SERVICES,
        pipewire=True,
        start=["org.freedesktop.impl.portal.desktop.wlr"],
    ) as bus:
        yield bus


def test_real_portal_picture_is_cut_per_output(sway: SwaySession, real_portal: Bus) -> None:
    result = capture_in_session(sway, "portal", {"DBUS_SESSION_BUS_ADDRESS": real_portal.address})
    assert result["backend"] == "portal", real_portal.log_tail()
    assert not [m for m in result["logs"] if "fail" in m], result["logs"]
    pictures = {p["name"]: p for p in result["pictures"]}
    assert list(pictures) == [o.name for o in OUTPUTS]
    for output in OUTPUTS:
        p = pictures[output.name]
        assert p["geometry"] == LOGICAL[output.name]
        assert p["ratio"] == output.scale
        assert p["physical"] == [output.width, output.height]
    # The portal's picture is the layout at scale 2: the scale-2 output is exact.
    assert pictures["HEADLESS-2"]["sha"] == sha(OUTPUTS[1].picture())
    box = region_box(2.0)
    assert pictures["HEADLESS-2"]["region_sha"] == sha(OUTPUTS[1].picture().crop(box))


@pytest.mark.skipif(BARE_PORTAL_MISSING is not None, reason=BARE_PORTAL_MISSING or "")
def test_portal_without_a_screenshot_backend_says_so(xcb_app: QApplication, tmp_path: Path) -> None:
    """The real xdg-desktop-portal with no portal backend installed at all (an empty
    portals directory): no Screenshot interface."""
    environ = {"XDG_CURRENT_DESKTOP": "sway", "XDG_DESKTOP_PORTAL_DIR": str(tmp_path)}
    with session_bus(environ, services=["org.freedesktop.portal.Desktop"]) as bus:
        backend = PortalBackend(portal_environ(bus))
        try:
            assert backend.is_available() == (True, "")  # installed, startable
            with pytest.raises(CaptureError) as warm:
                backend.warm()
            with pytest.raises(CaptureError) as info:
                backend.capture(QGuiApplication.screens())
        finally:
            backend.close()
    for error in (warm.value, info.value):
        assert str(error).startswith("The desktop portal has no Screenshot portal ("), error
        assert "install the portal backend for your desktop" in str(error)


@pytest.mark.skipif(SWAY_PORTAL_MISSING is not None, reason=SWAY_PORTAL_MISSING or "")
def test_portal_whose_backend_cannot_start_answers_2(xcb_app: QApplication) -> None:
    """The real xdg-desktop-portal, configured for sway, whose wlr backend is not there to
    start: it takes the request and answers 2, as it does for a denied permission."""
    with (
        session_bus(
            {"XDG_CURRENT_DESKTOP": "sway"}, services=["org.freedesktop.portal.Desktop"]
        ) as bus,
        pytest.raises(CaptureError) as info,
    ):
        portal_capture(bus)
    assert str(info.value).startswith(
        "The desktop portal refused the screenshot (portal response 2). "
    )


# --- the portal's other answers, from a stand-in portal on a private bus -------------------

needs_bus = pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")


def portal_environ(bus: Bus) -> dict[str, str]:
    """A Wayland session (Qt itself on xcb) with ``bus`` as its session bus."""
    return {
        "WAYLAND_DISPLAY": "wayland-test",
        "DBUS_SESSION_BUS_ADDRESS": bus.address,
        "PATH": os.environ["PATH"],
    }


@pytest.fixture
def bus() -> Iterator[Bus]:
    with session_bus() as private:
        yield private


def portal_capture(bus: Bus, **kwargs: float) -> list[ScreenPicture]:
    backend = PortalBackend(portal_environ(bus), **kwargs)
    try:
        assert backend.is_compatible()
        assert backend.is_available() == (True, "")
        return backend.capture(QGuiApplication.screens())
    finally:
        backend.close()


def screen_size() -> tuple[int, int]:
    screens = QGuiApplication.screens()
    assert len(screens) == 1
    assert screens[0].devicePixelRatio() == 1.0
    return screens[0].size().width(), screens[0].size().height()


@pytest.mark.parametrize("scale", [1, 2])
def test_portal_answer_is_read_cut_and_deleted(
    xcb_app: QApplication, bus: Bus, tmp_path: Path, scale: int
) -> None:
    """The portal's file (at scale 2: the desktop at twice the screen's size, as a portal
    renders a mixed-DPI desktop) becomes the screen's picture, pixel for pixel; the file is
    deleted; the request is shaped as the portal expects."""
    width, height = screen_size()
    pattern = block_pattern(width, height, seed=33)
    shot = tmp_path / "Screenshot from today.png"  # a space: the URI is percent-encoded
    pattern.resize((width * scale, height * scale), Image.Resampling.NEAREST).save(shot)
    uri = shot.as_uri()
    assert "%20" in uri
    with fake_portal(bus, "--uri", uri) as calls:
        pictures = portal_capture(bus)
        recorded = read_calls(calls)
    assert len(pictures) == 1
    picture = pictures[0]
    assert picture.physical_size == (width, height)
    assert picture.device_pixel_ratio == 1.0
    assert picture_rgb(picture).tobytes() == pattern.tobytes()
    assert not shot.exists()
    assert len(recorded) == 1
    call = recorded[0]
    assert call["parent_window"] == ""
    assert set(call["options"]) == {"handle_token", "interactive"}
    assert call["options"]["interactive"] is False
    assert re.fullmatch(r"screenscribe_[0-9a-f]{16}", call["options"]["handle_token"])
    assert re.fullmatch(
        r"/org/freedesktop/portal/desktop/request/1_\d+/" + call["options"]["handle_token"],
        call["handle"],
    )


def test_portal_on_a_path_of_its_own_is_followed(
    xcb_app: QApplication, bus: Bus, tmp_path: Path
) -> None:
    """Portals before 0.9 ignore handle_token and answer on a path they choose."""
    width, height = screen_size()
    shot = tmp_path / "shot.png"
    block_pattern(width, height, seed=34).save(shot)
    with fake_portal(bus, "--own-handle", "--uri", shot.as_uri()):
        (picture,) = portal_capture(bus)
    assert picture_rgb(picture).tobytes() == block_pattern(width, height, seed=34).tobytes()


def test_portal_cancelled_by_the_user(xcb_app: QApplication, bus: Bus) -> None:
    with fake_portal(bus, "--code", "1"), pytest.raises(CaptureError) as info:
        portal_capture(bus)
    assert str(info.value) == (
        "The screenshot was cancelled or refused in the desktop's dialog (portal response 1). "
        f"{PERMISSION_MESSAGE}, or accept the dialog when it asks."
    )


def test_portal_permission_denied(xcb_app: QApplication, bus: Bus) -> None:
    """xdg-desktop-portal answers 2 where the screenshot permission is stored as "no"."""
    with fake_portal(bus, "--code", "2"), pytest.raises(CaptureError) as info:
        portal_capture(bus)
    assert str(info.value).startswith(
        "The desktop portal refused the screenshot (portal response 2). "
        "The screenshot permission was not granted; allow ScreenScribe to take screenshots "
        "in your desktop's privacy settings"
    )


def test_portal_that_never_answers_times_out_and_withdraws_the_request(
    xcb_app: QApplication, bus: Bus
) -> None:
    with fake_portal(bus, "--silent") as calls:
        start = time.monotonic()
        with pytest.raises(CaptureError) as info:
            portal_capture(bus, timeout=0.5)
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 5
        while len(read_calls(calls)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        recorded = read_calls(calls)
    assert str(info.value) == (
        f"{PERMISSION_MESSAGE}: the desktop portal did not answer the screenshot request "
        "within 0.5 s (a denied or unanswered request may never be answered)."
    )
    assert 0.4 < elapsed < 3, elapsed
    assert recorded[1] == {"close": recorded[0]["handle"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "The Screenshot portal gave no file to read (results {})."),
        (("--uri", "file:///nonexistent/shot.png"), "picture /nonexistent/shot.png could not"),
        (("--uri", "https://example.org/shot.png"), "The Screenshot portal gave no file to read"),
        (("--code", "7"), "The Screenshot portal answered with unknown response 7."),
    ],
    ids=["no-uri", "missing-file", "not-a-file", "unknown-code"],
)
def test_portal_answers_that_give_no_picture(
    xcb_app: QApplication, bus: Bus, args: tuple[str, ...], message: str
) -> None:
    with fake_portal(bus, *args), pytest.raises(CaptureError) as info:
        portal_capture(bus)
    assert message in str(info.value)


def test_no_portal_on_the_bus(xcb_app: QApplication, bus: Bus) -> None:
    backend = PortalBackend(portal_environ(bus))
    try:
        ok, reason = backend.is_available()
        assert not ok
        assert reason == (
            "no desktop portal on the D-Bus session bus (org.freedesktop.portal.Desktop is "
            f"neither running nor installed): {PORTAL_HINT}."
        )
        with pytest.raises(CaptureError) as info:
            backend.capture(QGuiApplication.screens())
    finally:
        backend.close()
    assert str(info.value).startswith(
        "The desktop portal could not be reached (org.freedesktop.DBus.Error.ServiceUnknown"
    )
    assert str(info.value).endswith(f"{PORTAL_HINT}.")


def test_no_session_bus(xcb_app: QApplication, tmp_path: Path) -> None:
    environ = {
        "WAYLAND_DISPLAY": "wayland-0",
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/x",
    }
    backend = PortalBackend(environ)
    ok, reason = backend.is_available()
    backend.close()
    assert not ok
    assert reason.startswith("no D-Bus session bus to reach the desktop portal (")
    assert str(tmp_path) in reason


def test_portal_is_for_wayland_sessions(xcb_app: QApplication) -> None:
    assert PortalBackend({"WAYLAND_DISPLAY": "wayland-0"}).is_compatible()
    assert not PortalBackend({"DISPLAY": ":0"}).is_compatible()


# --- the ordered list on Wayland -----------------------------------------------------------


def test_backends_are_tried_in_order() -> None:
    assert [factory(None).name for factory in BACKENDS] == ["mss", "grim", "portal", "qt"]


@needs_bus
def test_capturer_falls_through_grim_to_the_portal(
    xcb_app: QApplication, bus: Bus, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """On GNOME-like sessions grim is not even tried; here (no desktop named) grim is
    tried first, cannot reach a compositor, and the portal takes the picture."""
    caplog.set_level(logging.INFO, logger="screenscribe.capture")
    width, height = screen_size()
    shot = tmp_path / "shot.png"
    block_pattern(width, height, seed=35).save(shot)
    environ = {**portal_environ(bus), "XDG_RUNTIME_DIR": str(tmp_path)}
    with fake_portal(bus, "--uri", shot.as_uri()):
        capturer = Capturer(environ=environ)
        try:
            pictures = capturer.capture()
        finally:
            capturer.close()
    assert capturer.backend_name == "portal"
    assert picture_rgb(pictures[0]).tobytes() == block_pattern(width, height, seed=35).tobytes()
    messages = [r.getMessage() for r in caplog.records]
    if GRIM_MISSING is None:  # grim installed: tried and failed, said why
        assert any(m.startswith("capture backend grim failed: grim failed") for m in messages)


def test_nothing_to_capture_with_on_wayland_says_what_to_install(
    xcb_app: QApplication, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="screenscribe.capture")
    environ = {"WAYLAND_DISPLAY": "wayland-0", "PATH": str(tmp_path)}  # no grim, no bus
    capturer = Capturer(environ=environ)
    with pytest.raises(CaptureError) as info:
        capturer.capture()
    capturer.close()
    assert str(info.value) == WAYLAND_MESSAGE
    for needed in (
        "grim",
        "xdg-desktop-portal",
        "xdg-desktop-portal-gnome",
        "xdg-desktop-portal-kde",
        "xdg-desktop-portal-wlr",
    ):
        assert needed in WAYLAND_MESSAGE
    skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert f"capture backend grim skipped: grim is not installed: {GRIM_HINT}." in skipped
    assert any(
        m.startswith("capture backend portal skipped: no D-Bus session bus") for m in skipped
    )


@pytest.mark.skipif(SWAY_MISSING is not None, reason=SWAY_MISSING or "")
def test_sessions_leave_nothing_running() -> None:
    """A session stops everything it started: sway, and swaybg, its child."""
    with sway_session(Output("HEADLESS-1", 64, 48, background="#123456")) as session:
        pgid = session.process.pid
        assert len(live_members(pgid)) >= 2  # sway and swaybg
    assert live_members(pgid) == []
