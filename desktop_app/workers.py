"""Requests off the GUI thread: one QThread per request, a worker QObject inside it.

The worker iterates the Qt-free stream (``core.pipeline.run_request``) and re-emits its
events as Qt signals; connections to objects in the GUI thread are queued, so slots run
there. Deltas go out one signal per event: Qt delivers thousands a second with ease, and
the panel coalesces them into at most one repaint per frame (DESIGN.md, convention 3).

Life cycle of ``start_stream``::

    GUI thread                            stream thread
    start_stream() ─ creates thread ─┐
    (caller connects to .worker)     │
    event loop turn: thread.start() ─┴─> worker.run()
                                           run_request(...)  ─> delta_received ...
                                           stream_finished(outcome)   (exactly once)
                                           after(outcome)             (history, thumbnail)
                                           thread.quit()  (direct: no GUI turn needed)
                                         thread.finished ─> worker.deleteLater()
    handle._on_thread_finished() <─────── thread.finished (queued)
    handle.finished, references dropped

Nothing here imports widgets or httpx.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from desktop_app.core.cancel import CancelToken, RetryNotice
from desktop_app.core.errors import ScreenScribeError
from desktop_app.core.models import ChatRequest, ReasoningDelta, StreamEvent, TextDelta
from desktop_app.core.pipeline import AnswerSource, Outcome, run_request

__all__ = [
    "StreamHandle",
    "StreamWorker",
    "live_stream_count",
    "start_stream",
    "stop_all_streams",
]

log = logging.getLogger(__name__)

After = Callable[[Outcome], None]


class StreamWorker(QObject):
    """Streams one request when ``run()`` is called, in whatever thread calls it.

    Signals (past events):

    - ``delta_received(str)``: a piece of the answer.
    - ``reasoning_received(str)``: a piece of the model's reasoning (thinking models).
    - ``retry_scheduled(float, str)``: the client will retry in that many seconds, why.
    - ``stream_finished(object)``: the ``pipeline.Outcome``; emitted exactly once, also
      after an error or a cancel (the outcome carries the error).

    ``after`` runs in the worker's thread once ``stream_finished`` has been emitted, so
    that saving the history never delays the answer on screen.
    """

    delta_received = Signal(str)
    reasoning_received = Signal(str)
    retry_scheduled = Signal(float, str)
    progress_reported = Signal(str)  # e.g. the offline engine: "Loading the OCR model…"
    stream_finished = Signal(object)
    _run_ended = Signal()  # after `after`; start_stream quits the thread on it

    def __init__(
        self,
        client: AnswerSource,
        request: ChatRequest,
        *,
        after: After | None = None,
    ) -> None:
        super().__init__()
        self._client = client
        self._request = request
        self._after = after
        self._token = CancelToken()

    @property
    def request(self) -> ChatRequest:
        return self._request

    @property
    def token(self) -> CancelToken:
        return self._token

    def cancel(self) -> None:
        """Thread-safe: closes the connection at once; ``run()`` then ends as cancelled."""
        self._token.cancel()

    @Slot()
    def run(self) -> None:
        try:
            outcome = self._stream()
            self.stream_finished.emit(outcome)
            if self._after is not None:
                try:
                    self._after(outcome)
                except Exception:
                    log.exception("The after-stream hook failed")
        finally:
            self._run_ended.emit()

    def _stream(self) -> Outcome:
        try:
            return run_request(
                self._client,
                self._request,
                on_event=self._on_stream_event,
                cancel=self._token,
                on_retry=self._on_client_retry,
                on_progress=self.progress_reported.emit,
            )
        except Exception as exc:  # a bug must not leave the panel waiting forever
            log.exception("Streaming failed unexpectedly")
            return Outcome(
                text="",
                reasoning="",
                finish_reason=None,
                usage=None,
                ttft_ms=None,
                total_ms=0.0,
                error=ScreenScribeError(f"Unexpected error: {exc!r}"),
            )

    def _on_stream_event(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            if event.text:
                self.delta_received.emit(event.text)
        elif isinstance(event, ReasoningDelta) and event.text:
            self.reasoning_received.emit(event.text)

    def _on_client_retry(self, notice: RetryNotice) -> None:
        self.retry_scheduled.emit(notice.delay, notice.reason)


# Handles whose thread has not ended yet: they keep the QThread and the worker alive.
_live: set[StreamHandle] = set()


class StreamHandle(QObject):
    """One running request. Lives in the GUI thread.

    ``finished`` is emitted in the GUI thread once the stream thread has ended (after
    the worker's ``after`` hook). Until then the handle keeps itself, the thread and the
    worker alive, whoever else drops them. After it, ``worker`` is deleted (its signals
    have all been delivered or dropped); ``cancel``, ``wait`` and ``is_running`` stay
    safe to call.
    """

    finished = Signal()

    def __init__(self, worker: StreamWorker, thread: QThread, parent: QObject) -> None:
        super().__init__()
        self.worker = worker
        self._token = worker.token
        self._thread = thread
        self._start_pending = True
        self._ended = False
        thread.finished.connect(self._on_thread_finished)
        parent.destroyed.connect(self._on_parent_destroyed)

    def cancel(self) -> None:
        """Thread-safe; closes the connection at once. The stream still ends normally:
        ``stream_finished`` comes with a cancelled outcome."""
        self._token.cancel()

    def is_running(self) -> bool:
        """True from ``start_stream`` until the thread has ended."""
        return not self._ended and (self._start_pending or not self._thread.isFinished())

    def wait(self, ms: int | None = None) -> bool:
        """Blocks until the thread has ended or ``ms`` passed (None: no limit). True when
        it has ended. Queued signals are not delivered meanwhile (no event loop runs)."""
        if self._ended:
            return True
        self._start()  # not started yet (no event loop turn since start_stream)
        if ms is None:
            return self._thread.wait()
        return self._thread.wait(max(0, ms))

    @Slot()
    def _start(self) -> None:
        if self._start_pending:
            self._start_pending = False
            self._thread.start()

    @Slot()
    def _on_thread_finished(self) -> None:
        if self._ended:
            return
        # QThread.finished is emitted just before the thread really ends; a QThread that
        # is destroyed in that gap aborts the process. The wait is microseconds long.
        self._thread.wait()
        self._ended = True
        self.finished.emit()
        # Dropped on the next turn, not inside this slot: nothing deletes the object
        # whose slot is running.
        QTimer.singleShot(0, lambda: _live.discard(self))

    @Slot()
    def _on_parent_destroyed(self) -> None:
        self._token.cancel()


def start_stream(
    client: AnswerSource,
    request: ChatRequest,
    *,
    after: After | None = None,
    parent: QObject,
) -> StreamHandle:
    """Streams ``request`` in a new QThread; returns its handle at once.

    The thread starts on the next turn of the event loop, so connect to
    ``handle.worker``'s signals right after this call: none is missed. ``parent`` is the
    object the stream belongs to; when it is destroyed the stream is cancelled and the
    thread ends on its own (nothing blocks). Call from the GUI thread.
    """
    worker = StreamWorker(client, request, after=after)
    thread = QThread()
    thread.setObjectName("stream")
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: quit from the stream thread itself, so that a GUI thread blocked in
    # handle.wait() (closing a panel) still sees the thread end.
    worker._run_ended.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(worker.deleteLater)
    handle = StreamHandle(worker, thread, parent)
    _live.add(handle)
    QTimer.singleShot(0, handle, handle._start)
    return handle


def stop_all_streams(timeout_ms: int = 3000) -> bool:
    """Cancels every running stream and waits for their threads (for the app's
    ``aboutToQuit``). True when all have ended within ``timeout_ms`` each."""
    handles = [h for h in _live if h.is_running()]
    for h in handles:
        h.cancel()
    return all(h.wait(timeout_ms) for h in handles)


def live_stream_count() -> int:
    """How many handles are still held until their thread has ended (for tests)."""
    return len(_live)
