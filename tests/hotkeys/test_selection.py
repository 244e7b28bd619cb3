"""Which hotkey backend each kind of session gets, and what a person is told where none
works. Sessions are described by their environment variables; the manager's answers
come from the real selection code (and, for X11, the real X server of the test run)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from desktop_app.hotkeys import BACKENDS, HotkeyError, HotkeyManager, select_backend
from desktop_app.hotkeys.base import capture_command, desktop_name, manual_binding_hint

GNOME_WAYLAND = {
    "WAYLAND_DISPLAY": "wayland-0",
    "DISPLAY": ":0",  # XWayland
    "XDG_SESSION_TYPE": "wayland",
    "XDG_CURRENT_DESKTOP": "ubuntu:GNOME",
}
KDE_WAYLAND = {
    "WAYLAND_DISPLAY": "wayland-0",
    "DISPLAY": ":1",
    "XDG_SESSION_TYPE": "wayland",
    "XDG_CURRENT_DESKTOP": "KDE",
}
SWAY = {
    "WAYLAND_DISPLAY": "wayland-1",
    "DISPLAY": ":0",
    "SWAYSOCK": "/run/user/1000/sway-ipc.1000.1234.sock",
    "XDG_CURRENT_DESKTOP": "sway",
}
#: Why the portal backend is skipped in these sessions: they name no D-Bus session bus.
NO_BUS = "no D-Bus session bus to reach the desktop portal (DBUS_SESSION_BUS_ADDRESS is not set)"

HYPRLAND = {
    "WAYLAND_DISPLAY": "wayland-1",
    "HYPRLAND_INSTANCE_SIGNATURE": "abc_123",
    "XDG_CURRENT_DESKTOP": "Hyprland",
}

TABLE = [
    ("X11 GNOME", {"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, "linux", ["x11", "none"]),
    ("X11 from startx", {"DISPLAY": ":0"}, "linux", ["x11", "none"]),
    ("X11 on FreeBSD", {"DISPLAY": ":0"}, "freebsd14", ["x11", "none"]),
    ("GNOME Wayland", GNOME_WAYLAND, "linux", ["portal", "none"]),
    ("KDE Wayland", KDE_WAYLAND, "linux", ["portal", "none"]),
    ("sway (wlroots)", SWAY, "linux", ["portal", "none"]),
    ("Hyprland", HYPRLAND, "linux", ["portal", "none"]),
    (
        "Wayland by session type only",
        {"XDG_SESSION_TYPE": "wayland", "DISPLAY": ":0"},
        "linux",
        ["portal", "none"],
    ),
    (
        "Wayland, Qt forced onto XWayland",
        {**GNOME_WAYLAND, "QT_QPA_PLATFORM": "xcb"},
        "linux",
        ["portal", "x11", "none"],
    ),
    ("Windows", {}, "win32", ["windows", "none"]),
    ("Windows with an X server for WSL", {"DISPLAY": ":0"}, "win32", ["windows", "none"]),
    ("macOS", {}, "darwin", ["macos", "none"]),
    ("macOS with XQuartz", {"DISPLAY": "/private/tmp/xquartz:0"}, "darwin", ["macos", "none"]),
    ("a console or ssh without X", {}, "linux", ["none"]),
]


@pytest.mark.parametrize(
    ("environ", "platform", "expected"),
    [case[1:] for case in TABLE],
    ids=[case[0] for case in TABLE],
)
def test_backend_order_per_session(
    environ: dict[str, str], platform: str, expected: list[str]
) -> None:
    assert select_backend(environ, platform) == expected


def test_every_backend_of_the_table_is_in_the_strategy_list() -> None:
    names = {name for case in TABLE for name in case[3]}
    assert names - {"none"} == {spec.name for spec in BACKENDS}
    assert [spec.name for spec in BACKENDS if spec.factory is not None] == ["portal", "x11"]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (GNOME_WAYLAND, "gnome"),
        (KDE_WAYLAND, "kde"),
        (SWAY, "sway"),
        (HYPRLAND, "hyprland"),
        ({"XDG_CURRENT_DESKTOP": "XFCE"}, "xfce"),
        ({"XDG_CURRENT_DESKTOP": "X-Cinnamon"}, "cinnamon"),
        ({"DESKTOP_SESSION": "plasmawayland"}, "kde"),
        ({"XDG_CURRENT_DESKTOP": "Openbox"}, ""),
        ({}, ""),
    ],
)
def test_desktop_name(environ: dict[str, str], expected: str) -> None:
    assert desktop_name(environ) == expected


@pytest.fixture
def on_path(tmp_path: Path) -> str:
    """A PATH on which ``screenscribe`` is found, as for an installed app."""
    folder = tmp_path / "bin"
    folder.mkdir()
    program = folder / "screenscribe"
    program.write_text("#!/bin/sh\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return str(folder)


def test_capture_command(on_path: str, tmp_path: Path) -> None:
    assert capture_command("ocr", {"PATH": on_path}) == "screenscribe capture --preset ocr"
    assert (
        capture_command("my notes", {"PATH": on_path}) == "screenscribe capture --preset 'my notes'"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    beside = Path(sys.executable).with_name("screenscribe")
    program = str(beside) if beside.is_file() else "screenscribe"
    assert capture_command("ocr", {"PATH": str(empty)}) == f"{program} capture --preset ocr"


@pytest.mark.parametrize(
    ("environ", "where"),
    [
        (
            GNOME_WAYLAND,
            f"in this GNOME Wayland session (portal: {NO_BUS}); bind `screenscribe capture "
            "--preset ocr` to Ctrl+Alt+O in Settings → Keyboard → View and Customize "
            "Shortcuts → Custom Shortcuts.",
        ),
        (
            KDE_WAYLAND,
            f"in this KDE Plasma Wayland session (portal: {NO_BUS}); bind `screenscribe "
            "capture --preset ocr` to Ctrl+Alt+O in System Settings → Keyboard → Shortcuts → "
            "Add New → Command or Script.",
        ),
        (
            SWAY,
            f"in this sway Wayland session (portal: {NO_BUS}); add `bindsym Ctrl+Mod1+o exec "
            "screenscribe capture --preset ocr` to ~/.config/sway/config.",
        ),
        (
            HYPRLAND,
            f"in this Hyprland Wayland session (portal: {NO_BUS}); add `bind = CTRL ALT, o, "
            "exec, screenscribe capture --preset ocr` to ~/.config/hypr/hyprland.conf.",
        ),
        (
            {},
            "here (no global hotkey backend for this session); bind `screenscribe capture "
            "--preset ocr` to Ctrl+Alt+O in your desktop's keyboard shortcut settings.",
        ),
    ],
    ids=["gnome", "kde", "sway", "hyprland", "no-display"],
)
def test_without_a_backend_each_key_gets_the_command_to_bind(
    qtbot: QtBot, on_path: str, environ: dict[str, str], where: str
) -> None:
    env = {**environ, "PATH": on_path}
    manager = HotkeyManager(environ=env, platform="linux")
    try:
        assert manager.backend_name == "none"
        problems = manager.set_hotkeys({"ocr": "ctrl+alt+o", "ask": "", "bad": "Ctrl+Alt"})
        assert problems == {
            "ocr": f"Ctrl+Alt+O cannot be a global hotkey {where}",
            "bad": "“Ctrl+Alt” names only modifiers; add a key, such as Ctrl+Alt+O, "
            "Meta+Shift+F2 or Ctrl+Alt+Print.",
        }
        assert manager.active == {}
    finally:
        manager.close()


def test_sway_binding_spells_modifiers_the_sway_way(on_path: str) -> None:
    hint = manual_binding_hint("ask", "Meta+Shift+F2", {**SWAY, "PATH": on_path})
    assert hint == (
        "add `bindsym Mod4+Shift+F2 exec screenscribe capture --preset ask` to "
        "~/.config/sway/config"
    )


def test_an_x_server_that_does_not_answer_leaves_no_backend(qtbot: QtBot, on_path: str) -> None:
    manager = HotkeyManager(environ={"DISPLAY": ":987", "PATH": on_path}, platform="linux")
    try:
        assert manager.backend_name == "none"
        description = manager.describe()
        assert description.startswith("none (x11: Cannot open X display :987: ")
        assert description.endswith(
            "bind `screenscribe capture --preset NAME` to a key in your desktop's keyboard "
            "shortcut settings"
        )
        problem = manager.set_hotkeys({"ocr": "Ctrl+Alt+O"})["ocr"]
        assert problem.startswith(
            "Ctrl+Alt+O cannot be a global hotkey here (x11: Cannot open X display :987: "
        )
    finally:
        manager.close()


def test_describe_says_why_a_preferred_backend_was_skipped(qtbot: QtBot) -> None:
    env = {**GNOME_WAYLAND, "DISPLAY": os.environ["DISPLAY"], "QT_QPA_PLATFORM": "xcb"}
    manager = HotkeyManager(environ=env, platform="linux")
    try:
        assert manager.backend_name == "x11"
        assert manager.describe() == (
            f"x11 (X11 key grabs with python-xlib); skipped portal: {NO_BUS}"
        )
    finally:
        manager.close()


def test_a_backend_can_be_forced(qtbot: QtBot) -> None:
    # GNOME on Wayland would not try X11; forced, it is used (here on the test's Xvfb).
    env = {**GNOME_WAYLAND, "DISPLAY": os.environ["DISPLAY"]}
    manager = HotkeyManager(prefer="x11", environ=env, platform="linux")
    try:
        assert manager.backend_name == "x11"
        assert manager.set_hotkeys({"ocr": "Ctrl+Alt+F9"}) == {}
    finally:
        manager.close()
    none = HotkeyManager(prefer="none", environ={"DISPLAY": os.environ["DISPLAY"]})
    assert none.backend_name == "none"
    none.close()
    with pytest.raises(HotkeyError, match="Unknown hotkey backend 'gtk'; choose one of: "):
        HotkeyManager(prefer="gtk")


def test_the_clipboard_hotkeys_command_reads_the_clipboard(on_path: str) -> None:
    from desktop_app.hotkeys.base import CLIPBOARD_KEY

    assert capture_command(CLIPBOARD_KEY, {"PATH": on_path}) == "screenscribe clipboard"


def test_on_macos_the_hint_says_how_to_bind_the_command_with_shortcuts(on_path: str) -> None:
    from desktop_app.hotkeys import HotkeyManager

    manager = HotkeyManager(environ={"PATH": on_path}, platform="darwin")
    try:
        problems = manager.set_hotkeys({"ocr": "Ctrl+Alt+O"})
    finally:
        manager.close()
    assert manager.backend_name == "none"
    assert "Quick Action in the Shortcuts app" in problems["ocr"]
    assert "`screenscribe capture --preset ocr`" in problems["ocr"]
