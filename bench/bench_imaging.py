"""Benchmark core.imaging.prepare_image on synthetic UI screenshots.

Run: ``.venv/bin/python bench/bench_imaging.py [--runs N]``. The timed work is what the app
does for a screenshot file: load it from PNG bytes, size it to the token budget (LANCZOS),
encode it as PNG and build the base64 data URL. A second table splits that time by phase and
times the capture path (a PIL image in memory: no PNG decode).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import PIL
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.imaging import PNG_COMPRESS_LEVEL, load_image, prepare_image, smart_resize

TARGETS_MS = {(1920, 1080): 40.0, (3840, 2160): 120.0}
TEXT = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua Invoice total 1,234.56 EUR def return "
    "self.value == None # TODO: fix layout.py Settings Preferences Window Help"
)
WORDS = TEXT.split()


def synthetic_screenshot(width: int, height: int, seed: int = 1) -> Image.Image:
    """A UI-like picture: title-bar gradient, dark sidebar, text lines, panels, buttons."""
    rnd = random.Random(seed)
    scale = height / 1080
    im = Image.new("RGB", (width, height), (245, 246, 248))
    draw = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=max(10, int(14 * scale)))
    heading = ImageFont.load_default(size=max(12, int(22 * scale)))
    line_h = int(22 * scale)

    def words(n: int) -> str:
        return " ".join(rnd.choice(WORDS) for _ in range(n))

    bar = int(40 * scale)
    for y in range(bar):  # title bar gradient
        c = 60 + y * 60 // bar
        draw.line([(0, y), (width, y)], fill=(c, c + 10, c + 30))
    draw.text((int(12 * scale), int(10 * scale)), "ScreenScribe - report.md", "white", font)
    side = int(280 * scale)
    draw.rectangle([0, bar, side, height], fill=(33, 37, 43))  # dark sidebar
    y = bar + 10
    while y < height - line_h:
        draw.text((int(16 * scale), y), words(3), fill=(200, 200, 200), font=font)
        y += line_h
    x0 = side + int(20 * scale)
    y = bar + int(20 * scale)
    while y < height - 3 * line_h:
        roll = rnd.random()
        if roll < 0.12:
            draw.text((x0, y), words(5).title(), fill=(20, 20, 20), font=heading)
            y += int(line_h * 1.6)
        elif roll < 0.2:
            panel_h = int(rnd.randint(60, 160) * scale)
            panel_w = int(rnd.randint(200, 600) * scale)
            for i in range(panel_h):  # gradient panel (a chart or picture)
                c = 180 - i * 100 // panel_h
                draw.line([(x0, y + i), (x0 + panel_w, y + i)], fill=(c, 120, 255 - c))
            bx = x0 + panel_w + int(20 * scale)
            button = [bx, y, bx + int(200 * scale), y + int(40 * scale)]
            draw.rounded_rectangle(button, radius=6, fill=(0, 120, 212))
            draw.text((bx + int(20 * scale), y + int(10 * scale)), "Submit", "white", font)
            y += panel_h + line_h
        else:
            line = words(rnd.randint(6, 18))
            draw.text((x0, y), line, fill=(30, 30, 30), font=font)
            draw.text((x0 + (width - x0) // 2 + 20, y), line[::-1], fill=(90, 90, 120), font=font)
            y += line_h
    return im


def timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """(median, min) milliseconds of ``fn`` over ``runs`` calls, after one warm-up call."""
    fn()
    times: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), min(times)


def bench_size(width: int, height: int, target: float, runs: int) -> tuple[str, str]:
    """One row of the main table and one line of the phase split for a screenshot size."""
    screenshot = synthetic_screenshot(width, height)
    buf = io.BytesIO()
    screenshot.save(buf, "PNG")
    source = buf.getvalue()
    prepared = prepare_image(source)
    med, low = timed(lambda: prepare_image(source).data_url, runs)
    met = "yes" if med <= target else "NO"
    row = (
        f"{width:>5}x{height:<5}  {prepared.width:>5}x{prepared.height:<5}  {med:>9.1f}  "
        f"{low:>7.1f}  {'<= ' + format(target, '.0f'):>8}  {met:>3}  "
        f"{len(prepared.data_url):>10,}  {prepared.tokens:>6}"
    )
    loaded = load_image(source)
    size = smart_resize(width, height)
    resized = loaded.resize(size, Image.Resampling.LANCZOS)

    def encode() -> bytes:
        out = io.BytesIO()
        resized.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
        return out.getvalue()

    png = encode()
    parts = {
        "decode": timed(lambda: load_image(source), runs)[0],
        "resize": timed(lambda: loaded.resize(size, Image.Resampling.LANCZOS), runs)[0],
        "encode": timed(encode, runs)[0],
        "base64": timed(lambda: base64.b64encode(png), runs)[0],
        "PIL-image path": timed(lambda: prepare_image(screenshot).data_url, runs)[0],
    }
    phase = f"{width:>5}x{height:<5}  " + "  ".join(f"{k} {v:.1f}" for k, v in parts.items())
    return row, phase


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark prepare_image.")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    runs: int = args.runs
    print(
        f"Python {platform.python_version()}, Pillow {PIL.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {runs} runs each, PNG compress_level={PNG_COMPRESS_LEVEL}"
    )
    header = (
        f"{'source':>11}  {'sent':>11}  {'median ms':>9}  {'min ms':>7}  {'target':>8}  "
        f"{'met':>3}  {'data URL B':>10}  {'tokens':>6}"
    )
    print("\nprepare_image(PNG bytes) + data_url")
    print(header)
    print("-" * len(header))
    phases: list[str] = []
    for (width, height), target in TARGETS_MS.items():
        row, phase = bench_size(width, height, target, runs)
        print(row)
        phases.append(phase)
    print("\nmedian ms by phase; 'PIL-image path' = prepare_image(Image) + data_url (no decode)")
    for line in phases:
        print(line)


if __name__ == "__main__":
    main()
