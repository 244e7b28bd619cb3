"""Benchmark screen capture on X servers of its own (Xvfb via tests/xserver.py).

Run: ``.venv/bin/python bench/bench_capture.py [--runs N]``. For each layout (one
1920x1080 screen; the two-monitor mixed-DPI layout of TESTING.md) it prints medians of:
``Capturer()`` + ``warm()`` in a fresh process (import mss, load libxcb, connect, prime
the shared memory) and the first ``capture()`` after it (and without ``warm()``), then in
one process ``capture()`` again and again with mss, with the Qt backend, the two mss
strategies (one grab of the bounding box cut per screen, against one grab per monitor)
and ``crop_bgra`` + ``core.imaging.image_from_bgra`` of an 800x600 region. Qt runs in
subprocesses (one QGuiApplication per process, bound to its display).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.xserver import TWO_MONITORS, Monitor, xvfb  # noqa: E402

LAYOUTS: dict[str, tuple[int, int, tuple[Monitor, ...], str | None]] = {
    "one screen 1920x1080": (1920, 1080, (), None),
    "LEFT 1920x1080 @1 + RIGHT 1280x1080 @2": (3200, 1080, TWO_MONITORS, "LEFT=1;RIGHT=2"),
}


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def cold_worker(warm: bool) -> None:
    """One sample in a fresh process: what the app pays at start-up and on its first capture."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication([])
    assert app.screens()
    from desktop_app.capture import Capturer

    start = time.perf_counter()
    capturer = Capturer()
    if warm:
        capturer.warm()
    made = time.perf_counter()
    capturer.capture()
    done = time.perf_counter()
    print(json.dumps({"warm": (made - start) * 1000, "first": (done - made) * 1000}))


def worker(runs: int) -> None:
    from PySide6.QtGui import QGuiApplication

    from desktop_app.capture import Capturer, MssBackend
    from desktop_app.core.imaging import image_from_bgra

    app = QGuiApplication([])
    screens = app.screens()
    rows: list[tuple[str, float]] = []

    capturer = Capturer()
    capturer.warm()
    pictures = capturer.capture()
    assert capturer.backend_name == "mss"
    rows.append(("capture(), mss warm, again and again", median_ms(capturer.capture, runs)))

    qt = Capturer("qt")
    rows.append(("capture(), Qt backend", median_ms(qt.capture, runs)))

    strategies: tuple[tuple[Literal["virtual", "monitors"], str], ...] = (
        ("virtual", "one grab, cut per screen"),
        ("monitors", "one grab per monitor"),
    )
    for strategy, label in strategies:
        backend = MssBackend(strategy=strategy)
        backend.warm()

        def grab(backend: MssBackend = backend) -> object:
            return backend.capture(screens)

        rows.append((f"  mss backend: {label}", median_ms(grab, runs)))
        backend.close()

    picture = pictures[0]

    def crop() -> None:
        image_from_bgra(*picture.crop_bgra(300, 200, 800, 600))

    rows.append(("crop_bgra + image_from_bgra 800x600", median_ms(crop, runs)))
    capturer.close()
    for label, ms in rows:
        print(f"  {label:<44} {ms:8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cold-runs", type=int, default=7)
    parser.add_argument("--worker", choices=["hot", "cold", "cold-nowarm"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "hot":
        worker(args.runs)
        return
    if args.worker:
        cold_worker(warm=args.worker == "cold")
        return
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, Xvfb; median of {args.runs} "
        f"in one process, of {args.cold_runs} fresh processes for the cold figures"
    )
    for title, (width, height, monitors, factors) in LAYOUTS.items():
        print(f"{title} (X screen {width}x{height}):", flush=True)
        with xvfb(width, height, monitors=monitors) as server:
            env = {k: v for k, v in os.environ.items() if not k.startswith("QT_")}
            env.pop("WAYLAND_DISPLAY", None)
            env.update(server.env)
            if factors:
                env["QT_SCREEN_SCALE_FACTORS"] = factors

            def run(kind: str, env: dict[str, str] = env) -> str:
                cmd = [sys.executable, __file__, "--worker", kind, "--runs", str(args.runs)]
                return subprocess.run(
                    cmd, env=env, check=True, capture_output=True, text=True
                ).stdout

            for kind, label in (("cold", "warm()"), ("cold-nowarm", "no warm()")):
                samples = [json.loads(run(kind)) for _ in range(args.cold_runs)]
                warm_ms = statistics.median(s["warm"] for s in samples)
                first_ms = statistics.median(s["first"] for s in samples)
                if kind == "cold":
                    print(
                        f"  {'Capturer() + warm(), cold (import, connect)':<44} {warm_ms:8.2f} ms"
                    )
                print(f"  {'first capture() in the process, ' + label:<44} {first_ms:8.2f} ms")
            print(run("hot"), end="", flush=True)


if __name__ == "__main__":
    main()
