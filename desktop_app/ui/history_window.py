"""The history window: past requests, a page at a time, searched as you type; open one
again, copy its answer, delete it, clear them all, export them as Markdown or JSON.

The list is a ``QTreeView`` over :class:`HistoryListModel`, which loads ``PAGE_SIZE``
entries at a time (more when the view scrolls to the end, or with "Load more") and
decodes a row's thumbnail only when the row is painted, keeping the last
``THUMBNAIL_CACHE_SIZE`` in an LRU cache. The detail pane shows the selected entry with
its picture, prompt, answer and follow-ups (entries whose ``parent_id`` is its id).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from itertools import pairwise
from pathlib import Path
from typing import Any, Final

from PySide6.QtCore import (
    QAbstractTableModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QBrush,
    QColor,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.errors import ScreenScribeError
from desktop_app.core.history import History, HistoryEntry
from desktop_app.core.history_export import ExportFormat, format_for_path, write_export
from desktop_app.core.metering import format_cost, request_cost
from desktop_app.core.models import Usage
from desktop_app.core.prompts import PRESETS, Preset
from desktop_app.core.settings import Profile

__all__ = [
    "PAGE_SIZE",
    "Column",
    "HistoryListModel",
    "HistoryWindow",
    "entry_cost",
    "followups_of",
]

PAGE_SIZE: Final = 200
THUMBNAIL_CACHE_SIZE: Final = 256
LIST_THUMBNAIL: Final = QSize(64, 40)
DETAIL_THUMBNAIL: Final = QSize(256, 256)
SEARCH_DELAY_MS: Final = 120
ENTRY_ID_ROLE: Final = int(Qt.ItemDataRole.UserRole)
STATUS_ROLE: Final = int(Qt.ItemDataRole.UserRole) + 1
STATUS_MARK: Final = {"complete": "", "partial": "(partial) ", "failed": "(failed) "}
_STATUS_COLOURS: Final = {"partial": QColor(0xB3, 0x5C, 0x00), "failed": QColor(0xC6, 0x28, 0x28)}
_STATUS_NOTES: Final = {
    "partial": "Partial answer: it was cut short.",
    "failed": "Failed: no complete answer came back.",
}
_JSON_FILTER: Final = "JSON (*.json)"
_MARKDOWN_FILTER: Final = "Markdown (*.md)"
_ROOT: Final = QModelIndex()


class Column(IntEnum):
    THUMBNAIL = 0
    PRESET = 1
    ANSWER = 2
    TIME = 3
    MODEL = 4
    TOKENS = 5
    COST = 6


HEADERS: Final = {
    Column.THUMBNAIL: "",
    Column.PRESET: "Preset",
    Column.ANSWER: "Answer",
    Column.TIME: "Time",
    Column.MODEL: "Model",
    Column.TOKENS: "Tokens in / out",
    Column.COST: "Cost",
}


# --- pure helpers ----------------------------------------------------------------------


def entry_cost(entry: HistoryEntry, profiles: Mapping[str, Profile] | None) -> float | None:
    """USD for ``entry`` at the prices of its profile; None when the profile is not
    known, has no prices, or no token counts were saved."""
    profile = (profiles or {}).get(entry.profile)
    if profile is None or (entry.prompt_tokens is None and entry.completion_tokens is None):
        return None
    p_in, p_out = entry.prompt_tokens or 0, entry.completion_tokens or 0
    return request_cost(profile, Usage(p_in, p_out, p_in + p_out))


def followups_of(history: History, entry: HistoryEntry) -> list[HistoryEntry]:
    """The entries that follow ``entry`` up (``parent_id == entry.id``), oldest first:
    one indexed query (``entries_parent_id``)."""
    return history.followups(entry.id)


def _first_line(entry: HistoryEntry) -> str:
    for text in (entry.answer, entry.error or ""):
        for line in text.splitlines():
            if line.strip():
                return line.strip()[:300]
    return "(no answer)"


def _tokens_text(entry: HistoryEntry) -> str:
    if entry.prompt_tokens is None and entry.completion_tokens is None:
        return ""

    def show(n: int | None) -> str:
        return "?" if n is None else f"{n:,}"

    return f"{show(entry.prompt_tokens)} / {show(entry.completion_tokens)}"


def _when(epoch: float, *, now: float | None = None) -> str:
    moment, today = time.localtime(epoch), time.localtime(now)
    if moment.tm_year != today.tm_year:
        return time.strftime("%d %b %Y", moment)
    return time.strftime("%d %b %H:%M", moment)


def _preset_label(entry: HistoryEntry, presets: Mapping[str, Preset]) -> str:
    preset = presets.get(entry.mode)
    label = preset.display_name if preset is not None else entry.mode
    return f"{label} (follow-up)" if entry.parent_id is not None else label


def _pixmap(jpeg: bytes, size: QSize) -> QPixmap | None:
    image = QImage()
    image.loadFromData(jpeg, "JPEG")  # named: no probing of every format plugin
    if image.isNull():
        return None
    if image.width() > size.width() or image.height() > size.height():
        image = image.scaled(
            size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
    return QPixmap.fromImage(image)


# --- the list model --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    entry: HistoryEntry
    texts: tuple[str, ...]  # one per Column
    cost: float | None


class HistoryListModel(QAbstractTableModel):
    """The entries of the history that match a search, loaded a page at a time.

    ``load_more`` appends the next page (the window calls it when the list is scrolled
    to its end, or on "Load more"). Qt's own ``fetchMore`` is not used: a view calls it
    while hidden and again while a layout is pending, loading pages nobody looks at.
    Errors of the history file are reported by ``load_failed``.
    """

    load_failed = Signal(str)

    def __init__(
        self,
        history: History,
        *,
        presets: Mapping[str, Preset] | None = None,
        profiles: Mapping[str, Profile] | None = None,
        page_size: int = PAGE_SIZE,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, not {page_size}")
        self._history = history
        self._presets: Mapping[str, Preset] = PRESETS if presets is None else presets
        self._profiles: Mapping[str, Profile] = profiles or {}
        self._page_size = page_size
        self._query = ""
        self._rows: list[_Row] = []
        self._ids: set[int] = set()
        self._consumed = 0  # how many of the query's results the loaded pages covered
        self._more = False
        self._thumbnails: OrderedDict[int, QPixmap | None] = OrderedDict()

    # --- what it shows -----------------------------------------------------------------

    @property
    def query(self) -> str:
        return self._query

    @property
    def profiles(self) -> Mapping[str, Profile]:
        return self._profiles

    @property
    def has_more(self) -> bool:
        return self._more

    def entries(self) -> list[HistoryEntry]:
        return [row.entry for row in self._rows]

    def entry(self, row: int) -> HistoryEntry | None:
        return self._rows[row].entry if 0 <= row < len(self._rows) else None

    def row_of(self, entry_id: int) -> int | None:
        for number, row in enumerate(self._rows):
            if row.entry.id == entry_id:
                return number
        return None

    def set_query(self, text: str) -> None:
        """Show the entries matching ``text`` (all, newest first, when it is blank),
        the first page of them."""
        self.beginResetModel()
        self._query = text if text.strip() else ""  # a space after a word ends it
        self._rows, self._ids = [], set()
        self._consumed, self._more = 0, False
        try:
            self._append(self._next_page())
        finally:
            self.endResetModel()

    def set_catalog(
        self,
        presets: Mapping[str, Preset] | None = None,
        profiles: Mapping[str, Profile] | None = None,
    ) -> None:
        """New preset labels and prices (the settings changed)."""
        self._presets = PRESETS if presets is None else presets
        self._profiles = profiles or {}
        self._rows = [self._row(row.entry) for row in self._rows]
        if self._rows:
            last = self.index(len(self._rows) - 1, len(Column) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    def remove(self, entry_id: int) -> bool:
        """Take a deleted entry out of the list; False when it was not in it."""
        row = self.row_of(entry_id)
        if row is None:
            return False
        self.beginRemoveRows(_ROOT, row, row)
        del self._rows[row]
        self._ids.discard(entry_id)
        self._consumed = max(0, self._consumed - 1)  # the later rows moved up by one
        self._thumbnails.pop(entry_id, None)
        self.endRemoveRows()
        return True

    def cached_thumbnails(self) -> int:
        """How many list thumbnails are decoded and kept (for tests and benchmarks)."""
        return len(self._thumbnails)

    # --- paging ------------------------------------------------------------------------

    def _next_page(self) -> list[HistoryEntry]:
        n = self._page_size
        try:
            if self._query:
                # search() has no offset: ask for the pages so far plus one more row.
                found = self._history.search(self._query, limit=self._consumed + n + 1)
                page = found[self._consumed : self._consumed + n]
                more = len(found) > self._consumed + n
            else:
                page = self._history.recent(n + 1, offset=self._consumed)
                more = len(page) > n
                page = page[:n]
        except ScreenScribeError as exc:
            self._more = False
            self.load_failed.emit(str(exc))
            return []
        self._consumed += len(page)
        self._more = more
        # Entries added or deleted meanwhile shift the pages: never show one twice.
        return [e for e in page if e.id not in self._ids]

    def _append(self, entries: Sequence[HistoryEntry]) -> None:
        self._rows += [self._row(e) for e in entries]
        self._ids.update(e.id for e in entries)

    def _row(self, entry: HistoryEntry) -> _Row:
        cost = entry_cost(entry, self._profiles)
        texts = {
            Column.THUMBNAIL: "",
            Column.PRESET: _preset_label(entry, self._presets),
            Column.ANSWER: STATUS_MARK.get(entry.status, "") + _first_line(entry),
            Column.TIME: _when(entry.created_at),
            Column.MODEL: entry.model,
            Column.TOKENS: _tokens_text(entry),
            Column.COST: "" if cost is None else format_cost(cost),
        }
        return _Row(entry, tuple(texts[c] for c in Column), cost)

    def load_more(self) -> int:
        """Append the next page; returns how many rows were added."""
        if not self._more:
            return 0
        page = self._next_page()
        if page:
            first = len(self._rows)
            self.beginInsertRows(_ROOT, first, first + len(page) - 1)
            self._append(page)
            self.endInsertRows()
        return len(page)

    # --- QAbstractTableModel -----------------------------------------------------------

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _ROOT) -> int:
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        column = Column(section)
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[column]
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return HEADERS[column] or "Picture"
        return None

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row, column = self._rows[index.row()], Column(index.column())
        entry = row.entry
        if role == Qt.ItemDataRole.DisplayRole:
            return row.texts[column]
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(entry) if column == Column.THUMBNAIL else None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.AccessibleTextRole and column == Column.THUMBNAIL:
            return "Picture" if entry.has_thumbnail else "No picture"
        if role == Qt.ItemDataRole.ForegroundRole and column == Column.ANSWER:
            colour = _STATUS_COLOURS.get(entry.status)
            return QBrush(colour) if colour is not None else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (Column.TOKENS, Column.COST):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.SizeHintRole and column == Column.THUMBNAIL:
            return QSize(LIST_THUMBNAIL.width() + 8, LIST_THUMBNAIL.height() + 4)
        if role == ENTRY_ID_ROLE:
            return entry.id
        if role == STATUS_ROLE:
            return entry.status
        return None

    def _tooltip(self, row: _Row, column: Column) -> str | None:
        entry = row.entry
        if column == Column.ANSWER:
            note = _STATUS_NOTES.get(entry.status)
            text = (entry.answer or entry.error or "(no answer)")[:500]
            return f"{note}\n\n{text}" if note else text
        if column == Column.TIME:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created_at))
        if column == Column.MODEL:
            return f"{entry.model}\nprofile {entry.profile}, {entry.base_url}"
        if column == Column.COST and row.cost is not None:
            return f"At the prices of the profile {entry.profile!r}"
        return None

    # --- thumbnails --------------------------------------------------------------------

    def thumbnail(self, entry: HistoryEntry) -> QPixmap | None:
        """The list's small picture of ``entry``, loaded and decoded on first use."""
        if not entry.has_thumbnail:
            return None
        if entry.id in self._thumbnails:
            self._thumbnails.move_to_end(entry.id)
            return self._thumbnails[entry.id]
        pixmap = None
        try:
            full = self._history.get(entry.id)
        except ScreenScribeError:
            full = None
        if full is not None and full.thumbnail:
            pixmap = _pixmap(full.thumbnail, LIST_THUMBNAIL)
        self._thumbnails[entry.id] = pixmap
        while len(self._thumbnails) > THUMBNAIL_CACHE_SIZE:
            self._thumbnails.popitem(last=False)
        return pixmap


# --- the window ------------------------------------------------------------------------


class HistoryWindow(QWidget):
    """Past requests and their answers.

    ``entry_opened(id)`` asks the app to show an entry again in an answer panel (Open,
    Enter, double-click). ``presets`` give the preset labels (default: the built-ins),
    ``profiles`` the prices for the cost column (none: the column stays blank).
    """

    entry_opened = Signal(int)

    def __init__(
        self,
        history: History,
        parent: QWidget | None = None,
        *,
        presets: Mapping[str, Preset] | None = None,
        profiles: Mapping[str, Profile] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        super().__init__(parent)
        self.history = history
        self._presets: Mapping[str, Preset] = PRESETS if presets is None else presets
        self.setWindowTitle("ScreenScribe history")
        self.resize(980, 600)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts and answers…  (Ctrl+F)")
        self.search.setAccessibleName("Search the history")
        self.search.setClearButtonEnabled(True)
        self.search.installEventFilter(self)

        self.list_model = HistoryListModel(
            history, presets=presets, profiles=profiles, page_size=page_size, parent=self
        )
        self.list_model.load_failed.connect(self._on_list_model_load_failed)
        self.view = QTreeView()
        self.view.setAccessibleName("Past requests")
        self.view.setModel(self.list_model)
        self.view.setRootIsDecorated(False)
        self.view.setItemsExpandable(False)
        self.view.setUniformRowHeights(True)  # thousands of rows stay fast
        self.view.setAllColumnsShowFocus(True)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setIconSize(LIST_THUMBNAIL)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(Column.ANSWER, QHeaderView.ResizeMode.Stretch)
        em = self.fontMetrics().horizontalAdvance("M")
        widths = {
            Column.THUMBNAIL: LIST_THUMBNAIL.width() + 12,
            Column.PRESET: 9 * em,
            Column.TIME: 7 * em,
            Column.MODEL: 9 * em,
            Column.TOKENS: 6 * em,
            Column.COST: 5 * em,
        }
        for column, width in widths.items():
            self.view.setColumnWidth(column, width)

        # detail pane
        self.thumbnail = QLabel()
        self.thumbnail.setAccessibleName("Picture of the region")
        self.thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumbnail.setMinimumSize(96, 64)
        self.thumbnail.setMaximumSize(DETAIL_THUMBNAIL)
        self.info = QLabel("")
        self.info.setAccessibleName("Details of the request")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.prompt = QPlainTextEdit()
        self.prompt.setReadOnly(True)
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setMaximumHeight(5 * self.fontMetrics().lineSpacing() + 12)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setAccessibleName("Answer")
        self.followups = QPlainTextEdit()
        self.followups.setReadOnly(True)
        self.followups.setAccessibleName("Follow-ups")
        self.followups_label = QLabel("Follow-ups")
        self.followups_label.setBuddy(self.followups)
        prompt_label = QLabel("Prompt")
        prompt_label.setBuddy(self.prompt)
        answer_label = QLabel("Answer")
        answer_label.setBuddy(self.detail)

        # actions: buttons, keys on the list, context menu
        self.open_action = self._action(
            "&Open",
            self._on_open_triggered,
            QKeySequence(Qt.Key.Key_Return),
            QKeySequence(Qt.Key.Key_Enter),
        )
        self.copy_action = self._action(
            "&Copy answer", self._on_copy_triggered, QKeySequence.StandardKey.Copy
        )
        self.delete_action = self._action(
            "&Delete", self._on_delete_triggered, QKeySequence.StandardKey.Delete
        )
        self.export_action = self._action("E&xport…", self._on_export_triggered)
        self.clear_action = self._action("Clear a&ll…", self._on_clear_triggered)
        # Enter, Ctrl+C and Del act on the list only: in the search field and the text
        # panes they keep their usual meaning. Double-click opens too.
        for action in (self.open_action, self.copy_action, self.delete_action):
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            self.view.addAction(action)
        self.context_menu = QMenu(self)
        self.context_menu.setAccessibleName("Actions on the request")
        self.context_menu.addAction(self.open_action)
        self.context_menu.addAction(self.copy_action)
        self.context_menu.addSeparator()
        self.context_menu.addAction(self.delete_action)
        self.context_menu.addSeparator()
        self.context_menu.addAction(self.export_action)
        self.context_menu.addAction(self.clear_action)

        self.open_button = self._button("&Open", "Open the request in an answer panel")
        self.copy_button = self._button("&Copy answer", "Copy the answer (Ctrl+C)")
        self.delete_button = self._button("&Delete", "Delete the request (Del)")
        self.export_button = self._button("E&xport…", "Export the listed requests")
        self.clear_button = self._button("Clear a&ll…", "Delete every request")
        self.more_button = self._button("Load &more", "Show the next older requests")
        for button, action in (
            (self.open_button, self.open_action),
            (self.copy_button, self.copy_action),
            (self.delete_button, self.delete_action),
            (self.export_button, self.export_action),
            (self.clear_button, self.clear_action),
        ):
            button.clicked.connect(action.trigger)
        self.more_button.clicked.connect(self._on_more_clicked)
        self.count_label = QLabel("")
        self.count_label.setAccessibleName("How many requests are listed")
        self.message = QLabel("")
        self.message.setAccessibleName("Message")
        self.message.setWordWrap(True)

        # layout
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.thumbnail, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.info, 1)
        rl.addLayout(top)
        rl.addWidget(prompt_label)
        rl.addWidget(self.prompt)
        rl.addWidget(answer_label)
        rl.addWidget(self.detail, 3)
        rl.addWidget(self.followups_label)
        rl.addWidget(self.followups, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.view, 1)
        more_row = QHBoxLayout()
        more_row.addWidget(self.count_label, 1)
        more_row.addWidget(self.more_button)
        ll.addLayout(more_row)
        split = QSplitter()
        split.setChildrenCollapsible(False)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([600, 380])
        buttons = QHBoxLayout()
        for button in (self.open_button, self.copy_button, self.delete_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(split, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        chain: list[QWidget] = [
            self.search,
            self.view,
            self.more_button,
            self.prompt,
            self.detail,
            self.followups,
            self.open_button,
            self.copy_button,
            self.delete_button,
            self.export_button,
            self.clear_button,
        ]
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)

        # Debounced: one search per pause in typing, not one per keystroke.
        self._debounce = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._debounce.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._debounce.start)
        # Not "activated": it also fires on a single click where the platform says so,
        # and Enter is the open action's shortcut.
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        # Paging: the next page when the list is scrolled to its end, or not filled.
        self._more_timer = QTimer(self, singleShot=True, interval=0)
        self._more_timer.timeout.connect(self._on_more_timer_timeout)
        bar = self.view.verticalScrollBar()
        bar.valueChanged.connect(self._more_timer.start)
        bar.rangeChanged.connect(self._more_timer.start)
        self.view.customContextMenuRequested.connect(self._on_view_context_menu_requested)
        self.view.selectionModel().currentRowChanged.connect(self._on_view_current_row_changed)
        self.list_model.rowsInserted.connect(self._update_counts)
        self.list_model.rowsRemoved.connect(self._update_counts)
        self.list_model.modelReset.connect(self._update_counts)
        QShortcut(QKeySequence.StandardKey.Find, self, self._on_find_shortcut_activated)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.close)
        self.refresh()

    def _action(
        self,
        text: str,
        slot: Callable[[], object],
        *shortcuts: QKeySequence | QKeySequence.StandardKey,
    ) -> QAction:
        action = QAction(text, self)
        if shortcuts:
            action.setShortcuts([QKeySequence(k) for k in shortcuts])
        action.triggered.connect(slot)
        return action

    def _button(self, text: str, tip: str) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(tip)
        button.setAccessibleDescription(tip)
        button.setAutoDefault(False)
        return button

    # --- public --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Load the list again for the text in the search field; keep the selected
        entry selected when it is still listed."""
        self._debounce.stop()
        current = self.current_entry()
        self.message.clear()
        self.list_model.set_query(self.search.text())
        row = self.list_model.row_of(current.id) if current is not None else None
        if self.list_model.rowCount():
            self._select_row(row if row is not None else 0)
        else:
            self._show_entry(None)
            self.info.setText("Nothing found." if self.list_model.query else "No answers yet.")
        self._update_actions()

    def set_catalog(
        self,
        presets: Mapping[str, Preset] | None = None,
        profiles: Mapping[str, Profile] | None = None,
    ) -> None:
        """New preset labels and prices, after the settings changed."""
        self._presets = PRESETS if presets is None else presets
        self.list_model.set_catalog(presets, profiles)
        self._on_view_current_row_changed()

    def current_entry(self) -> HistoryEntry | None:
        """The selected entry as listed (no thumbnail), or None."""
        return self.list_model.entry(self.view.currentIndex().row())

    def choose_export_path(self, suggested: Path) -> Path | None:
        """Ask where to export (a save dialog); None when cancelled. The suffix says the
        format; a name without one gets that of the chosen filter. Replace this
        method on the instance to answer without a dialog."""
        name, chosen = QFileDialog.getSaveFileName(
            self,
            "Export the history",
            str(suggested),
            f"{_MARKDOWN_FILTER};;{_JSON_FILTER}",
            _JSON_FILTER if suggested.suffix == ".json" else _MARKDOWN_FILTER,
        )
        if not name:
            return None
        path = Path(name)
        if format_for_path(path) is None:
            path = path.with_name(path.name + (".json" if chosen == _JSON_FILTER else ".md"))
        return path

    def confirm_clear(self, count: int) -> bool:
        """Ask before deleting every entry; True when the person confirmed."""
        box = QMessageBox(self)
        box.setObjectName("confirm_clear")
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Clear the history")
        box.setText(f"Delete all {count:,} saved request{'s' if count != 1 else ''}?")
        box.setInformativeText("Their pictures, prompts and answers cannot be restored.")
        delete = box.addButton("Delete all", QMessageBox.ButtonRole.DestructiveRole)
        cancel = box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(cancel)
        box.setEscapeButton(cancel)
        box.exec()
        confirmed = box.clickedButton() is delete
        box.deleteLater()
        return confirmed

    # --- slots -------------------------------------------------------------------------

    def _on_find_shortcut_activated(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def _on_list_model_load_failed(self, message: str) -> None:
        self.message.setText(message)

    def _on_more_clicked(self) -> None:
        row = self.list_model.rowCount()
        if self.list_model.load_more():
            self.view.scrollTo(self.list_model.index(row, 0))
        self._update_actions()

    def _on_more_timer_timeout(self) -> None:
        bar = self.view.verticalScrollBar()
        if self.view.isVisible() and self.list_model.has_more and bar.value() >= bar.maximum():
            self.list_model.load_more()
            self._update_actions()

    def _on_view_current_row_changed(self, *_: object) -> None:
        self._show_entry(self.current_entry())
        self._update_actions()

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        entry = self.list_model.entry(index.row())
        if entry is not None:
            self.entry_opened.emit(entry.id)

    def _on_view_context_menu_requested(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if index.isValid():
            self.view.setCurrentIndex(index)
        self._update_actions()
        self.context_menu.popup(self.view.viewport().mapToGlobal(pos))

    def _on_open_triggered(self) -> None:
        entry = self.current_entry()
        if entry is not None:
            self.entry_opened.emit(entry.id)

    def _on_copy_triggered(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        if entry.answer:
            QGuiApplication.clipboard().setText(entry.answer)
            self.message.setText("Answer copied.")
        else:
            self.message.setText("This request has no answer to copy.")

    def _on_delete_triggered(self) -> None:
        entry = self.current_entry()
        if entry is None:
            return
        row = self.view.currentIndex().row()
        try:
            self.history.delete(entry.id)
        except ScreenScribeError as exc:
            self.message.setText(str(exc))
            return
        self.list_model.remove(entry.id)
        if self.list_model.rowCount() == 0:
            self.list_model.load_more()
        if self.list_model.rowCount():
            self._select_row(min(row, self.list_model.rowCount() - 1))
        else:
            self._show_entry(None)
            self.info.setText("Nothing found." if self.list_model.query else "No answers yet.")
        self.message.setText("Deleted.")
        self._update_actions()

    def _on_clear_triggered(self) -> None:
        try:
            count = self.history.count()
        except ScreenScribeError as exc:
            self.message.setText(str(exc))
            return
        if count == 0 or not self.confirm_clear(count):
            return
        try:
            removed = self.history.clear()
        except ScreenScribeError as exc:
            self.message.setText(str(exc))
            return
        self.search.clear()
        self.refresh()
        self.message.setText(f"Deleted {removed:,} request{'s' if removed != 1 else ''}.")

    def _on_export_triggered(self) -> None:
        query = self.list_model.query
        stamp = time.strftime("%Y-%m-%d")
        path = self.choose_export_path(Path.home() / f"screenscribe-history-{stamp}.md")
        if path is None:
            return
        fmt: ExportFormat = format_for_path(path) or "markdown"
        try:
            total = self.history.count()
            entries = (
                self.history.search(query, limit=max(total, 1))
                if query
                else self.history.recent(max(total, 1))
            )
            write_export(path, entries, fmt, presets=self._presets)
        except ScreenScribeError as exc:
            self.message.setText(str(exc))
            return
        n = len(entries)
        self.message.setText(f"Exported {n:,} request{'s' if n != 1 else ''} to {path}.")

    # --- helpers -----------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        # Down or Enter in the search field moves to the list, as in a launcher.
        if (
            watched is self.search
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            if self._debounce.isActive():  # the list is for older text: search now
                self.refresh()
            if self.list_model.rowCount():
                self.view.setFocus(Qt.FocusReason.OtherFocusReason)
                if not self.view.currentIndex().isValid():
                    self._select_row(0)
            return True
        return super().eventFilter(watched, event)

    def _select_row(self, row: int) -> None:
        index = self.list_model.index(row, 0)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)

    def _update_counts(self, *_: object) -> None:
        shown = self.list_model.rowCount()
        if self.list_model.query:
            text = f"{shown:,} found" + (", more below" if self.list_model.has_more else "")
        else:
            try:
                total = self.history.count()
            except ScreenScribeError:
                total = shown
            text = f"{shown:,} of {total:,} shown" if shown < total else f"{shown:,} shown"
        self.count_label.setText(text)
        self.more_button.setEnabled(self.list_model.has_more)

    def _update_actions(self) -> None:
        entry = self.current_entry()
        for action in (self.open_action, self.copy_action, self.delete_action):
            action.setEnabled(entry is not None)
        self.copy_action.setEnabled(entry is not None and bool(entry.answer))
        self.export_action.setEnabled(self.list_model.rowCount() > 0)
        try:
            any_saved = self.history.count() > 0
        except ScreenScribeError:
            any_saved = True
        self.clear_action.setEnabled(any_saved)
        for button, action in (
            (self.open_button, self.open_action),
            (self.copy_button, self.copy_action),
            (self.delete_button, self.delete_action),
            (self.export_button, self.export_action),
            (self.clear_button, self.clear_action),
        ):
            button.setEnabled(action.isEnabled())
        self.more_button.setEnabled(self.list_model.has_more)

    def _show_entry(self, listed: HistoryEntry | None) -> None:
        entry = None
        followups: list[HistoryEntry] = []
        if listed is not None:
            try:
                entry = self.history.get(listed.id)
                if entry is not None:
                    followups = self._followups(entry)
            except ScreenScribeError as exc:
                self.message.setText(str(exc))
        pixmap = _pixmap(entry.thumbnail, DETAIL_THUMBNAIL) if entry and entry.thumbnail else None
        if pixmap is not None:
            self.thumbnail.setPixmap(pixmap)
        else:
            self.thumbnail.clear()
            self.thumbnail.setText("No picture" if entry is not None else "")
        if entry is None:
            self.info.setText("This request was deleted." if listed is not None else "")
            self.prompt.setPlainText("")
            self.detail.setPlainText("")
            self.followups.setPlainText("")
            self.followups_label.setText("Follow-ups")
            self.followups.setVisible(False)
            self.followups_label.setVisible(False)
            return
        self.info.setText(self._describe(entry))
        self.prompt.setPlainText(entry.prompt)
        self.detail.setPlainText(entry.answer)
        self.followups_label.setText(f"&Follow-ups ({len(followups)})")
        self.followups.setPlainText(
            "\n\n".join(
                f"Q: {f.prompt}\nA: {STATUS_MARK.get(f.status, '')}{f.answer or f.error or ''}"
                for f in followups
            )
        )
        self.followups.setVisible(bool(followups))
        self.followups_label.setVisible(bool(followups))

    def _followups(self, entry: HistoryEntry) -> list[HistoryEntry]:
        return followups_of(self.history, entry)

    def _describe(self, entry: HistoryEntry) -> str:
        preset = self._presets.get(entry.mode)
        label = preset.display_name if preset is not None else entry.mode
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at))
        lines = [f"{label} · {when}", f"{entry.model} · profile {entry.profile}"]
        tokens = _tokens_text(entry)
        cost = entry_cost(entry, self.list_model.profiles)
        if tokens:
            lines.append(f"{tokens} tokens (in / out)")
        if cost is not None:
            lines.append(f"Cost {format_cost(cost)}")
        if entry.parent_id is not None:
            lines.append("A follow-up of an earlier request.")
        if note := _STATUS_NOTES.get(entry.status):
            lines.append(note)
        if entry.error:
            lines.append(entry.error)
        return "\n".join(lines)
