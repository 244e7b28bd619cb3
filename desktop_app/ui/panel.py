"""The floating answer panel: a crop's answer streams in beside the region.

One panel is one conversation about one image: the first request (a preset or the
user's question), then follow-up questions, each resending the whole conversation.
Requests run one at a time through ``workers.start_stream``; this module only shows
what comes back and turns clicks into requests.

Streaming text is coalesced: deltas are queued and appended to the document by a
single-shot timer at most every ``FLUSH_INTERVAL_MS``, as plain text. When a request
ends, the conversation is drawn again, as Markdown except in OCR mode (a transcription
must stay exactly as read).

Usage (the owner deletes the panel after ``panel_closed``, e.g. ``deleteLater``)::

    panel = AnswerPanel(job, context)
    panel.place_near(region, screen)
    panel.show()
    panel.start()
"""

from __future__ import annotations

import dataclasses
import html
import itertools
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from PySide6.QtCore import (
    QEvent,
    QObject,
    QPoint,
    QRect,
    Qt,
    QTimer,
    QUrl,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QCloseEvent,
    QDesktopServices,
    QFont,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPalette,
    QPixmap,
    QResizeEvent,
    QScreen,
    QShortcut,
    QShowEvent,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizeGrip,
    QSizePolicy,
    QStyle,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.core.engines import OFFLINE_PROFILE
from desktop_app.core.errors import Cancelled, ScreenScribeError
from desktop_app.core.imaging import prepare_image
from desktop_app.core.metering import format_cost, is_local_endpoint, request_cost
from desktop_app.core.models import ChatRequest, PreparedImage, Turn
from desktop_app.core.pipeline import AnswerSource, Outcome, save_to_history
from desktop_app.core.prompts import CONTINUE_PROMPT, PRESETS, kind_of
from desktop_app.core.textdiff import Segment, agreement, word_diff
from desktop_app.workers import StreamHandle, start_stream

if TYPE_CHECKING:
    from desktop_app.core.history import History
    from desktop_app.core.settings import Profile

__all__ = [
    "CONTINUE_PROMPT",
    "AnswerPanel",
    "PanelContext",
    "PanelJob",
]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_MS = 16  # at most about 60 document updates a second, however fast deltas come
PANEL_WIDTH = 420
PANEL_HEIGHT = 360
PANEL_GAP = 8  # between the region and the panel
THUMBNAIL_SIDE = 40
_SAVE_ORDER_TIMEOUT_S = 30.0
_CLOSE_WAIT_MS = 5000
_SPLIT_BLOCK_AT = 1500  # characters of a streaming paragraph before it goes on in a new block
_FOLLOW_SLACK_PX = 4  # "at the bottom" for auto-scroll, within this many pixels

_ERROR_STYLE = (
    "QLabel#panel_error { background-color: rgba(220, 53, 69, 38); "
    "border: 1px solid rgba(220, 53, 69, 140); border-radius: 4px; padding: 4px 6px; }"
)
_BADGE_STYLE = "QLabel { border: 1px solid palette(mid); border-radius: 6px; padding: 0px 5px; }"


# --- what the panel is given ----------------------------------------------------------


@dataclass(frozen=True)
class PanelJob:
    image: PreparedImage  # what is sent (PNG bytes inside)
    mode: str  # the preset's name: "ocr", "ask", "table", ... or one of the user's
    prompt: str  # the first user message (preset prompt, or the user's question for "ask")
    source: str = "screen"  # "screen", "clipboard" or a file path (for history)
    kind: str = ""  # the preset's kind (core.prompts.KINDS); "" = the built-in's, by mode
    label: str = ""  # the preset's label for the header; "" = the built-in's, by mode

    def __post_init__(self) -> None:
        if not self.kind:
            object.__setattr__(self, "kind", kind_of(self.mode))
        if not self.label:
            preset = PRESETS.get(self.mode)
            object.__setattr__(self, "label", preset.label if preset else self.mode.capitalize())


@dataclass
class PanelContext:
    profile: Profile
    client: AnswerSource  # an endpoint or the offline engine; shared, thread-safe
    history: History | None
    # Copy the answer to the clipboard when it completes; None: in OCR mode only.
    auto_copy: bool | None = None
    cross_check: AnswerSource | None = None  # the offline engine, to compare OCR answers
    # Who may answer this panel instead (OCR mode: the model and the offline engine),
    # offered in the Engine menu; the current one included. Empty: no menu.
    engines: tuple[tuple[AnswerSource, Profile], ...] = ()
    store_image: bool = False  # keep the full picture in the history, not only a thumbnail


_DIFF_STYLE = {
    "first_only": "background-color:#ffe58a; color:#000",
    "second_only": "background-color:#b8f0c0; color:#000; text-decoration:underline",
}


def _diff_html(segments: list[Segment]) -> str:
    parts = []
    for seg in segments:
        text = html.escape(seg.text)
        style = _DIFF_STYLE.get(seg.kind)
        parts.append(f'<span style="{style}">{text}</span>' if style else text)
    return f"<p>{' '.join(parts)}</p>"


def _format_ms(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


# --- history, written from the worker threads ------------------------------------------


class _HistoryWriter:
    """Saves every request of one panel, in the order sent, from the worker threads.

    Plain Python, no Qt: its hooks run in the stream threads. Each hook waits for the
    previous one, so a follow-up's entry can point at the first answer's (parent_id).
    """

    def __init__(
        self, history: History, profile: Profile, job: PanelJob, *, store_image: bool = False
    ) -> None:
        self._history = history
        self.profile = profile  # the offline engine may take over after a failure
        self._job = job
        self._store_image = store_image  # the full picture with the first entry
        self._previous_saved = threading.Event()
        self._previous_saved.set()
        self._root_id: int | None = None  # written and read only by hooks, in order
        self._thumbnail: bytes | None = None
        self._thumbnail_made = False

    def hook(self, request: ChatRequest, *, root: bool) -> Callable[[Outcome], None]:
        """The ``after`` hook for one request. Call in the order the requests are sent."""
        previous, done = self._previous_saved, threading.Event()
        self._previous_saved = done

        def after(outcome: Outcome) -> None:
            try:
                previous.wait(_SAVE_ORDER_TIMEOUT_S)
                entry_id = save_to_history(
                    self._history,
                    outcome,
                    request,
                    profile=self.profile.name,
                    base_url=self.profile.base_url,
                    mode=self._job.mode,
                    source=self._job.source,
                    thumbnail=self._make_thumbnail(),
                    parent_id=None if root else self._root_id,
                    full_image=self._job.image.data if root and self._store_image else None,
                )
                if root:
                    self._root_id = entry_id
            except ScreenScribeError as exc:  # the answer on screen matters more
                log.warning("Could not save the answer to the history: %s", exc)
            finally:
                done.set()

        return after

    def restore_root(self, root_id: int | None) -> None:
        """Follow-ups of a conversation reopened from the history point at its entry."""
        self._root_id = root_id

    def _make_thumbnail(self) -> bytes | None:
        if not self._thumbnail_made:
            self._thumbnail_made = True
            from desktop_app.core.imaging import make_thumbnail  # Pillow: not at start-up

            try:
                self._thumbnail = make_thumbnail(self._job.image.data)
            except ScreenScribeError as exc:
                log.warning("No thumbnail for the history: %s", exc)
        return self._thumbnail


# --- the conversation ------------------------------------------------------------------


@dataclass
class _Exchange:
    question: str | None  # None: the first request (job.prompt, shown in the header)
    answer: str = ""
    finish_reason: str | None = None
    error: ScreenScribeError | None = None


@dataclass(frozen=True)
class _Request:
    chat: ChatRequest
    index: int  # the exchange it answers
    prefix: str = ""  # that exchange's text before it (a continuation appends to it)


@dataclass
class _Totals:
    cost: float = 0.0  # USD, of the requests with a known cost
    costed: int = 0


# --- small widgets ---------------------------------------------------------------------


class _DragBar(QWidget):
    """The title row: dragging it moves the window (the compositor's move where it has
    one, so Wayland works too)."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self._offset: QPoint | None = None
        self.setCursor(Qt.CursorShape.OpenHandCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        event.accept()
        handle = self.window().windowHandle()
        if handle is not None and handle.startSystemMove():
            return
        self._offset = event.globalPosition().toPoint() - self.window().pos()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._offset is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self.window().move(event.globalPosition().toPoint() - self._offset)
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        self._offset = None
        super().mouseReleaseEvent(event)


class _ElidedLabel(QLabel):
    """One line, elided to the width it gets; the whole text in the tooltip."""

    def __init__(self, text: str, parent: QWidget) -> None:
        super().__init__(parent)
        self._full = " ".join(text.split())
        self.setToolTip(text)
        self.setAccessibleName(self._full)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(self._full)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.setText(
            self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, self.width())
        )


# --- the panel -------------------------------------------------------------------------


class AnswerPanel(QWidget):
    """The answer to one crop, streaming, with copy, stop, retry, continue, follow-ups.

    A frameless, always-on-top tool window. Keys: Ctrl+C copies the answer (a selection
    in the answer, when there is one), Esc stops a stream or closes the panel (not
    while pinned), Ctrl+R retries, Ctrl+W closes, Enter in the field below sends a
    follow-up; the buttons have mnemonics (Alt+C, Alt+T, Alt+R, Alt+N, Alt+P).
    """

    panel_closed = Signal()
    answer_completed = Signal(str)  # the whole answer, when a stream completes without error
    settings_requested = Signal(str)  # the profile's name: open the settings at it

    def __init__(self, job: PanelJob, context: PanelContext, parent: QWidget | None = None):
        super().__init__(
            parent,
            Qt.WindowType.Tool
            | Qt.WindowType.FramelessWindowHint
            | Qt.WindowType.WindowStaysOnTopHint,
        )
        self._job = job
        self._ctx = context
        # One per conversation: a session-aware router keeps its follow-ups on one replica.
        self._session = os.urandom(8).hex()
        self._markdown = job.kind != "ocr"
        self._exchanges: list[_Exchange] = [_Exchange(None)]
        self._current: _Request | None = None  # the last request sent (Retry re-sends it)
        self._handle: StreamHandle | None = None  # the running one
        self._handles: list[StreamHandle] = []  # threads not yet ended (saving history)
        self._cross_checked = False  # started (the button goes away) or done
        self._pending_text: list[str] = []
        self._pending_reasoning: list[str] = []
        self._reasoning = ""
        self._streaming = False  # the first delta of the running request arrived
        self._tail_open = False  # the document ends in the running request's plain text
        self._starts: list[int] = []  # where each exchange's drawing begins in the document
        self._split = False  # a long streaming paragraph was cut into blocks since _draw
        self._follow = True  # auto-scroll: the view was at the bottom
        self._rendering = False
        self._started = False
        self._closed = False
        self._totals = _Totals()
        self._saver = (
            _HistoryWriter(context.history, context.profile, job, store_image=context.store_image)
            if context.history is not None
            else None
        )
        self._mode_label_text = job.label

        self.setWindowTitle(f"ScreenScribe — {self._mode_label_text}")
        self.setAccessibleName("ScreenScribe answer")
        self.setObjectName("answer_panel")
        self.setMinimumSize(300, 220)
        self.resize(PANEL_WIDTH, PANEL_HEIGHT)
        self._build()

        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._flush_timer.timeout.connect(self._on_flush_timer_timeout)

        QShortcut(QKeySequence("Ctrl+R"), self, self._on_retry_clicked)
        QShortcut(QKeySequence("Ctrl+W"), self, self.close)
        QShortcut(QKeySequence("Ctrl+,"), self, self._on_settings_clicked)
        self._update_controls()

    # --- building ------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        frame = QFrame(self)
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        frame.setAutoFillBackground(True)
        outer.addWidget(frame)
        root = QVBoxLayout(frame)
        root.setContentsMargins(8, 6, 8, 8)
        root.setSpacing(6)

        # title row: thumbnail, mode and prompt, pin, close; dragging it moves the panel
        bar = _DragBar(frame)
        bar.setObjectName("title_bar")
        title = QHBoxLayout(bar)
        title.setContentsMargins(0, 0, 0, 0)
        title.setSpacing(8)
        self._thumbnail = QLabel(bar)
        self._thumbnail.setObjectName("thumbnail")
        self._thumbnail.setFixedSize(THUMBNAIL_SIDE + 2, THUMBNAIL_SIDE + 2)
        self._thumbnail.setFrameShape(QFrame.Shape.StyledPanel)
        self._thumbnail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._set_thumbnail()
        title.addWidget(self._thumbnail)
        texts = QVBoxLayout()
        texts.setSpacing(0)
        self._mode_label = QLabel(self._mode_label_text, bar)
        self._mode_label.setObjectName("mode_label")
        font = self._mode_label.font()
        font.setBold(True)
        self._mode_label.setFont(font)
        self._prompt_label = _ElidedLabel(self._job.prompt, bar)
        self._prompt_label.setObjectName("prompt_label")
        self._prompt_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        texts.addWidget(self._mode_label)
        texts.addWidget(self._prompt_label)
        title.addLayout(texts, 1)
        self._pin_button = QToolButton(bar)
        self._pin_button.setObjectName("pin_button")
        self._pin_button.setText("&Pin")
        self._pin_button.setCheckable(True)
        self._pin_button.setAutoRaise(True)
        self._pin_button.setAccessibleName("Pin the panel")
        self._pin_button.setToolTip("Pinned, Esc does not close the panel (Alt+P)")
        self._pin_button.toggled.connect(self._on_pin_toggled)
        title.addWidget(self._pin_button, 0, Qt.AlignmentFlag.AlignTop)
        self._settings_button = QToolButton(bar)
        self._settings_button.setObjectName("settings_button")
        self._settings_button.setText("Settings")
        self._settings_button.setIcon(
            self.style().standardIcon(QStyle.StandardPixmap.SP_FileDialogDetailedView)
        )
        self._settings_button.setAutoRaise(True)
        self._settings_button.setAccessibleName("Open the settings")
        self._settings_button.setToolTip("Settings: endpoint, presets, preferences (Ctrl+,)")
        self._settings_button.clicked.connect(self._on_settings_clicked)
        title.addWidget(self._settings_button, 0, Qt.AlignmentFlag.AlignTop)
        self._close_button = QToolButton(bar)
        self._close_button.setObjectName("close_button")
        self._close_button.setIcon(
            self.style().standardIcon(QStyle.StandardPixmap.SP_TitleBarCloseButton)
        )
        self._close_button.setAutoRaise(True)
        self._close_button.setAccessibleName("Close the panel")
        self._close_button.setToolTip("Close (Ctrl+W; Esc when not pinned)")
        self._close_button.clicked.connect(self.close)
        title.addWidget(self._close_button, 0, Qt.AlignmentFlag.AlignTop)
        root.addWidget(bar)

        # busy indicator, reasoning (collapsed), the answer, the error
        self._busy = QProgressBar(frame)
        self._busy.setObjectName("busy_indicator")
        self._busy.setRange(0, 0)
        self._busy.setTextVisible(False)
        self._busy.setFixedHeight(3)
        self._busy.setAccessibleName("Working")
        root.addWidget(self._busy)

        self._reasoning_toggle = QToolButton(frame)
        self._reasoning_toggle.setObjectName("reasoning_toggle")
        self._reasoning_toggle.setText("Show reasonin&g")
        self._reasoning_toggle.setCheckable(True)
        self._reasoning_toggle.setAutoRaise(True)
        self._reasoning_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._reasoning_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self._reasoning_toggle.setAccessibleName("Show reasoning")
        self._reasoning_toggle.toggled.connect(self._on_reasoning_toggled)
        root.addWidget(self._reasoning_toggle)
        self._reasoning_view = QPlainTextEdit(frame)
        self._reasoning_view.setObjectName("reasoning_view")
        self._reasoning_view.setReadOnly(True)
        self._reasoning_view.setMaximumHeight(110)
        self._reasoning_view.setAccessibleName("Reasoning")
        self._reasoning_view.setTabChangesFocus(True)
        self._reasoning_view.document().setUndoRedoEnabled(False)
        italic = self._reasoning_view.font()
        italic.setItalic(True)
        self._reasoning_view.setFont(italic)
        self._reasoning_view.installEventFilter(self)
        self._reasoning_view.hide()
        root.addWidget(self._reasoning_view)

        self._answer = QTextBrowser(frame)
        self._answer.setObjectName("answer_view")
        self._answer.setAccessibleName("Answer")
        self._answer.setOpenLinks(False)  # never navigate away from the answer
        self._answer.anchorClicked.connect(self._on_answer_anchor_clicked)
        self._answer.setTabChangesFocus(True)
        self._answer.setFrameShape(QFrame.Shape.NoFrame)
        self._answer.document().setUndoRedoEnabled(False)
        self._answer.document().setDocumentMargin(2)
        self._answer.installEventFilter(self)
        bar_ = self._answer.verticalScrollBar()
        bar_.rangeChanged.connect(self._on_scrollbar_range_changed)
        bar_.valueChanged.connect(self._on_scrollbar_value_changed)
        root.addWidget(self._answer, 1)

        self._error_label = QLabel(frame)
        self._error_label.setObjectName("panel_error")
        self._error_label.setWordWrap(True)
        self._error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._error_label.setStyleSheet(_ERROR_STYLE)
        self._error_label.setAccessibleName("Error")
        self._error_label.hide()
        root.addWidget(self._error_label)

        # status: what is happening; then model, badge, latency, tokens, cost
        self._state_label = QLabel(frame)
        self._state_label.setObjectName("state_label")
        self._state_label.setAccessibleName("Status")
        self._state_label.setWordWrap(True)
        root.addWidget(self._state_label)
        meta = QHBoxLayout()
        meta.setSpacing(6)
        self._badge = QLabel(frame)
        self._badge.setObjectName("endpoint_badge")
        self._badge.setStyleSheet(_BADGE_STYLE)
        meta.addWidget(self._badge, 0, Qt.AlignmentFlag.AlignTop)
        self._meta_label = QLabel(frame)
        self._meta_label.setObjectName("meta_label")
        self._meta_label.setAccessibleName("Model and usage")
        self._meta_label.setWordWrap(True)
        small = self._meta_label.font()
        small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
        self._meta_label.setFont(small)
        self._badge.setFont(small)
        meta.addWidget(self._meta_label, 1)
        self._engine_button = QToolButton(frame)
        self._engine_button.setObjectName("engine_button")
        self._engine_button.setText("&Engine")
        self._engine_button.setAutoRaise(True)
        self._engine_button.setAccessibleName("Choose who reads the region")
        self._engine_button.setToolTip("Read this region again with another engine (Alt+E)")
        self._engine_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self._engine_menu = QMenu(self._engine_button)
        self._engine_menu.setObjectName("engine_menu")
        self._engine_button.setMenu(self._engine_menu)
        self._engine_menu.aboutToShow.connect(self._on_engine_menu_about_to_show)
        self._engine_button.setFont(small)
        meta.addWidget(self._engine_button, 0, Qt.AlignmentFlag.AlignTop)
        root.addLayout(meta)
        self._show_engine()

        # buttons
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self._copy_button = self._button(
            frame, "copy_button", "&Copy", "Copy the answer", "Copy the whole answer (Ctrl+C)"
        )
        self._copy_button.clicked.connect(self._on_copy_clicked)
        self._stop_button = self._button(
            frame, "stop_button", "S&top", "Stop the answer", "Stop the answer (Esc)"
        )
        self._stop_button.clicked.connect(self._on_stop_clicked)
        self._retry_button = self._button(
            frame, "retry_button", "&Retry", "Retry", "Ask again, replacing this answer (Ctrl+R)"
        )
        self._retry_button.clicked.connect(self._on_retry_clicked)
        self._continue_button = self._button(
            frame,
            "continue_button",
            "Co&ntinue",
            "Continue the answer",
            "The answer hit the token limit: ask the model to go on",
        )
        self._continue_button.clicked.connect(self._on_continue_clicked)
        self._cross_button = self._button(
            frame,
            "cross_check_button",
            "Cross-chec&k",
            "Cross-check with the offline engine",
            "Read the region with the offline engine too, and highlight where the two "
            "readings differ",
        )
        self._cross_button.clicked.connect(self._on_cross_check_clicked)
        self._offline_button = self._button(
            frame,
            "read_offline_button",
            "Read &offline",
            "Read the text with the offline engine",
            "The model could not answer: read the region's text on this computer instead",
        )
        self._offline_button.clicked.connect(self._on_read_offline_clicked)
        for b in (self._copy_button, self._stop_button, self._retry_button):
            buttons.addWidget(b)
        buttons.addWidget(self._continue_button)
        buttons.addWidget(self._cross_button)
        buttons.addWidget(self._offline_button)
        buttons.addStretch(1)
        root.addLayout(buttons)

        # follow-up
        bottom = QHBoxLayout()
        bottom.setSpacing(4)
        self._followup = QLineEdit(frame)
        self._followup.setObjectName("followup_edit")
        self._followup.setPlaceholderText("Ask a follow-up about this image…")
        self._followup.setAccessibleName("Follow-up question")
        self._followup.setClearButtonEnabled(True)
        self._followup.returnPressed.connect(self._on_followup_return_pressed)
        self._followup.installEventFilter(self)
        bottom.addWidget(self._followup, 1)
        # The offline engine reads text; it cannot answer questions about it.
        self._followup.setVisible(self._ctx.client.can_chat)
        grip = QSizeGrip(frame)
        grip.setAccessibleName("Resize")
        bottom.addWidget(grip, 0, Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight)
        root.addLayout(bottom)

        order: list[QWidget] = [
            self._answer,
            self._reasoning_toggle,
            self._reasoning_view,
            self._copy_button,
            self._stop_button,
            self._retry_button,
            self._continue_button,
            self._followup,
            self._pin_button,
            self._close_button,
        ]
        for first, second in itertools.pairwise(order):
            QWidget.setTabOrder(first, second)

        self._question_format = QTextCharFormat()
        self._question_format.setFontWeight(QFont.Weight.Bold)
        self._question_format.setFontItalic(True)
        self._question_block = QTextBlockFormat()
        self._question_block.setTopMargin(10)
        self._question_block.setBottomMargin(4)
        self._plain_format = QTextCharFormat()

    def _button(
        self, parent: QWidget, name: str, text: str, accessible: str, tip: str
    ) -> QPushButton:
        button = QPushButton(text, parent)
        button.setObjectName(name)
        button.setAccessibleName(accessible)
        button.setToolTip(tip)
        button.setAutoDefault(False)
        return button

    def _set_thumbnail(self) -> None:
        img = self._job.image
        # Named, so that Qt does not load every image-format plugin to guess (~4 MiB kept).
        image = QImage()
        image.loadFromData(img.data, img.mime.removeprefix("image/").upper())
        self._thumbnail.setToolTip(
            f"{img.width} × {img.height} px sent ({img.tokens:,} image tokens)"
        )
        if image.isNull():
            return
        dpr = self.devicePixelRatioF()
        side = round(THUMBNAIL_SIDE * dpr)
        pixmap = QPixmap.fromImage(
            image.scaled(
                side,
                side,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        pixmap.setDevicePixelRatio(dpr)
        self._thumbnail.setPixmap(pixmap)

    def _show_engine(self) -> None:
        """The badge and tooltips for whoever answers now."""
        profile = self._ctx.profile
        if not self._ctx.client.can_chat:
            self._badge.setText("offline")
            self._badge.setToolTip("Read by the embedded OCR engine, on this computer.")
        else:
            local = is_local_endpoint(profile.base_url)
            host = urlsplit(profile.base_url).hostname or profile.base_url
            self._badge.setText("local" if local else "hosted")
            self._badge.setToolTip(
                f"The model runs on {host}: "
                + ("this machine or your network." if local else "a hosted service.")
            )
        self._meta_label.setToolTip(f"{profile.model} at {profile.base_url}")

    # --- public ----------------------------------------------------------------------------

    def restore(self, exchanges: list[tuple[str | None, str]], root_id: int | None) -> None:
        """Shows a conversation from the history instead of sending the first request:
        ``[(None, first answer), (question, answer), ...]``. Follow-ups continue it and
        are saved under ``root_id``; Retry asks the first request again."""
        if self._started or self._closed or not exchanges:
            return
        self._started = True
        self._exchanges = [_Exchange(q, a) for q, a in exchanges]
        self._current = _Request(self._chat(self._job.prompt, ()), 0)
        if self._saver is not None:
            self._saver.restore_root(root_id)
        self._draw(0)
        self._set_state("From the history.")
        self._update_controls()

    def uses(self, resource: object) -> bool:
        """Whether this panel may still send a request through ``resource`` (a client,
        an engine) or save to it (a history store)."""
        ctx = self._ctx
        sources = [ctx.client, ctx.cross_check, *(s for s, _ in ctx.engines)]
        return any(resource is s for s in sources) or resource is ctx.history

    def note(self, text: str) -> None:
        """A line for the user in the status area."""
        self._set_state(text)

    def start(self) -> None:
        """Sends the first request (once)."""
        if self._started or self._closed:
            return
        self._started = True
        self._send(_Request(self._chat(self._job.prompt, ()), 0))

    def set_font_size(self, points: float) -> None:
        """The answer's font size (the settings' panel font size)."""
        font = self._answer.font()
        font.setPointSizeF(points)
        self._answer.setFont(font)
        self._answer.document().setDefaultFont(font)

    def place_at(self, point: QPoint, screen: QScreen) -> None:
        """Puts the panel's top-left corner at ``point``, moved inside the screen."""
        avail = screen.availableGeometry()
        x = max(avail.left(), min(point.x(), avail.right() + 1 - self.width()))
        y = max(avail.top(), min(point.y(), avail.bottom() + 1 - self.height()))
        self.move(x, y)

    def place_near(self, region: QRect, screen: QScreen) -> None:
        """Puts the panel beside ``region`` (global logical coordinates): to its right,
        else left, else below, else above; always inside the screen's available area."""
        avail = screen.availableGeometry()
        if self.screen() is not screen:
            self.setScreen(screen)
        w, h = min(self.width(), avail.width()), min(self.height(), avail.height())
        if (w, h) != (self.width(), self.height()):
            self.resize(w, h)
        r = region.normalized()
        gap = PANEL_GAP

        def fit_x(x: int) -> int:
            return max(avail.left(), min(x, avail.left() + avail.width() - w))

        def fit_y(y: int) -> int:
            return max(avail.top(), min(y, avail.top() + avail.height() - h))

        right, bottom = avail.left() + avail.width(), avail.top() + avail.height()
        if r.left() + r.width() + gap + w <= right:
            pos = (r.left() + r.width() + gap, fit_y(r.top()))
        elif r.left() - gap - w >= avail.left():
            pos = (r.left() - gap - w, fit_y(r.top()))
        elif r.top() + r.height() + gap + h <= bottom:
            pos = (fit_x(r.left()), r.top() + r.height() + gap)
        elif r.top() - gap - h >= avail.top():
            pos = (fit_x(r.left()), r.top() - gap - h)
        else:  # the region fills the screen: the bottom-right corner, over it
            pos = (fit_x(right - w - gap), fit_y(bottom - h - gap))
        self.move(*pos)

    # --- requests --------------------------------------------------------------------------

    def _chat(self, prompt: str, history: tuple[Turn, ...]) -> ChatRequest:
        profile = self._ctx.profile
        if not history:
            return ChatRequest(
                profile.model, prompt, self._job.image, profile.sampling, session=self._session
            )
        return ChatRequest(
            profile.model,
            prompt,
            self._job.image,
            profile.sampling,
            history=history,
            first_prompt=self._job.prompt,
            session=self._session,
        )

    def _conversation(self, upto: int) -> tuple[Turn, ...]:
        """The turns after the first user message, for exchanges before ``upto`` (those
        that got no text at all are left out)."""
        turns: list[Turn] = []
        for ex in self._exchanges[:upto]:
            if not ex.answer:
                continue
            if ex.question is not None:
                turns.append(Turn("user", ex.question))
            turns.append(Turn("assistant", ex.answer))
        return tuple(turns)

    def _send(self, request: _Request) -> None:
        ex = self._exchanges[request.index]
        ex.answer, ex.error, ex.finish_reason = request.prefix, None, None
        self._current = request
        self._pending_text.clear()
        self._pending_reasoning.clear()
        self._reasoning = ""
        self._reasoning_view.clear()
        self._streaming = False
        after = None
        if self._saver is not None:
            after = self._saver.hook(request.chat, root=request.index == 0 and not request.prefix)
        handle = start_stream(self._ctx.client, request.chat, after=after, parent=self)
        worker = handle.worker
        worker.delta_received.connect(self._on_worker_delta_received)
        worker.reasoning_received.connect(self._on_worker_reasoning_received)
        worker.retry_scheduled.connect(self._on_worker_retry_scheduled)
        worker.progress_reported.connect(self._on_worker_progress_reported)
        worker.stream_finished.connect(self._on_worker_stream_finished)
        handle.finished.connect(self._on_handle_finished)
        self._handle = handle
        self._handles.append(handle)
        self._draw(request.index)
        self._error_label.hide()
        self._set_state(self._ctx.client.waiting_text)
        self._update_controls()

    # --- worker signals --------------------------------------------------------------------

    @Slot(str)
    def _on_worker_delta_received(self, text: str) -> None:
        self._pending_text.append(text)
        if not self._streaming:
            self._streaming = True
            self._set_state("Streaming…")
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    @Slot(str)
    def _on_worker_reasoning_received(self, text: str) -> None:
        self._pending_reasoning.append(text)
        if not self._streaming and not self._reasoning:
            self._set_state("Thinking…")
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    @Slot(float, str)
    def _on_worker_retry_scheduled(self, delay: float, reason: str) -> None:
        self._set_state(f"Server busy, retrying in {delay:.1f} s…", tip=reason)

    @Slot(object)
    def _on_worker_stream_finished(self, outcome: object) -> None:
        assert isinstance(outcome, Outcome)
        self._flush_timer.stop()
        self._flush()
        self._handle = None
        if self._closed or self._current is None:
            return
        request = self._current
        ex = self._exchanges[request.index]
        ex.answer = request.prefix + outcome.text
        ex.finish_reason, ex.error = outcome.finish_reason, outcome.error
        self._reasoning = outcome.reasoning
        cost = request_cost(self._ctx.profile, outcome.usage)
        if cost is not None:
            self._totals.cost += cost
            self._totals.costed += 1
        if self._markdown or self._split:
            self._draw(request.index)
        else:  # plain text, shown exactly as it will stay: no redraw (40 ms for 90 KB)
            self._tail_open = False
        self._show_outcome(outcome, ex.answer)
        self._update_controls()
        if outcome.error is None:
            self.answer_completed.emit(ex.answer)

    @Slot(str)
    def _on_worker_progress_reported(self, text: str) -> None:
        if not self._streaming:
            self._set_state(text)

    @Slot()
    def _on_settings_clicked(self) -> None:
        self.settings_requested.emit(self._ctx.profile.name)

    @Slot()
    def _on_read_offline_clicked(self) -> None:
        """The endpoint failed: the offline engine answers this panel from now on."""
        source = self._ctx.cross_check
        if source is not None:
            self._use_engine(source, OFFLINE_PROFILE)

    @Slot()
    def _on_engine_menu_about_to_show(self) -> None:
        self._engine_menu.clear()
        for source, profile in self._ctx.engines:
            name = (
                "Offline engine (this computer)"
                if not source.can_chat
                else (f"Model: {profile.display_name}")
            )
            action = self._engine_menu.addAction(name)
            action.setCheckable(True)
            action.setChecked(source is self._ctx.client and profile == self._ctx.profile)
            action.triggered.connect(lambda _=False, s=source, p=profile: self._use_engine(s, p))

    def _use_engine(self, source: AnswerSource, profile: Profile) -> None:
        """Reads the region again with ``source``; it answers this panel from now on."""
        if self._handle is not None or self._closed:
            return
        if source is self._ctx.client and profile == self._ctx.profile:
            return
        if source.can_chat:
            try:  # the picture was kept as captured for the offline engine: size it
                image = prepare_image(
                    self._job.image.data,
                    min_tokens=profile.min_image_tokens,
                    max_tokens=profile.max_image_tokens,
                )
            except ScreenScribeError as exc:
                self._set_state(f"Cannot send this picture to the model: {exc}")
                return
            self._job = dataclasses.replace(self._job, image=image)
        offline = next((s for s, _ in self._ctx.engines if not s.can_chat), None)
        self._ctx = dataclasses.replace(
            self._ctx,
            client=source,
            profile=profile,
            cross_check=offline if source.can_chat else None,
        )
        if self._saver is not None:
            self._saver.profile = profile
        self._show_engine()
        self._followup.setVisible(source.can_chat)
        self._cross_checked = False
        self._exchanges = [_Exchange(None)]
        self._totals = _Totals()
        self._current = _Request(self._chat(self._job.prompt, ()), 0)
        self._send(self._current)

    @Slot()
    def _on_cross_check_clicked(self) -> None:
        source = self._ctx.cross_check
        if source is None or self._handle is not None:
            return
        self._cross_checked = True
        handle = start_stream(source, self._chat(self._job.prompt, ()), parent=self)
        handle.worker.stream_finished.connect(self._on_cross_check_finished)
        handle.finished.connect(self._on_handle_finished)
        self._handles.append(handle)
        self._set_state("Reading the region offline to cross-check…")
        self._update_controls()

    @Slot(object)
    def _on_cross_check_finished(self, outcome: object) -> None:
        assert isinstance(outcome, Outcome)
        if self._handle is not None or len(self._exchanges) != 1:
            return  # the answer changed meanwhile (a retry): this comparison is stale
        if outcome.error is not None:
            self._set_state(f"The cross-check failed: {outcome.error}")
            return
        segments = word_diff(self._exchanges[0].answer, outcome.text)
        self._answer.setHtml(_diff_html(segments))
        if all(seg.kind == "same" for seg in segments):
            self._set_state("Cross-check: the offline engine read exactly the same words.")
        else:
            self._set_state(
                f"Cross-check: {agreement(segments):.0%} of the words agree. Yellow: only the "
                "model read it; green: only the offline engine did."
            )

    @Slot()
    def _on_handle_finished(self) -> None:
        handle = self.sender()
        self._handles = [h for h in self._handles if h is not handle]

    # --- showing ---------------------------------------------------------------------------

    @Slot()
    def _on_flush_timer_timeout(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._pending_text and self._current is not None:
            text = "".join(self._pending_text)
            self._pending_text.clear()
            self._exchanges[self._current.index].answer += text
            self._append_plain(text)
            self._copy_button.setEnabled(True)
        if self._pending_reasoning:
            text = "".join(self._pending_reasoning)
            self._pending_reasoning.clear()
            self._reasoning += text
            cursor = QTextCursor(self._reasoning_view.document())
            cursor.movePosition(QTextCursor.MoveOperation.End)
            cursor.insertText(text)
            if self._reasoning_toggle.isHidden():
                self._reasoning_toggle.setVisible(True)

    def _append_plain(self, text: str) -> None:
        """Appends streamed text at the end of the document. A paragraph is laid out
        whole on every change, so one that grows past ``_SPLIT_BLOCK_AT`` characters
        goes on in a new block (at a space where there is one): each flush then costs
        the same however long the paragraph gets. The redraw at the end joins them."""
        doc = self._answer.document()
        cursor = QTextCursor(doc)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        if not self._tail_open:
            if not doc.isEmpty():
                cursor.insertBlock(QTextBlockFormat(), self._plain_format)
            self._tail_open = True
        cursor.beginEditBlock()  # one layout pass for the whole insert, not one per line
        if cursor.block().length() > _SPLIT_BLOCK_AT and "\n" not in text:
            cut = next((i + 1 for i, ch in enumerate(text) if ch.isspace()), 0)
            cursor.insertText(text[:cut], self._plain_format)
            cursor.insertBlock(QTextBlockFormat(), self._plain_format)
            text = text[cut:]
            self._split = True
        cursor.insertText(text, self._plain_format)
        cursor.endEditBlock()

    def _draw(self, first: int) -> None:
        """Draws the conversation from exchange ``first`` on; the ones before stay as
        they are, so a redraw costs the latest answer, not the whole conversation.
        Questions are bold italic, answers Markdown (plain text in OCR mode). The
        running request's text is appended later, plain, by ``_append_plain``."""
        bar = self._answer.verticalScrollBar()
        follow, old = self._follow, bar.value()
        running = self._current.index if self._handle is not None and self._current else -1
        doc = self._answer.document()
        cursor = QTextCursor(doc)
        self._rendering = True
        # One edit block: the document is laid out once at the end, not once per
        # paragraph inserted (10x faster for a long answer).
        cursor.beginEditBlock()
        try:
            if first < len(self._starts):
                cursor.setPosition(self._starts[first])
                cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
                cursor.removeSelectedText()
                del self._starts[first:]
            self._tail_open = self._split = False
            for i in range(len(self._starts), len(self._exchanges)):
                ex = self._exchanges[i]
                cursor.movePosition(QTextCursor.MoveOperation.End)
                self._starts.append(cursor.position())
                if ex.question is not None:
                    if doc.isEmpty():
                        cursor.setBlockFormat(self._question_block)
                    else:
                        cursor.insertBlock(self._question_block, self._question_format)
                    cursor.insertText(ex.question, self._question_format)
                if ex.answer:
                    if not doc.isEmpty():
                        cursor.insertBlock(QTextBlockFormat(), self._plain_format)
                    if self._markdown:
                        cursor.insertMarkdown(ex.answer)
                    else:
                        cursor.insertText(ex.answer, self._plain_format)
                    # OCR: a continuation goes on in the same line; Markdown: below it.
                    self._tail_open = i == running and not self._markdown
        finally:
            cursor.endEditBlock()
            self._rendering = False
        self._follow = follow
        bar.setValue(bar.maximum() if follow else min(old, bar.maximum()))

    def _show_outcome(self, outcome: Outcome, answer: str) -> None:
        error = outcome.error
        if error is None:
            if outcome.finish_reason == "length":
                state = "Cut off at the token limit: Continue asks for the rest."
            elif outcome.finish_reason == "content_filter":
                state = "The server's content filter ended the answer."
            else:
                state = "Done."
            auto_copy = self._ctx.auto_copy
            if answer and (auto_copy or (auto_copy is None and self._job.kind == "ocr")):
                self._copy_text(answer)
                state = "Copied to the clipboard." if state == "Done." else f"Copied. {state}"
            self._set_state(state)
        elif outcome.cancelled:
            self._set_state("Stopped.")
        else:
            self._set_state("The answer broke off." if outcome.text else "Failed.")
            self._error_label.setText(str(error))
            self._error_label.show()
        self._meta_label.setText(self._meta_text(outcome))

    def _meta_text(self, outcome: Outcome | None) -> str:
        parts = [self._ctx.profile.model.rsplit("/", 1)[-1]]
        if outcome is not None:
            if outcome.ttft_ms is not None:
                parts.append(f"first token {_format_ms(outcome.ttft_ms)}")
            if outcome.usage is not None:
                u = outcome.usage
                parts.append(f"{u.prompt_tokens:,} in / {u.completion_tokens:,} out tokens")
            cost = request_cost(self._ctx.profile, outcome.usage)
            if cost is not None:
                text = format_cost(cost)
                if self._totals.costed > 1:
                    text += f" (total {format_cost(self._totals.cost)})"
                parts.append(text)
        return " · ".join(parts)

    def _set_state(self, text: str, *, tip: str = "") -> None:
        self._state_label.setText(text)
        self._state_label.setToolTip(tip)

    def _update_controls(self) -> None:
        running = self._handle is not None
        last = self._exchanges[-1]
        self._busy.setVisible(running)
        self._stop_button.setVisible(running)
        self._retry_button.setVisible(not running and self._current is not None)
        self._continue_button.setVisible(
            not running and last.finish_reason == "length" and last.error is None
        )
        self._copy_button.setEnabled(bool(self._latest_answer()))
        self._cross_button.setVisible(
            not running
            and not self._cross_checked
            and self._job.kind == "ocr"
            and self._ctx.cross_check is not None
            and self._ctx.client.can_chat
            and len(self._exchanges) == 1
            and bool(last.answer)
            and last.error is None
        )
        self._offline_button.setVisible(
            not running
            and self._job.kind == "ocr"
            and self._ctx.cross_check is not None
            and len(self._exchanges) == 1
            and last.error is not None
            and not isinstance(last.error, Cancelled)
        )
        self._engine_button.setVisible(
            not running and self._job.kind == "ocr" and len(self._ctx.engines) > 1
        )
        self._reasoning_toggle.setVisible(bool(self._reasoning))
        if not self._reasoning:
            self._reasoning_toggle.setChecked(False)
        if not running and self._current is None:
            self._meta_label.setText(self._meta_text(None))

    # --- user actions ----------------------------------------------------------------------

    @Slot()
    def _on_copy_clicked(self) -> None:
        self._copy_answer()

    def _latest_answer(self) -> str:
        """The answer that Copy copies: the latest that has any text."""
        return next((ex.answer for ex in reversed(self._exchanges) if ex.answer), "")

    def _copy_answer(self) -> None:
        self._flush()
        text = self._latest_answer()
        if text:
            self._copy_text(text)
            if self._handle is None:
                self._set_state("Copied to the clipboard.")

    def _copy_text(self, text: str) -> None:
        from desktop_app.clipboard import write_text

        html = None
        if self._markdown:  # rich editors get the formatting, plain ones the Markdown
            doc = QTextDocument()
            doc.setMarkdown(text)
            html = doc.toHtml()
        write_text(text, html)

    @Slot()
    def _on_stop_clicked(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._set_state("Stopping…")

    @Slot()
    def _on_retry_clicked(self) -> None:
        if self._handle is None and self._current is not None and not self._closed:
            self._send(self._current)

    @Slot()
    def _on_continue_clicked(self) -> None:
        index = len(self._exchanges) - 1
        ex = self._exchanges[index]
        if self._handle is not None or ex.finish_reason != "length" or self._closed:
            return
        own = (Turn("user", ex.question),) if ex.question is not None else ()
        history = (*self._conversation(index), *own, Turn("assistant", ex.answer))
        self._send(_Request(self._chat(CONTINUE_PROMPT, history), index, ex.answer))

    @Slot()
    def _on_followup_return_pressed(self) -> None:
        question = self._followup.text().strip()
        if not question or self._handle is not None or self._closed:
            return
        self._followup.clear()
        index = len(self._exchanges)
        self._exchanges.append(_Exchange(question))
        self._send(_Request(self._chat(question, self._conversation(index)), index))

    @Slot(QUrl)
    def _on_answer_anchor_clicked(self, url: QUrl) -> None:
        if url.scheme() in ("http", "https", "mailto"):
            QDesktopServices.openUrl(url)

    @Slot(bool)
    def _on_pin_toggled(self, pinned: bool) -> None:
        self._pin_button.setAccessibleName("Unpin the panel" if pinned else "Pin the panel")

    @Slot(bool)
    def _on_reasoning_toggled(self, shown: bool) -> None:
        self._reasoning_view.setVisible(shown)
        self._reasoning_toggle.setText("Hide reasonin&g" if shown else "Show reasonin&g")
        self._reasoning_toggle.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )

    @Slot(int, int)
    def _on_scrollbar_range_changed(self, _minimum: int, maximum: int) -> None:
        if self._follow and not self._rendering:
            self._answer.verticalScrollBar().setValue(maximum)

    @Slot(int)
    def _on_scrollbar_value_changed(self, value: int) -> None:
        if not self._rendering:
            bar = self._answer.verticalScrollBar()
            self._follow = value >= bar.maximum() - _FOLLOW_SLACK_PX

    # --- Qt events -------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self._copy_answer()
            return
        if event.key() == Qt.Key.Key_Escape and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            if self._handle is not None:
                self._on_stop_clicked()
            elif not self._pin_button.isChecked():
                self.close()
            return
        super().keyPressEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent):
            if event.matches(QKeySequence.StandardKey.Copy):
                # With nothing selected, Ctrl+C in the answer or the field copies it all.
                if watched is self._answer and not self._answer.textCursor().hasSelection():
                    self._copy_answer()
                    return True
                if watched is self._followup and not self._followup.hasSelectedText():
                    self._copy_answer()
                    return True
                if (
                    watched is self._reasoning_view
                    and not self._reasoning_view.textCursor().hasSelection()
                ):
                    self._copy_answer()
                    return True
            elif (
                watched is self._followup
                and event.key() == Qt.Key.Key_Escape
                and self._followup.text()
            ):
                self._followup.clear()  # Esc first clears the question being typed
                return True
        return super().eventFilter(watched, event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if QGuiApplication.platformName() not in ("offscreen", "minimal"):
            self.raise_()
            self.activateWindow()
        self._answer.setFocus(Qt.FocusReason.ActiveWindowFocusReason)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancels a running stream and waits for its thread (a moment: cancelling
        closes the socket at once; the history is saved before the thread ends)."""
        for handle in self._handles:
            handle.cancel()
        for handle in self._handles:
            if not handle.wait(_CLOSE_WAIT_MS):
                log.warning("A stream thread did not end within %d ms", _CLOSE_WAIT_MS)
        self._flush_timer.stop()
        super().closeEvent(event)
        if not self._closed:
            self._closed = True
            self.panel_closed.emit()
