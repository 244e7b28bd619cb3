"""A real HTTP server on 127.0.0.1 that speaks the chat-completions streaming protocol in
the shapes real servers use (PROTOCOL.md), split into whatever byte chunks a test wants.

Tests queue ``Reply`` objects; each request to a path takes the next one (the last one
repeats). The server records every request and notices when a client hangs up.
"""

from __future__ import annotations

import json
import select
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# --- stream shapes -------------------------------------------------------------------


def sse(obj: Any, *, eol: str = "\n", space: bool = True) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return f"data:{' ' if space else ''}{data}{eol}{eol}".encode()


def _chunk(model: str, delta: dict[str, Any], finish: Any = None, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    obj.update(extra)
    return obj


USAGE = {"prompt_tokens": 2050, "completion_tokens": 7, "total_tokens": 2057}


def vllm_stream(
    pieces: list[str],
    *,
    finish: str = "stop",
    usage_every_chunk: bool = False,
    model: str = "Qwen/Qwen3-VL-8B-Instruct",
) -> list[dict[str, Any] | str]:
    """vLLM: role chunk with content "", the last text piece carries finish_reason,
    a usage chunk with ``choices: []``, then [DONE]."""
    extra = {"usage": USAGE} if usage_every_chunk else {}
    out: list[dict[str, Any] | str] = [_chunk(model, {"role": "assistant", "content": ""}, **extra)]
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        out.append(_chunk(model, {"content": piece}, finish if last else None, **extra))
    out.append(
        {
            "id": "chatcmpl-test",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [],
            "usage": USAGE,
        }
    )
    out.append("[DONE]")
    return out


def openai_stream(
    pieces: list[str], *, finish: str = "stop", model: str = "gpt-test"
) -> list[dict[str, Any] | str]:
    """OpenAI: role chunk, text chunks, an empty delta with finish_reason, usage, [DONE]."""
    out: list[dict[str, Any] | str] = [
        _chunk(model, {"role": "assistant", "content": "", "refusal": None})
    ]
    out += [_chunk(model, {"content": p}) for p in pieces]
    out.append(_chunk(model, {}, finish))
    out.append(
        {
            "id": "x",
            "object": "chat.completion.chunk",
            "model": model,
            "choices": [],
            "usage": USAGE,
        }
    )
    out.append("[DONE]")
    return out


def ollama_stream(
    pieces: list[str], *, old: bool = False, model: str = "qwen3-vl:8b-instruct"
) -> list[dict[str, Any] | str]:
    """Ollama /v1: role on the first chunk only (old builds: on every chunk, and
    ``finish_reason: ""`` until the end), a last chunk with finish_reason, usage, [DONE]."""
    out: list[dict[str, Any] | str] = []
    for i, p in enumerate(pieces):
        delta = {"role": "assistant", "content": p} if (old or i == 0) else {"content": p}
        out.append(_chunk(model, delta, "" if old else None))
    out.append(
        _chunk(model, {"role": "assistant", "content": ""} if old else {"content": ""}, "stop")
    )
    if not old:
        out.append(
            {
                "id": "x",
                "object": "chat.completion.chunk",
                "model": model,
                "choices": [],
                "usage": USAGE,
            }
        )
    out.append("[DONE]")
    return out


def llamacpp_stream(
    pieces: list[str], *, reasoning: list[str] | None = None, model: str = "Qwen3-VL-8B-Instruct"
) -> list[dict[str, Any] | str]:
    """llama.cpp: first delta ``content: null``, optional ``reasoning_content``, a final
    chunk with finish_reason, usage and ``timings``, then [DONE]."""
    out: list[dict[str, Any] | str] = [_chunk(model, {"role": "assistant", "content": None})]
    out += [_chunk(model, {"reasoning_content": r}) for r in (reasoning or [])]
    out += [_chunk(model, {"content": p}) for p in pieces]
    out.append(
        _chunk(
            model,
            {},
            "stop",
            usage=USAGE,
            timings={"prompt_n": 2050, "predicted_n": 7, "predicted_per_second": 50.0},
        )
    )
    out.append("[DONE]")
    return out


def encode_stream(
    messages: list[dict[str, Any] | str],
    *,
    eol: str = "\n",
    space: bool = True,
    comments: bool = False,
    done_blank_line: bool = True,
) -> bytes:
    parts: list[bytes] = []
    if comments:
        parts.append(f": OPENROUTER PROCESSING{eol}{eol}".encode())
    for m in messages:
        parts.append(sse(m, eol=eol, space=space))
        if comments:
            parts.append(f": keep-alive{eol}".encode())
    body = b"".join(parts)
    if not done_blank_line and body.endswith(f"[DONE]{eol}{eol}".encode()):
        body = body[: -len(eol)]
        body = body[: -len(eol)]
    return body


def split_every(data: bytes, n: int) -> list[bytes]:
    return [data[i : i + n] for i in range(0, len(data), n)] or [b""]


# --- the server ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: list[bytes] | bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "text/event-stream"
    chunked: bool = True  # else close-delimited (HTTP/1.0 style) with no Content-Length
    delay: float = 0.0  # between body chunks
    stall_before_headers: float = 0.0  # seconds; stops early when the client hangs up
    stall_after_body: float = 0.0  # keep the connection open, say nothing, then end
    close_without_end: bool = False  # drop the connection with no final chunk


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] = ("", 0)  # the client's address: one port per connection

    def json(self) -> Any:
        return json.loads(self.body)


class StreamServer:
    def __init__(self) -> None:
        self.replies: dict[str, list[Reply]] = defaultdict(list)
        self.requests: list[Seen] = []
        self.hangups: list[float] = []  # monotonic times a client closed while we waited
        self.hangup = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer._handle(self, b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer._handle(self, self.rfile.read(length))

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client hanging up between requests is expected, not a failure

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> StreamServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def queue(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self.replies[path].extend(replies)

    def chat(self, *replies: Reply) -> None:
        self.queue("/v1/chat/completions", *replies)

    def _next(self, path: str) -> Reply:
        with self._lock:
            queue = self.replies.get(path)
            if not queue:
                return Reply(
                    404,
                    b'{"error": {"message": "no route", "type": "not_found"}}',
                    content_type="application/json",
                    chunked=False,
                )
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _wait_or_hangup(self, conn: socket.socket, seconds: float) -> bool:
        """Waits, watching for the client to close. True when it did."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([conn], [], [], min(left, 0.01))
            if ready:
                try:
                    peeked = conn.recv(1, socket.MSG_PEEK)
                except OSError:
                    peeked = b""
                if not peeked:
                    self.hangups.append(time.monotonic())
                    self.hangup.set()
                    return True
                time.sleep(0.005)
        return False

    def _handle(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        path = h.path
        with self._lock:
            self.requests.append(
                Seen(h.command, path, dict(h.headers.items()), body, tuple(h.client_address))
            )
        reply = self._next(path)
        conn = h.connection
        if reply.stall_before_headers and self._wait_or_hangup(conn, reply.stall_before_headers):
            h.close_connection = True
            return
        chunks = [reply.body] if isinstance(reply.body, bytes) else list(reply.body)
        h.send_response(reply.status)
        h.send_header("Content-Type", reply.content_type)
        for k, v in reply.headers.items():
            h.send_header(k, v)
        if reply.chunked:
            h.send_header("Transfer-Encoding", "chunked")
        elif reply.status >= 400 or reply.content_type == "application/json":
            h.send_header("Content-Length", str(sum(len(c) for c in chunks)))
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        try:
            for c in chunks:
                if not c:
                    continue
                if reply.chunked:
                    h.wfile.write(f"{len(c):x}\r\n".encode() + c + b"\r\n")
                else:
                    h.wfile.write(c)
                h.wfile.flush()
                if reply.delay and self._wait_or_hangup(conn, reply.delay):
                    h.close_connection = True
                    return
            if reply.stall_after_body and self._wait_or_hangup(conn, reply.stall_after_body):
                h.close_connection = True
                return
            if reply.close_without_end:
                h.close_connection = True
                conn.shutdown(socket.SHUT_RDWR)
                return
            if reply.chunked:
                h.wfile.write(b"0\r\n\r\n")
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.hangups.append(time.monotonic())
            self.hangup.set()
            h.close_connection = True


def json_reply(obj: Any, status: int = 200, **kw: Any) -> Reply:
    return Reply(
        status, json.dumps(obj).encode(), content_type="application/json", chunked=False, **kw
    )


def stream_reply(
    messages: list[dict[str, Any] | str], *, split: int | None = None, **kw: Any
) -> Reply:
    enc_keys = {"eol", "space", "comments", "done_blank_line"}
    enc = {k: kw.pop(k) for k in list(kw) if k in enc_keys}
    data = encode_stream(messages, **enc)
    return Reply(200, split_every(data, split) if split else [data], **kw)
