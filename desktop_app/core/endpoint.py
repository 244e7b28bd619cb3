"""The OpenAI-compatible endpoint client: build the request, stream it, map every failure.

httpx stays inside this module: callers see ``StreamEvent``s and ``core.errors`` only.
Import this module only where a request is made (``import httpx`` costs start-up time).

Cancellation: ``CancelToken.cancel()`` may be called from any thread. Every socket the
request reads or writes through is registered with the token of the thread using it (a
network backend of ours sits under httpx's connection pool), and cancelling shuts those
sockets down, which wakes a blocked ``recv`` at once: before the response headers, in
the middle of the body, or during a backoff sleep.
"""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import json
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpcore
import httpx

from desktop_app import __version__
from desktop_app.core.cancel import CancelToken, RetryNotice
from desktop_app.core.errors import (
    AuthenticationError,
    Cancelled,
    ContextTooLong,
    EndpointError,
    EndpointTimeout,
    EndpointUnreachable,
    ModelNotFound,
    RequestRejected,
    ServerError,
    StreamBroken,
)
from desktop_app.core.models import ChatRequest, StreamErrorEvent, StreamEvent
from desktop_app.core.sse import ChatStreamParser, error_message_from_payload

__all__ = [
    "CancelToken",
    "EndpointClient",
    "RetryNotice",
    "build_chat_body",
    "build_messages",
    "error_from_response",
]

_T = TypeVar("_T")

SESSION_HEADER = "X-Session-Id"  # packaging/server/helm/values.yaml routerSpec.sessionKey
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0  # a server asking us to wait longer than this gets an error instead


# --- request building (pure) ---------------------------------------------------------


def build_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The ``messages`` array: the image goes with the first user message; a follow-up
    resends the whole conversation (first message, answers, new question)."""
    first_text = request.first_prompt if request.history else request.prompt
    content: list[dict[str, Any]] = [{"type": "text", "text": first_text or ""}]
    if request.image is not None:
        content.append({"type": "image_url", "image_url": {"url": request.image.data_url}})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if request.history:
        messages.extend({"role": t.role, "content": t.text} for t in request.history)
        messages.append({"role": "user", "content": request.prompt})
    return messages


def build_chat_body(request: ChatRequest) -> dict[str, Any]:
    s = request.sampling
    body: dict[str, Any] = {
        "model": request.model,
        "messages": build_messages(request),
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": s.max_tokens,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "presence_penalty": s.presence_penalty,
    }
    if s.top_k is not None:  # not an OpenAI field: only servers that know it get it
        body["top_k"] = s.top_k
    return body


# --- cancellation --------------------------------------------------------------------


_current = threading.local()


def _current_token() -> CancelToken | None:
    return getattr(_current, "token", None)


class _TrackedStream(httpcore.NetworkStream):
    """A socket stream that registers itself with the calling thread's cancel token."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def _track(self) -> None:
        token = _current_token()
        if token is not None:
            token._attach(self)

    def shutdown(self) -> None:
        sock = self._inner.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._track()
        deadline = getattr(_current, "drain_deadline", None)
        if deadline is not None:  # _drain: what follows [DONE] gets a short time
            left = max(0.0, deadline - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        return self._inner.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._track()
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._track()
        return _TrackedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _TrackingBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        token = _current_token()
        if token is not None and token.cancelled:
            raise httpcore.ConnectError("cancelled")
        stream = _TrackedStream(
            self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        )
        stream._track()
        return stream

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _TrackedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _make_transport(max_connections: int = 32, *, tls: bool = True) -> httpx.HTTPTransport:
    # The transport's own pool is replaced below, so the TLS context it makes is never
    # used: verify=False only spares loading the CA bundle for it (30 ms). The pool that
    # is used verifies certificates, and loads the bundle only for an https base URL.
    transport = httpx.HTTPTransport(verify=False)
    # httpx offers no public way to give its pool a network backend; the pool itself is
    # public httpcore API. Pinned to httpx < 1, and tests/core/test_endpoint.py's
    # cancellation tests fail loudly if this stops working.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context() if tls else None,
        max_connections=max_connections,
        # As many kept alive as may be open: httpcore 1.0 compares this limit with all
        # its connections, idle or not, so a lower one closed each idle connection of a
        # batch running 32 at once (993 connections for 1,000 images; encode/httpcore
        # PR #1000), and an occasional request raced a closing connection.
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
        network_backend=_TrackingBackend(),
    )
    return transport


# --- errors --------------------------------------------------------------------------


def _retry_after(headers: httpx.Headers) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_CONTEXT_HINTS = (
    "maximum model length",
    "maximum context length",
    "context length",
    "exceed_context_size",
    "context window",
    "too many tokens",
    "prompt is too long",
)


def _server_message(body: bytes) -> str | None:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    msg = error_message_from_payload(payload) if payload is not None else None
    if msg is None:
        if payload is not None:
            return None
        msg = _TAGS.sub(" ", text)  # plain text or a proxy's HTML page
    msg = _SPACE.sub(" ", msg).strip()
    return msg[:300] + ("…" if len(msg) > 300 else "") if msg else None


def error_from_response(
    status: int,
    reason: str,
    headers: httpx.Headers,
    body: bytes,
    *,
    model: str,
    url: str,
    has_key: bool = True,
) -> EndpointError:
    """One ``core.errors`` exception, with the server's own words when it has any."""
    server = _server_message(body)
    said = f": {server}" if server else "."
    status_line = f"{status} {reason}".strip()
    kw: dict[str, Any] = {
        "status": status,
        "retry_after": _retry_after(headers),
        "server_message": server,
    }
    low = f"{server or ''} {body[:4000].decode('utf-8', 'replace')}".lower()
    if status in (401, 403):
        if not has_key:
            return AuthenticationError(
                f"The server needs an API key and none is set ({status_line}){said}", **kw
            )
        return AuthenticationError(f"The server refused the API key ({status_line}){said}", **kw)
    if status == 404:
        if model and (model.lower() in low or "model" in low):
            return ModelNotFound(
                f"The server has no model {model!r} ({status_line}){said}", model=model, **kw
            )
        return RequestRejected(
            f"Nothing at {url} ({status_line}); check the endpoint URL, which usually "
            f"ends in /v1{said if server else '.'}",
            **kw,
        )
    if status == 413 or any(h in low for h in _CONTEXT_HINTS):
        return ContextTooLong(
            "The image and prompt are too long for the server's context "
            f"({status_line}){said} Try a smaller region or a lower image token budget.",
            **kw,
        )
    if status == 429:
        return ServerError(f"The server is busy: too many requests ({status_line}){said}", **kw)
    if 400 <= status < 500:
        return RequestRejected(f"The server rejected the request ({status_line}){said}", **kw)
    return ServerError(f"The server failed ({status_line}){said}", **kw)


# --- the client ----------------------------------------------------------------------


class EndpointClient:
    """A client for one OpenAI-compatible base URL. Thread-safe; reuse it."""

    can_chat = True
    waiting_text = "Waiting for the model…"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        connect_timeout: float = 5.0,
        idle_timeout: float = 120.0,
        max_retries: int = 2,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        max_connections: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        headers = {"User-Agent": f"ScreenScribe/{__version__}"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            transport=_make_transport(
                max_connections, tls=not self.base_url.lower().startswith("http://")
            ),
            headers=headers,
            timeout=httpx.Timeout(
                connect=connect_timeout,
                read=idle_timeout,
                write=max(idle_timeout, 30.0),
                pool=connect_timeout,
            ),
            follow_redirects=False,  # a redirected POST would turn into a GET
        )
        self._idle_timeout = idle_timeout
        self._connect_timeout = connect_timeout

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EndpointClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public ------------------------------------------------------------------------

    def stream_chat(
        self,
        request: ChatRequest,
        cancel: CancelToken | None = None,
        on_retry: Callable[[RetryNotice], None] | None = None,
        on_progress: Callable[[str], None] | None = None,  # nothing to report before text
    ) -> Iterator[StreamEvent]:
        """Streams the answer. Raises ``core.errors`` exceptions; ``Cancelled`` after
        ``cancel.cancel()``. Retries (connect errors, 408/409/429/5xx) happen only before
        the first event; once text has been given out, a failure is final."""
        body = json.dumps(build_chat_body(request), ensure_ascii=False).encode("utf-8")
        return self._with_retries(
            lambda token: self._stream_once(body, request.model, token, request.session),
            cancel or CancelToken(),
            on_retry,
        )

    def list_models(self, cancel: CancelToken | None = None) -> list[str]:
        """The model ids of ``GET {base_url}/models``."""
        token = cancel or CancelToken()
        url = f"{self.base_url}/models"

        def once(token: CancelToken) -> Iterator[list[str]]:
            with self._request(token, "GET", url, b"", model="") as response:
                payload = self._read_json(response, token)
            data = payload.get("data") if isinstance(payload, dict) else None
            if data is None and isinstance(payload, dict):
                data = payload.get("models")  # Ollama's native /api/tags shape
            if not isinstance(data, list):
                raise StreamBroken(f"The server's model list at {url} is not in the expected form.")
            yield [
                str(m.get("id") or m.get("name") or m.get("model"))
                for m in data
                if isinstance(m, dict)
            ]

        return next(self._with_retries(once, token, None))

    # -- internals ---------------------------------------------------------------------

    def _with_retries(
        self,
        attempt_fn: Callable[[CancelToken], Iterator[_T]],
        token: CancelToken,
        on_retry: Callable[[RetryNotice], None] | None,
    ) -> Iterator[_T]:
        attempt = 0
        while True:
            attempt += 1
            started = False
            try:
                for item in attempt_fn(token):
                    started = True
                    yield item
                return
            except EndpointError as exc:
                if started or attempt > self.max_retries or not _retryable(exc):
                    raise
                delay = self._delay(attempt, exc.retry_after)
                if delay is None:
                    raise
                if on_retry is not None:
                    on_retry(RetryNotice(attempt, delay, exc.message))
                if token.sleep(delay):
                    raise Cancelled() from None
            finally:
                token._release()

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        if retry_after is not None:
            return retry_after if retry_after <= MAX_RETRY_AFTER else None
        base = min(self.backoff_initial * 2.0 ** (attempt - 1), self.backoff_max)
        return base * (1.0 - 0.25 * random.random())  # jitter: spread clients apart

    def _request(
        self,
        token: CancelToken,
        method: str,
        url: str,
        body: bytes,
        *,
        model: str,
        session: str | None = None,
    ) -> _ResponseContext:
        return _ResponseContext(self, token, method, url, body, model, session)

    def _read_json(self, response: httpx.Response, token: CancelToken) -> Any:
        try:
            raw = response.read()
        except httpx.HTTPError as exc:
            raise self._map_transport_error(exc, token, response.request.url) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise StreamBroken(
                f"The server at {response.request.url} did not answer with JSON."
            ) from None

    def _stream_once(
        self, body: bytes, model: str, token: CancelToken, session: str | None = None
    ) -> Iterator[StreamEvent]:
        url = f"{self.base_url}/chat/completions"
        with self._request(token, "POST", url, body, model=model, session=session) as response:
            parser = ChatStreamParser()
            ctype = response.headers.get("content-type", "")
            if ctype.startswith("application/json"):  # a server that ignored stream: true
                events = parser.feed_object(self._read_json(response, token))
                yield from _checked(events)
                return
            chunks = response.iter_raw()
            try:
                while True:
                    # Between chunks the caller may have run other requests on this
                    # thread: make sure reads register with this request's token.
                    _current.token = token
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
                    events = parser.feed(chunk)
                    if events:
                        yield from _checked(events)
                    if parser.done:
                        _drain(chunks, token)
                        return
            except httpx.HTTPError as exc:
                raise self._map_transport_error(exc, token, url, mid_stream=True) from None
            if token.cancelled:
                raise Cancelled()
            yield from _checked(parser.close())
            if not parser.finished:
                raise StreamBroken("The connection closed before the answer was complete.")

    def _map_transport_error(
        self, exc: httpx.HTTPError, token: CancelToken, url: object, *, mid_stream: bool = False
    ) -> EndpointError:
        if token.cancelled:
            return Cancelled()
        host = httpx.URL(str(url)).host
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            return EndpointTimeout(
                f"Could not connect to {host} within {self._connect_timeout:g} s."
            )
        if isinstance(exc, httpx.ReadTimeout | httpx.WriteTimeout):
            return EndpointTimeout(
                f"The server at {host} sent nothing for {self._idle_timeout:g} s."
            )
        if isinstance(exc, httpx.ConnectError):
            detail = str(exc).split("] ")[-1] or type(exc).__name__
            return EndpointUnreachable(f"Could not connect to {host}: {detail}.")
        if mid_stream:
            return StreamBroken(f"The connection to {host} broke while answering: {exc}.")
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            return EndpointUnreachable(f"Not a usable endpoint URL: {url}.")
        return EndpointUnreachable(f"The connection to {host} failed: {exc}.")


_DRAIN_S = 0.05
_DRAIN_CHUNKS = 64


def _drain(chunks: Iterator[bytes], token: CancelToken) -> None:
    """Reads what follows ``[DONE]``: the body's chunked terminator comes at once, and
    only a body read to its end lets httpx keep the connection for the next request
    (a new connection costs about 1 ms on loopback, a TLS handshake far more). A server
    that keeps the stream open after ``[DONE]`` gets 50 ms (the socket reads' timeout,
    see ``_TrackedStream.read``), then the connection is dropped as before. (A timer
    thread per request did the same and cost a batch of 32 at once 4 % of its time.)"""
    _current.token = token
    _current.drain_deadline = time.monotonic() + _DRAIN_S
    try:
        for _ in itertools.islice(chunks, _DRAIN_CHUNKS):
            pass
    except httpx.HTTPError:
        pass  # timed out, or the server hung up: the answer is complete
    finally:
        _current.drain_deadline = None


def _retryable(exc: EndpointError) -> bool:
    if isinstance(exc, Cancelled | EndpointTimeout):
        return False  # a stalled server would only make the user wait twice as long
    if isinstance(exc, EndpointUnreachable):
        return True
    return exc.status in RETRYABLE_STATUS


def _checked(events: list[StreamEvent]) -> Iterator[StreamEvent]:
    for event in events:
        if isinstance(event, StreamErrorEvent):
            raise StreamBroken(f"The server reported an error while answering: {event.message}")
        yield event


class _ResponseContext:
    """Sends a request under a cancel token; yields the response if it is a 2xx, raises
    the mapped error otherwise; always closes and releases the token."""

    def __init__(
        self,
        client: EndpointClient,
        token: CancelToken,
        method: str,
        url: str,
        body: bytes,
        model: str,
        session: str | None = None,
    ) -> None:
        self._c = client
        self._token = token
        self._method = method
        self._url = url
        self._body = body
        self._model = model
        self._session = session
        self._response: httpx.Response | None = None

    def __enter__(self) -> httpx.Response:
        token = self._token
        if token.cancelled:
            raise Cancelled()
        _current.token = token
        headers = {"Accept": "application/json"}
        if self._body:
            headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._session:
            headers[SESSION_HEADER] = self._session
        try:
            request = self._c._client.build_request(
                self._method, self._url, content=self._body or None, headers=headers
            )
            response = self._c._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            _current.token = None
            raise self._c._map_transport_error(exc, token, self._url) from None
        except BaseException:
            _current.token = None
            raise
        self._response = response
        if 300 <= response.status_code < 400:
            location = response.headers.get("location", "another address")
            self.__exit__()
            raise RequestRejected(
                f"The endpoint URL redirects to {location}; use that URL instead.",
                status=response.status_code,
            )
        if response.status_code >= 400:
            try:
                raw = response.read()
            except httpx.HTTPError:
                raw = b""
            self.__exit__()
            raise error_from_response(
                response.status_code,
                response.reason_phrase,
                response.headers,
                raw,
                model=self._model,
                url=self._url,
                has_key="Authorization" in self._c._client.headers,
            )
        return response

    def __exit__(self, *exc: object) -> None:
        try:
            if self._response is not None:
                self._response.close()
        except httpx.HTTPError:
            pass
        finally:
            _current.token = None
