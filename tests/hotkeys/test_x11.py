"""The X11 hotkey backend against a real X server (pytest-xvfb's display).

Key presses are real XTest events from ``xdotool``; conflicts come from a real second X
client (a python-xlib connection of the test's own) holding a grab first.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, Qt, QThread
from pytestqt.qtbot import QtBot
from Xlib import XK, X
from Xlib.display import Display
from Xlib.error import BadAccess, CatchError

from desktop_app.hotkeys import HotkeyConflict, HotkeyError, HotkeyManager, X11Backend

CONFLICT = (
    "Ctrl+Alt+K is already taken by another program; choose another key in Settings → Presets."
)


@pytest.fixture
def env() -> dict[str, str]:
    display = os.environ.get("DISPLAY")
    if not display:
        pytest.fail("no DISPLAY: these tests need pytest-xvfb's X server")
    return {"DISPLAY": display}


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=10)


class Presses:
    """A thread-safe callback that records key_ids and wakes a waiter."""

    def __init__(self) -> None:
        self.key_ids: list[str] = []
        self.threads: list[threading.Thread] = []
        self._event = threading.Event()

    def __call__(self, key_id: str) -> None:
        self.key_ids.append(key_id)
        self.threads.append(threading.current_thread())
        self._event.set()

    def wait(self, timeout: float = 2.0) -> bool:
        ok = self._event.wait(timeout)
        self._event.clear()
        return ok


class OtherClient:
    """A second X client that grabs keys on the root window, as another program would."""

    def __init__(self, display: str) -> None:
        self.display = Display(display)
        self.root = self.display.screen().root
        mapping = self.display.get_modifier_mapping()

        def mod_of(name: str) -> int:
            code = self.display.keysym_to_keycode(XK.string_to_keysym(name))
            return next(1 << i for i in range(8) if code in mapping[i])

        self.num_lock = mod_of("Num_Lock")
        self.caps_lock = mod_of("Caps_Lock")
        self.alt = mod_of("Alt_L")

    def keycode(self, keysym_name: str) -> int:
        return self.display.keysym_to_keycode(XK.string_to_keysym(keysym_name))

    def grab(self, keysym_name: str, modifiers: int) -> object:
        """Grab the key; the X error (BadAccess when someone holds it) or None."""
        catcher = CatchError()
        self.root.grab_key(
            self.keycode(keysym_name),
            modifiers,
            False,
            X.GrabModeAsync,
            X.GrabModeAsync,
            onerror=catcher,
        )
        self.display.sync()
        return catcher.get_error()

    def ungrab(self, keysym_name: str, modifiers: int) -> None:
        self.root.ungrab_key(self.keycode(keysym_name), modifiers)
        self.display.sync()

    def modifier_state(self) -> int:
        return int(self.root.query_pointer().mask)

    def close(self) -> None:
        self.display.close()


@pytest.fixture
def other(env: dict[str, str]) -> Iterator[OtherClient]:
    client = OtherClient(env["DISPLAY"])
    yield client
    client.close()


@pytest.fixture
def backend(env: dict[str, str]) -> Iterator[X11Backend]:
    b = X11Backend(env)
    yield b
    b.close()


@pytest.fixture
def manager(qtbot: QtBot, env: dict[str, str]) -> Iterator[HotkeyManager]:
    m = HotkeyManager(environ=env, platform="linux")
    yield m
    m.close()


def test_backend_fits_an_x11_session_and_opens_the_display(backend: X11Backend) -> None:
    assert backend.is_compatible()
    assert backend.is_available() == (True, "")


def test_the_connection_speaks_the_core_protocol_only(backend: X11Backend) -> None:
    """No extension modules set up (Xvfb offers 13; grabbing keys needs none), and the
    list Xlib keeps of them is left as it was for other Xlib users of the process."""
    from Xlib import ext

    known = list(ext.__extensions__)
    assert backend.is_available() == (True, "")
    assert backend._display is not None
    assert backend._display.extensions == []
    assert ext.__extensions__ == known
    assert len(known) > 5
    plain = Display(os.environ["DISPLAY"])
    try:
        assert len(plain.extensions) > 5  # as a plain Display has them
    finally:
        plain.close()


def test_a_display_that_does_not_answer_is_unavailable() -> None:
    b = X11Backend({"DISPLAY": ":987"})
    ok, reason = b.is_available()
    b.close()
    assert not ok
    assert reason.startswith("Cannot open X display :987")


@pytest.mark.parametrize(
    ("sequence", "keys"),
    [
        ("Ctrl+Alt+O", "ctrl+alt+o"),
        ("Meta+Shift+F2", "super+shift+F2"),
        ("Ctrl+Alt+Print", "ctrl+alt+Print"),
        ("Ctrl+Alt+,", "ctrl+alt+comma"),
        ("Ctrl+Alt+!", "ctrl+alt+shift+1"),  # on the shifted level of the 1 key
    ],
)
def test_press_emits_the_key_id_on_the_gui_thread(
    qtbot: QtBot, manager: HotkeyManager, sequence: str, keys: str
) -> None:
    assert manager.set_hotkeys({"ocr": sequence}) == {}
    assert manager.backend_name == "x11"
    threads: list[QThread] = []
    # A direct connection runs in the thread that emits: the signal must come from the GUI's.
    manager.hotkey_pressed.connect(
        lambda _key_id: threads.append(QThread.currentThread()), Qt.ConnectionType.DirectConnection
    )
    with qtbot.waitSignal(manager.hotkey_pressed, timeout=2000) as blocker:
        xdotool("key", keys)
    assert blocker.args == ["ocr"]
    app = QCoreApplication.instance()
    assert app is not None
    assert threads == [app.thread()]


def test_other_keys_and_other_modifiers_do_not_fire(qtbot: QtBot, manager: HotkeyManager) -> None:
    assert manager.set_hotkeys({"ocr": "Ctrl+Alt+O"}) == {}
    with qtbot.assertNotEmitted(manager.hotkey_pressed, wait=300):
        xdotool("key", "ctrl+alt+p", "ctrl+o", "ctrl+alt+shift+o")
    with qtbot.waitSignal(manager.hotkey_pressed, timeout=2000):  # still there
        xdotool("key", "ctrl+alt+o")


@pytest.mark.parametrize("lock", ["Num_Lock", "Caps_Lock"])
def test_fires_whatever_lock_keys_are_on(
    backend: X11Backend, other: OtherClient, lock: str
) -> None:
    presses = Presses()
    backend.register("ocr", "Ctrl+Alt+N", presses)
    mask = other.num_lock if lock == "Num_Lock" else other.caps_lock
    assert other.modifier_state() & mask == 0
    xdotool("key", lock)
    try:
        assert other.modifier_state() & mask, f"{lock} did not turn on"
        xdotool("key", "ctrl+alt+n")
        assert presses.wait(), f"no press with {lock} on"
        assert presses.key_ids == ["ocr"]
    finally:
        xdotool("key", lock)
    assert other.modifier_state() & mask == 0


def test_a_key_another_program_holds_is_a_conflict_and_nothing_stays_grabbed(
    backend: X11Backend, other: OtherClient
) -> None:
    ctrl_alt = X.ControlMask | other.alt
    assert other.grab("k", ctrl_alt) is None
    with pytest.raises(HotkeyConflict) as caught:
        backend.register("ask", "Ctrl+Alt+K", Presses())
    assert str(caught.value) == CONFLICT
    # Our grabs of the lock variants succeeded before the BadAccess came: all released.
    for extra in (other.num_lock, other.caps_lock, other.num_lock | other.caps_lock):
        assert other.grab("k", ctrl_alt | extra) is None
    # Once the other program lets go, the key can be ours.
    for extra in (0, other.num_lock, other.caps_lock, other.num_lock | other.caps_lock):
        other.ungrab("k", ctrl_alt | extra)
    presses = Presses()
    backend.register("ask", "Ctrl+Alt+K", presses)
    xdotool("key", "ctrl+alt+k")
    assert presses.wait()


def test_set_hotkeys_reports_a_conflict_and_retries_it_later(
    qtbot: QtBot, manager: HotkeyManager, other: OtherClient
) -> None:
    ctrl_alt = X.ControlMask | other.alt
    assert other.grab("k", ctrl_alt) is None
    problems = manager.set_hotkeys({"ask": "Ctrl+Alt+K", "ocr": "Ctrl+Alt+O"})
    assert problems == {"ask": CONFLICT}
    assert manager.active == {"ocr": "Ctrl+Alt+O"}
    other.ungrab("k", ctrl_alt)
    assert manager.set_hotkeys({"ask": "Ctrl+Alt+K", "ocr": "Ctrl+Alt+O"}) == {}
    with qtbot.waitSignal(manager.hotkey_pressed, timeout=2000) as blocker:
        xdotool("key", "ctrl+alt+k")
    assert blocker.args == ["ask"]


def test_unregister_frees_the_key(backend: X11Backend, other: OtherClient) -> None:
    ctrl_alt = X.ControlMask | other.alt
    backend.register("ocr", "Ctrl+Alt+J", Presses())
    assert isinstance(other.grab("j", ctrl_alt), BadAccess)
    assert isinstance(other.grab("j", ctrl_alt | other.num_lock), BadAccess)
    backend.unregister("ocr")
    assert other.grab("j", ctrl_alt) is None
    assert other.grab("j", ctrl_alt | other.num_lock) is None
    backend.unregister("ocr")  # twice, or never registered: nothing happens


def test_set_hotkeys_releases_what_went_and_grabs_what_changed(
    qtbot: QtBot, manager: HotkeyManager, other: OtherClient
) -> None:
    ctrl_alt = X.ControlMask | other.alt
    assert manager.set_hotkeys({"ocr": "Ctrl+Alt+O", "ask": "Ctrl+Alt+A", "table": ""}) == {}
    assert manager.active == {"ocr": "Ctrl+Alt+O", "ask": "Ctrl+Alt+A"}
    # ocr moves to U, ask goes, describe swaps in on ocr's old key: all in one call.
    problems = manager.set_hotkeys({"ocr": "ctrl+alt+u", "describe": "Ctrl+Alt+O"})
    assert problems == {}
    assert manager.active == {"ocr": "Ctrl+Alt+U", "describe": "Ctrl+Alt+O"}
    assert other.grab("a", ctrl_alt) is None  # released
    assert isinstance(other.grab("u", ctrl_alt), BadAccess)
    for keys, key_id in (("ctrl+alt+u", "ocr"), ("ctrl+alt+o", "describe")):
        with qtbot.waitSignal(manager.hotkey_pressed, timeout=2000) as blocker:
            xdotool("key", keys)
        assert blocker.args == [key_id]


def test_the_same_key_twice_is_reported(manager: HotkeyManager) -> None:
    problems = manager.set_hotkeys({"ocr": "Ctrl+Alt+O", "ask": "ctrl+alt+o"})
    assert problems == {
        "ask": "Ctrl+Alt+O is also the hotkey of “ocr”; give each preset its own key in "
        "Settings → Presets."
    }


def test_an_unparseable_sequence_is_a_clear_error(
    backend: X11Backend, manager: HotkeyManager
) -> None:
    with pytest.raises(HotkeyError, match=r"'Hyper' is not a modifier") as caught:
        backend.register("ocr", "Ctrl+Hyper+O", Presses())
    assert not isinstance(caught.value, HotkeyConflict)
    problems = manager.set_hotkeys({"ocr": "Ctrl+Alt+Frobnicate", "ask": "Ctrl+Alt+A"})
    assert list(problems) == ["ocr"]
    assert "'Frobnicate' is not a key ScreenScribe can use" in problems["ocr"]
    assert manager.active == {"ask": "Ctrl+Alt+A"}


def test_holding_the_key_fires_once(backend: X11Backend) -> None:
    presses = Presses()
    backend.register("ocr", "Ctrl+Alt+H", presses)
    xdotool("keydown", "ctrl+alt+h")
    try:
        time.sleep(1.2)  # the server's auto-repeat starts after 660 ms, 25 a second
    finally:
        xdotool("keyup", "ctrl+alt+h")
    assert presses.wait()
    time.sleep(0.3)
    assert presses.key_ids == ["ocr"]
    assert backend.repeats_ignored >= 5  # the server did repeat, and we held back
    xdotool("key", "ctrl+alt+h")  # a new press after the release fires again
    assert presses.wait()
    assert presses.key_ids == ["ocr", "ocr"]


def test_close_is_prompt_and_nothing_fires_afterwards(
    backend: X11Backend, other: OtherClient
) -> None:
    presses = Presses()
    backend.register("ocr", "Ctrl+Alt+C", presses)
    xdotool("key", "ctrl+alt+c")
    assert presses.wait()
    reader = backend._thread
    assert reader is not None
    assert reader.is_alive()
    started = time.perf_counter()
    backend.close()
    took = time.perf_counter() - started
    assert took < 0.1, f"close() took {took * 1000:.0f} ms"
    assert not reader.is_alive()
    xdotool("key", "ctrl+alt+c")
    assert not presses.wait(0.3)
    assert presses.key_ids == ["ocr"]
    assert other.grab("c", X.ControlMask | other.alt) is None  # the key is free again
    backend.close()  # twice is fine
    with pytest.raises(HotkeyError, match="closed"):
        backend.register("ocr", "Ctrl+Alt+C", presses)


def test_manager_close_stops_the_signal(qtbot: QtBot, manager: HotkeyManager) -> None:
    assert manager.set_hotkeys({"ocr": "Ctrl+Alt+O"}) == {}
    manager.close()
    with qtbot.assertNotEmitted(manager.hotkey_pressed, wait=300):
        xdotool("key", "ctrl+alt+o")


def test_describe_names_the_backend(manager: HotkeyManager) -> None:
    assert manager.describe() == "x11 (X11 key grabs with python-xlib)"
