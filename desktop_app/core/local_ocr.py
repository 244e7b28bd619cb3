"""The embedded offline OCR engine: text from a picture with no endpoint and no network.

It runs rapidocr (PP-OCR models on onnxruntime, shipped inside the rapidocr wheel) on the
CPU and gives the same events as an endpoint stream, so the panel, the CLI and the
history do not care which engine answered::

    engine = LocalOcrEngine()
    for event in engine.recognize(picture, on_progress=print, cancel=token):
        ...  # TextDelta per paragraph or table, then Finished("stop")

The model lives in a worker process (``core.ocr_worker``), started with ``spawn`` (never
``fork``: the app has Qt threads) on first use or by ``warm()``, and stopped after
``idle_timeout`` seconds without work. Its peak is about 500 MB for a 1280x800 page (1 GB
for 4K) and a Python process seldom returns freed memory to the system: a tray app must
not hold that while it sits idle, and a process that exits returns everything. Starting
it costs about two seconds (imports, then 0.3 s of model loading), so the app calls
``warm()`` when the user starts a capture. Pictures go to the worker as raw RGB
bytes; boxes and text come back, and the reading order (``core.ocr_layout``) is worked
out here.

Errors are ``core.errors`` exceptions: ``ImageError`` for input that is not a usable
picture, ``LocalOcrUnavailable`` when rapidocr or onnxruntime is not installed,
``LocalOcrError`` when the worker failed, ``Cancelled`` when the caller cancelled.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import logging
import multiprocessing
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Protocol

from desktop_app.core.errors import Cancelled, ScreenScribeError
from desktop_app.core.models import ChatRequest, Finished, StreamEvent, TextDelta
from desktop_app.core.ocr_layout import Block, TextBox, blocks_to_text, layout
from desktop_app.core.ocr_worker import WorkerConfig
from desktop_app.core.ocr_worker import main as worker_main

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess

    from PIL import Image

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "LocalOcrEngine",
    "LocalOcrError",
    "LocalOcrUnavailable",
    "OcrResult",
    "is_available",
]

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 180.0
"""Seconds without work after which the worker process (and its memory) goes away."""
_POLL = 0.05  # seconds between checks of the cancel token while the worker reads
_QUIT_WAIT = 2.0  # seconds a worker gets to exit before it is terminated
_INSTALL_HINT = "pip install rapidocr onnxruntime"


class LocalOcrError(ScreenScribeError):
    """The offline OCR engine failed (its worker crashed or reported an error)."""

    exit_code = 1


class LocalOcrUnavailable(LocalOcrError):
    """The offline OCR engine is not installed (rapidocr or onnxruntime is missing)."""

    exit_code = 2


class _CancelToken(Protocol):
    @property
    def cancelled(self) -> bool: ...


CancelLike = threading.Event | _CancelToken
"""``threading.Event`` or ``core.endpoint.CancelToken`` (anything with ``.cancelled``)."""


def _is_cancelled(cancel: CancelLike | None) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel.cancelled)


def is_available() -> bool:
    """True when rapidocr and onnxruntime are installed (a cheap check: nothing is loaded)."""
    return all(importlib.util.find_spec(name) is not None for name in ("rapidocr", "onnxruntime"))


@dataclass(frozen=True, slots=True)
class OcrResult:
    """What one picture gave: the text in reading order, its blocks and raw boxes."""

    text: str
    blocks: tuple[Block, ...]
    boxes: tuple[TextBox, ...]
    single_line: bool  # read by the recogniser alone (no detection)
    total_ms: float  # from the call to the result, loading included
    det_ms: float
    rec_ms: float
    load_ms: float | None  # model load time when this call had to wait for it
    worker_peak_rss_mb: float | None
    stats: dict[str, Any] = field(default_factory=dict)


def _to_rgb(image: Image.Image | bytes | str | os.PathLike[str]) -> Image.Image:
    from PIL import Image as PILImage

    from desktop_app.core import imaging

    if isinstance(image, PILImage.Image):
        return imaging.normalize_image(image)  # the core's own checks and RGB conversion
    return imaging.load_image(image)


class LocalOcrEngine:
    """Offline OCR in a worker process that is started on demand and stops when idle.

    Thread-safe: calls from several threads run one after another. ``idle_timeout`` is
    in seconds (``None``: keep the worker until ``close()``); ``threads`` limits
    onnxruntime's threads (default: one per core); lines read with a confidence below
    ``text_score`` are dropped; ``single_line=False`` always runs detection.
    """

    def __init__(
        self,
        *,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        threads: int | None = None,
        text_score: float = 0.5,
        single_line: bool = True,
    ) -> None:
        self._config = WorkerConfig(threads=threads, text_score=text_score, single_line=single_line)
        self._idle_timeout = idle_timeout
        self._lock = threading.Lock()  # one job at a time; guards the worker fields
        self._proc: SpawnProcess | None = None
        self._conn: Connection | None = None
        self._ready = False
        self._unavailable: str | None = None  # why the worker could not load, once told
        self._load_ms: float | None = None
        self._jobs = itertools.count(1)
        self._last_used = time.monotonic()
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()

    # --- life cycle ------------------------------------------------------------------

    @property
    def worker_pid(self) -> int | None:
        """The worker process's id while one runs (for diagnostics and tests)."""
        proc = self._proc
        try:
            return proc.pid if proc is not None and proc.is_alive() else None
        except ValueError:  # closed meanwhile by the idle timer's thread
            return None

    @property
    def loaded(self) -> bool:
        """True when a worker runs and has reported its models loaded (``warm()`` done)."""
        if self._lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._lock.release()
        return self._ready and self.worker_pid is not None

    def warm(self) -> None:
        """Starts the worker and has it load the models, without waiting for it.

        Returns in a few milliseconds, or at once when a job is running (the worker is
        then warm anyway). A missing rapidocr shows up on the next ``recognize``.
        """
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._ensure_worker()
            self._last_used = time.monotonic()
        except LocalOcrError:
            log.debug("Offline OCR worker could not be started", exc_info=True)
        finally:
            self._lock.release()
        self._schedule_idle_stop()

    def close(self) -> None:
        """Stops the worker now (waits for a running job). The engine stays usable: the
        next ``recognize`` starts a new worker."""
        self._cancel_timer()
        with self._lock:
            self._stop_worker()

    def __enter__(self) -> LocalOcrEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # The worker is a daemon and also exits when its pipe closes; this is tidiness.
        proc = getattr(self, "_proc", None)
        with contextlib.suppress(Exception):  # also at interpreter exit
            if proc is not None and proc.is_alive():
                proc.terminate()

    def _ensure_worker(self) -> Connection:
        if self._conn is not None and self._proc is not None and self._proc.is_alive():
            return self._conn
        self._stop_worker()
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        proc = ctx.Process(
            target=worker_main,
            args=(child_conn, self._config),
            name="screenscribe-ocr",
            daemon=True,
        )
        try:
            proc.start()
        except OSError as exc:
            parent_conn.close()
            raise LocalOcrError(f"Could not start the offline OCR engine: {exc}.") from exc
        finally:
            child_conn.close()
        self._proc, self._conn, self._ready = proc, parent_conn, False
        parent_conn.send(("load",))
        log.debug("Offline OCR worker started (pid %s)", proc.pid)
        return parent_conn

    def _stop_worker(self) -> None:
        proc, conn = self._proc, self._conn
        self._proc, self._conn, self._ready = None, None, False
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(("quit",))
        if proc is not None:
            proc.join(_QUIT_WAIT)
            if proc.is_alive():
                proc.terminate()
                proc.join(_QUIT_WAIT)
            if proc.is_alive():
                proc.kill()
                proc.join(_QUIT_WAIT)
            proc.close()
            log.debug("Offline OCR worker stopped")
        if conn is not None:
            conn.close()

    # --- idle stop ---------------------------------------------------------------------

    def _schedule_idle_stop(self, delay: float | None = None) -> None:
        if self._idle_timeout is None:
            return
        ref = weakref.ref(self)

        def fire() -> None:
            engine = ref()
            if engine is not None:
                engine._on_idle()

        timer = threading.Timer(self._idle_timeout if delay is None else delay, fire)
        timer.daemon = True
        timer.name = "screenscribe-ocr-idle"
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = timer
        timer.start()

    def _cancel_timer(self) -> None:
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _on_idle(self) -> None:
        if self._idle_timeout is None or not self._lock.acquire(blocking=False):
            return  # busy: the job re-arms the timer when it ends
        loading = False
        remaining = 0.0
        try:
            self._drain()
            loading = not self._ready and self.worker_pid is not None
            remaining = self._idle_timeout - (time.monotonic() - self._last_used)
            if not loading and remaining <= self._idle_timeout * 0.01:
                self._stop_worker()
        finally:
            self._lock.release()
        if loading:  # the countdown starts once the models are in
            self._last_used = time.monotonic()
            self._schedule_idle_stop()
        elif remaining > self._idle_timeout * 0.01 and self.worker_pid is not None:
            self._schedule_idle_stop(remaining)  # used meanwhile: wait out the rest

    # --- reading -----------------------------------------------------------------------

    def recognize(
        self,
        image: Image.Image | bytes | str | os.PathLike[str],
        *,
        on_progress: Callable[[str], None] | None = None,
        cancel: CancelLike | None = None,
    ) -> Iterator[StreamEvent]:
        """Reads ``image`` and yields a ``TextDelta`` per block, then ``Finished("stop")``.

        Like an endpoint stream, nothing happens until the first ``next()``; the work is
        done before the first event (the reading order needs every line), with progress
        messages for a person given to ``on_progress`` meanwhile (from the calling
        thread). Blocks after the first start with the blank line that separates them, so
        the deltas add up to ``OcrResult.text``. A picture with no text gives no delta.
        """
        result = self.read(image, on_progress=on_progress, cancel=cancel)
        for i, block in enumerate(result.blocks):
            yield TextDelta(("\n\n" if i else "") + block.text)
        yield Finished("stop")

    def read(
        self,
        image: Image.Image | bytes | str | os.PathLike[str],
        *,
        on_progress: Callable[[str], None] | None = None,
        cancel: CancelLike | None = None,
    ) -> OcrResult:
        """The blocking form of ``recognize``: the whole result, boxes and timings."""
        t0 = time.perf_counter()
        if _is_cancelled(cancel):
            raise Cancelled()
        picture = _to_rgb(image)
        width, height = picture.size
        data = picture.tobytes()
        try:
            with self._lock:
                self._cancel_timer()
                try:
                    lines, stats, load_ms = self._run_job(width, height, data, on_progress, cancel)
                finally:
                    self._last_used = time.monotonic()
        finally:
            self._schedule_idle_stop()  # also after an error: an idle worker must go
        boxes = tuple(TextBox(*line) for line in lines)
        blocks = tuple(layout(boxes))
        return OcrResult(
            text=blocks_to_text(blocks),
            blocks=blocks,
            boxes=boxes,
            single_line=bool(stats.get("single_line")),
            total_ms=(time.perf_counter() - t0) * 1000.0,
            det_ms=float(stats.get("det_ms", 0.0)),
            rec_ms=float(stats.get("rec_ms", 0.0)),
            load_ms=load_ms,
            worker_peak_rss_mb=stats.get("peak_rss_mb"),
            stats=stats,
        )

    def _run_job(
        self,
        width: int,
        height: int,
        data: bytes,
        on_progress: Callable[[str], None] | None,
        cancel: CancelLike | None,
    ) -> tuple[list[tuple[float, float, float, float, str, float]], dict[str, Any], float | None]:
        """Sends one job and waits for its answer. Called with ``self._lock`` held."""
        conn = self._ensure_worker()
        self._drain()
        if self._unavailable is not None:
            raise self._not_installed(self._unavailable)
        job = next(self._jobs)
        waited_for_load = not self._ready
        if waited_for_load and on_progress is not None:
            on_progress("Loading the offline OCR model…")
        try:
            conn.send(("ocr", job, width, height, data))
        except OSError:
            self._stop_worker()  # it had just exited (idle, crash): one more try
            conn = self._ensure_worker()
            conn.send(("ocr", job, width, height, data))
        done = False
        try:
            while True:
                if _is_cancelled(cancel):
                    raise Cancelled()
                if not conn.poll(_POLL):
                    if self._proc is None or not self._proc.is_alive():
                        raise self._died()
                    continue
                try:
                    msg = conn.recv()
                except (EOFError, OSError):
                    raise self._died() from None
                kind = msg[0]
                if kind == "ready":
                    self._ready, self._load_ms = True, float(msg[1])
                elif kind == "unavailable":
                    raise self._not_installed(str(msg[1]))
                elif len(msg) < 2 or msg[1] != job:
                    continue  # the late answer to a job that was cancelled
                elif kind == "progress":
                    if on_progress is not None:
                        on_progress(str(msg[2]))
                elif kind == "result":
                    done = True
                    return msg[2], msg[3], (self._load_ms if waited_for_load else None)
                elif kind == "error":
                    done = True
                    raise LocalOcrError(f"Offline OCR failed: {msg[2]}")
                elif kind == "cancelled":
                    done = True
                    raise Cancelled()
        finally:
            if not done and self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.send(("cancel", job))  # it stops at the next line

    def _drain(self) -> None:
        """Reads what the idle worker sent meanwhile: its "ready", late answers to
        cancelled jobs. Called with ``self._lock`` held."""
        conn = self._conn
        try:
            while conn is not None and conn.poll():
                msg = conn.recv()
                if msg[0] == "ready":
                    self._ready, self._load_ms = True, float(msg[1])
                    self._last_used = time.monotonic()  # the idle countdown starts now
                elif msg[0] == "unavailable":
                    self._unavailable = str(msg[1])  # the worker has exited
        except (EOFError, OSError):
            return  # a dead worker: the next job starts a new one

    def _not_installed(self, reason: str) -> LocalOcrUnavailable:
        self._unavailable = None
        self._stop_worker()
        return LocalOcrUnavailable(
            "Offline OCR is not installed: rapidocr with onnxruntime is needed "
            f"({reason}). Install it with: {_INSTALL_HINT}"
        )

    def _died(self) -> LocalOcrError:
        code = self._proc.exitcode if self._proc is not None else None
        self._stop_worker()
        return LocalOcrError(
            f"The offline OCR engine stopped unexpectedly (exit code {code}); "
            "it starts again on the next request."
        )


class LocalOcrSource:
    """The offline engine as an answer source: reads the request's image, ignores the
    prompt (it can only transcribe), and so cannot answer questions or follow-ups."""

    can_chat = False
    waiting_text = "Reading the text offline…"

    def __init__(self, engine: LocalOcrEngine) -> None:
        self.engine = engine

    def stream_chat(
        self,
        request: ChatRequest,
        cancel: CancelLike | None = None,
        on_retry: object = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> Iterator[StreamEvent]:
        if request.image is None:
            raise LocalOcrError("The offline engine needs an image to read.")
        return self.engine.recognize(request.image.data, cancel=cancel, on_progress=on_progress)
