"""The Wayland hotkey backend: xdg-desktop-portal's GlobalShortcuts portal.

Every test speaks real D-Bus on a private ``dbus-daemon`` (tests/wayland.py). What only a
desktop with the portal and a person at its dialog can give (approve, approve with
another key, decline, never answer, a key pressed) comes from a stand-in portal
(tests/fake_shortcuts_portal.py) that sends what xdg-desktop-portal sends; the real
xdg-desktop-portal of the machine (1.16 on Debian 12, which has no GlobalShortcuts
backend) shows what the backend says where the portal lacks it. A test skips, naming the
Debian package, only where dbus-daemon or xdg-desktop-portal is not installed.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, new_method_call  # type: ignore[import-untyped, unused-ignore]
from jeepney.io.blocking import open_dbus_connection  # type: ignore[import-untyped, unused-ignore]
from PySide6.QtCore import QCoreApplication, Qt, QThread
from pytestqt.qtbot import QtBot

from desktop_app.hotkeys import HotkeyError, HotkeyManager
from desktop_app.hotkeys.base import parse_sequence
from desktop_app.hotkeys.portal import (
    PORTAL_INSTALL_HINT,
    SHORTCUTS_HINT,
    Binding,
    PortalBackend,
    same_keys,
    xdg_trigger,
)
from tests.wayland import PORTAL, Bus, missing, read_calls, session_bus
from tests.wayland import fake_portal as wayland_fake_portal

BUS_MISSING = missing("dbus-daemon")
NEEDS = {"bus": BUS_MISSING}  # tests/conftest.py skips what uses it where it is missing
REAL_PORTAL_MISSING = missing("dbus-daemon", PORTAL)
GLOBAL_SHORTCUTS_BACKENDS = [
    p.name
    for p in Path("/usr/share/xdg-desktop-portal/portals").glob("*.portal")
    if "org.freedesktop.impl.portal.GlobalShortcuts" in p.read_text(errors="replace")
]
SESSION_PATH = re.compile(
    r"/org/freedesktop/portal/desktop/session/1_\d+/screenscribe_[0-9a-f]{16}"
)
REQUEST_PATH = re.compile(
    r"/org/freedesktop/portal/desktop/request/1_\d+/screenscribe_[0-9a-f]{16}"
)
KDE = {"XDG_CURRENT_DESKTOP": "KDE", "XDG_SESSION_TYPE": "wayland"}


# --- the stand-in portal and its bus ----------------------------------------------------


@pytest.fixture
def bus() -> Iterator[Bus]:
    with session_bus() as private:
        yield private


@pytest.fixture(scope="module")
def on_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A PATH on which ``screenscribe`` is found, as for an installed app: the command
    offered for binding a key by hand is then ``screenscribe capture --preset NAME``."""
    folder = tmp_path_factory.mktemp("bin")
    program = folder / "screenscribe"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    return str(folder)


def environ_of(bus: Bus, on_path: str) -> dict[str, str]:
    """A KDE Wayland session whose session bus is ``bus``."""
    return {
        **KDE,
        "WAYLAND_DISPLAY": "wayland-test",
        "DBUS_SESSION_BUS_ADDRESS": bus.address,
        "PATH": on_path,
    }


@pytest.fixture
def env(bus: Bus, on_path: str) -> dict[str, str]:
    return environ_of(bus, on_path)


def fake_portal(bus: Bus, *args: str, outlives_bus: bool = True) -> Any:
    """The stand-in GlobalShortcuts portal (tests/fake_shortcuts_portal.py) on ``bus``;
    it must still run at the end unless the test stops the bus (``outlives_bus=False``)."""
    return wayland_fake_portal(
        bus, *args, module="tests.fake_shortcuts_portal", outlives_bus=outlives_bus
    )


def desktop(bus: Bus, member: str, signature: str | None = None, *args: Any) -> Any:
    """Play the desktop's part: a method of the stand-in's test interface (Activate,
    ChangeTrigger, CloseSession); its reply's body, or the error's name."""
    control = DBusAddress(
        "/org/screenscribe/FakePortal",
        "org.freedesktop.portal.Desktop",
        "org.screenscribe.FakePortal",
    )
    with open_dbus_connection(bus=bus.address) as conn:
        reply = conn.send_and_get_reply(
            new_method_call(control, member, signature, args), timeout=5
        )
    return reply.header.fields.get(HeaderFields.error_name) or reply.body


def calls_named(calls: Path, method: str) -> list[dict[str, Any]]:
    return [c for c in read_calls(calls) if c["method"] == method]


def wait_for_calls(qtbot: QtBot, calls: Path, method: str, count: int) -> list[dict[str, Any]]:
    qtbot.waitUntil(lambda: len(calls_named(calls, method)) >= count, timeout=5000)
    return calls_named(calls, method)


class Recorder:
    """The backend's signals, kept."""

    def __init__(self, backend: PortalBackend) -> None:
        self.bound: list[dict[str, Binding]] = []
        self.failed: list[dict[str, str]] = []
        backend.shortcuts_bound.connect(self.bound.append)
        backend.shortcuts_failed.connect(self.failed.append)


@pytest.fixture
def make_backend(qtbot: QtBot, env: dict[str, str]) -> Iterator[Any]:
    made: list[PortalBackend] = []

    def make(answer_timeout: float = 30.0) -> PortalBackend:
        backend = PortalBackend(env, answer_timeout=answer_timeout)
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def hint(preset: str, keys: str) -> str:
    return (
        f"bind `screenscribe capture --preset {preset}` to {keys} in System Settings → "
        "Keyboard → Shortcuts → Add New → Command or Script"
    )


# --- the shortcuts specification's text ----------------------------------------------------


@pytest.mark.parametrize(
    ("sequence", "trigger"),
    [
        ("Ctrl+Alt+O", "CTRL+ALT+o"),
        ("Meta+Shift+F2", "SHIFT+LOGO+F2"),
        ("Ctrl+Alt+Print", "CTRL+ALT+Print"),
        ("Ctrl+Alt+,", "CTRL+ALT+comma"),
        ("Ctrl+Alt+PgUp", "CTRL+ALT+Prior"),
        ("Ctrl+Alt+Space", "CTRL+ALT+space"),
        ("Ctrl+Alt+5", "CTRL+ALT+5"),
        ("Ctrl+Alt+é", None),  # no keysym name of letters and digits here: the user picks
    ],
)
def test_preferred_triggers_follow_the_shortcuts_specification(
    sequence: str, trigger: str | None
) -> None:
    assert xdg_trigger(parse_sequence(sequence)) == trigger


@pytest.mark.parametrize(
    ("description", "same"),
    [
        ("CTRL+ALT+o", True),
        ("Ctrl+Alt+O", True),
        ("Alt+Ctrl+O", True),
        ("Ctrl+Shift+P", False),
        ("Ctrl+O", False),
        ("CTRL+ALT+p", False),
        ("Ctrl+Alt+Frobnicate", None),
        ("Press Ctrl and O together", None),
        ("", None),
    ],
)
def test_a_desktops_description_is_compared_with_the_key_asked_for(
    description: str, same: bool | None
) -> None:
    assert same_keys(description, parse_sequence("Ctrl+Alt+O")) is same


def test_same_keys_reads_the_specifications_words() -> None:
    assert same_keys("SHIFT+LOGO+F2", parse_sequence("Meta+Shift+F2")) is True
    assert same_keys("Meta+Shift+F2", parse_sequence("Meta+Shift+F2")) is True
    assert same_keys("CTRL+ALT+comma", parse_sequence("Ctrl+Alt+,")) is True
    assert same_keys("Ctrl++", parse_sequence("Ctrl++")) is True
    assert same_keys("Ctrl+Alt+Page Up", parse_sequence("Ctrl+Alt+PgUp")) is True
    assert same_keys("CTRL+ALT+Prior", parse_sequence("Ctrl+Alt+PgUp")) is True
    assert same_keys("SHIFT+LOGO+F3", parse_sequence("Meta+Shift+F2")) is False


# --- binding, pressing ---------------------------------------------------------------------


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_keys_are_bound_in_one_request_and_a_press_reaches_the_gui_thread(
    qtbot: QtBot, bus: Bus, env: dict[str, str]
) -> None:
    with fake_portal(bus) as calls:
        manager = HotkeyManager(environ=env, platform="linux")
        try:
            assert manager.backend_name == "portal"
            assert manager.describe() == "portal (xdg-desktop-portal GlobalShortcuts (Wayland))"
            backend = manager._backend
            assert isinstance(backend, PortalBackend)
            assert backend.version == 1
            recorder = Recorder(backend)
            started = time.perf_counter()
            problems = manager.set_hotkeys({"ocr": "ctrl+alt+o", "ask": "Meta+Shift+F2", "x": ""})
            took = time.perf_counter() - started
            assert problems == {}
            assert took < 0.5, f"set_hotkeys took {took:.2f} s: it must not wait for the desktop"
            assert manager.active == {"ocr": "Ctrl+Alt+O", "ask": "Meta+Shift+F2"}
            qtbot.waitUntil(lambda: bool(recorder.bound), timeout=5000)
            assert not backend.pending
            recorded = read_calls(calls)
            assert [c["method"] for c in recorded] == ["CreateSession", "BindShortcuts"]
            create, bind = recorded
            token = create["options"]["handle_token"]
            assert re.fullmatch(r"screenscribe_[0-9a-f]{16}", token)
            assert create["options"]["session_handle_token"] == token
            assert REQUEST_PATH.fullmatch(create["handle"])
            assert SESSION_PATH.fullmatch(create["session"])
            assert bind["session"] == create["session"] == backend.session
            assert bind["parent_window"] == ""
            assert REQUEST_PATH.fullmatch(bind["handle"])
            assert bind["handle"].endswith(bind["options"]["handle_token"])
            assert bind["shortcuts"] == [
                [
                    "ocr",
                    {
                        "description": "Capture a region with the ScreenScribe preset “ocr”",
                        "preferred_trigger": "CTRL+ALT+o",
                    },
                ],
                [
                    "ask",
                    {
                        "description": "Capture a region with the ScreenScribe preset “ask”",
                        "preferred_trigger": "SHIFT+LOGO+F2",
                    },
                ],
            ]
            assert recorder.bound == [
                {
                    "ocr": Binding("ocr", "Ctrl+Alt+O", "CTRL+ALT+o", changed=False),
                    "ask": Binding("ask", "Meta+Shift+F2", "SHIFT+LOGO+F2", changed=False),
                }
            ]
            assert str(recorder.bound[0]["ocr"]) == "“ocr” is bound to CTRL+ALT+o."
            assert recorder.failed == []

            threads: list[QThread] = []
            manager.hotkey_pressed.connect(
                lambda _key_id: threads.append(QThread.currentThread()),
                Qt.ConnectionType.DirectConnection,
            )
            for key_id in ("ask", "ocr", "ask"):
                with qtbot.waitSignal(manager.hotkey_pressed, timeout=3000) as blocker:
                    assert desktop(bus, "Activate", "s", key_id) == (backend.session,)
                assert blocker.args == [key_id]
            app = QCoreApplication.instance()
            assert app is not None
            assert threads == [app.thread()] * 3
        finally:
            manager.close()
        (closed,) = wait_for_calls(qtbot, calls, "Session.Close", 1)
        assert closed["path"] == create["session"]


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_a_key_the_desktop_bound_otherwise_is_reported_and_works(
    qtbot: QtBot, bus: Bus, make_backend: Any
) -> None:
    with fake_portal(bus, "--assign", "ocr=Ctrl+Shift+P"):
        backend = make_backend()
        recorder = Recorder(backend)
        presses: list[str] = []
        backend.register("ocr", "Ctrl+Alt+O", presses.append)
        backend.register("ask", "Ctrl+Alt+A", presses.append)
        qtbot.waitUntil(lambda: bool(recorder.bound), timeout=5000)
        ocr = recorder.bound[0]["ocr"]
        assert ocr == Binding("ocr", "Ctrl+Alt+O", "Ctrl+Shift+P", changed=True)
        assert str(ocr) == "The desktop bound “ocr” to Ctrl+Shift+P instead of Ctrl+Alt+O."
        assert recorder.bound[0]["ask"].changed is False
        assert backend.bindings == recorder.bound[0]
        desktop(bus, "Activate", "s", "ocr")
        qtbot.waitUntil(lambda: presses == ["ocr"], timeout=3000)

        # Later the user rebinds it in the desktop's settings.
        desktop(bus, "ChangeTrigger", "ss", "ocr", "Ctrl+Alt+O")
        qtbot.waitUntil(lambda: len(recorder.bound) == 2, timeout=3000)
        assert recorder.bound[1] == {  # the session's whole list, as the signal has it
            "ocr": Binding("ocr", "Ctrl+Alt+O", "Ctrl+Alt+O", changed=False),
            "ask": Binding("ask", "Ctrl+Alt+A", "CTRL+ALT+a", changed=False),
        }
        assert backend.bindings["ocr"].trigger == "Ctrl+Alt+O"
        assert recorder.failed == []


@pytest.mark.parametrize(
    ("code", "why"),
    [
        (
            1,
            "Ctrl+Alt+O for “ocr” was declined in the desktop's global shortcuts dialog "
            "(portal response 1)",
        ),
        (
            2,
            "The desktop refused the global shortcut Ctrl+Alt+O for “ocr” (portal response 2: "
            "its portal backend failed or does not allow it)",
        ),
        (
            7,
            "The GlobalShortcuts portal answered the request for Ctrl+Alt+O for “ocr” with "
            "unknown response 7",
        ),
    ],
    ids=["declined", "refused", "unknown"],
)
@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_a_declined_or_refused_request_is_a_clear_problem(
    qtbot: QtBot, bus: Bus, make_backend: Any, code: int, why: str
) -> None:
    with fake_portal(bus, "--code", str(code)) as calls:
        backend = make_backend()
        recorder = Recorder(backend)
        backend.register("ocr", "Ctrl+Alt+O", lambda _key_id: None)
        qtbot.waitUntil(lambda: bool(recorder.failed), timeout=5000)
        assert recorder.failed == [{"ocr": f"{why}; {hint('ocr', 'Ctrl+Alt+O')}."}]
        assert recorder.bound == []
        assert backend.bindings == {}
        assert backend.session == ""
        (create,) = calls_named(calls, "CreateSession")
        (closed,) = wait_for_calls(qtbot, calls, "Session.Close", 1)
        assert closed["path"] == create["session"]
        # No longer registered: registering it again asks the desktop again.
        backend.register("ocr", "Ctrl+Alt+O", lambda _key_id: None)
        qtbot.waitUntil(lambda: len(recorder.failed) == 2, timeout=5000)
        assert len(calls_named(calls, "BindShortcuts")) == 2


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_no_answer_is_a_clear_problem_and_the_dialog_is_withdrawn(
    qtbot: QtBot, bus: Bus, make_backend: Any
) -> None:
    with fake_portal(bus, "--silent") as calls:
        backend = make_backend(answer_timeout=0.5)
        recorder = Recorder(backend)
        ticks: list[float] = []
        started = time.monotonic()
        backend.register("ocr", "Ctrl+Alt+O", lambda _key_id: None)
        backend.register("ask", "Ctrl+Alt+A", lambda _key_id: None)
        assert time.monotonic() - started < 0.3
        assert backend.pending
        # The GUI thread keeps running while the desktop's dialog would be open.
        from PySide6.QtCore import QTimer

        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(time.monotonic()))
        timer.start(50)
        qtbot.waitUntil(lambda: bool(recorder.failed), timeout=5000)
        timer.stop()
        elapsed = time.monotonic() - started
        assert 0.4 < elapsed < 3, elapsed
        assert len(ticks) >= 5
        timeout_why = (
            "The desktop did not answer the request to bind {} for “{}” within 0.5 s "
            "(nobody accepted its global shortcuts dialog, or its portal backend hangs)"
        )
        assert recorder.failed == [
            {
                "ocr": f"{timeout_why.format('Ctrl+Alt+O', 'ocr')}; {hint('ocr', 'Ctrl+Alt+O')}.",
                "ask": f"{timeout_why.format('Ctrl+Alt+A', 'ask')}; {hint('ask', 'Ctrl+Alt+A')}.",
            }
        ]
        assert not backend.pending
        (bind,) = calls_named(calls, "BindShortcuts")
        (withdrawn,) = wait_for_calls(qtbot, calls, "Request.Close", 1)
        (closed,) = wait_for_calls(qtbot, calls, "Session.Close", 1)
        assert withdrawn["path"] == bind["handle"]
        assert closed["path"] == bind["session"]


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_a_key_left_unbound_in_the_dialog_is_a_problem_the_others_work(
    qtbot: QtBot, bus: Bus, make_backend: Any
) -> None:
    with fake_portal(bus, "--omit", "ask"):
        backend = make_backend()
        recorder = Recorder(backend)
        presses: list[str] = []
        backend.register("ocr", "Ctrl+Alt+O", presses.append)
        backend.register("ask", "Ctrl+Alt+A", presses.append)
        qtbot.waitUntil(lambda: bool(recorder.bound) and bool(recorder.failed), timeout=5000)
        assert list(recorder.bound[0]) == ["ocr"]
        assert recorder.failed == [
            {
                "ask": "The desktop left Ctrl+Alt+A for “ask” without a key in its global "
                f"shortcuts dialog; {hint('ask', 'Ctrl+Alt+A')}."
            }
        ]
        desktop(bus, "Activate", "s", "ocr")
        qtbot.waitUntil(lambda: presses == ["ocr"], timeout=3000)


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_changes_bind_the_whole_set_in_a_new_session(
    qtbot: QtBot, bus: Bus, make_backend: Any
) -> None:
    with fake_portal(bus) as calls:
        backend = make_backend()
        recorder = Recorder(backend)
        presses: list[str] = []
        backend.register("ocr", "Ctrl+Alt+O", presses.append)
        backend.register("ask", "Ctrl+Alt+A", presses.append)
        backend.register("table", "Ctrl+Alt+T", presses.append)
        backend.unregister("table")  # before the event loop ran: never asked for
        qtbot.waitUntil(lambda: len(recorder.bound) == 1, timeout=5000)
        first = backend.session
        (bind,) = calls_named(calls, "BindShortcuts")
        assert [s[0] for s in bind["shortcuts"]] == ["ocr", "ask"]

        backend.register("ocr", "Ctrl+Alt+U", presses.append)  # a new key for ocr
        backend.unregister("ask")
        qtbot.waitUntil(lambda: len(recorder.bound) == 2, timeout=5000)
        assert backend.session != first
        assert [c["method"] for c in read_calls(calls)] == [
            "CreateSession",
            "BindShortcuts",
            "Session.Close",
            "CreateSession",
            "BindShortcuts",
        ]
        assert calls_named(calls, "Session.Close") == [{"method": "Session.Close", "path": first}]
        rebind = calls_named(calls, "BindShortcuts")[1]
        assert rebind["session"] == backend.session
        assert [(s[0], s[1]["preferred_trigger"]) for s in rebind["shortcuts"]] == [
            ("ocr", "CTRL+ALT+u")
        ]
        assert list(backend.bindings) == ["ocr"]

        # Presses announced for the old session are not ours any more.
        assert desktop(bus, "Activate", "s", "ask") == (first,)
        assert desktop(bus, "ActivateIn", "os", first, "ocr") == (first,)
        desktop(bus, "Activate", "s", "ocr")
        qtbot.waitUntil(lambda: presses == ["ocr"], timeout=3000)

        # The same set again: nothing is asked; none left: the session is closed.
        backend.register("ocr", "ctrl+alt+u", presses.append)
        qtbot.wait(100)
        assert len(calls_named(calls, "CreateSession")) == 2
        backend.unregister("ocr")
        backend.unregister("never registered")
        closes = wait_for_calls(qtbot, calls, "Session.Close", 2)
        assert closes[1]["path"] == rebind["session"]
        assert backend.session == ""
        assert backend.bindings == {}
        assert len(calls_named(calls, "CreateSession")) == 2


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_a_session_the_desktop_ends_is_a_problem(qtbot: QtBot, bus: Bus, make_backend: Any) -> None:
    with fake_portal(bus):
        backend = make_backend()
        recorder = Recorder(backend)
        backend.register("ocr", "Ctrl+Alt+O", lambda _key_id: None)
        qtbot.waitUntil(lambda: bool(recorder.bound), timeout=5000)
        assert desktop(bus, "CloseSession") == (backend.session,)
        qtbot.waitUntil(lambda: bool(recorder.failed), timeout=3000)
        assert recorder.failed == [
            {
                "ocr": "The desktop ended the global shortcuts session, so Ctrl+Alt+O for "
                f"“ocr” no longer works; {hint('ocr', 'Ctrl+Alt+O')}."
            }
        ]
        assert backend.session == ""


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_close_closes_the_session_and_nothing_fires_afterwards(
    qtbot: QtBot, bus: Bus, make_backend: Any
) -> None:
    with fake_portal(bus) as calls:
        backend = make_backend()
        recorder = Recorder(backend)
        presses: list[str] = []
        backend.register("ocr", "Ctrl+Alt+O", presses.append)
        qtbot.waitUntil(lambda: bool(recorder.bound), timeout=5000)
        session = backend.session
        started = time.perf_counter()
        backend.close()
        took = time.perf_counter() - started
        assert took < 0.1, f"close() took {took * 1000:.0f} ms"
        (closed,) = wait_for_calls(qtbot, calls, "Session.Close", 1)
        assert closed["path"] == session
        desktop(bus, "Activate", "s", "ocr")
        qtbot.wait(200)
        assert presses == []
        backend.close()  # twice is fine
        with pytest.raises(HotkeyError, match="closed"):
            backend.register("ocr", "Ctrl+Alt+O", presses.append)


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_closing_while_the_dialog_is_open_withdraws_it(
    qtbot: QtBot, bus: Bus, make_backend: Any
) -> None:
    with fake_portal(bus, "--silent") as calls:
        backend = make_backend()
        recorder = Recorder(backend)
        backend.register("ocr", "Ctrl+Alt+O", lambda _key_id: None)
        (bind,) = wait_for_calls(qtbot, calls, "BindShortcuts", 1)
        backend.close()
        (withdrawn,) = wait_for_calls(qtbot, calls, "Request.Close", 1)
        (closed,) = wait_for_calls(qtbot, calls, "Session.Close", 1)
        assert (withdrawn["path"], closed["path"]) == (bind["handle"], bind["session"])
        qtbot.wait(100)
        assert recorder.failed == []  # closing is not a problem to report


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_the_bus_going_away_is_a_problem(qtbot: QtBot, bus: Bus, make_backend: Any) -> None:
    with fake_portal(bus, outlives_bus=False):
        backend = make_backend()
        recorder = Recorder(backend)
        backend.register("ocr", "Ctrl+Alt+O", lambda _key_id: None)
        qtbot.waitUntil(lambda: bool(recorder.bound), timeout=5000)
        bus.process.terminate()
        bus.process.wait(timeout=5)
        qtbot.waitUntil(lambda: bool(recorder.failed), timeout=5000)
        assert recorder.failed == [
            {
                "ocr": "The connection to the D-Bus session bus broke (the D-Bus session bus "
                "closed the connection), so Ctrl+Alt+O for “ocr” no longer works; "
                f"{hint('ocr', 'Ctrl+Alt+O')}."
            }
        ]
        assert backend.bindings == {}
        with pytest.raises(HotkeyError, match=r"^no D-Bus session bus to reach the desktop portal"):
            backend.register("ocr", "Ctrl+Alt+O", lambda _key_id: None)


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_an_unusable_key_is_refused_at_once(qtbot: QtBot, bus: Bus, make_backend: Any) -> None:
    with fake_portal(bus) as calls:
        backend = make_backend()
        with pytest.raises(HotkeyError, match=r"'Hyper' is not a modifier"):
            backend.register("ocr", "Ctrl+Hyper+O", lambda _key_id: None)
        qtbot.wait(100)
        assert read_calls(calls) == []
        assert not backend.pending


# --- where the portal cannot help ---------------------------------------------------------


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_no_portal_on_the_bus_leaves_the_command_to_bind(qtbot: QtBot, env: dict[str, str]) -> None:
    backend = PortalBackend(env)
    try:
        assert backend.is_compatible()
        ok, reason = backend.is_available()
    finally:
        backend.close()
    assert not ok
    assert reason.startswith(
        "no desktop portal on the D-Bus session bus (org.freedesktop.DBus.Error.ServiceUnknown: "
    )
    assert reason.endswith(f"): {PORTAL_INSTALL_HINT}")
    manager = HotkeyManager(environ=env, platform="linux")
    try:
        assert manager.backend_name == "none"
        assert manager.describe().startswith(f"none (portal: {reason}); bind `screenscribe")
        assert manager.set_hotkeys({"ocr": "Ctrl+Alt+O"}) == {
            "ocr": "Ctrl+Alt+O cannot be a global hotkey in this KDE Plasma Wayland session "
            f"(portal: {reason}); {hint('ocr', 'Ctrl+Alt+O')}."
        }
    finally:
        manager.close()


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_a_portal_without_global_shortcuts_is_unavailable(
    qtbot: QtBot, bus: Bus, make_backend: Any
) -> None:
    with fake_portal(bus, "--no-shortcuts") as calls:
        backend = make_backend()
        ok, reason = backend.is_available()
        assert not ok
        assert reason == (
            "the desktop portal has no GlobalShortcuts portal (org.freedesktop.DBus.Error."
            "InvalidArgs: No such interface “org.freedesktop.portal.GlobalShortcuts”): "
            f"{SHORTCUTS_HINT}"
        )
        with pytest.raises(HotkeyError) as caught:
            backend.register("ocr", "Ctrl+Alt+O", lambda _key_id: None)
        assert str(caught.value) == reason
        assert read_calls(calls) == []


def test_no_session_bus(qtbot: QtBot, tmp_path: Path) -> None:
    for environ, why in (
        ({"WAYLAND_DISPLAY": "wayland-0"}, "(DBUS_SESSION_BUS_ADDRESS is not set)"),
        (
            {"WAYLAND_DISPLAY": "wayland-0", "DBUS_SESSION_BUS_ADDRESS": f"unix:path={tmp_path}/x"},
            f"(unix:path={tmp_path}/x: [Errno 2] No such file or directory)",
        ),
        (
            {"WAYLAND_DISPLAY": "wayland-0", "DBUS_SESSION_BUS_ADDRESS": "tcp:host=localhost"},
            "(tcp:host=localhost: DBus transports ({'tcp'}) not supported. Supported: ('unix',))",
        ),
    ):
        backend = PortalBackend(environ)
        ok, reason = backend.is_available()
        backend.close()
        assert (ok, reason) == (False, f"no D-Bus session bus to reach the desktop portal {why}")


def test_the_portal_is_for_wayland_sessions() -> None:
    assert PortalBackend(
        {"WAYLAND_DISPLAY": "wayland-0"}
    ).is_compatible() == sys.platform.startswith("linux")
    assert not PortalBackend({"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}).is_compatible()


@pytest.mark.skipif(REAL_PORTAL_MISSING is not None, reason=REAL_PORTAL_MISSING or "")
@pytest.mark.skipif(
    bool(GLOBAL_SHORTCUTS_BACKENDS),
    reason=f"a GlobalShortcuts portal backend is installed here: {GLOBAL_SHORTCUTS_BACKENDS}",
)
def test_the_real_xdg_desktop_portal_of_debian_12_has_no_global_shortcuts(
    qtbot: QtBot, on_path: str
) -> None:
    """xdg-desktop-portal 1.16 has the GlobalShortcuts interface but exports it only where
    a portal backend implements it; Debian 12 ships none that does (wlr, gtk). Run for
    real on a private bus, configured for sway with the installed backends."""
    with session_bus(
        {"XDG_CURRENT_DESKTOP": "sway"}, services=["org.freedesktop.portal.Desktop"]
    ) as real:
        environ = {**environ_of(real, on_path), "XDG_CURRENT_DESKTOP": "sway", "SWAYSOCK": "/x"}
        backend = PortalBackend(environ)
        try:
            ok, reason = backend.is_available()
        finally:
            backend.close()
        assert not ok, real.log_tail()
        assert reason == (
            "the desktop portal has no GlobalShortcuts portal (org.freedesktop.DBus.Error."
            "InvalidArgs: No such interface “org.freedesktop.portal.GlobalShortcuts”): "
            f"{SHORTCUTS_HINT}"
        ), real.log_tail()
        manager = HotkeyManager(environ=environ, platform="linux")
        try:
            assert manager.backend_name == "none"
            assert manager.set_hotkeys({"ocr": "Ctrl+Alt+O"}) == {
                "ocr": f"Ctrl+Alt+O cannot be a global hotkey in this sway Wayland session "
                f"(portal: {reason}); add `bindsym Ctrl+Mod1+o exec screenscribe capture "
                "--preset ocr` to ~/.config/sway/config."
            }
        finally:
            manager.close()


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_the_manager_reports_what_the_desktop_refused_later(
    qtbot: QtBot, bus: Bus, env: dict[str, str]
) -> None:
    """set_hotkeys cannot wait for the person at the desktop's dialog: a refusal comes
    later as problems_reported, and the key is no longer active."""
    with fake_portal(bus, "--code", "1"):
        manager = HotkeyManager(environ=env, platform="linux")
        try:
            assert manager.set_hotkeys({"ocr": "Ctrl+Alt+O"}) == {}
            with qtbot.waitSignal(manager.problems_reported, timeout=5000) as reported:
                pass
            (problems,) = reported.args
            assert set(problems) == {"ocr"}
            assert "screenscribe capture --preset ocr" in problems["ocr"]
            assert manager.active == {}
        finally:
            manager.close()


@pytest.mark.skipif(BUS_MISSING is not None, reason=BUS_MISSING or "")
def test_the_manager_reports_a_key_the_desktop_chose_instead(
    qtbot: QtBot, bus: Bus, env: dict[str, str]
) -> None:
    with fake_portal(bus, "--assign", "ocr=Ctrl+Shift+P"):
        manager = HotkeyManager(environ=env, platform="linux")
        try:
            manager.set_hotkeys({"ocr": "Ctrl+Alt+O"})
            with qtbot.waitSignal(manager.bindings_reported, timeout=5000) as reported:
                pass
            assert reported.args == [
                {"ocr": "The desktop bound ocr to Ctrl+Shift+P instead of Ctrl+Alt+O."}
            ]
            assert manager.active == {"ocr": "Ctrl+Alt+O"}
        finally:
            manager.close()
