"""The settings dialog: endpoints, presets and general preferences, applied at once.

Every edit is checked by the same rules as the settings file (``core.settings``); a
value that breaks one is refused with a message under its field and nothing is saved.
A value that passes is saved to the file straight away and ``settings_changed`` tells
the app, which uses it from the next request on: there is no Apply button and no
restart.

API keys go to the system keyring only (``core.secrets``); where none works, the
dialog says so and keeps the key for this session, or, on the user's explicit and
warned choice, in keyrings.alt's unencrypted file.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QThread, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core import secrets
from desktop_app.core.errors import ConfigError, ScreenScribeError
from desktop_app.core.prompts import KIND_LABELS, KINDS, PRESETS, Preset
from desktop_app.core.settings import (
    BUILTIN_PROFILES,
    Profile,
    Settings,
    remove_preset,
    remove_profile,
    replace_preset,
    replace_profile,
    save_settings,
    settings_path,
    validate_base_url,
    validate_profile_name,
)

log = logging.getLogger(__name__)

PAGES = ("endpoints", "presets", "general")
_ERROR_STYLE = "color: palette(highlighted-text); background-color: #b3261e; padding: 2px 4px;"
_WARNING_STYLE = "background-color: rgba(255, 193, 7, 60); padding: 4px;"
_PROMPT_DEBOUNCE_MS = 400


class _Task(QThread):
    """Runs ``fn`` off the GUI thread; ``done`` carries its result or its exception."""

    done = Signal(object)

    def __init__(self, fn: Callable[[], object], parent: QObject) -> None:
        super().__init__(parent)
        self._fn = fn

    def run(self) -> None:
        try:
            result: object = self._fn()
        except Exception as exc:  # noqa: BLE001  (handed to the GUI thread to show)
            result = exc
        self.done.emit(result)


class _Form(QFormLayout):
    """A form whose fields can show a message under them."""

    def __init__(self) -> None:
        super().__init__()
        self.errors: dict[str, QLabel] = {}

    def add(
        self, label: str, field: QWidget | QHBoxLayout, key: str, buddy: QWidget | None = None
    ) -> None:
        box = QVBoxLayout()
        box.setSpacing(2)
        if isinstance(field, QWidget):
            box.addWidget(field)
        else:
            box.addLayout(field)
        error = QLabel()
        error.setObjectName(f"{key}_error")
        error.setWordWrap(True)
        error.setStyleSheet(_ERROR_STYLE)
        error.setAccessibleName(f"Problem with {label.replace('&', '').rstrip(':')}")
        error.hide()
        box.addWidget(error)
        self.errors[key] = error
        self.addRow(label, box)
        target = field if isinstance(field, QWidget) else buddy
        row_label = self.labelForField(box)
        if target is not None and isinstance(row_label, QLabel):
            row_label.setBuddy(target)

    def show_error(self, key: str, text: str) -> None:
        self.errors[key].setText(text)
        self.errors[key].show()

    def clear_error(self, key: str) -> None:
        self.errors[key].hide()
        self.errors[key].clear()


def _spin(low: int, high: int, *, special: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setKeyboardTracking(False)  # one change when typing ends, not one per digit
    if special:
        box.setSpecialValueText(special)
    return box


def _dspin(low: float, high: float, step: float, decimals: int = 2) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setKeyboardTracking(False)
    return box


def _combo(items: list[tuple[str, str]]) -> QComboBox:
    box = QComboBox()
    for text, data in items:
        box.addItem(text, data)
    return box


def _select_data(box: QComboBox, data: object) -> None:
    index = box.findData(data)
    if index >= 0:
        box.setCurrentIndex(index)


class SettingsDialog(QDialog):
    """Non-modal; the owner keeps one and shows it again (``show_page``)."""

    settings_changed = Signal(object)  # Settings, saved to the file
    hotkey_recording = Signal(bool)  # the hotkey field took (True) or lost the focus

    def __init__(
        self, settings: Settings, *, path: Path | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("ScreenScribe settings")
        self.setObjectName("settings_dialog")
        self.resize(660, 760)
        self._settings = settings
        self._path = path if path is not None else settings_path()
        self._loading = False  # filling widgets from settings: edits are not changes
        self._tasks: list[_Task] = []
        self._cancel: Any = None  # CancelToken of the running connection test
        self._key_recorders: list[QWidget] = []  # fields that record a hotkey
        self._hotkey_backend = ""  # what serves global hotkeys here (the app tells)
        self._hotkey_problems: dict[str, str] = {}

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("pages")
        for page, title in (
            (self._build_endpoints(), "&Endpoints"),
            (self._build_presets(), "&Presets"),
            (self._build_general(), "&General"),
        ):
            scroll = QScrollArea()  # a small screen still reaches every field
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, title)
        self.save_error = QLabel()
        self.save_error.setObjectName("save_error")
        self.save_error.setWordWrap(True)
        self.save_error.setStyleSheet(_ERROR_STYLE)
        self.save_error.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        open_file = buttons.addButton("Open settings &file", QDialogButtonBox.ButtonRole.HelpRole)
        open_file.clicked.connect(self._on_open_file_clicked)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.save_error)
        layout.addWidget(buttons)

        # Enter in a field applies that field; it must not press a button of the dialog.
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
            button.setDefault(False)
        self._prompt_timer = QTimer(self, singleShot=True, interval=_PROMPT_DEBOUNCE_MS)
        self._prompt_timer.timeout.connect(self._on_prompt_timer_timeout)
        self._fill_all()

    # --- public -----------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        return self._settings

    def show_page(self, page: str, *, profile: str | None = None) -> None:
        """Shows the dialog at ``page`` (one of PAGES), on ``profile`` for endpoints."""
        self.tabs.setCurrentIndex(PAGES.index(page))
        if profile is not None:
            _select_data(self.profile_combo, profile)
        self.show()
        self.raise_()
        self.activateWindow()
        if page == "endpoints":
            self.url_edit.setFocus()

    def set_settings(self, settings: Settings) -> None:
        """Settings changed elsewhere (the file, the CLI): show them."""
        self._settings = settings
        self._fill_all()

    # --- saving -----------------------------------------------------------------------

    def _commit(self, new: Settings) -> bool:
        if new == self._settings:
            return True
        try:
            save_settings(new, self._path)
        except ConfigError as exc:
            self.save_error.setText(str(exc))
            self.save_error.show()
            return False
        self.save_error.hide()
        self._settings = new
        self.settings_changed.emit(new)
        return True

    # === endpoints ======================================================================

    def _build_endpoints(self) -> QWidget:
        page = QWidget()
        page.setObjectName("endpoints_page")
        outer = QVBoxLayout(page)

        top = QHBoxLayout()
        self.profile_combo = QComboBox()
        self.profile_combo.setObjectName("profile_combo")
        self.profile_combo.setAccessibleName("Endpoint profile")
        self.profile_combo.currentIndexChanged.connect(self._on_profile_combo_changed)
        profile_label = QLabel("Pro&file:")
        profile_label.setBuddy(self.profile_combo)
        top.addWidget(profile_label)
        top.addWidget(self.profile_combo, 1)
        self.default_profile_check = QCheckBox("&Default")
        self.default_profile_check.setObjectName("default_profile_check")
        self.default_profile_check.setToolTip("Requests go to this endpoint unless a preset says")
        self.default_profile_check.toggled.connect(self._on_default_profile_toggled)
        top.addWidget(self.default_profile_check)
        self.remove_profile_button = QPushButton("Remove")
        self.remove_profile_button.setObjectName("remove_profile_button")
        self.remove_profile_button.clicked.connect(self._on_remove_profile_clicked)
        top.addWidget(self.remove_profile_button)
        outer.addLayout(top)

        add = QHBoxLayout()
        self.new_profile_edit = QLineEdit()
        self.new_profile_edit.setObjectName("new_profile_edit")
        self.new_profile_edit.setPlaceholderText("new profile name, e.g. gpu-box")
        self.new_profile_edit.setAccessibleName("New profile name")
        self.new_profile_edit.returnPressed.connect(self._on_add_profile_clicked)
        add_button = QPushButton("&Add endpoint")
        add_button.setObjectName("add_profile_button")
        add_button.clicked.connect(self._on_add_profile_clicked)
        add.addWidget(self.new_profile_edit, 1)
        add.addWidget(add_button)
        outer.addLayout(add)

        form = self.endpoint_form = _Form()
        self.label_edit = QLineEdit()
        self.label_edit.setObjectName("label_edit")
        self.label_edit.editingFinished.connect(self._on_endpoint_text_edited)
        form.add("&Label:", self.label_edit, "label")
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("url_edit")
        self.url_edit.setPlaceholderText("http://127.0.0.1:8000/v1")
        self.url_edit.editingFinished.connect(self._on_endpoint_text_edited)
        form.add("Base &URL:", self.url_edit, "base_url")
        model_row = QHBoxLayout()
        self.model_combo = QComboBox()
        self.model_combo.setObjectName("model_combo")
        self.model_combo.setEditable(True)
        self.model_combo.setAccessibleName("Model")
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        line = self.model_combo.lineEdit()
        assert line is not None
        line.editingFinished.connect(self._on_endpoint_text_edited)
        self.model_combo.activated.connect(lambda _i: self._on_endpoint_text_edited())
        self.refresh_models_button = QPushButton("&Refresh")
        self.refresh_models_button.setObjectName("refresh_models_button")
        self.refresh_models_button.setToolTip("Ask the server which models it serves")
        self.refresh_models_button.clicked.connect(self._on_refresh_models_clicked)
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(self.refresh_models_button)
        form.add("&Model:", model_row, "model", self.model_combo)

        key_row = QHBoxLayout()
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("key_edit")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setAccessibleName("API key")
        self.key_edit.setPlaceholderText("none stored")
        self.key_edit.editingFinished.connect(self._on_key_edited)
        self.show_key_button = QToolButton()
        self.show_key_button.setObjectName("show_key_button")
        self.show_key_button.setText("S&how")
        self.show_key_button.setCheckable(True)
        self.show_key_button.setAccessibleName("Show the API key")
        self.show_key_button.toggled.connect(self._on_show_key_toggled)
        self.forget_key_button = QToolButton()
        self.forget_key_button.setObjectName("forget_key_button")
        self.forget_key_button.setText("Forget")
        self.forget_key_button.setAccessibleName("Forget the API key")
        self.forget_key_button.clicked.connect(self._on_forget_key_clicked)
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.show_key_button)
        key_row.addWidget(self.forget_key_button)
        form.add("API &key:", key_row, "api_key", self.key_edit)
        self.key_status = QLabel()
        self.key_status.setObjectName("key_status")
        self.key_status.setWordWrap(True)
        form.addRow("", self.key_status)
        self.session_check = QCheckBox("Keep the key for this session only (never written)")
        self.session_check.setObjectName("session_check")
        self.session_check.setChecked(True)
        self.file_keyring_button = QPushButton("Store keys in an unencrypted file instead…")
        self.file_keyring_button.setObjectName("file_keyring_button")
        self.file_keyring_button.clicked.connect(self._on_file_keyring_clicked)
        form.addRow("", self.session_check)
        form.addRow("", self.file_keyring_button)
        self.insecure_warning = QLabel()
        self.insecure_warning.setObjectName("insecure_warning")
        self.insecure_warning.setWordWrap(True)
        self.insecure_warning.setStyleSheet(_WARNING_STYLE)
        self.insecure_warning.hide()
        form.addRow("", self.insecure_warning)

        self.temperature_spin = _dspin(0.0, 2.0, 0.1)
        self.temperature_spin.setObjectName("temperature_spin")
        form.add("&Temperature:", self.temperature_spin, "temperature")
        self.max_tokens_spin = _spin(1, 262144)
        self.max_tokens_spin.setObjectName("max_tokens_spin")
        form.add("Longest answer (tokens):", self.max_tokens_spin, "max_tokens")
        self.top_p_spin = _dspin(0.01, 1.0, 0.05)
        self.top_p_spin.setObjectName("top_p_spin")
        form.add("Top p:", self.top_p_spin, "top_p")
        self.top_k_spin = _spin(0, 1000, special="off")
        self.top_k_spin.setObjectName("top_k_spin")
        form.add("Top k:", self.top_k_spin, "top_k")
        self.presence_spin = _dspin(-2.0, 2.0, 0.1)
        self.presence_spin.setObjectName("presence_spin")
        form.add("Presence penalty:", self.presence_spin, "presence_penalty")
        self.image_tokens_spin = _spin(64, 65536)
        self.image_tokens_spin.setObjectName("image_tokens_spin")
        self.image_tokens_spin.setSingleStep(256)
        self.image_tokens_spin.setToolTip(
            "Largest image the model is sent, in tokens (one token: 32 x 32 pixels)"
        )
        form.add("&Image budget (tokens):", self.image_tokens_spin, "max_image_tokens")
        for spin in (
            self.temperature_spin,
            self.max_tokens_spin,
            self.top_p_spin,
            self.top_k_spin,
            self.presence_spin,
            self.image_tokens_spin,
        ):
            spin.valueChanged.connect(self._on_endpoint_number_changed)
        prices = QHBoxLayout()
        self.input_price_edit = QLineEdit()
        self.input_price_edit.setObjectName("input_price_edit")
        self.input_price_edit.setAccessibleName("Input price, USD per million tokens")
        self.input_price_edit.setPlaceholderText("none")
        self.output_price_edit = QLineEdit()
        self.output_price_edit.setObjectName("output_price_edit")
        self.output_price_edit.setAccessibleName("Output price, USD per million tokens")
        self.output_price_edit.setPlaceholderText("none")
        for edit in (self.input_price_edit, self.output_price_edit):
            edit.editingFinished.connect(self._on_endpoint_text_edited)
        prices.addWidget(QLabel("in"))
        prices.addWidget(self.input_price_edit)
        prices.addWidget(QLabel("out"))
        prices.addWidget(self.output_price_edit)
        form.add("Pri&ce (USD / M tokens):", prices, "price", self.input_price_edit)
        outer.addLayout(form)

        test_row = QHBoxLayout()
        self.test_button = QPushButton("Test &connection")
        self.test_button.setObjectName("test_button")
        self.test_button.clicked.connect(self._on_test_clicked)
        test_row.addWidget(self.test_button)
        test_row.addStretch(1)
        outer.addLayout(test_row)
        self.test_result = QLabel()
        self.test_result.setObjectName("test_result")
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.setAccessibleName("Connection test result")
        outer.addWidget(self.test_result)
        outer.addStretch(1)
        return page

    def _profile(self) -> Profile:
        name = self.profile_combo.currentData()
        return (
            self._settings.profiles.get(name)
            or self._settings.profiles[self._settings.default_profile]
        )

    def _fill_profiles(self) -> None:
        current = self.profile_combo.currentData() or self._settings.default_profile
        self.profile_combo.blockSignals(True)
        self.profile_combo.clear()
        for name, profile in self._settings.profiles.items():
            suffix = " (default)" if name == self._settings.default_profile else ""
            self.profile_combo.addItem(f"{profile.display_name}{suffix}", name)
        _select_data(self.profile_combo, current)
        self.profile_combo.blockSignals(False)
        self._fill_profile()

    def _fill_profile(self) -> None:
        profile = self._profile()
        self._loading = True
        try:
            for key in self.endpoint_form.errors:
                self.endpoint_form.clear_error(key)
            self.test_result.clear()
            self.default_profile_check.setChecked(profile.name == self._settings.default_profile)
            self.default_profile_check.setEnabled(profile.name != self._settings.default_profile)
            builtin = profile.name in BUILTIN_PROFILES
            self.remove_profile_button.setText("Reset" if builtin else "Remove")
            self.remove_profile_button.setToolTip(
                "Return this built-in endpoint to its defaults"
                if builtin
                else "Remove this endpoint (its stored key too)"
            )
            self.remove_profile_button.setEnabled(
                not builtin or profile != BUILTIN_PROFILES[profile.name]
            )
            self.label_edit.setText(profile.label)
            self.url_edit.setText(profile.base_url)
            if self.model_combo.findText(profile.model) < 0:
                self.model_combo.addItem(profile.model)
            self.model_combo.setCurrentText(profile.model)
            s = profile.sampling
            self.temperature_spin.setValue(s.temperature)
            self.max_tokens_spin.setValue(s.max_tokens)
            self.top_p_spin.setValue(s.top_p)
            self.top_k_spin.setValue(s.top_k or 0)
            self.presence_spin.setValue(s.presence_penalty)
            self.image_tokens_spin.setValue(profile.max_image_tokens)
            for edit, price in (
                (self.input_price_edit, profile.input_price_per_mtok),
                (self.output_price_edit, profile.output_price_per_mtok),
            ):
                edit.setText("" if price is None else f"{price:g}")
            self._fill_key()
        finally:
            self._loading = False

    def _fill_key(self) -> None:
        name = self._profile().name
        source = secrets.key_source(name)
        key = secrets.get_api_key(name) if source else None
        self.key_edit.setText(key or "")
        self.key_edit.setReadOnly(source == "environment")
        self.forget_key_button.setEnabled(source in ("session", "keyring"))
        available = secrets.backend_available()
        backend = secrets.backend_description()
        if source == "environment":
            text = f"From ${secrets.ENV_VAR}, which wins over the stored key."
        elif source == "session":
            text = "Kept for this session only: forgotten when ScreenScribe quits."
        elif available:
            text = f"Stored in {backend}." if source else f"Keys are stored in {backend}."
        else:
            text = (
                "No keyring works on this system (no Secret Service, KWallet or the "
                "like), so a key cannot be stored safely. It can be kept for this "
                "session only."
            )
        self.key_status.setText(text)
        self.session_check.setVisible(not available and source != "environment")
        self.file_keyring_button.setVisible(
            not available and secrets.file_keyring_available() and source != "environment"
        )
        self._update_insecure_warning()

    def _update_insecure_warning(self) -> None:
        from desktop_app.core.connection import insecure_key_warning

        warning = insecure_key_warning(self._profile().base_url, bool(self.key_edit.text()))
        self.insecure_warning.setText(warning or "")
        self.insecure_warning.setVisible(warning is not None)

    @Slot(int)
    def _on_profile_combo_changed(self, _index: int) -> None:
        self._fill_profile()

    @Slot(bool)
    def _on_default_profile_toggled(self, on: bool) -> None:
        if self._loading or not on:
            return
        self._commit(dataclasses.replace(self._settings, default_profile=self._profile().name))
        self._fill_profiles()

    @Slot()
    def _on_add_profile_clicked(self) -> None:
        name = self.new_profile_edit.text().strip()
        try:
            validate_profile_name(name)
        except ConfigError as exc:
            self.test_result.setText(str(exc))
            return
        if name in self._settings.profiles:
            self.test_result.setText(f"There is already a profile named {name!r}.")
            return
        base = self._profile()
        new = dataclasses.replace(
            base,
            name=name,
            label="",
            input_price_per_mtok=None if base.name == "hosted" else base.input_price_per_mtok,
            output_price_per_mtok=None if base.name == "hosted" else base.output_price_per_mtok,
        )
        if self._commit(replace_profile(self._settings, new)):
            self.new_profile_edit.clear()
            self._fill_profiles()
            _select_data(self.profile_combo, name)
            self.url_edit.setFocus()
            self.url_edit.selectAll()
            self._fill_preset_profiles()

    @Slot()
    def _on_remove_profile_clicked(self) -> None:
        name = self._profile().name
        if self._commit(remove_profile(self._settings, name)):
            if name not in BUILTIN_PROFILES:
                secrets.forget_session_key(name)
                try:
                    secrets.delete_api_key(name)
                except ScreenScribeError as exc:
                    self.test_result.setText(str(exc))
            self._fill_profiles()
            self._fill_preset_profiles()

    def _profile_changes(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The fields' values as Profile changes, and the problems by field."""
        changes: dict[str, Any] = {"label": self.label_edit.text().strip()}
        problems: dict[str, str] = {}
        try:
            changes["base_url"] = validate_base_url(self.url_edit.text())
        except ConfigError as exc:
            problems["base_url"] = str(exc)
        model = self.model_combo.currentText().strip()
        if model:
            changes["model"] = model
        else:
            problems["model"] = "Type the model's name, or press Refresh to pick one."
        for key, edit in (
            ("input_price_per_mtok", self.input_price_edit),
            ("output_price_per_mtok", self.output_price_edit),
        ):
            text = edit.text().strip().lstrip("$")
            if not text:
                changes[key] = None
                continue
            try:
                price = float(text)
            except ValueError:
                price = -1.0
            if price >= 0 and price != float("inf"):
                changes[key] = price
            else:
                problems["price"] = (
                    f"A price is a number of US dollars of at least 0, not {text!r}; "
                    "leave it empty for none."
                )
        sampling = dataclasses.replace(
            self._profile().sampling,
            temperature=self.temperature_spin.value(),
            max_tokens=self.max_tokens_spin.value(),
            top_p=self.top_p_spin.value(),
            top_k=self.top_k_spin.value() or None,
            presence_penalty=self.presence_spin.value(),
        )
        changes["sampling"] = sampling
        changes["max_image_tokens"] = self.image_tokens_spin.value()
        return changes, problems

    def _apply_profile(self) -> None:
        if self._loading:
            return
        changes, problems = self._profile_changes()
        for key in ("base_url", "model", "price"):
            if key in problems:
                self.endpoint_form.show_error(key, problems[key])
            else:
                self.endpoint_form.clear_error(key)
        if problems:
            return
        profile = self._profile()
        try:
            new = dataclasses.replace(profile, **changes)
            if new.min_image_tokens > new.max_image_tokens:
                new = dataclasses.replace(new, min_image_tokens=new.max_image_tokens)
        except ConfigError as exc:
            self.endpoint_form.show_error("max_image_tokens", str(exc))
            return
        self.endpoint_form.clear_error("max_image_tokens")
        if self._commit(replace_profile(self._settings, new)):
            index = self.profile_combo.currentIndex()
            suffix = " (default)" if new.name == self._settings.default_profile else ""
            self.profile_combo.setItemText(index, f"{new.display_name}{suffix}")
            self.remove_profile_button.setEnabled(
                new.name not in BUILTIN_PROFILES or new != BUILTIN_PROFILES[new.name]
            )
            self._update_insecure_warning()

    @Slot()
    def _on_endpoint_text_edited(self) -> None:
        self._apply_profile()

    @Slot()
    def _on_endpoint_number_changed(self) -> None:
        self._apply_profile()

    # --- the key ----------------------------------------------------------------------

    @Slot()
    def _on_key_edited(self) -> None:
        if self._loading or self.key_edit.isReadOnly():
            return
        name = self._profile().name
        key = self.key_edit.text().strip()
        if key == (secrets.get_api_key(name) or ""):
            return
        form = self.endpoint_form
        try:
            if not key:
                secrets.forget_session_key(name)
                secrets.delete_api_key(name)
            elif secrets.backend_available():
                secrets.set_api_key(name, key)
                secrets.forget_session_key(name)
            elif self.session_check.isChecked():
                secrets.set_session_key(name, key)
            else:
                form.show_error(
                    "api_key",
                    "There is no keyring to store the key in: tick “Keep the key for this "
                    "session only”, or store keys in an unencrypted file.",
                )
                return
        except ScreenScribeError as exc:
            form.show_error("api_key", str(exc))
            return
        form.clear_error("api_key")
        self._fill_key()
        self.settings_changed.emit(self._settings)  # the app's clients need the new key

    @Slot(bool)
    def _on_show_key_toggled(self, shown: bool) -> None:
        self.key_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        )
        self.show_key_button.setText("Hi&de" if shown else "S&how")

    @Slot()
    def _on_forget_key_clicked(self) -> None:
        name = self._profile().name
        secrets.forget_session_key(name)
        try:
            secrets.delete_api_key(name)
        except ScreenScribeError as exc:
            self.endpoint_form.show_error("api_key", str(exc))
            return
        self._fill_key()
        self.settings_changed.emit(self._settings)

    def confirm_file_keyring(self) -> bool:
        """Asks before keys go to an unencrypted file (a seam for tests)."""
        answer = QMessageBox.warning(
            self,
            "Store keys unencrypted?",
            "API keys will be written to a file in your home folder that is NOT "
            "encrypted: anyone who can read your files can read the keys. Use this only "
            "on a machine without any keyring. Continue?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def _on_file_keyring_clicked(self) -> None:
        if not self.confirm_file_keyring():
            return
        try:
            secrets.use_keyring("file")
        except ScreenScribeError as exc:
            self.endpoint_form.show_error("api_key", str(exc))
            return
        self._commit(dataclasses.replace(self._settings, keyring="file"))
        name = self._profile().name
        key = self.key_edit.text().strip()
        if key:  # the key kept for the session now goes to the file
            try:
                secrets.set_api_key(name, key)
                secrets.forget_session_key(name)
            except ScreenScribeError as exc:
                self.endpoint_form.show_error("api_key", str(exc))
        self._fill_key()

    # --- models and the connection test ----------------------------------------------

    def _start(self, fn: Callable[[], object], done: Callable[[object], None]) -> None:
        task = _Task(fn, self)
        task.done.connect(done)
        task.finished.connect(lambda t=task: self._on_task_finished(t))
        self._tasks.append(task)
        task.start()

    def _on_task_finished(self, task: _Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        task.deleteLater()

    @Slot()
    def _on_refresh_models_clicked(self) -> None:
        from desktop_app.core.endpoint import EndpointClient

        profile = self._profile()
        key = secrets.get_api_key(profile.name)

        def fetch() -> object:
            with EndpointClient(
                profile.base_url, key, connect_timeout=profile.connect_timeout
            ) as client:
                return client.list_models()

        self.refresh_models_button.setEnabled(False)
        self.endpoint_form.clear_error("model")
        self.test_result.setText(f"Asking {profile.base_url} for its models…")
        self._start(fetch, self._on_models_fetched)

    def _on_models_fetched(self, result: object) -> None:
        self.refresh_models_button.setEnabled(True)
        if isinstance(result, Exception):
            self.test_result.setText(f"Could not list the models: {result}")
            return
        models = [str(m) for m in result] if isinstance(result, list) else []
        current = self.model_combo.currentText()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItems(models)
        self.model_combo.setCurrentText(current)
        self.model_combo.blockSignals(False)
        self.test_result.setText(
            f"The server serves {len(models)} model{'s' if len(models) != 1 else ''}."
            if models
            else "The server lists no models."
        )

    @Slot()
    def _on_test_clicked(self) -> None:
        from desktop_app.core.connection import check_connection
        from desktop_app.core.endpoint import CancelToken

        self._apply_profile()
        profile = self._profile()
        key = secrets.get_api_key(profile.name)
        token = CancelToken()
        self._cancel = token
        self.test_button.setEnabled(False)
        self.test_result.setText(f"Testing {profile.base_url}…")
        self._start(lambda: check_connection(profile, key, cancel=token), self._on_tested)

    def _on_tested(self, result: object) -> None:
        self.test_button.setEnabled(True)
        self._cancel = None
        if isinstance(result, Exception):
            self.test_result.setText(f"The test could not run: {result}")
            return
        lines = [getattr(result, "summary", "")]
        for step in getattr(result, "steps", ()):
            if step.ok is None:
                continue
            lines.append(("✓ " if step.ok else "✗ ") + step.detail)
        self.test_result.setText("\n".join(lines))
        models = getattr(result, "models", ())
        if models:
            current = self.model_combo.currentText()
            self.model_combo.blockSignals(True)
            self.model_combo.clear()
            self.model_combo.addItems(list(models))
            self.model_combo.setCurrentText(current)
            self.model_combo.blockSignals(False)

    # === presets ========================================================================

    def _build_presets(self) -> QWidget:
        page = QWidget()
        page.setObjectName("presets_page")
        outer = QHBoxLayout(page)
        left = QVBoxLayout()
        self.preset_list = QListWidget()
        self.preset_list.setObjectName("preset_list")
        self.preset_list.setAccessibleName("Presets")
        self.preset_list.currentRowChanged.connect(self._on_preset_list_row_changed)
        left.addWidget(self.preset_list, 1)
        self.new_preset_edit = QLineEdit()
        self.new_preset_edit.setObjectName("new_preset_edit")
        self.new_preset_edit.setPlaceholderText("new preset name")
        self.new_preset_edit.setAccessibleName("New preset name")
        self.new_preset_edit.returnPressed.connect(self._on_add_preset_clicked)
        left.addWidget(self.new_preset_edit)
        row = QHBoxLayout()
        add = QPushButton("A&dd")
        add.setObjectName("add_preset_button")
        add.clicked.connect(self._on_add_preset_clicked)
        self.remove_preset_button = QPushButton("Remove")
        self.remove_preset_button.setObjectName("remove_preset_button")
        self.remove_preset_button.clicked.connect(self._on_remove_preset_clicked)
        row.addWidget(add)
        row.addWidget(self.remove_preset_button)
        left.addLayout(row)
        outer.addLayout(left, 1)

        form = self.preset_form = _Form()
        self.preset_label_edit = QLineEdit()
        self.preset_label_edit.setObjectName("preset_label_edit")
        self.preset_label_edit.editingFinished.connect(self._apply_preset)
        form.add("&Label:", self.preset_label_edit, "preset_label")
        self.kind_combo = _combo([(KIND_LABELS[k], k) for k in KINDS])
        self.kind_combo.setObjectName("kind_combo")
        self.kind_combo.activated.connect(lambda _i: self._apply_preset())
        form.add("&What it does:", self.kind_combo, "kind")
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setObjectName("prompt_edit")
        self.prompt_edit.setAccessibleName("Prompt")
        self.prompt_edit.setTabChangesFocus(True)
        self.prompt_edit.textChanged.connect(self._on_prompt_edit_changed)
        form.add("P&rompt:", self.prompt_edit, "prompt")
        self.preset_profile_combo = QComboBox()
        self.preset_profile_combo.setObjectName("preset_profile_combo")
        self.preset_profile_combo.activated.connect(lambda _i: self._apply_preset())
        form.add("Endpoi&nt:", self.preset_profile_combo, "preset_profile")
        self.auto_copy_check = QCheckBox("Copy the answer to the clipboard when it is done")
        self.auto_copy_check.setObjectName("auto_copy_check")
        self.auto_copy_check.toggled.connect(lambda _on: self._apply_preset())
        form.add("", self.auto_copy_check, "auto_copy")
        hotkey_row = QHBoxLayout()
        self.hotkey_edit = QKeySequenceEdit()
        self.hotkey_edit.setObjectName("hotkey_edit")
        self.hotkey_edit.setAccessibleName("Hotkey: press the keys")
        self.hotkey_edit.setMaximumSequenceLength(1)
        self.hotkey_edit.editingFinished.connect(self._apply_preset)
        clear = QToolButton()
        clear.setText("Clear")
        clear.setObjectName("clear_hotkey_button")
        clear.clicked.connect(self._on_clear_hotkey_clicked)
        hotkey_row.addWidget(self.hotkey_edit, 1)
        hotkey_row.addWidget(clear)
        form.add("&Hotkey:", hotkey_row, "hotkey", self.hotkey_edit)
        self._key_recorders.append(self.hotkey_edit)
        self.hotkey_edit.installEventFilter(self)
        self.hotkey_status = QLabel()
        self.hotkey_status.setObjectName("hotkey_status")
        self.hotkey_status.setWordWrap(True)
        self.hotkey_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow("", self.hotkey_status)
        self.default_preset_check = QCheckBox("Use for captures started with no preset")
        self.default_preset_check.setObjectName("default_preset_check")
        self.default_preset_check.toggled.connect(self._on_default_preset_toggled)
        form.add("", self.default_preset_check, "default_preset")
        right = QVBoxLayout()
        right.addLayout(form)
        right.addStretch(1)
        outer.addLayout(right, 2)
        return page

    def _preset(self) -> Preset:
        item = self.preset_list.currentItem()
        name = str(item.data(Qt.ItemDataRole.UserRole)) if item else ""
        return self._settings.presets.get(name) or self._settings.preset()

    def _fill_presets(self) -> None:
        current = self.preset_list.currentItem()
        wanted = current.data(Qt.ItemDataRole.UserRole) if current else None
        self.preset_list.blockSignals(True)
        self.preset_list.clear()
        for name, preset in self._settings.presets.items():
            item = QListWidgetItem(preset.display_name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.preset_list.addItem(item)
            if name == (wanted or self._settings.default_preset):
                self.preset_list.setCurrentItem(item)
        self.preset_list.blockSignals(False)
        self._fill_preset_profiles()

    def _fill_preset_profiles(self) -> None:
        default = self._settings.profiles[self._settings.default_profile].display_name
        self.preset_profile_combo.clear()
        self.preset_profile_combo.addItem(f"The default endpoint ({default})", "")
        for name, profile in self._settings.profiles.items():
            self.preset_profile_combo.addItem(profile.display_name, name)
        self._fill_preset()

    def _fill_preset(self) -> None:
        preset = self._preset()
        self._loading = True
        try:
            for key in self.preset_form.errors:
                self.preset_form.clear_error(key)
            self.preset_label_edit.setText(preset.label)
            _select_data(self.kind_combo, preset.kind)
            self.prompt_edit.setPlainText(preset.prompt)
            _select_data(self.preset_profile_combo, preset.profile)
            self.auto_copy_check.setChecked(preset.auto_copy)
            self.hotkey_edit.setKeySequence(QKeySequence(preset.hotkey))
            self._show_hotkey_status()
            is_default = preset.name == self._settings.default_preset
            self.default_preset_check.setChecked(is_default)
            self.default_preset_check.setEnabled(not is_default)
            builtin = PRESETS.get(preset.name)
            self.remove_preset_button.setText("Reset" if builtin else "Remove")
            self.remove_preset_button.setEnabled(builtin is None or builtin != preset)
        finally:
            self._loading = False

    def set_hotkey_status(self, backend: str, problems: dict[str, str]) -> None:
        """What serves global hotkeys here, and why a preset's key does not work."""
        self._hotkey_backend = backend
        self._hotkey_problems = dict(problems)
        self._show_hotkey_status()

    def _show_hotkey_status(self) -> None:
        preset = self._preset()
        problem = self._hotkey_problems.get(preset.name)
        if problem:
            text = problem
        elif self._hotkey_backend and preset.hotkey:
            text = f"Served by {self._hotkey_backend}."
        else:
            text = f"Global hotkeys here: {self._hotkey_backend}." if self._hotkey_backend else ""
        self.hotkey_status.setText(text)

    @Slot()
    def _on_clear_clipboard_hotkey_clicked(self) -> None:
        self.clipboard_hotkey_edit.clear()
        self._apply_general()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched in self._key_recorders and event.type() in (
            QEvent.Type.FocusIn,
            QEvent.Type.FocusOut,
        ):
            self.hotkey_recording.emit(event.type() == QEvent.Type.FocusIn)
        return super().eventFilter(watched, event)

    @Slot(int)
    def _on_preset_list_row_changed(self, _row: int) -> None:
        self._prompt_timer.stop()
        self._fill_preset()

    @Slot()
    def _on_prompt_edit_changed(self) -> None:
        if not self._loading:
            self._prompt_timer.start()

    @Slot()
    def _on_prompt_timer_timeout(self) -> None:
        self._apply_preset()

    @Slot()
    def _on_clear_hotkey_clicked(self) -> None:
        self.hotkey_edit.clear()
        self._apply_preset()

    def _apply_preset(self) -> None:
        if self._loading:
            return
        preset = self._preset()
        prompt = self.prompt_edit.toPlainText().strip()
        if not prompt:
            self.preset_form.show_error("prompt", "A preset needs a prompt: what to ask.")
            return
        self.preset_form.clear_error("prompt")
        hotkey = self.hotkey_edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
        clash = next(
            (
                p.display_name
                for p in self._settings.presets.values()
                if hotkey and p.hotkey == hotkey and p.name != preset.name
            ),
            None,
        )
        if clash is None and hotkey and hotkey == self._settings.clipboard_hotkey:
            clash = "Read the clipboard's image"
        if clash is not None:
            self.preset_form.show_error("hotkey", f"{hotkey} already starts “{clash}”.")
            return
        self.preset_form.clear_error("hotkey")
        new = dataclasses.replace(
            preset,
            label=self.preset_label_edit.text().strip(),
            kind=str(self.kind_combo.currentData()),
            prompt=prompt,
            profile=str(self.preset_profile_combo.currentData() or ""),
            auto_copy=self.auto_copy_check.isChecked(),
            hotkey=hotkey,
        )
        if self._commit(replace_preset(self._settings, new)):
            item = self.preset_list.currentItem()
            if item is not None:
                item.setText(new.display_name)
            builtin = PRESETS.get(new.name)
            self.remove_preset_button.setEnabled(builtin is None or builtin != new)
            self._fill_general_presets()

    @Slot(bool)
    def _on_default_preset_toggled(self, on: bool) -> None:
        if self._loading or not on:
            return
        self._commit(dataclasses.replace(self._settings, default_preset=self._preset().name))
        self._fill_preset()
        self._fill_general_presets()

    @Slot()
    def _on_add_preset_clicked(self) -> None:
        name = self.new_preset_edit.text().strip()
        try:
            validate_profile_name(name)  # the same rule names presets
        except ConfigError as exc:
            self.preset_form.show_error("preset_label", str(exc).replace("profile", "preset"))
            return
        if name in self._settings.presets:
            self.preset_form.show_error("preset_label", f"There is already a preset {name!r}.")
            return
        label = name.replace("-", " ").replace("_", " ").capitalize()
        new = Preset(name, label, "Describe the image.")
        if self._commit(replace_preset(self._settings, new)):
            self.new_preset_edit.clear()
            self._fill_presets()
            for row in range(self.preset_list.count()):
                item = self.preset_list.item(row)
                if item.data(Qt.ItemDataRole.UserRole) == name:
                    self.preset_list.setCurrentRow(row)
            self.prompt_edit.setFocus()
            self.prompt_edit.selectAll()
            self._fill_general_presets()

    @Slot()
    def _on_remove_preset_clicked(self) -> None:
        name = self._preset().name
        if self._commit(remove_preset(self._settings, name)):
            self._fill_presets()
            self._fill_general_presets()

    # === general ========================================================================

    def _build_general(self) -> QWidget:
        page = QWidget()
        page.setObjectName("general_page")
        form = self.general_form = _Form()
        self.login_check = QCheckBox("Start ScreenScribe when I log in")
        self.login_check.setObjectName("login_check")
        form.add("", self.login_check, "start_at_login")
        self.default_preset_combo = QComboBox()
        self.default_preset_combo.setObjectName("default_preset_combo")
        form.add("Default &preset:", self.default_preset_combo, "default_preset_combo")
        clip_row = QHBoxLayout()
        self.clipboard_hotkey_edit = QKeySequenceEdit()
        self.clipboard_hotkey_edit.setObjectName("clipboard_hotkey_edit")
        self.clipboard_hotkey_edit.setAccessibleName("Hotkey to read the clipboard's image")
        self.clipboard_hotkey_edit.setMaximumSequenceLength(1)
        self.clipboard_hotkey_edit.editingFinished.connect(self._apply_general)
        self._key_recorders.append(self.clipboard_hotkey_edit)
        self.clipboard_hotkey_edit.installEventFilter(self)
        clear_clip = QToolButton()
        clear_clip.setText("Clear")
        clear_clip.setObjectName("clear_clipboard_hotkey_button")
        clear_clip.clicked.connect(self._on_clear_clipboard_hotkey_clicked)
        clip_row.addWidget(self.clipboard_hotkey_edit, 1)
        clip_row.addWidget(clear_clip)
        form.add(
            "&Clipboard image hotkey:", clip_row, "clipboard_hotkey", self.clipboard_hotkey_edit
        )
        self.engine_combo = _combo(
            [
                ("The model when one is set up, else offline", "auto"),
                ("Always the offline engine (this computer)", "local"),
                ("Always the model", "endpoint"),
            ]
        )
        self.engine_combo.setObjectName("engine_combo")
        form.add("E&xtract text with:", self.engine_combo, "ocr_engine")
        self.history_check = QCheckBox("Keep a history of requests and answers")
        self.history_check.setObjectName("history_check")
        form.add("", self.history_check, "history_enabled")
        self.history_days_spin = _spin(0, 3650, special="forever")
        self.history_days_spin.setObjectName("history_days_spin")
        self.history_days_spin.setSuffix(" days")
        form.add("Keep &for:", self.history_days_spin, "history_max_days")
        self.history_entries_spin = _spin(1, 1_000_000)
        self.history_entries_spin.setObjectName("history_entries_spin")
        self.history_entries_spin.setSingleStep(1000)
        form.add("At &most (entries):", self.history_entries_spin, "history_max_entries")
        self.store_images_combo = _combo(
            [("Thumbnails only", "thumbnail"), ("Full images (follow-ups stay sharp)", "full")]
        )
        self.store_images_combo.setObjectName("store_images_combo")
        form.add("&Images in history:", self.store_images_combo, "history_store_images")
        self.placement_combo = _combo(
            [
                ("Beside the region", "beside"),
                ("At the mouse pointer", "cursor"),
                ("In the middle of the screen", "center"),
            ]
        )
        self.placement_combo.setObjectName("placement_combo")
        form.add("Panel p&lacement:", self.placement_combo, "panel_placement")
        self.font_spin = _spin(0, 48, special="system")
        self.font_spin.setObjectName("font_spin")
        self.font_spin.setSuffix(" pt")
        form.add("Panel f&ont size:", self.font_spin, "panel_font_size")
        self.theme_combo = _combo(
            [("Follow the system", "system"), ("Light", "light"), ("Dark", "dark")]
        )
        self.theme_combo.setObjectName("theme_combo")
        form.add("&Theme:", self.theme_combo, "theme")
        self.login_check.toggled.connect(lambda _v: self._apply_general())
        self.history_check.toggled.connect(lambda _v: self._apply_general())
        for spin in (self.history_days_spin, self.history_entries_spin, self.font_spin):
            spin.valueChanged.connect(lambda _v: self._apply_general())
        for combo in (
            self.default_preset_combo,
            self.engine_combo,
            self.store_images_combo,
            self.placement_combo,
            self.theme_combo,
        ):
            combo.activated.connect(lambda _i: self._apply_general())
        outer = QVBoxLayout(page)
        outer.addLayout(form)
        outer.addStretch(1)
        return page

    def _fill_general_presets(self) -> None:
        self.default_preset_combo.blockSignals(True)
        self.default_preset_combo.clear()
        for name, preset in self._settings.presets.items():
            self.default_preset_combo.addItem(preset.display_name, name)
        _select_data(self.default_preset_combo, self._settings.default_preset)
        self.default_preset_combo.blockSignals(False)

    def _fill_general(self) -> None:
        s = self._settings
        self._loading = True
        try:
            self.login_check.setChecked(s.start_at_login)
            self.clipboard_hotkey_edit.setKeySequence(QKeySequence(s.clipboard_hotkey))
            self._fill_general_presets()
            _select_data(self.engine_combo, s.ocr_engine)
            self.history_check.setChecked(s.history_enabled)
            self.history_days_spin.setValue(s.history_max_days or 0)
            self.history_entries_spin.setValue(s.history_max_entries)
            _select_data(self.store_images_combo, s.history_store_images)
            _select_data(self.placement_combo, s.panel_placement)
            self.font_spin.setValue(s.panel_font_size or 0)
            _select_data(self.theme_combo, s.theme)
            for widget in (
                self.history_days_spin,
                self.history_entries_spin,
                self.store_images_combo,
            ):
                widget.setEnabled(s.history_enabled)
        finally:
            self._loading = False

    def _apply_general(self) -> None:
        if self._loading:
            return
        font = self.font_spin.value()
        if 0 < font < 6:
            self.general_form.show_error("panel_font_size", "The smallest size is 6 points.")
            return
        self.general_form.clear_error("panel_font_size")
        clip = self.clipboard_hotkey_edit.keySequence().toString(
            QKeySequence.SequenceFormat.PortableText
        )
        taken = next(
            (p.display_name for p in self._settings.presets.values() if clip and p.hotkey == clip),
            None,
        )
        if taken is not None:
            self.general_form.show_error("clipboard_hotkey", f"{clip} already starts “{taken}”.")
            return
        self.general_form.clear_error("clipboard_hotkey")
        new = dataclasses.replace(
            self._settings,
            clipboard_hotkey=clip,
            start_at_login=self.login_check.isChecked(),
            default_preset=str(self.default_preset_combo.currentData()),
            ocr_engine=str(self.engine_combo.currentData()),
            history_enabled=self.history_check.isChecked(),
            history_max_days=self.history_days_spin.value() or None,
            history_max_entries=self.history_entries_spin.value(),
            history_store_images=str(self.store_images_combo.currentData()),
            panel_placement=str(self.placement_combo.currentData()),
            panel_font_size=font or None,
            theme=str(self.theme_combo.currentData()),
        )
        if self._commit(new):
            for widget in (
                self.history_days_spin,
                self.history_entries_spin,
                self.store_images_combo,
            ):
                widget.setEnabled(new.history_enabled)
            if self.default_preset_check.isChecked() != (self._preset().name == new.default_preset):
                self._fill_preset()

    # --- the rest -----------------------------------------------------------------------

    def _fill_all(self) -> None:
        self._fill_profiles()
        self._fill_presets()
        self._fill_general()

    @Slot()
    def _on_open_file_clicked(self) -> None:
        if not self._path.exists():
            self._commit_file_anyway()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._path)))

    def _commit_file_anyway(self) -> None:
        try:
            save_settings(self._settings, self._path)
        except ConfigError as exc:
            self.save_error.setText(str(exc))
            self.save_error.show()

    def closeEvent(self, event: Any) -> None:
        # Fields apply when editing finishes; a prompt still in its debounce applies now.
        if self._prompt_timer.isActive():
            self._prompt_timer.stop()
            self._apply_preset()
        self.hotkey_recording.emit(False)
        if self._cancel is not None:
            self._cancel.cancel()
        for task in list(self._tasks):
            task.wait(3000)
        super().closeEvent(event)
