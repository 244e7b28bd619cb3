"""The answer panel under a fast stream: does the GUI stay responsive?

    .venv/bin/python bench/bench_panel.py [--rate 1000] [--seconds 10] [--mode describe]
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_panel.py   # without a display
    .venv/bin/python bench/bench_panel.py --quick --json PATH   # 3 s, for python -m bench
    .venv/bin/python bench/bench_panel.py --smoke --json PATH   # 0.3 s: it works

A real HTTP server in another process streams ``--rate`` tokens a second (vLLM shape,
5 ms apart) into a real AnswerPanel. A 5 ms timer in the GUI thread records every
event-loop turn; the longest gap between two turns is the longest stall the user could
feel (typing, dragging, Stop), split into the streaming phase and the one redraw when
the answer ends (Markdown; in OCR mode only when a paragraph longer than 1500 characters
was streamed). Also printed: the GUI process's CPU time (all threads, and the GUI thread
alone) as a share of the wall time. Target: longest stall <= 30 ms.

The peer, measured the same way right after in the same process and from the same server:
a bare QPlainTextEdit fed by the same stream worker, inserting every token as it comes
(what a plain Qt text view costs; no Markdown, no batching). ``--no-peer`` skips it.
Exit status 1 when the stream did not complete, or (without ``--json``, where the figure
says so) when the panel missed the target.

The text has a line break every 12 tokens and a blank line every 96 (paragraphs);
``--line-every 0 --paragraph-every 0`` streams one single paragraph, the worst case.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QRect, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication, QPlainTextEdit

from bench.common import Figure, add_smoke_flag, write_figures
from desktop_app.core.endpoint import EndpointClient
from desktop_app.core.models import ChatRequest, PreparedImage
from desktop_app.core.prompts import PRESETS
from desktop_app.core.settings import Profile
from desktop_app.ui.panel import PANEL_HEIGHT, PANEL_WIDTH, AnswerPanel, PanelContext, PanelJob
from desktop_app.workers import start_stream

BENCH = "bench_panel"
MODEL = "Qwen/Qwen3-VL-8B-Instruct"
PEER = "QPlainTextEdit, insertPlainText per token"
TARGET_STALL_MS = 30.0
TICK_MS = 5

SERVER = """
import sys
from tests.servers import Reply, sse, vllm_stream
from tests.servers import StreamServer
def sep(i):
    if {paragraph_every} and i % {paragraph_every} == {paragraph_every} - 1:
        return "\\n\\n"
    return "\\n" if {line_every} and i % {line_every} == {line_every} - 1 else " "
tokens = [f"word{{i}}" + sep(i) for i in range({count})]
events = [sse(m) for m in vllm_stream(tokens)]
chunks = [b"".join(events[i : i + {per_chunk}]) for i in range(0, len(events), {per_chunk})]
server = StreamServer().start()
server.chat(Reply(body=chunks, delay={delay}))
print(server.base_url, flush=True)
sys.stdin.read()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=1000, help="tokens per second")
    parser.add_argument(
        "--seconds", type=float, help="stream length (default 10; --quick: 3; --smoke: 0.3)"
    )
    parser.add_argument("--mode", choices=sorted(PRESETS), default="describe")
    parser.add_argument(
        "--line-every", type=int, default=12, help="a line break every N tokens (0: none)"
    )
    parser.add_argument(
        "--paragraph-every",
        type=int,
        default=96,
        help="a blank line every N tokens (0: none; with --line-every 0, one paragraph)",
    )
    parser.add_argument("--no-peer", action="store_true", help="measure the panel only")
    parser.add_argument("--quick", action="store_true", help="a 3 s stream")
    parser.add_argument("--json", metavar="PATH", help="write the figures there (bench.common)")
    add_smoke_flag(parser)
    args = parser.parse_args()
    args.seconds = args.seconds or (0.3 if args.smoke else 3.0 if args.quick else 10.0)

    per_chunk = max(1, round(args.rate * 0.005))  # one chunk every 5 ms
    count = int(args.rate * args.seconds)
    delay = max(0.001, per_chunk / args.rate - 0.0004)  # the server's own time per chunk
    code = SERVER.format(
        count=count,
        per_chunk=per_chunk,
        delay=delay,
        line_every=args.line_every,
        paragraph_every=args.paragraph_every,
    )
    root = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().decode().strip()
        return run(args, base_url, count)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(5)


@dataclass
class Measured:
    """One stream shown in one widget, measured from the GUI thread."""

    tokens: int
    stream_s: float  # start to the answer's end
    wall_s: float  # start to the event loop's end (the final redraw included)
    chars: int
    longest_ms: float  # longest gap between two event-loop turns
    p99_ms: float
    ticks: int
    streaming_ms: float  # the longest gap before the answer ended
    final_ms: float  # the gap around the answer's end (the final redraw)
    cpu_s: float  # the process, all threads
    gui_s: float  # the GUI thread alone

    @property
    def cpu_share(self) -> float:
        return 100 * self.cpu_s / self.wall_s

    @property
    def gui_share(self) -> float:
        return 100 * self.gui_s / self.wall_s


Start = Callable[[Callable[[int], None]], None]
"""Starts the stream; calls its argument with the answer's length when the answer is done."""


def measure(app: QApplication, start: Start, tokens: int, seconds: float) -> Measured | None:
    """Runs the event loop while ``start``'s stream plays, ticking every 5 ms."""
    ticks: list[float] = []
    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(lambda: ticks.append(time.perf_counter()))
    guard = QTimer()  # gives up on a stream that does not end
    guard.setSingleShot(True)
    guard.setInterval(int(seconds * 1000 * 3 + 10_000))
    guard.timeout.connect(app.quit)
    result: dict[str, float] = {}

    def on_completed(chars: int) -> None:
        result["end"] = time.perf_counter()
        result["chars"] = chars
        QTimer.singleShot(50, app.quit)

    ticker.start()
    guard.start()
    cpu0, gui0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    start(on_completed)
    app.exec()
    cpu, gui, wall = time.process_time() - cpu0, time.thread_time() - gui0, time.perf_counter() - t0
    ticker.stop()
    guard.stop()
    if "end" not in result:
        return None
    gaps = [b - a for a, b in itertools.pairwise(ticks)]  # the final redraw included
    before_end = [t for t in ticks if t <= result["end"]]
    after = [t for t in ticks if t > result["end"]]
    return Measured(
        tokens=tokens,
        stream_s=result["end"] - t0,
        wall_s=wall,
        chars=int(result["chars"]),
        longest_ms=max(gaps) * 1000,
        p99_ms=statistics.quantiles(gaps, n=100)[98] * 1000,
        ticks=len(gaps),
        streaming_ms=max(b - a for a, b in itertools.pairwise(before_end[:-1])) * 1000,
        final_ms=((after[0] if after else result["end"]) - before_end[-1]) * 1000,
        cpu_s=cpu,
        gui_s=gui,
    )


def report(m: Measured, what: str) -> None:
    """The lines this benchmark has always printed, for one measurement."""
    rate = m.tokens / m.stream_s
    print(f"stream            {m.tokens} tokens in {m.stream_s:.2f} s = {rate:.0f} tok/s")
    print(
        f"event-loop gaps   longest {m.longest_ms:.1f} ms, p99 {m.p99_ms:.1f} ms, ticks {m.ticks}"
    )
    print(f"  while streaming longest {m.streaming_ms:.1f} ms")
    print(f"  final redraw    {m.final_ms:.1f} ms ({m.chars:,} characters, {what})")
    print(
        f"cpu (process)     {m.cpu_s:.2f} s = {m.cpu_share:.0f}% of one core over {m.wall_s:.1f} s"
    )
    print(f"cpu (GUI thread)  {m.gui_s:.2f} s = {m.gui_share:.0f}% of one core")


class _PlainView(QPlainTextEdit):
    """The peer: a bare text view that inserts every token as it arrives."""

    def __init__(self) -> None:
        super().__init__()
        self.setReadOnly(True)
        self.resize(PANEL_WIDTH, PANEL_HEIGHT)
        self.done: Callable[[int], None] | None = None

    @Slot(str)
    def add(self, text: str) -> None:
        self.insertPlainText(text)

    @Slot(object)
    def finished(self, _outcome: object) -> None:
        if self.done is not None:
            self.done(len(self.toPlainText()))


def run(args: argparse.Namespace, base_url: str, count: int) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    image = PreparedImage(_png(), "image/png", 64, 64, 64, 64, 4)
    profile = Profile(name="bench", base_url=base_url, model=MODEL)
    client = EndpointClient(base_url)
    job = PanelJob(image, args.mode, PRESETS[args.mode].prompt)
    panel = AnswerPanel(job, PanelContext(profile, client, None, auto_copy=False))
    panel.place_near(QRect(100, 100, 300, 200), app.primaryScreen())
    panel.show()

    def start_panel(done: Callable[[int], None]) -> None:
        panel.answer_completed.connect(lambda text: done(len(text)))
        panel.start()

    ours = measure(app, start_panel, count, args.seconds)
    panel.close()
    client.close()
    if ours is None:
        print("the stream did not complete")
        return 1

    peer: Measured | None = None
    if not args.no_peer:
        peer_client = EndpointClient(base_url)
        view = _PlainView()
        view.show()

        def start_peer(done: Callable[[int], None]) -> None:
            view.done = done
            request = ChatRequest(MODEL, PRESETS[args.mode].prompt, image=image)
            worker = start_stream(peer_client, request, parent=view).worker
            worker.delta_received.connect(view.add)
            worker.stream_finished.connect(view.finished)

        peer = measure(app, start_peer, count, args.seconds)
        view.close()
        peer_client.close()

    print(f"platform          {app.platformName()}, PySide6 {_pyside()}")
    report(ours, args.mode)
    verdict = "PASS" if ours.longest_ms <= TARGET_STALL_MS else "FAIL"
    print(f"target            longest stall <= {TARGET_STALL_MS:.0f} ms: {verdict}")
    if peer is not None:
        print(f"\npeer: {PEER}, the same stream")
        report(peer, "plain text")
    elif not args.no_peer:
        print(f"\npeer: {PEER}: the stream did not complete")

    what = f"{args.rate:,} tokens/s for {args.seconds:g} s into the panel"
    figures = [
        Figure(
            BENCH,
            f"longest event-loop stall, {what}",
            ours.longest_ms,
            "ms",
            "lower",
            target=TARGET_STALL_MS,
            peer=PEER if not args.no_peer else None,
            peer_value=peer.longest_ms if peer else None,
            note=f"while streaming {ours.streaming_ms:.1f} ms, final redraw "
            f"{ours.final_ms:.1f} ms, p99 {ours.p99_ms:.1f} ms; {app.platformName()}",
        ),
        Figure(
            BENCH,
            f"GUI process CPU, {what}",
            ours.cpu_share,
            "%",
            "lower",
            peer=PEER if not args.no_peer else None,
            peer_value=peer.cpu_share if peer else None,
            note=f"% of one core, all threads; the GUI thread alone {ours.gui_share:.0f}%"
            + (f" (peer {peer.gui_share:.0f}%)" if peer else ""),
        ),
    ]
    write_figures(figures, args.json, smoke=args.smoke)
    return 0 if verdict == "PASS" or args.json else 1


def _png() -> bytes:
    from PySide6.QtCore import QBuffer, QIODevice
    from PySide6.QtGui import QColor, QImage

    image = QImage(64, 64, QImage.Format.Format_RGB32)
    image.fill(QColor("white"))
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    return bytes(buf.data().data())


def _pyside() -> str:
    import PySide6

    return PySide6.__version__


if __name__ == "__main__":
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen" if not os.environ.get("DISPLAY") else "")
    if not os.environ["QT_QPA_PLATFORM"]:
        del os.environ["QT_QPA_PLATFORM"]
    raise SystemExit(main())
