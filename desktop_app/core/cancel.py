"""Cancelling a request, and the retry notice: what the UI's workers need of a request
without importing the HTTP client (httpx, anyio, ssl: ~8 MiB that a user of the
offline engine alone never needs). ``core.endpoint`` re-exports both."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CancelToken", "RetryNotice"]


class _Shuttable(Protocol):
    """A socket stream a cancel can shut down (``core.endpoint``'s tracked streams)."""

    def shutdown(self) -> None: ...


class CancelToken:
    """Cancels one request from any thread, within milliseconds."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._streams: set[_Shuttable] = set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def cancel(self) -> None:
        self._event.set()
        with self._lock:
            streams = list(self._streams)
        for stream in streams:
            stream.shutdown()

    def sleep(self, seconds: float) -> bool:
        """Sleeps unless cancelled; True when cancelled."""
        return self._event.wait(seconds)

    def _attach(self, stream: _Shuttable) -> None:
        with self._lock:
            self._streams.add(stream)
        if self._event.is_set():
            stream.shutdown()

    def _release(self) -> None:
        """The request is over: its (pooled) sockets must not be shut down by a late
        cancel, since another request may use them next."""
        with self._lock:
            self._streams.clear()


@dataclass(frozen=True, slots=True)
class RetryNotice:
    """Told to ``on_retry`` before each backoff sleep, so a UI can show it."""

    attempt: int  # the attempt that failed, from 1
    delay: float  # seconds until the next one
    reason: str
