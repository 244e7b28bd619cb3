"""The history window: past answers, searched as you type, copied again."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.history import History, HistoryEntry

STATUS_MARK = {"complete": "", "partial": " (partial)", "failed": " (failed)"}


class HistoryWindow(QWidget):
    def __init__(self, history: History, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = history
        self.setWindowTitle("ScreenScribe history")
        self.resize(820, 520)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts and answers…")
        self.search.setAccessibleName("Search the history")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget()
        self.list.setAccessibleName("Past requests")
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setAccessibleName("Answer")
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.copy_button = QPushButton("&Copy answer")
        self.copy_button.clicked.connect(self._on_copy_clicked)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        rl.addWidget(self.info)
        rl.addWidget(self.detail, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.copy_button)
        rl.addLayout(row)
        split = QSplitter()
        split.addWidget(self.list)
        split.addWidget(right)
        split.setSizes([320, 500])
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(split, 1)
        # Debounced: one search per pause in typing, not one per keystroke.
        self._debounce = QTimer(self, singleShot=True, interval=120)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._debounce.start)
        self.list.currentItemChanged.connect(self._on_list_current_item_changed)
        QShortcut(QKeySequence.StandardKey.Find, self, self.search.setFocus)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.close)
        self.refresh()

    def refresh(self) -> None:
        text = self.search.text().strip()
        entries = self.history.search(text, limit=200) if text else self.history.recent(200)
        self.list.clear()
        for entry in entries:
            first = (entry.answer.strip().splitlines() or [entry.error or "(no answer)"])[0]
            when = time.strftime("%d %b %H:%M", time.localtime(entry.created_at))
            item = QListWidgetItem(
                f"{when} · {entry.mode}{STATUS_MARK.get(entry.status, '')}\n{first[:90]}"
            )
            item.setData(Qt.ItemDataRole.UserRole, entry.id)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        else:
            self.detail.setPlainText("")
            self.info.setText("Nothing found." if text else "No answers yet.")

    def _entry(self) -> HistoryEntry | None:
        item = self.list.currentItem()
        return self.history.get(int(item.data(Qt.ItemDataRole.UserRole))) if item else None

    def _on_list_current_item_changed(self, *_: object) -> None:
        entry = self._entry()
        if entry is None:
            return
        tokens = (
            f" · {entry.prompt_tokens} in / {entry.completion_tokens} out tokens"
            if entry.prompt_tokens is not None
            else ""
        )
        self.info.setText(
            f"{entry.model} · {entry.prompt[:120]}{tokens}"
            + (f"\n{entry.error}" if entry.error else "")
        )
        self.detail.setPlainText(entry.answer)

    def _on_copy_clicked(self) -> None:
        entry = self._entry()
        if entry is not None:
            QGuiApplication.clipboard().setText(entry.answer)
