"""Single instance: the running app listens on a per-user, per-display local socket; a
second ``screenscribe capture`` hands its command over and exits.

This module is on the hotkey's critical path, so it imports only the standard library
(no Qt, nothing else of the app): connecting and handing over a command costs well under
a millisecond, and the whole ``screenscribe capture`` process a few tens of ms.

Wire format: one line of JSON, ``{"argv": [...]}``, answered by one line, ``ok`` or
``error: <message>``. The app side is a ``QLocalServer`` listening on ``server_name()``.
"""

from __future__ import annotations

import json
import os
import socket
import sys

FORWARDED_COMMANDS = ("capture", "clipboard", "show", "quit")  # what the running app takes
ENV_OVERRIDE = "SCREENSCRIBE_SOCKET"
TIMEOUT_S = 3.0


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in text)


def _user() -> str:
    if hasattr(os, "getuid"):
        return str(os.getuid())
    return _safe(os.environ.get("USERNAME", "user"))


def server_name() -> str:
    """What the app's ``QLocalServer`` listens on: a socket path on Unix (in
    ``$XDG_RUNTIME_DIR``, private to the user), a pipe name on Windows. One per user and
    per display, so two sessions of one user do not talk to each other."""
    override = os.environ.get(ENV_OVERRIDE)
    if override:
        return override
    display = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY") or "default"
    tag = _safe(display)
    if sys.platform == "win32":
        return f"screenscribe-{_user()}-{os.environ.get('SESSIONNAME', tag)}"
    # (not tempfile.gettempdir(): importing tempfile costs more than the whole hand-over)
    base = os.environ.get("XDG_RUNTIME_DIR") or os.environ.get("TMPDIR") or "/tmp"  # noqa: S108
    return os.path.join(base, f"screenscribe-{_user()}-{tag}.sock")


class ForwardError(Exception):
    """The running app answered, but refused the command (its message is the text)."""


def forward(argv: list[str], timeout: float = TIMEOUT_S) -> bool:
    """Hands ``argv`` to a running app. False when none is running; raises
    ``ForwardError`` when it answered with an error."""
    payload = (json.dumps({"argv": argv}) + "\n").encode("utf-8")
    name = server_name()
    try:
        if sys.platform == "win32":
            return _answer(_forward_pipe(rf"\\.\pipe\{name}", payload))
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(name)
            sock.sendall(payload)
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except (FileNotFoundError, ConnectionRefusedError):
        return False  # no app running (or a stale socket file it will clean up)
    except OSError:
        return False
    return _answer(reply)


def _forward_pipe(path: str, payload: bytes) -> bytes:  # pragma: no cover - Windows only
    with open(path, "r+b", buffering=0) as pipe:
        pipe.write(payload)
        return pipe.readline()


def _answer(reply: bytes) -> bool:
    text = reply.decode("utf-8", "replace").strip()
    if text == "ok":
        return True
    if text.startswith("error:"):
        raise ForwardError(text[len("error:") :].strip())
    return False  # the peer hung up without answering: treat as not running
