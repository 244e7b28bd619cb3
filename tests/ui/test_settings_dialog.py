"""The settings dialog driven like a person: fields typed into, keys pressed, buttons
clicked; checked in the real settings file under tmp_path, in a real keyring backend
(keyrings.alt's file keyring, or keyring's own "fail" backend for a machine without
one) and against the real loopback server for Test connection and Refresh."""

from __future__ import annotations

import socket
import tomllib
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyrings.alt.file import PlaintextKeyring
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from desktop_app.core import secrets
from desktop_app.core.settings import Settings, load_settings, settings_path
from desktop_app.ui.settings_dialog import SettingsDialog
from tests.servers import StreamServer, json_reply, stream_reply, vllm_stream

KEY = "sk-dialog-5e1d9a7c3b"
MODEL = "Qwen/Qwen3-VL-8B-Instruct"


@pytest.fixture
def file_keyring(tmp_path: Path) -> Iterator[PlaintextKeyring]:
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "keyring_pass.cfg")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring() -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    backend = fail.Keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def dialog(qtbot: QtBot, file_keyring: PlaintextKeyring) -> SettingsDialog:
    return open_dialog(qtbot)


def open_dialog(qtbot: QtBot, settings: Settings | None = None) -> SettingsDialog:
    d = SettingsDialog(settings or load_settings().settings)
    qtbot.addWidget(d)
    d.show()
    qtbot.waitExposed(d)
    return d


def saved() -> dict[str, object]:
    return tomllib.loads(settings_path().read_text(encoding="utf-8"))


def type_into(qtbot: QtBot, edit: QLineEdit, text: str) -> None:
    """Select all, type, press Enter: as a person edits a field."""
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Backspace)
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def error_of(d: SettingsDialog, key: str) -> QLabel:
    label = d.findChild(QLabel, f"{key}_error")
    assert label is not None
    return label


def choose_profile(d: SettingsDialog, name: str) -> None:
    index = d.profile_combo.findData(name)
    assert index >= 0
    d.profile_combo.setCurrentIndex(index)


def point_at(qtbot: QtBot, d: SettingsDialog, server: StreamServer) -> None:
    choose_profile(d, "vllm")
    type_into(qtbot, d.url_edit, server.base_url)


# --- endpoints ---------------------------------------------------------------------------


def test_editing_the_base_url_saves_it_to_the_file_at_once(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    choose_profile(dialog, "vllm")
    with qtbot.waitSignal(dialog.settings_changed) as changed:
        type_into(qtbot, dialog.url_edit, "http://gpu-box:8000/v1/")
    assert changed.args[0].profiles["vllm"].base_url == "http://gpu-box:8000/v1"
    assert saved()["profiles"] == {"vllm": {"base_url": "http://gpu-box:8000/v1"}}
    assert not error_of(dialog, "base_url").isVisible()


def test_an_invalid_base_url_is_refused_at_the_field(qtbot: QtBot, dialog: SettingsDialog) -> None:
    choose_profile(dialog, "vllm")
    type_into(qtbot, dialog.url_edit, "ftp://gpu-box/v1")
    message = error_of(dialog, "base_url")
    assert message.isVisible()
    assert "http://" in message.text()
    assert not settings_path().exists()
    assert dialog.settings.profiles["vllm"].base_url == "http://127.0.0.1:8000/v1"
    type_into(qtbot, dialog.url_edit, "http://127.0.0.1:9000/v1")
    assert not message.isVisible()
    assert saved()["profiles"] == {"vllm": {"base_url": "http://127.0.0.1:9000/v1"}}


def test_sampling_image_budget_and_prices_are_saved(qtbot: QtBot, dialog: SettingsDialog) -> None:
    choose_profile(dialog, "hosted")
    assert dialog.input_price_edit.text() == "0.25"
    assert dialog.output_price_edit.text() == "0.44"
    dialog.temperature_spin.setValue(0.3)
    dialog.image_tokens_spin.setValue(4096)
    type_into(qtbot, dialog.input_price_edit, "0.3")
    type_into(qtbot, dialog.output_price_edit, "")
    hosted = saved()["profiles"]["hosted"]  # type: ignore[index]
    assert hosted == {
        "temperature": 0.3,
        "max_image_tokens": 4096,
        "input_price_per_mtok": 0.3,
        "output_price_per_mtok": False,
    }
    type_into(qtbot, dialog.input_price_edit, "cheap")
    assert "price" in error_of(dialog, "price").text().lower()
    assert saved()["profiles"]["hosted"]["input_price_per_mtok"] == 0.3  # type: ignore[index]


def test_a_new_profile_is_added_made_default_and_removed(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    type_into(qtbot, dialog.new_profile_edit, "gpu-box")
    assert dialog.profile_combo.currentData() == "gpu-box"
    type_into(qtbot, dialog.url_edit, "http://10.1.2.3:8000/v1")
    dialog.default_profile_check.click()
    doc = saved()
    assert doc["default_profile"] == "gpu-box"
    assert doc["profiles"]["gpu-box"]["base_url"] == "http://10.1.2.3:8000/v1"  # type: ignore[index]
    assert dialog.settings.default_profile == "gpu-box"
    qtbot.mouseClick(dialog.remove_profile_button, Qt.MouseButton.LeftButton)
    assert "gpu-box" not in dialog.settings.profiles
    assert dialog.settings.default_profile == "hosted"
    assert "profiles" not in saved()


def test_a_bad_profile_name_is_refused(qtbot: QtBot, dialog: SettingsDialog) -> None:
    type_into(qtbot, dialog.new_profile_edit, "my box!")
    assert "Invalid profile name" in dialog.test_result.text()
    assert "my box!" not in dialog.settings.profiles


# --- the API key ----------------------------------------------------------------------------


def test_a_key_goes_to_the_keyring_only(
    qtbot: QtBot, dialog: SettingsDialog, file_keyring: PlaintextKeyring
) -> None:
    choose_profile(dialog, "hosted")
    assert dialog.key_edit.echoMode() == QLineEdit.EchoMode.Password
    type_into(qtbot, dialog.key_edit, KEY)
    assert file_keyring.get_password("screenscribe", "hosted") == KEY
    assert "Stored in" in dialog.key_status.text()
    assert "PlaintextKeyring" in dialog.key_status.text()
    assert not settings_path().exists() or KEY not in settings_path().read_text()
    dialog.show_key_button.click()
    assert dialog.key_edit.echoMode() == QLineEdit.EchoMode.Normal
    dialog.show_key_button.click()
    assert dialog.key_edit.echoMode() == QLineEdit.EchoMode.Password
    qtbot.mouseClick(dialog.forget_key_button, Qt.MouseButton.LeftButton)
    assert file_keyring.get_password("screenscribe", "hosted") is None
    assert dialog.key_edit.text() == ""


def test_without_a_keyring_the_key_is_kept_for_the_session_only(
    qtbot: QtBot, no_keyring: KeyringBackend, tmp_path: Path
) -> None:
    dialog = open_dialog(qtbot)
    choose_profile(dialog, "hosted")
    assert "No keyring works" in dialog.key_status.text()
    assert dialog.session_check.isVisible()
    assert dialog.session_check.isChecked()
    type_into(qtbot, dialog.key_edit, KEY)
    assert secrets.key_source("hosted") == "session"
    assert secrets.get_api_key("hosted") == KEY
    assert "this session only" in dialog.key_status.text()
    assert not any(KEY in p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file())


def test_without_a_keyring_and_no_session_choice_the_key_is_refused(
    qtbot: QtBot, no_keyring: KeyringBackend
) -> None:
    dialog = open_dialog(qtbot)
    choose_profile(dialog, "hosted")
    dialog.session_check.setChecked(False)
    type_into(qtbot, dialog.key_edit, KEY)
    assert "no keyring" in error_of(dialog, "api_key").text().lower()
    assert secrets.get_api_key("hosted") is None


def test_the_unencrypted_file_keyring_only_after_a_warning(
    qtbot: QtBot,
    no_keyring: KeyringBackend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND")
    dialog = open_dialog(qtbot)
    choose_profile(dialog, "hosted")
    assert dialog.file_keyring_button.isVisible()
    type_into(qtbot, dialog.key_edit, KEY)
    answers = [False, True]
    monkeypatch.setattr(dialog, "confirm_file_keyring", lambda: answers.pop(0))
    try:
        dialog.file_keyring_button.click()  # the person says Cancel
        assert secrets.key_source("hosted") == "session"
        assert dialog.settings.keyring == "system"
        dialog.file_keyring_button.click()  # and then Yes
        assert secrets.key_source("hosted") == "keyring"
        assert "unencrypted file" in dialog.key_status.text()
        assert saved()["general"] == {"keyring": "file"}
        assert (tmp_path / "xdg" / "python_keyring" / "keyring_pass.cfg").is_file()
    finally:
        keyring.set_keyring(no_keyring)


def test_a_key_over_plain_http_to_another_host_is_warned_about(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    choose_profile(dialog, "vllm")
    type_into(qtbot, dialog.url_edit, "http://10.0.0.5:8000/v1")
    assert not dialog.insecure_warning.isVisible()  # no key: nothing to leak
    type_into(qtbot, dialog.key_edit, KEY)
    assert dialog.insecure_warning.isVisible()
    assert "http" in dialog.insecure_warning.text()
    type_into(qtbot, dialog.url_edit, "http://127.0.0.1:8000/v1")
    assert not dialog.insecure_warning.isVisible()


# --- models and Test connection --------------------------------------------------------------


def models_reply(*ids: str) -> object:
    return json_reply({"object": "list", "data": [{"id": i, "object": "model"} for i in ids]})


def test_refresh_fills_the_model_list_from_the_server(
    qtbot: QtBot, dialog: SettingsDialog, server: StreamServer
) -> None:
    server.queue("/v1/models", models_reply(MODEL, "Qwen/Qwen3-VL-8B-Instruct-FP8"))
    point_at(qtbot, dialog, server)
    qtbot.mouseClick(dialog.refresh_models_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.model_combo.count() == 2, timeout=5000)
    assert dialog.model_combo.itemText(1) == "Qwen/Qwen3-VL-8B-Instruct-FP8"
    assert "2 models" in dialog.test_result.text()
    dialog.model_combo.setCurrentIndex(1)
    dialog.model_combo.activated.emit(1)
    assert dialog.settings.profiles["vllm"].model == "Qwen/Qwen3-VL-8B-Instruct-FP8"


def run_test(qtbot: QtBot, dialog: SettingsDialog) -> str:
    qtbot.mouseClick(dialog.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.test_button.isEnabled, timeout=15_000)
    return dialog.test_result.text()


def test_test_connection_ok(qtbot: QtBot, dialog: SettingsDialog, server: StreamServer) -> None:
    server.queue("/v1/models", models_reply(MODEL))
    server.chat(stream_reply(vllm_stream(["OK"])))
    point_at(qtbot, dialog, server)
    text = run_test(qtbot, dialog)
    assert text.startswith("Connected")
    assert "✗" not in text
    assert len(server.requests) >= 2


def test_test_connection_401(qtbot: QtBot, dialog: SettingsDialog, server: StreamServer) -> None:
    server.queue("/v1/models", json_reply({"error": {"message": "bad key"}}, 401))
    point_at(qtbot, dialog, server)
    type_into(qtbot, dialog.key_edit, KEY)
    text = run_test(qtbot, dialog)
    assert "✗" in text
    assert "refused the API key" in text
    assert KEY not in text


def test_test_connection_model_missing(
    qtbot: QtBot, dialog: SettingsDialog, server: StreamServer
) -> None:
    server.queue("/v1/models", models_reply("llava-1.5", "other-model"))
    point_at(qtbot, dialog, server)
    text = run_test(qtbot, dialog)
    assert "✗" in text
    assert "llava-1.5" in text
    assert dialog.model_combo.findText("llava-1.5") >= 0  # offered to pick


def test_test_connection_unreachable(qtbot: QtBot, dialog: SettingsDialog) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    choose_profile(dialog, "vllm")
    type_into(qtbot, dialog.url_edit, f"http://127.0.0.1:{port}/v1")
    text = run_test(qtbot, dialog)
    assert "✗" in text
    assert "reach" in text.lower()


# --- presets ----------------------------------------------------------------------------------


def choose_preset(d: SettingsDialog, name: str) -> None:
    for row in range(d.preset_list.count()):
        if d.preset_list.item(row).data(Qt.ItemDataRole.UserRole) == name:
            d.preset_list.setCurrentRow(row)
            return
    raise AssertionError(f"no preset {name}")


def test_a_preset_prompt_edit_is_saved_after_typing_pauses(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    dialog.tabs.setCurrentIndex(1)
    choose_preset(dialog, "describe")
    dialog.prompt_edit.setFocus()
    dialog.prompt_edit.selectAll()
    qtbot.keyClicks(dialog.prompt_edit, "Describe the chart in two sentences.")
    qtbot.waitUntil(lambda: settings_path().exists(), timeout=3000)
    presets = saved()["presets"]
    assert presets == {"describe": {"prompt": "Describe the chart in two sentences."}}


def test_an_empty_prompt_is_refused(qtbot: QtBot, dialog: SettingsDialog) -> None:
    dialog.tabs.setCurrentIndex(1)
    choose_preset(dialog, "describe")
    dialog.prompt_edit.setFocus()
    dialog.prompt_edit.selectAll()
    qtbot.keyClick(dialog.prompt_edit, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: error_of(dialog, "prompt").isVisible(), timeout=3000)
    assert not settings_path().exists()


def test_a_new_preset_with_its_profile_auto_copy_and_hotkey(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    dialog.tabs.setCurrentIndex(1)
    type_into(qtbot, dialog.new_preset_edit, "german")
    assert dialog.settings.presets["german"].prompt
    type_into(qtbot, dialog.preset_label_edit, "Translate to German")
    dialog.preset_profile_combo.setCurrentIndex(dialog.preset_profile_combo.findData("vllm"))
    dialog.preset_profile_combo.activated.emit(dialog.preset_profile_combo.currentIndex())
    dialog.auto_copy_check.click()
    dialog.hotkey_edit.setFocus()
    qtbot.keyClick(
        dialog.hotkey_edit,
        Qt.Key.Key_G,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier,
    )
    dialog.hotkey_edit.editingFinished.emit()  # Qt emits it a second after the last key
    german = saved()["presets"]["german"]  # type: ignore[index]
    assert german["label"] == "Translate to German"
    assert german["profile"] == "vllm"
    assert german["auto_copy"] is True
    assert german["hotkey"] == "Ctrl+Alt+G"
    assert dialog.preset_list.currentItem().text() == "Translate to German"


def test_a_hotkey_taken_by_another_preset_is_refused(qtbot: QtBot, dialog: SettingsDialog) -> None:
    dialog.tabs.setCurrentIndex(1)
    choose_preset(dialog, "table")
    dialog.hotkey_edit.setFocus()
    qtbot.keyClick(
        dialog.hotkey_edit,
        Qt.Key.Key_O,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier,
    )
    dialog.hotkey_edit.editingFinished.emit()
    assert "Extract text" in error_of(dialog, "hotkey").text()
    assert dialog.settings.presets["table"].hotkey == ""


def test_a_changed_builtin_preset_can_be_reset(qtbot: QtBot, dialog: SettingsDialog) -> None:
    dialog.tabs.setCurrentIndex(1)
    choose_preset(dialog, "ocr")
    assert not dialog.remove_preset_button.isEnabled()
    dialog.auto_copy_check.click()
    assert saved()["presets"] == {"ocr": {"auto_copy": False}}
    assert dialog.remove_preset_button.text() == "Reset"
    qtbot.mouseClick(dialog.remove_preset_button, Qt.MouseButton.LeftButton)
    assert dialog.auto_copy_check.isChecked()
    assert "presets" not in saved()


# --- general -----------------------------------------------------------------------------------


def test_general_preferences_apply_at_once(qtbot: QtBot, dialog: SettingsDialog) -> None:
    dialog.tabs.setCurrentIndex(2)
    changes: list[Settings] = []
    dialog.settings_changed.connect(changes.append)
    index = dialog.theme_combo.findData("dark")
    dialog.theme_combo.setCurrentIndex(index)
    dialog.theme_combo.activated.emit(index)
    dialog.history_days_spin.setValue(30)
    dialog.font_spin.setValue(13)
    dialog.history_check.click()
    assert not dialog.history_days_spin.isEnabled()
    doc = saved()
    assert doc["general"] == {"theme": "dark", "panel_font_size": 13}
    assert doc["history"] == {"enabled": False, "max_days": 30}
    assert [c.theme for c in changes] == ["dark"] * 4
    assert changes[-1].history_enabled is False


def test_show_page_opens_the_endpoint_page_on_a_profile(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    dialog.tabs.setCurrentIndex(2)
    dialog.show_page("endpoints", profile="ollama")
    assert dialog.tabs.currentIndex() == 0
    assert dialog.profile_combo.currentData() == "ollama"
    assert dialog.url_edit.text() == "http://127.0.0.1:11434/v1"
    focus = dialog.focusWidget()
    assert isinstance(focus, QWidget)


def test_the_clipboard_hotkey_is_recorded_and_may_not_clash_with_a_preset(
    qtbot: QtBot, dialog: SettingsDialog
) -> None:
    dialog.tabs.setCurrentIndex(2)
    assert dialog.clipboard_hotkey_edit.keySequence().toString() == "Ctrl+Alt+V"
    recording: list[bool] = []
    dialog.hotkey_recording.connect(recording.append)
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog, timeout=2000)
    dialog.clipboard_hotkey_edit.setFocus()
    qtbot.keyClick(
        dialog.clipboard_hotkey_edit,
        Qt.Key.Key_O,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier,
    )
    dialog.clipboard_hotkey_edit.editingFinished.emit()
    assert "Extract text" in error_of(dialog, "clipboard_hotkey").text()
    assert dialog.settings.clipboard_hotkey == "Ctrl+Alt+V"
    dialog.clipboard_hotkey_edit.clear()
    qtbot.keyClick(
        dialog.clipboard_hotkey_edit,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    dialog.clipboard_hotkey_edit.editingFinished.emit()
    assert saved()["general"] == {"clipboard_hotkey": "Ctrl+Shift+C"}
    assert recording[:1] == [True]  # the app pauses its grabs meanwhile
