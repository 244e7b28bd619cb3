"""The embedded OCR engine on the rendered screenshots in tests/data/ocr (real model,
real worker process). Loading the model costs a couple of seconds, so one engine serves
the module; the tests of the worker's life cycle start their own."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from desktop_app.core.endpoint import CancelToken
from desktop_app.core.errors import Cancelled, ImageError
from desktop_app.core.local_ocr import (
    LocalOcrEngine,
    LocalOcrError,
    LocalOcrUnavailable,
    OcrResult,
    is_available,
)
from desktop_app.core.models import Finished, TextDelta
from desktop_app.core.textdiff import char_errors, levenshtein
from desktop_app.core.textdiff import normalise_space as normalise

DATA = Path(__file__).resolve().parent.parent / "data" / "ocr"
IMAGES = sorted(p.stem for p in DATA.glob("*.png"))
MAX_CER = 0.02  # per image; the whole set reads at 0% today (bench/ocr_accuracy.py)


def truth(name: str) -> str:
    return (DATA / f"{name}.txt").read_text(encoding="utf-8").rstrip("\n")


def cer(got: str, want: str) -> float:
    edits, length = char_errors(got, want)
    return edits / max(1, length)


def reads(text: str, name: str) -> bool:
    """The text is the picture's, give or take a character in fifty (the model's results
    may differ by a letter between CPUs)."""
    return cer(text, truth(name)) < MAX_CER


def test_levenshtein_counts_edits() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert cer("a  b\nc", "a b c") == 0.0
    assert cer("abcd", "abce") == 0.25


@pytest.fixture(scope="module")
def engine() -> Iterator[LocalOcrEngine]:
    eng = LocalOcrEngine(idle_timeout=None)
    eng.warm()
    try:
        yield eng
    finally:
        eng.close()


@pytest.fixture(scope="module")
def results(engine: LocalOcrEngine) -> dict[str, OcrResult]:
    """Each image read once, on first use."""
    return {}


def read(engine: LocalOcrEngine, results: dict[str, OcrResult], name: str) -> OcrResult:
    if name not in results:
        results[name] = engine.read(DATA / f"{name}.png")
    return results[name]


def test_the_engine_is_installed() -> None:
    assert is_available()


def test_the_test_set_is_complete() -> None:
    assert len(IMAGES) >= 9
    assert {"table_13px", "single_line_13px", "hidpi_dialog_scale2"} <= set(IMAGES)
    assert all((DATA / f"{name}.txt").exists() for name in IMAGES)


@pytest.mark.slow
@pytest.mark.parametrize("name", IMAGES)
def test_character_error_rate_is_low(
    engine: LocalOcrEngine, results: dict[str, OcrResult], name: str
) -> None:
    got = read(engine, results, name).text
    assert cer(got, truth(name)) < MAX_CER, f"{name}:\n{got}"


@pytest.mark.slow
def test_a_table_comes_back_row_by_row_with_tabs(
    engine: LocalOcrEngine, results: dict[str, OcrResult]
) -> None:
    got = read(engine, results, "table_13px").text.splitlines()
    want = truth("table_13px").splitlines()
    assert [row.split("\t") for row in got] == [row.split("\t") for row in want]


@pytest.mark.slow
def test_paragraphs_and_columns_come_in_reading_order(
    engine: LocalOcrEngine, results: dict[str, OcrResult]
) -> None:
    got = read(engine, results, "page_light_1280x800").text
    blocks = [normalise(block) for block in got.split("\n\n")]
    want = [normalise(block) for block in truth("page_light_1280x800").split("\n\n")]
    assert len(blocks) == len(want)
    assert cer("\n".join(blocks), "\n".join(want)) < MAX_CER


@pytest.mark.slow
def test_code_keeps_its_lines_and_indentation(
    engine: LocalOcrEngine, results: dict[str, OcrResult]
) -> None:
    got = read(engine, results, "code_14px").text.splitlines()
    want = truth("code_14px").splitlines()
    assert len(got) == len(want)
    indents = [len(line) - len(line.lstrip()) for line in got]
    assert indents == [len(line) - len(line.lstrip()) for line in want]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["single_line_13px", "toolbar_12px"])
def test_a_single_line_skips_detection(
    engine: LocalOcrEngine, results: dict[str, OcrResult], name: str
) -> None:
    result = read(engine, results, name)
    assert result.single_line
    assert result.det_ms == 0.0
    assert reads(result.text, name)
    assert "\n" not in result.text


@pytest.mark.slow
def test_a_paragraph_is_not_taken_for_a_single_line(
    engine: LocalOcrEngine, results: dict[str, OcrResult]
) -> None:
    result = read(engine, results, "paragraphs_11px")
    assert not result.single_line
    assert reads(result.text, "paragraphs_11px")
    assert len(result.blocks) == 2  # two paragraphs, lines kept
    assert [len(b.text.splitlines()) for b in result.blocks] == [2, 1]


@pytest.mark.slow
def test_a_single_line_cut_from_a_page_is_read_alone(engine: LocalOcrEngine) -> None:
    page = Image.open(DATA / "page_light_1280x800.png")
    crop = page.crop((290, 104, 1010, 132))  # the article's first line, with a margin
    result = engine.read(crop)
    assert result.single_line
    want = (
        "When the network is down, the embedded engine still reads the text on your screen. "
        "It runs on the"
    )
    assert cer(result.text, want) < MAX_CER


def test_events_are_deltas_then_finished(engine: LocalOcrEngine) -> None:
    progress: list[str] = []
    stream = engine.recognize(DATA / "paragraphs_dark_13px.png", on_progress=progress.append)
    assert progress == []  # lazy, like an endpoint stream: nothing before the first next()
    events = list(stream)
    assert events[-1] == Finished("stop")
    deltas = [e for e in events[:-1] if isinstance(e, TextDelta)]
    assert len(deltas) == len(events) - 1 == 2  # one per paragraph
    joined = "".join(d.text for d in deltas)
    assert joined.count("\n\n") == 1
    assert reads(joined, "paragraphs_dark_13px")
    assert "Finding text…" in progress


def test_a_picture_without_text_gives_no_delta(engine: LocalOcrEngine) -> None:
    blank = Image.new("RGB", (300, 120), (250, 250, 250))
    assert list(engine.recognize(blank)) == [Finished("stop")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"this is not an image", "not a supported image"),
        ((DATA / "table_13px.png").read_bytes()[:400], "damaged"),
    ],
)
def test_unusable_input_is_an_image_error(
    engine: LocalOcrEngine, data: bytes, message: str
) -> None:
    with pytest.raises(ImageError, match=message):
        list(engine.recognize(data))


def test_a_missing_file_is_an_image_error(engine: LocalOcrEngine, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found"):
        list(engine.recognize(tmp_path / "nope.png"))


def test_cancel_before_start(engine: LocalOcrEngine) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        list(engine.recognize(DATA / "code_14px.png", cancel=cancel))


@pytest.mark.slow
def test_cancel_while_reading_then_the_engine_goes_on(engine: LocalOcrEngine) -> None:
    token = CancelToken()  # the app's token works as well as a threading.Event

    cancelled_at: list[float] = []

    def on_progress(message: str) -> None:
        if message.startswith("Reading line") and not cancelled_at:
            token.cancel()
            cancelled_at.append(time.perf_counter())

    with pytest.raises(Cancelled):
        engine.read(DATA / "page_light_1280x800.png", on_progress=on_progress, cancel=token)
    assert time.perf_counter() - cancelled_at[0] < 0.5  # the caller does not wait
    # The worker's late answer to the cancelled job is dropped; the next job is right.
    assert reads(engine.read(DATA / "single_line_13px.png").text, "single_line_13px")


def test_concurrent_calls_queue(engine: LocalOcrEngine) -> None:
    texts: dict[str, str] = {}

    def work(name: str) -> None:
        texts[name] = engine.read(DATA / f"{name}.png").text

    threads = [
        threading.Thread(target=work, args=(n,)) for n in ("single_line_13px", "toolbar_12px")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(texts) == {"single_line_13px", "toolbar_12px"}
    assert all(reads(text, name) for name, text in texts.items())


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_worker_killed_mid_job_is_an_error_and_restarts(engine: LocalOcrEngine) -> None:
    import signal

    def on_progress(message: str) -> None:
        if message == "Finding text…" and engine.worker_pid is not None:
            os.kill(engine.worker_pid, signal.SIGKILL)

    with pytest.raises(LocalOcrError, match="stopped unexpectedly"):
        engine.read(DATA / "paragraphs_11px.png", on_progress=on_progress)
    assert engine.worker_pid is None
    assert reads(engine.read(DATA / "single_line_13px.png").text, "single_line_13px")
    assert engine.worker_pid is not None


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_the_worker_loads_in_the_background_and_exits_when_idle() -> None:
    with LocalOcrEngine(idle_timeout=1.0) as eng:
        t0 = time.perf_counter()
        eng.warm()
        assert time.perf_counter() - t0 < 1.0  # warm() does not wait for the model
        pid = eng.worker_pid
        assert pid is not None
        deadline = time.monotonic() + 30
        while not eng.loaded and time.monotonic() < deadline:
            time.sleep(0.05)
        assert eng.loaded  # loaded with no job asked for
        result = eng.read(DATA / "single_line_13px.png")
        assert result.load_ms is None  # it did not have to wait for the model
        assert reads(result.text, "single_line_13px")
        deadline = time.monotonic() + 15
        while eng.worker_pid is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert eng.worker_pid is None
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)  # it is told to quit, and waited for, in the timer's thread
        assert _gone(pid)  # the process, and its memory, are gone
        again = eng.read(DATA / "single_line_13px.png")  # and it comes back on demand
        assert again.load_ms is not None
        assert reads(again.text, "single_line_13px")
        assert eng.worker_pid not in (None, pid)
    assert eng.worker_pid is None  # close() stopped it


def test_missing_rapidocr_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "onnxruntime"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ImportError('no onnxruntime here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # the spawned worker gets this sys.path
    with LocalOcrEngine(idle_timeout=None) as eng, pytest.raises(LocalOcrUnavailable) as info:
        eng.read(Image.new("RGB", (64, 32), "white"))
    assert "pip install" in str(info.value)
    assert info.value.exit_code == 2
