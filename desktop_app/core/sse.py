"""Server-sent events, and the OpenAI chat-completions stream on top of them.

Pure parsing, no I/O: bytes go in (split anywhere, also inside a UTF-8 character or a
CRLF pair), typed events come out. ``core.endpoint`` feeds it from the socket; tests feed
it directly with any chunking they like.

The quirks of real servers handled here (PROTOCOL.md, "Streaming response"):
- lines end in ``\\n``, ``\\r\\n`` or ``\\r``; a ``\\r`` at the end of a chunk may be half
  of a ``\\r\\n``;
- U+2028/U+2029 inside JSON strings are not line ends (we split bytes, not ``splitlines``);
- ``:`` comment lines (keep-alives) are ignored; ``data:`` with or without the space;
- ``data: [DONE]`` with no blank line after it before the connection closes;
- the role-only first chunk, ``content: null``, ``finish_reason: ""`` (old Ollama);
- text in the chunk that also carries ``finish_reason`` (vLLM);
- ``reasoning_content`` (llama.cpp, older vLLM) and ``reasoning`` (Ollama, newer vLLM);
- usage in a last chunk with ``choices: []`` or ``null``, or on every chunk (vLLM);
- errors inside a 200 stream as ``data: {"error": ...}`` or old vLLM's
  ``{"object": "error", ...}``, and old llama.cpp's non-standard ``error:`` field.
"""

from __future__ import annotations

import json
from typing import Any

from desktop_app.core.models import (
    Finished,
    ReasoningDelta,
    StreamErrorEvent,
    StreamEvent,
    TextDelta,
    Usage,
)

__all__ = ["ChatStreamParser", "SSEDecoder", "error_message_from_payload"]


_raw_decode = json.JSONDecoder().raw_decode


def _loads(data: str) -> Any:
    """``json.loads`` without its two whitespace regex passes on the common case."""
    try:
        obj, end = _raw_decode(data)
    except ValueError:
        return json.loads(data)  # leading whitespace, or really malformed: loads decides
    return obj if end == len(data) else json.loads(data)


class SSEDecoder:
    """Incremental SSE decoder. ``feed`` returns complete messages as ``(event, data)``."""

    __slots__ = ("_buf", "_data", "_event")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event = ""

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        buf = self._buf + chunk if self._buf else chunk
        held = b""
        if b"\r" in buf:
            if buf.endswith(b"\r"):  # may be the first half of a CRLF split across chunks
                buf, held = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._buf = lines.pop() + held
        return self._lines(lines) if lines else []

    def flush(self) -> list[tuple[str, str]]:
        """End of input: the last line and message count even without a blank line."""
        rest = self._buf.rstrip(b"\r")
        self._buf = b""
        lines = [rest, b""] if rest else [b""]
        return self._lines(lines)

    def _lines(self, lines: list[bytes]) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        data = self._data
        for line in lines:
            if line.startswith(b"data: "):  # the hot path
                data.append(line[6:].decode("utf-8", "replace"))
            elif not line:
                if data:
                    out.append((self._event or "message", "\n".join(data)))
                    data.clear()
                self._event = ""
            elif line[0] == 0x3A:  # ":" comment / keep-alive
                continue
            else:
                name, _, value = line.partition(b":")
                if value.startswith(b" "):
                    value = value[1:]
                if name == b"data":
                    data.append(value.decode("utf-8", "replace"))
                elif name == b"event":
                    self._event = value.decode("utf-8", "replace")
                elif name == b"error":  # old llama.cpp builds: a non-standard field
                    out.append(("error", value.decode("utf-8", "replace")))
                # "id", "retry" and unknown fields are ignored, as the SSE spec says
        return out


def error_message_from_payload(payload: Any) -> str | None:
    """A human message from any error shape servers send, or None when there is none.

    ``{"error": {"message": ...}}``, ``{"error": "..."}``, ``{"object": "error",
    "message": ...}``, ``{"detail": ...}`` (FastAPI), ``{"message": ...}``.
    """
    if isinstance(payload, str):
        return payload.strip() or None
    if not isinstance(payload, dict):
        return None
    err = payload.get("error")
    if isinstance(err, dict):
        msg = err.get("message") or err.get("msg")
        if isinstance(msg, str) and msg.strip():
            return msg.strip()
        return error_message_from_payload(err.get("type")) or None
    if isinstance(err, str) and err.strip():
        return err.strip()
    for key in ("message", "detail"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, list) and value and isinstance(value[0], dict):  # FastAPI 422
            msg = value[0].get("msg")
            if isinstance(msg, str):
                return msg
    return None


class ChatStreamParser:
    """Turns the bytes of a ``/chat/completions`` stream into ``StreamEvent``s.

    ``Usage`` and ``Finished`` are emitted once, at ``data: [DONE]`` or at ``close()``;
    after ``done`` is true the rest of the input is ignored. A ``StreamErrorEvent`` ends
    the stream too. ``finished`` tells whether the server marked the answer complete
    (a finish reason or ``[DONE]``), which a cut connection does not.
    """

    __slots__ = ("_decoder", "_finish_reason", "_usage", "done", "finished")

    def __init__(self) -> None:
        self._decoder = SSEDecoder()
        self._finish_reason: str | None = None
        self._usage: Usage | None = None
        self.done = False
        self.finished = False

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if self.done:
            return []
        return self._messages(self._decoder.feed(chunk))

    def close(self) -> list[StreamEvent]:
        """The connection ended. Flushes a last message and emits the end events if the
        server said the answer was complete."""
        if self.done:
            return []
        out = self._messages(self._decoder.flush())
        if not self.done and self._finish_reason is not None:
            out.extend(self._end())
        return out

    def _end(self) -> list[StreamEvent]:
        self.done = True
        self.finished = True
        out: list[StreamEvent] = []
        if self._usage is not None:
            out.append(self._usage)
        out.append(Finished(self._finish_reason))
        return out

    def _messages(self, messages: list[tuple[str, str]]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event, data in messages:
            if event == "error":
                out.append(_error_event(data))
                self.done = True
                return out
            if data == "[DONE]":
                out.extend(self._end())
                return out
            try:
                obj = _loads(data)
            except ValueError:
                out.append(
                    StreamErrorEvent(f"The server sent a malformed stream chunk: {data[:80]!r}")
                )
                self.done = True
                return out
            try:
                failed = self._chunk(obj, out)
            except (AttributeError, TypeError, ValueError, IndexError):
                out.append(
                    StreamErrorEvent(f"The server sent a malformed stream chunk: {data[:80]!r}")
                )
                failed = True
            if failed:
                self.done = True
                return out
        return out

    def feed_object(self, obj: Any) -> list[StreamEvent]:
        """A whole non-streamed completion (a server that ignored ``stream: true``)."""
        out: list[StreamEvent] = []
        try:
            failed = self._chunk(obj, out)
        except (AttributeError, TypeError, ValueError, IndexError):
            out.append(StreamErrorEvent("The server sent a malformed completion."))
            failed = True
        if failed:
            self.done = True
            return out
        self._finish_reason = self._finish_reason or "stop"
        out.extend(self._end())
        return out

    def _chunk(self, obj: Any, out: list[StreamEvent]) -> bool:
        """Appends the events of one JSON chunk; True when it was an error (stream over)."""
        if not isinstance(obj, dict):
            out.append(StreamErrorEvent(f"The server sent an unexpected chunk: {str(obj)[:80]}"))
            return True
        if obj.get("error") or obj.get("object") == "error":
            err = obj.get("error")
            out.append(
                StreamErrorEvent(
                    error_message_from_payload(obj) or "The server reported an error.",
                    type=err.get("type") if isinstance(err, dict) else obj.get("type"),
                    code=err.get("code") if isinstance(err, dict) else obj.get("code"),
                )
            )
            return True
        choices = obj.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta") or choice.get("message") or {}
            if "reasoning_content" in delta or "reasoning" in delta:
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    out.append(ReasoningDelta(reasoning))
            content = delta.get("content")
            if content:
                if isinstance(content, list):  # content parts, as some gateways send
                    content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
                if content:
                    out.append(TextDelta(content))
            reason = choice.get("finish_reason")
            if reason:  # old Ollama sent "" on every chunk
                self._finish_reason = reason
        if "usage" in obj and (usage := obj["usage"]):
            self._usage = Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                total_tokens=int(usage.get("total_tokens") or 0),
            )
        return False


def _error_event(data: str) -> StreamErrorEvent:
    try:
        payload: Any = json.loads(data)
    except ValueError:
        payload = data
    msg = error_message_from_payload(payload) or "The server reported an error."
    return StreamErrorEvent(msg)
