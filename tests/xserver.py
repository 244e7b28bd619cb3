"""Private X servers for tests that need a screen layout of their own.

pytest-xvfb gives the whole run one 1920x1080 display; a test that needs other monitors
starts its own Xvfb here and runs Qt in a subprocess (one QGuiApplication per process)::

    with xvfb(3200, 1080, monitors=TWO_MONITORS) as server:
        proc = run_qt_script(server.display, CODE, scale_factors="LEFT=1;RIGHT=2")
        result = qt_json(proc)

or, as a fixture: ``two_monitors = xserver_fixture(3200, 1080, monitors=TWO_MONITORS)``.

Xvfb picks a free display number itself and reports it once it accepts clients
(``-displayfd``): no guessing of numbers, no race with a parallel run, no polling.
Monitors are RandR 1.5 monitors (``xrandr --setmonitor``): both Qt and mss see them.
``-noreset`` keeps them when the last client disconnects. A monitor may even start at a
negative x (``+-1280+0``): Qt and mss list it, but the X screen has no pixels there.
"""

from __future__ import annotations

import json
import os
import random
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Monitor:
    """A RandR monitor: ``xrandr --setmonitor NAME W/MMxH/MM+X+Y OUTPUT``."""

    name: str
    width: int
    height: int
    x: int = 0
    y: int = 0
    width_mm: int = 508
    height_mm: int = 286
    output: str = "none"  # "screen" is Xvfb's one real output

    @property
    def geometry(self) -> str:
        return f"{self.width}/{self.width_mm}x{self.height}/{self.height_mm}+{self.x}+{self.y}"


#: The layout of TESTING.md: on a 3200x1080 screen, LEFT 1920x1080 at 0,0 and RIGHT
#: 1280x1080 at 1920,0.
TWO_MONITORS = (
    Monitor("LEFT", 1920, 1080, 0, 0, 508, 286, "screen"),
    Monitor("RIGHT", 1280, 1080, 1920, 0, 338, 286, "none"),
)


@dataclass(frozen=True)
class XServer:
    display: str  # ":N"
    width: int
    height: int
    monitors: tuple[Monitor, ...]
    process: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        """Variables that point a client at this server (Qt on xcb, not Wayland)."""
        return {"DISPLAY": self.display, "QT_QPA_PLATFORM": "xcb"}


def _read_display(fd: int, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"Xvfb did not accept clients within {timeout} s.")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:  # Xvfb exited
                break
            data += chunk
    if not data.strip():
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"Xvfb failed to start: {err.strip()[-500:]}")
    return f":{int(data)}"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr:
        proc.stderr.close()


@contextmanager
def xvfb(
    width: int = 1920,
    height: int = 1080,
    *,
    monitors: Sequence[Monitor] = (),
    depth: int = 24,
    timeout: float = 10.0,
) -> Iterator[XServer]:
    """A fresh ``Xvfb :N -screen 0 WxHxD -nolisten tcp -noreset`` with ``monitors``
    applied; stopped on exit."""
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_fd),
                "-screen",
                "0",
                f"{width}x{height}x{depth}",
                "-nolisten",
                "tcp",
                "-noreset",
            ],
            pass_fds=(write_fd,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        os.close(write_fd)
        write_fd = -1
        try:
            display = _read_display(read_fd, proc, timeout)
            env = {**os.environ, "DISPLAY": display}
            for mon in monitors:
                subprocess.run(
                    ["xrandr", "--setmonitor", mon.name, mon.geometry, mon.output],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=timeout,
                )
            yield XServer(display, width, height, tuple(monitors), proc)
        finally:
            _stop(proc)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def xserver_fixture(
    width: int = 1920,
    height: int = 1080,
    *,
    monitors: Sequence[Monitor] = (),
    scope: Literal["session", "package", "module", "class", "function"] = "module",
) -> Any:
    """A pytest fixture yielding an ``XServer``: ``name = xserver_fixture(...)`` in a module."""

    @pytest.fixture(scope=scope)
    def _fixture() -> Iterator[XServer]:
        with xvfb(width, height, monitors=monitors) as server:
            yield server

    return _fixture


# Runs before the snippet: Qt warnings go to stderr with a marker that qt_json() rejects.
_PRELUDE = """\
from PySide6.QtCore import QtMsgType as _T, qInstallMessageHandler as _install
import sys as _sys
def _qt_message(kind, context, message):
    if kind != _T.QtDebugMsg and kind != _T.QtInfoMsg:
        _sys.stderr.write(f"QT-WARNING {kind.name}: {message}\\n")
_install(_qt_message)
"""


def run_qt_script(
    display: str,
    code: str,
    *,
    env: Mapping[str, str | None] | None = None,
    scale_factors: str | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet under Qt's xcb platform on ``display``, with the repository on
    ``sys.path``. ``env`` adds variables (None removes one); WAYLAND_DISPLAY is removed
    unless given. ``scale_factors`` sets QT_SCREEN_SCALE_FACTORS ("LEFT=1;RIGHT=2")."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
    full.pop("WAYLAND_DISPLAY", None)
    full.update(
        {
            "DISPLAY": display,
            "QT_QPA_PLATFORM": "xcb",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), full.get("PYTHONPATH")])),
        }
    )
    if scale_factors is not None:
        full["QT_SCREEN_SCALE_FACTORS"] = scale_factors
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run(
        [sys.executable, "-c", _PRELUDE + code],
        env=full,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def qt_json(proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON the snippet printed last; fails loudly on a crash or any Qt warning."""
    detail = f"rc={proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, detail
    assert "QT-WARNING" not in proc.stderr, detail
    lines = proc.stdout.strip().splitlines()
    assert lines, detail
    return json.loads(lines[-1])


def block_pattern(width: int, height: int, seed: int = 1, block: int = 8) -> Image.Image:
    """A known picture for real-pixel tests: seeded random colours in ``block`` x ``block``
    squares (any offset, scaling or channel swap changes many pixels)."""
    from PIL import Image

    rnd = random.Random(seed)
    cols, rows = -(-width // block), -(-height // block)
    small = Image.frombytes("RGB", (cols, rows), rnd.randbytes(cols * rows * 3))
    big = small.resize((cols * block, rows * block), Image.Resampling.NEAREST)
    return big.crop((0, 0, width, height))


__all__ = [
    "TWO_MONITORS",
    "Monitor",
    "XServer",
    "block_pattern",
    "qt_json",
    "run_qt_script",
    "xserver_fixture",
    "xvfb",
]
