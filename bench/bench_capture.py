"""Benchmark screen capture on X servers of its own (Xvfb via tests/xserver.py).

Run: ``.venv/bin/python bench/bench_capture.py [--runs N] [--quick] [--json PATH]``.
For each layout (one 1920x1080 screen; the two-monitor mixed-DPI layout of TESTING.md)
it prints medians of: ``Capturer()`` + ``warm()`` in a fresh process (import mss, load
libxcb, connect, prime the shared memory) and the first ``capture()`` after it (and
without ``warm()``), then in one process ``capture()`` again and again with mss, with the
Qt backend, the two mss strategies (one grab of the bounding box cut per screen, against
one grab per monitor) and ``crop_bgra`` + ``core.imaging.image_from_bgra`` of an 800x600
region; and, the figure for ``python -m bench``, capture to first paint: ``capture()``
(mss, warm), the region overlay made of the pictures and shown, until every overlay
window has finished its first ``paintEvent`` (in the process, as the app does it; the
pixels reaching the X server are bench_launch's business). Qt runs in subprocesses (one
QApplication per process, bound to its display). ``--quick``: 10 runs, 3 cold ones;
``--smoke``: 1 run, 1 cold one, each layout (it works; no measurement); ``--json PATH``
writes the figures there (bench.common).
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

from bench.common import Figure, add_smoke_flag, write_figures  # noqa: E402
from tests.xserver import TWO_MONITORS, Monitor, xvfb  # noqa: E402

BENCH = "bench_capture"

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


def paint_worker(runs: int) -> None:
    """Capture to the overlay's first paint, ``runs`` times after one warm-up; prints
    the medians as JSON."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop_app.capture import Capturer
    from desktop_app.ui import overlay as overlay_module

    app = QApplication([])
    painted: dict[int, float] = {}
    loop = QEventLoop()
    expected = 0
    original = overlay_module.OverlayWindow.paintEvent

    def paint_event(self: overlay_module.OverlayWindow, event: object) -> None:
        original(self, event)  # type: ignore[arg-type]
        painted.setdefault(id(self), time.perf_counter())
        if len(painted) >= expected:
            loop.quit()

    overlay_module.OverlayWindow.paintEvent = paint_event  # type: ignore[method-assign]
    capturer = Capturer()
    capturer.warm()
    captures, paints = [], []
    for _ in range(runs + 1):
        painted.clear()
        start = time.perf_counter()
        pictures = capturer.capture()
        captured = time.perf_counter()
        expected = len(pictures)
        overlay = overlay_module.RegionOverlay(pictures)
        overlay.show()
        QTimer.singleShot(5000, loop.quit)
        loop.exec()
        if len(painted) < expected:
            raise SystemExit("the overlay was not painted within 5 s")
        captures.append((captured - start) * 1000)
        paints.append((max(painted.values()) - start) * 1000)
        overlay.finish(None)
        app.processEvents()
        time.sleep(0.05)
    capturer.close()
    del app
    print(
        json.dumps(
            {
                "capture": statistics.median(captures[1:]),
                "paint": statistics.median(paints[1:]),
                "windows": expected,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, help="runs in one process (default 30; --quick: 10)")
    parser.add_argument("--cold-runs", type=int, help="fresh processes (default 7; --quick: 3)")
    parser.add_argument("--quick", action="store_true", help="10 runs, 3 cold ones")
    parser.add_argument("--json", metavar="PATH", help="write the figures there (bench.common)")
    add_smoke_flag(parser)
    parser.add_argument(
        "--worker", choices=["hot", "cold", "cold-nowarm", "paint"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    args.runs = args.runs or (1 if args.smoke else 10 if args.quick else 30)
    args.cold_runs = args.cold_runs or (1 if args.smoke else 3 if args.quick else 7)
    if args.worker == "hot":
        worker(args.runs)
        return
    if args.worker == "paint":
        paint_worker(args.runs)
        return
    if args.worker:
        cold_worker(warm=args.worker == "cold")
        return
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, Xvfb; median of {args.runs} "
        f"in one process, of {args.cold_runs} fresh processes for the cold figures"
    )
    figures: list[Figure] = []
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
            paint = json.loads(run("paint"))
            label = "capture() -> the overlay's first paint"
            print(f"  {label:<44} {paint['paint']:8.2f} ms", flush=True)
            figures.append(
                Figure(
                    BENCH,
                    f"capture -> overlay first paint, {title}",
                    round(paint["paint"], 1),
                    "ms",
                    note=f"median of {args.runs} in one process, capturer warm, Xvfb; "
                    f"capture() alone {paint['capture']:.1f} ms; to the end of the first "
                    f"paintEvent of every overlay window ({paint['windows']})",
                )
            )
    write_figures(figures, args.json, smoke=args.smoke)


if __name__ == "__main__":
    main()
