"""Benchmark the way from a selection to the request body, and core.imaging.prepare_image.

Run: ``.venv/bin/python bench/bench_imaging.py [--runs N] [--quick] [--json PATH]``;
``--smoke``: the 1920x1080 screen only, one run (it works; no measurement).

First table (issue 7's target): what the app does between the user letting go of the mouse
and the request going out, on synthetic UI screenshots of a 1920x1080 and a 3840x2160
screen, all of it selected: ``ScreenPicture.crop_bgra`` (the frozen QImage) +
``image_from_bgra``, ``prepare_image`` (size to the token budget, PNG), the data URL and
the JSON body ``EndpointClient.stream_chat`` sends. The peer is the recipe of Qwen's and
OpenAI's examples on the same pixels (a PIL image already in RGB, its conversion not
counted): ``crop``, ``resize`` to the same size with Pillow's default filter (as
qwen-vl-utils does), ``save(PNG)`` with Pillow's defaults (zlib level 6), base64, the same
body. Also printed: the body's size (what goes over the wire).

Second table: load a screenshot file from PNG bytes, size it to the token budget,
encode it as PNG and build the base64 data URL. A third splits that time by phase and
times the capture path (a PIL image in memory: no PNG decode).
"""

from __future__ import annotations

import argparse
import base64
import io
import json
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

from PySide6.QtGui import QImage

from bench.common import Figure, add_smoke_flag, write_figures
from desktop_app.capture.base import ScreenPicture
from desktop_app.core.endpoint import build_chat_body
from desktop_app.core.imaging import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MIN_TOKENS,
    PNG_COMPRESS_LEVEL,
    encode_png,
    image_from_bgra,
    load_image,
    prepare_image,
    smart_resize,
)
from desktop_app.core.models import ChatRequest
from desktop_app.core.prompts import PRESETS

BENCH = "bench_imaging"
TARGETS_MS = {(1920, 1080): 40.0, (3840, 2160): 120.0}
MODEL = "Qwen/Qwen3-VL-8B-Instruct"
PEER = "Qwen example recipe (Pillow resize, PNG level 6)"
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


def screen_picture(screenshot: Image.Image) -> ScreenPicture:
    """The frozen picture of a screen showing ``screenshot`` (``Format_RGB32``, as captured)."""
    width, height = screenshot.size
    bgra = screenshot.convert("RGBA").tobytes("raw", "BGRA")
    image = QImage(bgra, width, height, width * 4, QImage.Format.Format_RGB32).copy()
    return ScreenPicture("bench", (0, 0, width, height), 1.0, image)


def ours_to_body(picture: ScreenPicture, rect: tuple[int, int, int, int]) -> bytes:
    """The app's way from a selection to the bytes it sends (app._on_overlay_region_selected,
    app._prepare for an endpoint with the default budget, EndpointClient.stream_chat)."""
    data, w, h, stride = picture.crop_bgra(*rect)
    prepared = prepare_image(
        image_from_bgra(data, w, h, stride),
        min_tokens=DEFAULT_MIN_TOKENS,
        max_tokens=DEFAULT_MAX_TOKENS,
        fit=True,
    )
    request = ChatRequest(model=MODEL, prompt=PRESETS["ocr"].prompt, image=prepared)
    return json.dumps(build_chat_body(request), ensure_ascii=False).encode("utf-8")


def peer_to_body(screen: Image.Image, rect: tuple[int, int, int, int]) -> bytes:
    """The recipe of the model's and the API's examples, on the same pixels and budget."""
    x, y, w, h = rect
    size = smart_resize(w, h)
    image = screen.crop((x, y, x + w, y + h)).resize(size)  # qwen-vl-utils: default filter
    buf = io.BytesIO()
    image.save(buf, format="PNG")  # Pillow's defaults
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    body = {
        "model": MODEL,
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": PRESETS["ocr"].prompt},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
        "stream": True,
    }
    return json.dumps(body).encode("utf-8")


def bench_selection(screenshot: Image.Image, target: float, runs: int) -> tuple[str, list[Figure]]:
    """One row of the selection table and its figures (time, body size) for a screen."""
    width, height = screenshot.size
    picture = screen_picture(screenshot)
    rect = (0, 0, width, height)
    body = ours_to_body(picture, rect)
    peer_body = peer_to_body(screenshot, rect)
    med, low = timed(lambda: ours_to_body(picture, rect), runs)
    peer_med, _ = timed(lambda: peer_to_body(screenshot, rect), runs)
    sent = "x".join(map(str, smart_resize(width, height)))
    row = (
        f"{width:>5}x{height:<5}  {sent:>11}  {med:>9.1f}  {low:>7.1f}  "
        f"{'<= ' + format(target, '.0f'):>8}  {'yes' if med <= target else 'NO':>3}  "
        f"{len(body):>10,}  {peer_med:>9.1f}  {len(peer_body):>10,}"
    )
    region = f"{width}x{height} region"
    figures = [
        Figure(
            BENCH,
            f"selection to request body, {region} (crop, size, encode, serialise)",
            med,
            "ms",
            "lower",
            target=target,
            peer=PEER,
            peer_value=peer_med,
            note=f"sent as {sent}; min {low:.1f} ms; median of {runs} runs",
        ),
        Figure(
            BENCH,
            f"request body, {region}",
            len(body) / 1024,
            "KiB",
            "lower",
            peer=PEER,
            peer_value=len(peer_body) / 1024,
            note=f"{len(body):,} bytes vs {len(peer_body):,} (PNG level {PNG_COMPRESS_LEVEL} vs 6)",
        ),
    ]
    return row, figures


def bench_size(screenshot: Image.Image, target: float, runs: int) -> tuple[str, str]:
    """One row of the main table and one line of the phase split for a screenshot size."""
    width, height = screenshot.size
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

    def pillow_encode() -> bytes:
        out = io.BytesIO()
        resized.save(out, "PNG", compress_level=PNG_COMPRESS_LEVEL)
        return out.getvalue()

    png = encode_png(resized)
    parts = {
        "decode": timed(lambda: load_image(source), runs)[0],
        "resize": timed(lambda: loaded.resize(size, Image.Resampling.LANCZOS), runs)[0],
        "encode": timed(lambda: encode_png(resized), runs)[0],
        "(Pillow's PNG encoder)": timed(pillow_encode, runs)[0],
        "base64": timed(lambda: base64.b64encode(png), runs)[0],
        "PIL-image path": timed(lambda: prepare_image(screenshot).data_url, runs)[0],
    }
    phase = f"{width:>5}x{height:<5}  " + "  ".join(f"{k} {v:.1f}" for k, v in parts.items())
    return row, phase


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark prepare_image.")
    parser.add_argument("--runs", type=int, help="runs of each (default 15; --quick: 5)")
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--json", metavar="PATH", help="write the figures there (bench.common)")
    add_smoke_flag(parser)
    args = parser.parse_args()
    runs: int = args.runs or (1 if args.smoke else 5 if args.quick else 15)
    targets = dict(list(TARGETS_MS.items())[:1]) if args.smoke else TARGETS_MS
    print(
        f"Python {platform.python_version()}, Pillow {PIL.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, {runs} runs each, PNG compress_level={PNG_COMPRESS_LEVEL}"
    )
    screenshots = {size: synthetic_screenshot(*size) for size in targets}
    header = (
        f"{'region':>11}  {'sent':>11}  {'median ms':>9}  {'min ms':>7}  {'target':>8}  "
        f"{'met':>3}  {'body B':>10}  {'peer ms':>9}  {'peer body B':>10}"
    )
    print("\nselection to request body: crop_bgra, prepare_image, data URL, JSON body")
    print(f"peer: {PEER}")
    print(header)
    print("-" * len(header))
    figures: list[Figure] = []
    for size, target in targets.items():
        row, got = bench_selection(screenshots[size], target, runs)
        print(row)
        figures += got
    header = (
        f"{'source':>11}  {'sent':>11}  {'median ms':>9}  {'min ms':>7}  {'target':>8}  "
        f"{'met':>3}  {'data URL B':>10}  {'tokens':>6}"
    )
    print("\nprepare_image(PNG bytes) + data_url")
    print(header)
    print("-" * len(header))
    phases: list[str] = []
    for size, target in targets.items():
        row, phase = bench_size(screenshots[size], target, runs)
        print(row)
        phases.append(phase)
    print("\nmedian ms by phase; 'PIL-image path' = prepare_image(Image) + data_url (no decode)")
    for line in phases:
        print(line)
    write_figures(figures, args.json, smoke=args.smoke)


if __name__ == "__main__":
    main()
