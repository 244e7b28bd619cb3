"""API keys in a real keyring backend: keyrings.alt's file keyring under tmp_path, and
keyring's own "fail" and "null" backends for a machine without a keyring."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyrings.alt.file import PlaintextKeyring

from desktop_app.core import secrets
from desktop_app.core.errors import SecretStoreError, UsageError
from desktop_app.core.settings import (
    Profile,
    Settings,
    load_settings,
    replace_profile,
    save_settings,
)

KEY = "sk-test-7f3a9c1e5b2d4f60a8e1"
NO_ENV: dict[str, str] = {}
B = TypeVar("B", bound=KeyringBackend)


@contextlib.contextmanager
def installed(backend: B) -> Iterator[B]:
    """Make ``backend`` the keyring for the block, then restore the one before."""
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)


@pytest.fixture(autouse=True)
def _no_keyring_by_default() -> Iterator[KeyringBackend]:
    """Never touch the real user's keyring: tests without a keyring fixture get none."""
    with installed(fail.Keyring()) as backend:
        yield backend


@pytest.fixture
def file_keyring(
    tmp_path: Path, _no_keyring_by_default: KeyringBackend
) -> Iterator[PlaintextKeyring]:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    with installed(backend):
        yield backend


@pytest.fixture
def no_keyring(_no_keyring_by_default: KeyringBackend) -> KeyringBackend:
    assert isinstance(keyring.get_keyring(), fail.Keyring)
    return _no_keyring_by_default


# --- with a working keyring ------------------------------------------------------------


def test_set_then_get_round_trips_through_the_keyring(file_keyring: PlaintextKeyring) -> None:
    secrets.set_api_key("vllm", KEY)

    assert secrets.get_api_key("vllm", env=NO_ENV) == KEY
    assert secrets.key_source("vllm", env=NO_ENV) == "keyring"
    # Stored under service "screenscribe" with the profile as user name.
    assert file_keyring.get_password("screenscribe", "vllm") == KEY
    assert Path(file_keyring.file_path).is_file()


def test_keys_are_per_profile(file_keyring: PlaintextKeyring) -> None:
    secrets.set_api_key("hosted", "key-one")
    secrets.set_api_key("mybox", "key-two")

    assert secrets.get_api_key("hosted", env=NO_ENV) == "key-one"
    assert secrets.get_api_key("mybox", env=NO_ENV) == "key-two"
    assert secrets.get_api_key("vllm", env=NO_ENV) is None
    assert secrets.key_source("vllm", env=NO_ENV) is None


def test_set_replaces_an_earlier_key_and_strips_whitespace(file_keyring: PlaintextKeyring) -> None:
    secrets.set_api_key("hosted", "old-key")
    secrets.set_api_key("hosted", f"  {KEY}\n")

    assert secrets.get_api_key("hosted", env=NO_ENV) == KEY


def test_environment_variable_wins_over_the_keyring(file_keyring: PlaintextKeyring) -> None:
    secrets.set_api_key("hosted", KEY)
    env = {"SCREENSCRIBE_API_KEY": "from-env"}

    assert secrets.get_api_key("hosted", env=env) == "from-env"
    assert secrets.key_source("hosted", env=env) == "environment"


def test_blank_environment_variable_is_ignored(file_keyring: PlaintextKeyring) -> None:
    secrets.set_api_key("hosted", KEY)
    env = {"SCREENSCRIBE_API_KEY": "   "}

    assert secrets.get_api_key("hosted", env=env) == KEY
    assert secrets.key_source("hosted", env=env) == "keyring"


def test_environment_defaults_to_os_environ(
    file_keyring: PlaintextKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCREENSCRIBE_API_KEY", "process-env-key")
    assert secrets.get_api_key("hosted") == "process-env-key"
    monkeypatch.delenv("SCREENSCRIBE_API_KEY")
    assert secrets.get_api_key("hosted") is None


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_key_is_a_usage_error(file_keyring: PlaintextKeyring, bad: str) -> None:
    with pytest.raises(UsageError, match="empty"):
        secrets.set_api_key("hosted", bad)
    assert secrets.get_api_key("hosted", env=NO_ENV) is None


def test_key_with_a_line_break_inside_is_refused_without_echoing_it(
    file_keyring: PlaintextKeyring,
) -> None:
    pasted = "sk-first-half\nsk-second-half"
    with pytest.raises(UsageError) as info:
        secrets.set_api_key("hosted", pasted)
    assert "sk-first-half" not in str(info.value)
    assert "line break" in str(info.value)
    assert secrets.get_api_key("hosted", env=NO_ENV) is None


def test_empty_profile_name_is_a_usage_error(file_keyring: PlaintextKeyring) -> None:
    with pytest.raises(UsageError, match="profile"):
        secrets.set_api_key("", KEY)


def test_delete_reports_whether_there_was_a_key(file_keyring: PlaintextKeyring) -> None:
    secrets.set_api_key("hosted", KEY)
    secrets.set_api_key("vllm", "other")

    assert secrets.delete_api_key("hosted") is True
    assert secrets.get_api_key("hosted", env=NO_ENV) is None
    assert secrets.delete_api_key("hosted") is False
    assert secrets.get_api_key("vllm", env=NO_ENV) == "other"


def test_backend_is_described_and_available(file_keyring: PlaintextKeyring) -> None:
    assert secrets.backend_available() is True
    description = secrets.backend_description()
    assert "PlaintextKeyring" in description
    assert "unencrypted" in description


def test_key_never_reaches_the_settings_file(
    file_keyring: PlaintextKeyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    monkeypatch.setenv("SCREENSCRIBE_CONFIG_DIR", str(config))
    secrets.set_api_key("hosted", KEY)
    secrets.set_api_key("vllm", KEY + "-vllm")
    changed = replace_profile(
        Settings(), Profile(name="hosted", base_url="https://example.test/v1", model="m")
    )

    written = save_settings(changed)

    assert written.parent == config
    assert load_settings().settings == changed
    for file in config.rglob("*"):
        assert KEY.encode() not in file.read_bytes(), file
    assert "example.test" in written.read_text(encoding="utf-8")  # the save did happen
    assert secrets.get_api_key("hosted", env=NO_ENV) == KEY


def test_key_is_not_logged(
    file_keyring: PlaintextKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets.set_api_key("hosted", KEY)
    assert secrets.get_api_key("hosted", env=NO_ENV) == KEY
    assert secrets.delete_api_key("hosted") is True

    assert caplog.records, "expected set and delete to be logged"
    for record in caplog.records:
        assert KEY not in record.getMessage()


# --- a keyring that fails ------------------------------------------------------------


def test_backend_failure_on_store_is_a_secret_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the keyring wants a directory", encoding="utf-8")
    backend = PlaintextKeyring()
    backend.file_path = str(blocker / "keyring_pass.cfg")

    with installed(backend), pytest.raises(SecretStoreError) as info:
        secrets.set_api_key("hosted", KEY)

    message = str(info.value)
    assert "could not store the API key" in message
    assert "PlaintextKeyring" in message
    assert "not-a-directory" in message  # the backend's own explanation is kept
    assert KEY not in message
    cause = info.value.__cause__
    assert isinstance(cause, OSError)
    assert KEY not in str(cause)


def test_unreadable_keyring_file_reads_as_no_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "keyring_pass.cfg"
    broken.write_text("this is not an INI file\n", encoding="utf-8")
    backend = PlaintextKeyring()
    backend.file_path = str(broken)

    with installed(backend), caplog.at_level(logging.WARNING, logger="desktop_app.core.secrets"):
        assert secrets.get_api_key("hosted", env=NO_ENV) is None
        assert secrets.key_source("hosted", env=NO_ENV) is None
        assert secrets.get_api_key("hosted", env={"SCREENSCRIBE_API_KEY": "e"}) == "e"

    assert any("keyring failed" in r.getMessage() for r in caplog.records)


# --- no keyring at all -----------------------------------------------------------------


def test_no_backend_get_returns_none(no_keyring: KeyringBackend) -> None:
    assert secrets.get_api_key("hosted", env=NO_ENV) is None
    assert secrets.key_source("hosted", env=NO_ENV) is None


def test_no_backend_environment_still_works(no_keyring: KeyringBackend) -> None:
    env = {"SCREENSCRIBE_API_KEY": KEY}
    assert secrets.get_api_key("hosted", env=env) == KEY
    assert secrets.key_source("hosted", env=env) == "environment"


def test_no_backend_set_explains_what_to_do(no_keyring: KeyringBackend) -> None:
    with pytest.raises(SecretStoreError) as info:
        secrets.set_api_key("hosted", KEY)

    message = str(info.value)
    assert "no system keyring" in message
    assert "GNOME Keyring" in message
    assert "KWallet" in message
    assert "SCREENSCRIBE_API_KEY" in message
    assert KEY not in message
    assert info.value.exit_code == 2


def test_no_backend_delete_finds_nothing(no_keyring: KeyringBackend) -> None:
    assert secrets.delete_api_key("hosted") is False


def test_no_backend_is_described(no_keyring: KeyringBackend) -> None:
    assert secrets.backend_available() is False
    assert secrets.backend_description() == "no keyring backend available"


def test_null_backend_does_not_swallow_a_key_silently() -> None:
    """keyring's "null" backend (keyring disabled) accepts and drops everything."""
    with installed(null.Keyring()):
        assert secrets.backend_available() is False
        with pytest.raises(SecretStoreError, match="no system keyring"):
            secrets.set_api_key("hosted", KEY)
        assert secrets.get_api_key("hosted", env=NO_ENV) is None


# --- start-up cost -------------------------------------------------------------------


def test_importing_secrets_does_not_import_keyring() -> None:
    code = (
        "import sys, desktop_app.core.secrets\n"
        "print(sorted(m for m in sys.modules if m == 'keyring' or m.startswith('keyring.')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# --- for this session only, and the file keyring on request -------------------------------


def test_a_session_key_works_without_any_keyring_and_touches_no_disk(
    no_keyring: KeyringBackend, tmp_path: Path
) -> None:
    before = sorted(p for p in tmp_path.rglob("*"))
    secrets.set_session_key("hosted", f"  {KEY}\n")

    assert secrets.get_api_key("hosted", env=NO_ENV) == KEY
    assert secrets.key_source("hosted", env=NO_ENV) == "session"
    assert secrets.get_api_key("vllm", env=NO_ENV) is None
    assert sorted(p for p in tmp_path.rglob("*")) == before
    assert secrets.forget_session_key("hosted")
    assert secrets.get_api_key("hosted", env=NO_ENV) is None
    assert not secrets.forget_session_key("hosted")


def test_a_session_key_wins_over_the_keyring_and_loses_to_the_environment(
    file_keyring: PlaintextKeyring,
) -> None:
    secrets.set_api_key("hosted", "stored-key")
    secrets.set_session_key("hosted", KEY)

    assert secrets.get_api_key("hosted", env=NO_ENV) == KEY
    assert secrets.get_api_key("hosted", env={secrets.ENV_VAR: "from-env"}) == "from-env"


@pytest.mark.parametrize("bad", ["", "   ", "two words"])
def test_a_bad_session_key_is_refused(no_keyring: KeyringBackend, bad: str) -> None:
    with pytest.raises(UsageError):
        secrets.set_session_key("hosted", bad)
    assert secrets.get_api_key("hosted", env=NO_ENV) is None


def test_choosing_the_file_keyring_makes_storing_work_where_none_did(
    no_keyring: KeyringBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert secrets.file_keyring_available()
    assert not secrets.backend_available()
    with pytest.raises(SecretStoreError):
        secrets.set_api_key("hosted", KEY)
    try:
        secrets.use_keyring("file")
        assert secrets.backend_available()
        assert "unencrypted file" in secrets.backend_description()
        secrets.set_api_key("hosted", KEY)
        assert secrets.get_api_key("hosted", env=NO_ENV) == KEY
        stored = (tmp_path / "xdg" / "python_keyring" / "keyring_pass.cfg").read_text()
        assert "hosted" in stored  # base64, not encrypted: why the dialog warns
    finally:
        keyring.set_keyring(no_keyring)


def test_a_plaintext_file_keyring_picked_by_keyring_itself_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keyring picks keyrings.alt's plain file on its own where it is merely installed;
    keys go there only when the user chose it."""
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring_pass.cfg")
    with installed(backend):
        assert not secrets.backend_available()
        with pytest.raises(SecretStoreError):
            secrets.set_api_key("hosted", KEY)
        assert not Path(backend.file_path).exists()
