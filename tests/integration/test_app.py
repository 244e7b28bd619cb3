"""The app as a whole: single instance over a real local socket, the tray under a real
tray host and without one, one-shot capture, on the real X server of the test run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
from pytestqt.qtbot import QtBot

from desktop_app import instance
from desktop_app.app import AppController
from desktop_app.core.prompts import Preset
from desktop_app.core.settings import Settings, replace_preset
from desktop_app.ui.tray import LauncherUi, TrayUi

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def socket_name(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # A short path: a Unix socket path must fit in 108 bytes.
    folder = tempfile.mkdtemp(prefix="ss-", dir="/tmp")
    name = os.path.join(folder, "app.sock")
    monkeypatch.setenv(instance.ENV_OVERRIDE, name)
    # an endpoint is configured (never reached here): every mode can open the overlay
    monkeypatch.setenv("SCREENSCRIBE_ENDPOINT", "http://127.0.0.1:9/v1")
    yield name
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def controller(qapp: QApplication, socket_name: str) -> Iterator[AppController]:
    c = AppController(qapp)
    assert c.listen()
    yield c
    c.shutdown()


def _in_thread(fn: object) -> list[object]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn())  # type: ignore[operator]
        except Exception as exc:  # reported to the test through `out`
            out.append(exc)

    threading.Thread(target=run, daemon=True).start()
    return out


def test_forward_without_a_running_app(socket_name: str) -> None:
    assert instance.forward(["capture"]) is False


def test_forwarded_capture_opens_the_overlay(qtbot: QtBot, controller: AppController) -> None:
    answer = _in_thread(lambda: instance.forward(["capture", "--mode", "table"]))
    qtbot.waitUntil(lambda: controller.overlay is not None, timeout=3000)
    qtbot.waitUntil(lambda: bool(answer), timeout=3000)
    assert answer == [True]
    assert controller.overlay is not None
    assert controller.overlay.mode == "table"
    assert len(controller.overlay.windows) == len(QApplication.screens())
    qtbot.waitUntil(
        lambda: (
            controller.overlay is not None
            and all(w.isVisible() for w in controller.overlay.windows)
        )
    )
    controller.overlay.finish(None)
    assert controller.overlay is None


def test_a_forwarded_capture_can_use_a_users_own_preset(
    qtbot: QtBot, qapp: QApplication, socket_name: str
) -> None:
    from desktop_app.core.settings import save_settings

    mine = Preset("mine", "My question", "Ask me.", kind="ask")
    save_settings(replace_preset(Settings(), mine))
    c = AppController(qapp)
    try:
        assert c.listen()
        answer = _in_thread(lambda: instance.forward(["capture", "--preset", "mine"]))
        qtbot.waitUntil(lambda: c.overlay is not None, timeout=3000)
        qtbot.waitUntil(lambda: bool(answer), timeout=3000)
        assert answer == [True]
        assert c.overlay is not None
        assert c.overlay.mode == "mine"
        assert c.overlay.asks  # its kind is ask: the overlay will take a question
        c.overlay.finish(None)
    finally:
        c.shutdown()


def test_a_bad_forwarded_command_is_refused_with_a_message(
    qtbot: QtBot, controller: AppController
) -> None:
    answer = _in_thread(lambda: instance.forward(["capture", "--mode", "poetry"]))
    qtbot.waitUntil(lambda: bool(answer), timeout=3000)
    assert isinstance(answer[0], instance.ForwardError)
    assert "poetry" in str(answer[0])
    assert controller.overlay is None


def test_stale_socket_file_is_replaced(qapp: QApplication, socket_name: str) -> None:
    Path(socket_name).write_bytes(b"")  # left behind by a crashed app
    c = AppController(qapp)
    try:
        assert c.listen()
    finally:
        c.shutdown()


def test_second_app_does_not_listen(qapp: QApplication, controller: AppController) -> None:
    second = AppController(qapp)
    try:
        assert second.listen() is False
    finally:
        second.shutdown()


@pytest.fixture
def tray_host() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [
            "trayer",
            "--edge",
            "top",
            "--align",
            "right",
            "--widthtype",
            "pixel",
            "--width",
            "200",
            "--height",
            "24",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 5
    while not QSystemTrayIcon.isSystemTrayAvailable() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield proc
    proc.terminate()
    proc.wait()


def test_tray_under_a_tray_host(
    qtbot: QtBot, qapp: QApplication, socket_name: str, tray_host: subprocess.Popen[bytes]
) -> None:
    assert QSystemTrayIcon.isSystemTrayAvailable()
    c = AppController(qapp)
    try:
        c.start()
        assert isinstance(c.surface, TrayUi)
        qtbot.waitUntil(c.surface.tray.isVisible, timeout=3000)
        texts = [a.text() for a in c.surface.menu.actions() if not a.isSeparator()]
        assert texts[:5] == [
            "Capture region",
            "Ask about region…",
            "Table to Markdown",
            "Capture with preset",
            "OCR clipboard image",
        ]
        assert texts[-3:] == ["History", "Settings…", "Quit"]
        with qtbot.waitSignal(c.surface.capture_requested) as blocker:
            c.surface.tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
        assert blocker.args == [""]
        assert c.overlay is not None  # the left click opened the overlay
        assert c.overlay.mode == "ocr"  # the default preset
        c.overlay.finish(None)
        # a preset of the user's appears in the menu as soon as it is saved
        mine = Preset("mine", "My question", "Ask me.", kind="ask")
        c.apply_settings(replace_preset(c.settings, mine))
        menu = c.surface.presets_menu
        labels = [a.text() for a in menu.actions()]
        assert labels[-1] == "My question"
        menu.actions()[-1].trigger()
        assert c.overlay is not None
        assert c.overlay.mode == "mine"
        c.overlay.finish(None)
    finally:
        c.shutdown()


def test_launcher_window_without_a_tray(qtbot: QtBot, qapp: QApplication, socket_name: str) -> None:
    assert not QSystemTrayIcon.isSystemTrayAvailable()
    c = AppController(qapp)
    try:
        c.start()
        assert isinstance(c.surface, LauncherUi)
        qtbot.waitExposed(c.surface.window)
        c.notify("Title", "Something to know")
        assert "Something to know" in c.surface.status.text()
        # the launcher is not in the frozen picture: hidden for the capture, back after
        c.start_capture("ocr")
        assert not c.surface.window.isVisible()
        qtbot.waitUntil(lambda: c.overlay is not None, timeout=3000)
        assert c.overlay is not None
        c.overlay.finish(None)
        assert c.surface.window.isVisible()
    finally:
        c.shutdown()


@contextmanager
def _app_process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m desktop_app ARGS`` as its own process, output to ``log``; killed at
    the end if the test left it running."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_app", *args],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _xdotool_windows(name: str) -> list[str]:
    p = subprocess.run(
        ["xdotool", "search", "--onlyvisible", "--name", name],
        capture_output=True,
        text=True,
        check=False,
    )
    return p.stdout.split()


def test_second_process_makes_the_running_app_open_its_overlay(
    socket_name: str, tmp_path: Path
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        app = subprocess.Popen(
            [sys.executable, "-m", "desktop_app"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 15
        while not os.path.exists(socket_name) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(socket_name), log.read_text()
        assert _xdotool_windows("ScreenScribe overlay") == []
        t0 = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "desktop_app", "capture"],
            env=env,
            capture_output=True,
            timeout=15,
            check=False,
        )
        elapsed = time.monotonic() - t0
        assert second.returncode == 0, second.stderr
        assert elapsed < 5
        deadline = time.monotonic() + 10
        while not _xdotool_windows("ScreenScribe overlay") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _xdotool_windows("ScreenScribe overlay")
        bad = subprocess.run(
            [sys.executable, "-m", "desktop_app", "capture", "--mode", "x"],
            env=env,
            capture_output=True,
            timeout=15,
            check=False,
        )
        assert bad.returncode == 2
        assert b"Unknown preset 'x'" in bad.stderr
        assert instance.forward(["quit"])
        assert app.wait(timeout=10) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()


def test_one_shot_capture_exits_when_cancelled(socket_name: str, tmp_path: Path) -> None:
    with _app_process(["capture"], tmp_path / "app.log") as proc:
        deadline = time.monotonic() + 15
        windows: list[str] = []
        while not windows and time.monotonic() < deadline:
            windows = _xdotool_windows("ScreenScribe overlay")
            time.sleep(0.05)
        assert windows, "the overlay never showed"
        focused = subprocess.run(
            ["xdotool", "getwindowfocus"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert focused == windows[:1]  # the overlay has the keyboard
        subprocess.run(["xdotool", "key", "Escape"], check=True)  # as a person presses it
        assert proc.wait(timeout=10) == 0


def test_one_shot_capture_shows_the_frozen_screen_first_then_becomes_the_app(
    socket_name: str, tmp_path: Path
) -> None:
    """first_paint: the overlay before the app is built; then the app adopts it (it
    listens, so a second `capture` is forwarded to it), and a drag opens a panel."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "app.log"
    with _app_process(["capture"], log) as proc:
        deadline = time.monotonic() + 15
        while not _xdotool_windows("ScreenScribe overlay") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _xdotool_windows("ScreenScribe overlay"), log.read_text()
        while not os.path.exists(socket_name) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert os.path.exists(socket_name), log.read_text()  # the app was built
        again = subprocess.run(
            [sys.executable, "-m", "desktop_app", "capture"],
            env=env,
            capture_output=True,
            timeout=15,
            check=False,
        )
        assert again.returncode == 0, again.stderr  # forwarded: the overlay stays one
        assert len(_xdotool_windows("ScreenScribe overlay")) == 1
        for args in (
            ["mousemove", "200", "200"],
            ["mousedown", "1"],
            ["mousemove", "400", "260"],
            ["mousemove", "520", "300"],
            ["mouseup", "1"],
        ):
            subprocess.run(["xdotool", *args], check=True)
        while not _xdotool_windows("ScreenScribe — ") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _xdotool_windows("ScreenScribe — "), log.read_text()  # the answer panel
        assert instance.forward(["quit"])
        assert proc.wait(timeout=10) == 0


def test_an_outcome_before_the_app_is_built_is_handed_to_it(
    qapp: QApplication, socket_name: str, qtbot: QtBot
) -> None:
    """A selection made (or cancelled) before the overlay's first paint has been turned
    into the app is not lost: the app, once built, takes it as its own."""
    from desktop_app.first_paint import capture_first

    first = capture_first(["capture"])
    assert first is not None
    assert first.controller is None
    first.overlay.finish(None)  # Escape, faster than the app could be built
    first.build_app()
    c = first.controller
    assert isinstance(c, AppController)
    try:
        assert c.overlay is None
        assert c._shut_down  # a cancelled one-shot capture ends the app
    finally:
        c.shutdown()
