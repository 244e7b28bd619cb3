"""Shared fixtures: a real streaming server on 127.0.0.1 and an isolated environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import StreamServer


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's own settings, history, key or endpoint."""
    monkeypatch.setenv("SCREENSCRIBE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("SCREENSCRIBE_DATA_DIR", str(tmp_path / "data"))
    # keyring in subprocesses (the CLI tests): a real file-backed backend, in tmp_path.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    for var in (
        "SCREENSCRIBE_API_KEY",
        "SCREENSCRIBE_ENDPOINT",
        "SCREENSCRIBE_MODEL",
        "SCREENSCRIBE_PROFILE",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _no_session_keys() -> Iterator[None]:
    """Keys kept for "this session only" live in the test process: none leaks onward."""
    yield
    from desktop_app.core import secrets

    secrets._session_keys.clear()
    secrets._file_chosen = False


@pytest.fixture
def server() -> Iterator[StreamServer]:
    srv = StreamServer().start()
    try:
        yield srv
    finally:
        srv.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test using a fixture that needs programs this machine lacks (sway, dbus-daemon,
    xdg-desktop-portal: installed by .ci/run) is skipped, saying which. A test module
    names those facts in ``NEEDS``: fixture name -> ``tests.wayland.missing(...)``, None
    when everything is there."""
    for item in items:
        needs = getattr(getattr(item, "module", None), "NEEDS", None)
        if not needs:
            continue
        for name in item.fixturenames:
            if name in needs:
                why = needs[name]
                item.add_marker(pytest.mark.skipif(why is not None, reason=why or ""))
