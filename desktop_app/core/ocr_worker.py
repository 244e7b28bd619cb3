"""The offline OCR model, run in a worker process of its own (see ``core.local_ocr``).

Only the standard library is imported at module level: numpy, OpenCV, onnxruntime and
rapidocr are imported by ``main`` in the worker, so that the parent process never loads
them (nor holds their memory: a peak of about 500 MB for a 1280x800 page, 1 GB for 4K).
The parent talks to ``main`` over a ``multiprocessing`` pipe with plain tuples:

parent -> worker
    ``("load",)``                         load the models now (``warm()``)
    ``("ocr", job, width, height, rgb)``  read a picture given as raw RGB bytes
    ``("cancel", job)``                   stop that job between two lines
    ``("quit",)``                         exit

worker -> parent
    ``("ready", load_ms)``                             models loaded
    ``("unavailable", message)``                       rapidocr or onnxruntime missing: exits
    ``("progress", job, message)``                     for a person to read
    ``("result", job, lines, stats)``                  lines: (x0, y0, x1, y1, text, score)
    ``("cancelled", job)``
    ``("error", job, message)``                        the job failed; the worker goes on

How a picture is read: when it holds a single line of text (one band of ink rows, found
from a row profile in a millisecond), that band goes straight to the recogniser; the
detector (most of the time on a small crop) is skipped. Otherwise the detector finds the
text boxes and each is recognised on its own, which gives progress and a cancel point
per line. Each crop is padded vertically so that the box fills ``REC_TEXT_HEIGHT`` of
the recogniser's 48 pixel high input: a little smaller than rapidocr's default (48 of 48),
as accurate on screen text and a sixth faster (the recogniser's time grows with the width
of its input). Crops are not padded to rapidocr's minimum width of 320 either: a table
cell of 60 pixels would cost as much as a line of 320. The text-direction classifier is never
used (on screenshots it turned whole lines upside down); rapidocr 3.10 keeps flags given
to one call for later calls, so every call names all three.
"""

from __future__ import annotations

import importlib
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Pixels = npt.NDArray[np.uint8]

__all__ = ["REC_TEXT_HEIGHT", "WorkerConfig", "find_single_line", "main"]

REC_TEXT_HEIGHT = 40
"""Pixels of the recogniser's 48 px input that a text box fills (rapidocr's own: 48)."""
REC_INPUT_HEIGHT = 48
DET_MAX_SIDE = 2400
"""Larger pictures are shrunk for detection only; the crops come from the full picture."""
INK_DELTA = 48
"""Grey levels from the background colour that count as ink (single-line check)."""
MIN_BAND_SHARE = 0.08
"""Rows with less ink than this share of the inkiest row do not count as text rows."""

QUAD_STRETCH = 0.25
"""Detector boxes are lengthened by this share of their height at each end."""
FAST_PATH_MIN_SCORE = 0.8
"""A single-line read less sure than this is done again with the detector."""

Line = tuple[float, float, float, float, str, float]


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    threads: int | None = None  # onnxruntime intra-op threads; None: one per core
    text_score: float = 0.5  # lines the recogniser is less sure of are dropped
    single_line: bool = True  # allow the recogniser-only fast path


# --- single-line check ------------------------------------------------------------------


def find_single_line(rgb: Pixels) -> list[tuple[int, int, int, int]] | None:
    """Boxes ``(left, top, right, bottom)`` of the text when ``rgb`` holds one line of it.

    The background is the most common grey level. A row is a text row when it has at
    least ``MIN_BAND_SHARE`` of the inkiest row's ink, so the borders of buttons and frames
    do not count; one band of text rows (5 to 200 pixels high) is one line, and two lines
    whose pixels touch show a valley between them and are two bands. Vertical rules (runs
    of ink much taller than the line) are then wiped, the band is widened to its ascenders
    and descenders, and cut where the gap is wider than the line is high (toolbar buttons,
    a label and its value): one box per piece, like the detector's boxes.
    Returns None for anything else (several lines, no text, a picture).
    """
    import cv2
    import numpy as np

    ink = _ink(rgb)
    bands = _bands(ink.sum(axis=1), MIN_BAND_SHARE)
    if len(bands) != 1:
        return None
    top, bottom = bands[0]
    core = bottom - top
    if not 5 <= core <= 200:
        return None
    rule = np.ones((max(8, round(core * 1.6)), 1), np.uint8)
    ink = _without(ink, cv2.morphologyEx(ink, cv2.MORPH_OPEN, rule))  # rules, frame sides
    per_row = ink.sum(axis=1)
    reach = max(2, round(core * 0.6))
    while top > 0 and core - (bottom - top) < reach and per_row[top - 1] > 0:
        top -= 1
    while bottom < len(per_row) and (bottom - top) - core < 2 * reach and per_row[bottom] > 0:
        bottom += 1
    height = bottom - top
    spans = _spans(ink[top:bottom], height)
    if sum(x1 - x0 for x0, x1 in spans) < height:  # taller than wide, or empty: no text
        return None
    return [(x0, top, x1, bottom) for x0, x1 in spans]


def split_wide_gaps(pixels: Pixels) -> list[tuple[int, int]]:
    """Column spans of the ink in one detected line, cut where the gap is wider than the
    line is high: the detector often boxes table cells or buttons side by side as one.
    Rules (grid lines, row separators, underlines) are wiped first. One span when there
    is no such gap.
    """
    import cv2
    import numpy as np

    ink = _ink(pixels)
    height = ink.shape[0]
    for rule in (
        np.ones((max(3, round(height * 0.9)), 1), np.uint8),  # grid lines, frame sides
        np.ones((1, max(8, 2 * height)), np.uint8),  # row separators, underlines
    ):
        ink = _without(ink, cv2.morphologyEx(ink, cv2.MORPH_OPEN, rule))
    return _spans(ink, height) or [(0, ink.shape[1])]


def _without(ink: Pixels, lines: Any) -> Pixels:
    """``ink`` with the pixels of ``lines`` (a morphological opening of it) cleared."""
    import numpy as np

    kept: Pixels = np.where(lines > 0, 0, ink).astype(np.uint8)
    return kept


def _ink(pixels: Pixels) -> Pixels:
    """1 where a pixel differs from the most common grey level (the background)."""
    import numpy as np

    grey = (
        pixels[:, :, 0].astype(np.uint16) * 77
        + pixels[:, :, 1].astype(np.uint16) * 150
        + pixels[:, :, 2].astype(np.uint16) * 29
    ) >> 8
    background = int(np.bincount(grey.ravel(), minlength=256).argmax())
    ink: Pixels = (np.abs(grey.astype(np.int16) - background) > INK_DELTA).astype(np.uint8)
    return ink


def _spans(ink: Pixels, gap: int) -> list[tuple[int, int]]:
    """Runs of inked columns, split where more than ``gap`` columns are blank."""
    import numpy as np

    columns = np.flatnonzero(ink.any(axis=0)).tolist()
    if not columns:
        return []
    spans: list[tuple[int, int]] = []
    start = prev = columns[0]
    for x in columns[1:]:
        if x - prev > gap:
            spans.append((start, prev + 1))
            start = x
        prev = x
    spans.append((start, prev + 1))
    return spans


def _bands(per_row: Any, share: float) -> list[tuple[int, int]]:
    """Runs of rows with at least ``share`` of the inkiest row's ink, 3 rows or more."""
    peak = int(per_row.max()) if len(per_row) else 0
    if peak == 0:
        return []
    bands: list[tuple[int, int]] = []
    start: int | None = None
    for y, count in enumerate(per_row.tolist()):
        if count >= max(1, share * peak):
            if start is None:
                start = y
        elif start is not None:
            bands.append((start, y))
            start = None
    if start is not None:
        bands.append((start, len(per_row)))
    return [(a, b) for a, b in bands if b - a >= 3]  # specks, underlines, rules


# --- the engine --------------------------------------------------------------------------


class _Engine:
    def __init__(self, config: WorkerConfig) -> None:
        import cv2
        import numpy as np

        importlib.import_module("onnxruntime")  # rapidocr imports it only on first use
        from rapidocr import RapidOCR

        self._cv2 = cv2
        self._np = np
        self.config = config
        models = Path(sys.modules["rapidocr"].__file__ or ".").parent / "models"
        det = sorted(models.glob("*det*.onnx"))
        rec = sorted(models.glob("*rec*.onnx"))
        if not det or not rec:
            raise ImportError(f"rapidocr has no bundled models in {models}")
        threads = config.threads if config.threads and config.threads > 0 else -1
        params: dict[str, Any] = {
            "Global.log_level": "critical",
            "Global.use_cls": False,
            "Global.use_preprocess_img": False,  # we size the picture ourselves
            "Det.model_path": str(det[-1]),  # a path given: rapidocr never downloads
            "Rec.model_path": str(rec[-1]),
            "Det.limit_type": "max",  # never upscale for detection (rapidocr: min 736)
            "Det.limit_side_len": DET_MAX_SIDE,
            "Rec.rec_img_shape": [3, REC_INPUT_HEIGHT, REC_INPUT_HEIGHT],  # no 320 px pad
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        self._ocr = RapidOCR(params=params)
        self._last_bounds = (0.0, 0.0)
        logging.getLogger("RapidOCR").setLevel(logging.CRITICAL)

    def load(self) -> float:
        """Loads both models (rapidocr loads them on first use); returns milliseconds."""
        t0 = time.perf_counter()
        np = self._np
        page = np.full((64, 256, 3), 255, np.uint8)
        page[28:36, 16:240] = 0
        self._ocr(page, use_det=True, use_cls=False, use_rec=False)
        self._recognize(page[20:44])
        return (time.perf_counter() - t0) * 1000.0

    def _recognize(self, crop: Pixels) -> tuple[str, float]:
        out = self._ocr(crop, use_det=False, use_cls=False, use_rec=True)
        texts = getattr(out, "txts", None)
        scores = getattr(out, "scores", None)
        if not texts or scores is None:
            return "", 0.0
        return str(texts[0]), float(scores[0])

    def _pad_for_rec(self, crop: Pixels) -> Pixels:
        h = crop.shape[0]
        total = round(h * REC_INPUT_HEIGHT / REC_TEXT_HEIGHT)
        top = (total - h) // 2
        padded = self._cv2.copyMakeBorder(
            crop, top, total - h - top, 0, 0, self._cv2.BORDER_REPLICATE
        )
        return cast("Pixels", padded)

    def _crop_quad(
        self, bgr: Pixels, quad: Any
    ) -> tuple[Pixels, tuple[float, float, float, float]]:
        """The text box, straightened (boxes may lean by a pixel or two) and lengthened
        by a quarter of its height at each end: the detector's boxes tend to end right at
        the last letter and lose a full stop after it."""
        np, cv2 = self._np, self._cv2
        pts = np.array(quad, dtype=np.float32)
        self._last_bounds = (float(pts[:, 0].min()), float(pts[:, 0].max()))
        along = (pts[1] - pts[0]) + (pts[2] - pts[3])
        length = float(np.linalg.norm(along))
        if length > 0:
            box_height = float(np.linalg.norm(pts[3] - pts[0]))
            step = along / length * (QUAD_STRETCH * box_height)
            pts[[0, 3]] -= step
            pts[[1, 2]] += step
        width = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
        height = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
        width, height = max(width, 1), max(height, 1)
        target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        matrix = cv2.getPerspectiveTransform(pts, target)
        crop: Pixels = cv2.warpPerspective(
            bgr, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
        )
        xs, ys = pts[:, 0], pts[:, 1]
        box = (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))
        return crop, box

    def _read_box(self, bgr: Pixels, quad: Any) -> list[Line]:
        """The text of one detected box; a box spanning a wide gap is read in pieces."""
        crop, (x0, y0, x1, y1) = self._crop_quad(bgr, quad)
        height, width = crop.shape[:2]
        spans = split_wide_gaps(crop)
        if len(spans) == 1:
            pieces = [(0, width)]
        else:
            margin = max(2, round(QUAD_STRETCH * height))
            pieces = [(max(0, a - margin), min(width, b + margin)) for a, b in spans]
        scale = (x1 - x0) / width
        left, right = self._last_bounds  # the box as detected, before lengthening
        img_w, img_h = bgr.shape[1], bgr.shape[0]
        top, bottom = max(0.0, y0), min(float(img_h), y1)
        lines: list[Line] = []
        for a, b in pieces:
            text, score = self._recognize(self._pad_for_rec(crop[:, a:b]))
            if text.strip() and score >= self.config.text_score:
                xa = min(max(x0 + a * scale, left, 0.0), float(img_w))
                xb = max(min(x0 + b * scale, right, float(img_w)), xa)
                lines.append((xa, top, xb, bottom, text, score))
        return lines

    def read(
        self,
        rgb: Pixels,
        progress: Any,
        cancelled: Any,
    ) -> tuple[list[Line], dict[str, Any]] | None:
        """Lines found in ``rgb`` (H x W x 3) and timings; None when cancelled."""
        np = self._np
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        height, width = bgr.shape[:2]
        stats: dict[str, Any] = {"single_line": False, "det_ms": 0.0, "rec_ms": 0.0}
        t0 = time.perf_counter()
        pieces = find_single_line(rgb) if self.config.single_line else None
        lines: list[Line] = []
        if pieces is not None:
            for left, top, right, bottom in pieces:
                my, mx = max(2, round((bottom - top) * 0.25)), max(3, round((bottom - top) * 0.4))
                x0, y0 = max(0, left - mx), max(0, top - my)
                x1, y1 = min(width, right + mx), min(height, bottom + my)
                text, score = self._recognize(self._pad_for_rec(bgr[y0:y1, x0:x1]))
                if score < FAST_PATH_MIN_SCORE and text.strip():
                    lines = []  # unsure: let the detector have a look
                    break
                if text.strip() and score >= self.config.text_score:
                    lines.append((float(x0), float(y0), float(x1), float(y1), text, score))
            else:
                stats["single_line"] = True
                stats["rec_ms"] = (time.perf_counter() - t0) * 1000.0
                return lines, stats
        progress("Finding text…")
        det = self._ocr(bgr, use_det=True, use_cls=False, use_rec=False)
        quads = getattr(det, "boxes", None)
        t1 = time.perf_counter()
        stats["det_ms"] = (t1 - t0) * 1000.0
        count = 0 if quads is None else len(quads)
        last_report = 0.0
        for i in range(count):
            if cancelled():
                return None
            now = time.perf_counter()
            if now - last_report >= 0.1:
                progress(f"Reading line {i + 1} of {count}…")
                last_report = now
            quad = quads[i]  # type: ignore[index]
            lines.extend(self._read_box(bgr, quad))
        stats["rec_ms"] = (time.perf_counter() - t1) * 1000.0
        return lines, stats


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# --- the loop ----------------------------------------------------------------------------


def main(conn: Connection, config: WorkerConfig) -> None:
    """The worker process: serves jobs until told to quit or the parent goes away."""
    try:
        engine = _Engine(config)
    except Exception as exc:  # noqa: BLE001  (ImportError, or a broken install: a DLL...)
        conn.send(("unavailable", f"{type(exc).__name__}: {exc}"))
        conn.close()
        return
    pending: deque[tuple[Any, ...]] = deque()
    loaded = False
    try:
        while True:
            msg = pending.popleft() if pending else conn.recv()
            kind = msg[0]
            if kind == "quit":
                return
            if kind in ("load", "ocr") and not loaded:
                conn.send(("ready", engine.load()))
                loaded = True
            if kind != "ocr":
                continue  # "load" done above; a late "cancel" for a finished job
            _, job, width, height, data = msg
            if _serve_job(conn, engine, pending, job, width, height, data) == "quit":
                return
    except (EOFError, OSError):  # the parent is gone: nobody to answer
        return


def _serve_job(
    conn: Connection,
    engine: _Engine,
    pending: deque[tuple[Any, ...]],
    job: int,
    width: int,
    height: int,
    data: bytes,
) -> str:
    import numpy as np

    stop = ""

    def cancelled() -> bool:
        nonlocal stop
        while not stop and conn.poll():
            msg = conn.recv()
            if msg[0] == "cancel" and msg[1] == job:
                stop = "cancel"
            elif msg[0] == "quit":
                stop = "quit"
            elif msg[0] != "cancel":
                pending.append(msg)
        return bool(stop)

    def progress(text: str) -> None:
        conn.send(("progress", job, text))

    cpu0 = time.process_time()
    try:
        rgb = np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
        result = engine.read(rgb, progress, cancelled)
    except Exception as exc:  # noqa: BLE001  (a bug or a model failure: report, go on)
        conn.send(("error", job, f"{type(exc).__name__}: {exc}"))
        return ""
    if result is None:
        conn.send(("cancelled", job))
        return stop
    lines, stats = result
    stats["peak_rss_mb"] = _peak_rss_mb()
    stats["cpu_ms"] = (time.process_time() - cpu0) * 1000.0  # all threads of the worker
    conn.send(("result", job, lines, stats))
    return ""
