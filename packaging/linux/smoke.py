"""Proves a built Linux bundle works, and measures it.

    .venv/bin/python packaging/linux/smoke.py [BUNDLE_DIR] [--runs N] [--compare-venv]

BUNDLE_DIR is the onedir bundle (default: dist/screenscribe, as build.sh leaves it).
In order, each step failing the script (exit 1):

1. ``screenscribe --version`` prints this checkout's version.
2. ``desktop_app.resources`` finds the icons and presets inside the bundle.
3. ``screenscribe ocr --engine local`` reads two of the repository's rendered screenshots
   (``tests/data/ocr``: a single line, the recogniser's fast path, and a code listing, the
   detector) and prints exactly their ground truth: the frozen OCR worker process
   (multiprocessing spawn of the bundle's own binary) loads onnxruntime, OpenCV and the
   PP-OCR models from the bundle.
4. ``screenscribe doctor`` finds Qt in its child process (``[sys.executable, "-c", ...]``,
   which the bundle's entry point serves) and a tray.
5. Cold start to the tray, N times (default 3): a private 1920x1080 Xvfb, ``trayer`` as
   the tray host, fresh HOME, XDG and ScreenScribe folders for each start; the time runs
   from the ``Popen`` of the bundle's binary to the first poll (1 ms) that sees an icon
   embedded in trayer's panel (``bench.bench_launch.XProbe.tray_icons``). "Cold" is a new
   process with no settings; the disk cache is warm (a discarded first start warms it),
   as for a user who has started the program before. With ``--compare-venv`` the
   checkout's ``.venv/bin/screenscribe`` is timed the same way, interleaved. With
   ``--drop-caches`` (root only; it empties the whole machine's page cache, so it slows
   whatever else runs there for a moment) the page cache is dropped before each start:
   every library is read from disk, as at the first start after a boot.
6. The bundle's size (``du``) and the median start time are printed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_launch import TRAYER, XProbe, stop, wait_until  # noqa: E402
from tests.xserver import xvfb  # noqa: E402

OCR_SAMPLES = ("single_line_13px", "code_14px")
TRAY_TIMEOUT_S = 30.0


def fail(message: str) -> None:
    print(f"smoke: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def isolated_env(folder: Path, display: str | None) -> dict[str, str]:
    """The user's environment less anything that would reach their settings, keys or
    session, with HOME and the XDG folders under ``folder``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QT_", "SCREENSCRIBE_", "XDG_", "PYTHON", "WAYLAND_", "DBUS_"))
    }
    env.pop("DISPLAY", None)
    for name in ("home", "config", "data", "cache", "state", "runtime"):
        (folder / name).mkdir(mode=0o700, parents=True, exist_ok=True)
    env.update(
        {
            "HOME": str(folder / "home"),
            "XDG_CONFIG_HOME": str(folder / "config"),
            "XDG_DATA_HOME": str(folder / "data"),
            "XDG_CACHE_HOME": str(folder / "cache"),
            "XDG_STATE_HOME": str(folder / "state"),
            "XDG_RUNTIME_DIR": str(folder / "runtime"),
            "SCREENSCRIBE_SOCKET": str(folder / "runtime" / "app.sock"),
        }
    )
    if display:
        env.update({"DISPLAY": display, "QT_QPA_PLATFORM": "xcb"})
    return env


def run(
    argv: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def check_version(exe: Path, folder: Path) -> None:
    from desktop_app import __version__

    t0 = time.perf_counter()
    out = run([str(exe), "--version"], isolated_env(folder / "version", None))
    ms = (time.perf_counter() - t0) * 1000
    if out.returncode != 0 or out.stdout.strip() != f"screenscribe {__version__}":
        fail(f"--version: exit {out.returncode}, {out.stdout!r} {out.stderr[-500:]!r}")
    print(f"smoke: --version ok ({out.stdout.strip()}, {ms:.0f} ms)")


def check_resources(exe: Path, folder: Path) -> None:
    """desktop_app.resources finds the data files inside the bundle (the spec puts
    resources/ there as desktop_app/resources), not in this checkout."""
    code = "from desktop_app.resources import resources_dir; print(resources_dir())"
    out = run([str(exe), "-c", code], isolated_env(folder / "resources", None))
    found = Path(out.stdout.strip() or "/nonexistent")
    if out.returncode != 0 or exe.parent not in found.parents:
        fail(f"resources: exit {out.returncode}, found {found} {out.stderr[-1000:]!r}")
    print(f"smoke: resources ok ({found.relative_to(exe.parent)})")


def check_ocr(exe: Path, folder: Path) -> None:
    env = isolated_env(folder / "ocr", None)
    for name in OCR_SAMPLES:
        image = ROOT / "tests" / "data" / "ocr" / f"{name}.png"
        truth = (image.with_suffix(".txt")).read_text(encoding="utf-8")
        t0 = time.perf_counter()
        out = run([str(exe), "ocr", "--engine", "local", str(image)], env)
        ms = (time.perf_counter() - t0) * 1000
        if out.returncode != 0:
            fail(f"ocr {image.name}: exit {out.returncode}: {out.stderr[-2000:]}")
        got = [line.rstrip() for line in out.stdout.strip().splitlines()]
        want = [line.rstrip() for line in truth.strip().splitlines()]
        if got != want:
            fail(f"ocr {image.name}: read\n{out.stdout}\nexpected\n{truth}")
        print(f"smoke: ocr --engine local {image.name} ok ({len(want)} lines, {ms:.0f} ms)")


def check_doctor(exe: Path, folder: Path, display: str) -> None:
    out = run([str(exe), "doctor"], isolated_env(folder / "doctor", display))
    text = out.stdout + out.stderr
    if "Qt could not start" in text or "tray" not in text:
        fail(f"doctor: exit {out.returncode}:\n{text[-3000:]}")
    tray = next((line.strip() for line in text.splitlines() if " tray" in line), "")
    print(f"smoke: doctor ok (its Qt probe ran in the bundle: {tray!r})")


def drop_page_cache() -> None:
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def start_to_tray(
    argv: list[str], folder: Path, display: str, probe: XProbe, *, drop_caches: bool = False
) -> float:
    """Milliseconds from the Popen of ``argv`` to its icon in trayer's panel."""
    env = isolated_env(folder, display)
    if drop_caches:
        drop_page_cache()
    with (folder / "app.log").open("ab") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=env,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while True:
                if probe.tray_icons():
                    ms = (time.perf_counter() - t0) * 1000
                    break
                if proc.poll() is not None:
                    fail(
                        f"{argv[0]} exited ({proc.returncode}) before its tray icon: "
                        f"{(folder / 'app.log').read_text(errors='replace')[-3000:]}"
                    )
                if time.perf_counter() - t0 > TRAY_TIMEOUT_S:
                    fail(f"no tray icon {TRAY_TIMEOUT_S:.0f} s after starting {argv[0]}")
                time.sleep(0.001)
        finally:
            stop(proc)
    if not wait_until(lambda: not probe.tray_icons(), 10):
        fail("the tray icon stayed after the app was stopped")
    return ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", nargs="?", type=Path, default=ROOT / "dist" / "screenscribe")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare-venv", action="store_true")
    parser.add_argument("--drop-caches", action="store_true")
    args = parser.parse_args()
    exe = args.bundle.resolve() / "screenscribe"
    if not os.access(exe, os.X_OK):
        fail(f"no bundle at {args.bundle} (build it: packaging/linux/build.sh)")
    if shutil.which("trayer") is None:
        fail("trayer is not installed (apt-get install trayer): it is the tray host")
    folder = Path(tempfile.mkdtemp(prefix="ss-smoke-", dir="/tmp"))
    try:
        check_version(exe, folder)
        check_resources(exe, folder)
        check_ocr(exe, folder)
        programs = {"bundle": [str(exe)]}
        if args.compare_venv:
            programs["venv"] = [str(ROOT / ".venv" / "bin" / "screenscribe")]
        times: dict[str, list[float]] = {name: [] for name in programs}
        with xvfb(1920, 1080) as server:
            probe = XProbe(server.display)
            tray_env = isolated_env(folder / "trayer", server.display)
            with (folder / "trayer.log").open("ab") as log:
                tray = subprocess.Popen(
                    TRAYER,
                    env=tray_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                if not wait_until(probe.tray_owner, 10):
                    fail("trayer did not take the system tray selection")
                check_doctor(exe, folder, server.display)
                for name, argv in programs.items():  # warm-up, discarded
                    start_to_tray(argv, folder / f"warm-{name}", server.display, probe)
                for i in range(args.runs):
                    for name, argv in programs.items():
                        ms = start_to_tray(
                            argv,
                            folder / f"{name}-{i}",
                            server.display,
                            probe,
                            drop_caches=args.drop_caches,
                        )
                        times[name].append(ms)
                        print(f"smoke: {name} start {i + 1}: tray icon after {ms:.0f} ms")
            finally:
                stop(tray)
                probe.close()
        size = subprocess.run(
            ["du", "-sm", str(args.bundle)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        print(f"smoke: bundle {args.bundle} is {size} MB (du -sm)")
        cache = "cold (page cache dropped)" if args.drop_caches else "new-process"
        for name, values in times.items():
            print(
                f"smoke: {name}: {cache} start to tray icon, "
                f"median {statistics.median(values):.0f} ms "
                f"(min {min(values):.0f}, max {max(values):.0f}, n={len(values)}; "
                f"load average {os.getloadavg()[0]:.2f})"
            )
        print("smoke: ok")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
