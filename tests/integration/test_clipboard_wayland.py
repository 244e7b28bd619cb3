"""The clipboard on Wayland when no window of ours has the focus: the text goes out
through wl-copy and an image comes in through wl-paste, in a real headless sway session
(checked from outside with wl-paste and wl-copy, as another program would)."""

from __future__ import annotations

import io
import os
import subprocess
from collections.abc import Iterator

import pytest
from PIL import Image
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from desktop_app import clipboard
from tests.wayland import Output, SwaySession, missing, sway_session

pytestmark = pytest.mark.skipif(
    missing("sway", "swaymsg", "swaybg", "wl-copy", "wl-paste") is not None,
    reason=str(missing("sway", "swaymsg", "swaybg", "wl-copy", "wl-paste")),
)


@pytest.fixture(scope="module")
def session() -> Iterator[SwaySession]:
    with sway_session(Output("HEADLESS-1", 320, 240)) as s:
        yield s


@pytest.fixture
def wayland_env(
    qapp: QApplication, session: SwaySession, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """This process as a Wayland client of the session (Qt itself stays on Xvfb, with
    no window of ours focused, as after the user clicked into another program)."""
    for key, value in session.env.items():
        monkeypatch.setenv(key, value)
    assert QGuiApplication.focusWindow() is None
    return session.client_environ()


def wl(env: dict[str, str], *args: str, data: bytes | None = None) -> bytes:
    if args[0] == "wl-copy":  # it forks a server that keeps any pipe open: no capture
        subprocess.run(
            [*args],
            input=data,
            env=env,
            timeout=10,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return b""
    proc = subprocess.run(
        [*args], input=data, env=env, capture_output=True, timeout=10, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_text_goes_out_through_wl_copy_without_focus(wayland_env: dict[str, str]) -> None:
    text = "Invoice 1187\nTotal due: €1,149.78"
    assert clipboard.write_text(text) == "wl-copy"
    assert wl(wayland_env, "wl-paste", "--no-newline").decode("utf-8") == text


def test_an_image_comes_in_through_wl_paste_without_focus(wayland_env: dict[str, str]) -> None:
    picture = Image.new("RGB", (40, 30), (200, 30, 60))
    buf = io.BytesIO()
    picture.save(buf, "PNG")
    wl(wayland_env, "wl-copy", "--type", "image/png", data=buf.getvalue())
    item = clipboard.read_image(QGuiApplication.clipboard())
    assert (item.width, item.height) == (40, 30)
    assert item.bgra is not None
    assert item.bgra[:4] == bytes([60, 30, 200, 255])  # B, G, R, A of the first pixel


def test_without_wayland_the_qt_clipboard_is_used(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert os.environ.get("DISPLAY")
    assert clipboard.write_text("plain X11") == "qt"
    assert QGuiApplication.clipboard().text() == "plain X11"
