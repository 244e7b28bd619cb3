"""Start at login on Linux: the XDG autostart entry, in a real (temporary) config home."""

from __future__ import annotations

import configparser
import shlex
import sys
from pathlib import Path

import pytest

from desktop_app import autostart
from desktop_app.core.errors import ConfigError


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg-config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG autostart is for Linux")
def test_start_at_login_writes_and_removes_the_xdg_entry(config_home: Path) -> None:
    entry = config_home / "autostart" / "screenscribe.desktop"
    assert not autostart.is_start_at_login()
    autostart.set_start_at_login(True)
    assert autostart.is_start_at_login()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(entry, encoding="utf-8")
    section = parser["Desktop Entry"]
    assert section["Type"] == "Application"
    assert shlex.split(section["Exec"]) == autostart.launch_command()
    autostart.set_start_at_login(False)
    assert not entry.exists()
    autostart.set_start_at_login(False)  # already off: no error


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="XDG autostart is for Linux")
def test_an_unwritable_autostart_folder_is_a_clear_error(config_home: Path) -> None:
    config_home.mkdir()
    (config_home / "autostart").write_text("a file where a folder belongs")
    with pytest.raises(ConfigError, match="programs started at login"):
        autostart.set_start_at_login(True)


def test_exec_quoting_follows_the_desktop_entry_spec() -> None:
    line = autostart._desktop_exec(["/opt/my apps/python", "-m", "desktop_app", 'a"b$c'])
    assert line == '"/opt/my apps/python" -m desktop_app "a\\"b\\$c"'
    assert shlex.split(line.replace("\\$", "$")) == [
        "/opt/my apps/python",
        "-m",
        "desktop_app",
        'a"b$c',
    ]
