"""The answer panel under a fast stream: does the GUI stay responsive?

    .venv/bin/python bench/bench_panel.py [--rate 1000] [--seconds 10] [--mode describe]
    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_panel.py   # without a display

A real HTTP server in another process streams ``--rate`` tokens a second (vLLM shape,
5 ms apart) into a real AnswerPanel. A 5 ms timer in the GUI thread records every
event-loop turn; the longest gap between two turns is the longest stall the user could
feel (typing, dragging, Stop), split into the streaming phase and the one redraw when
the answer ends (Markdown; in OCR mode only when a paragraph longer than 1500 characters
was streamed). Also printed: the GUI process's CPU time (all threads, and the GUI thread
alone) as a share of the wall time. Target: longest stall <= 30 ms.

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtWidgets import QApplication

from desktop_app.core.endpoint import EndpointClient
from desktop_app.core.models import PreparedImage
from desktop_app.core.prompts import PRESETS
from desktop_app.core.settings import Profile
from desktop_app.ui.panel import AnswerPanel, PanelContext, PanelJob

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
    parser.add_argument("--seconds", type=float, default=10.0)
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
    args = parser.parse_args()

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


def run(args: argparse.Namespace, base_url: str, count: int) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    image = PreparedImage(_png(), "image/png", 64, 64, 64, 64, 4)
    profile = Profile(name="bench", base_url=base_url, model="Qwen/Qwen3-VL-8B-Instruct")
    client = EndpointClient(base_url)
    job = PanelJob(image, args.mode, PRESETS[args.mode].prompt)
    panel = AnswerPanel(job, PanelContext(profile, client, None, auto_copy=False))
    panel.place_near(QRect(100, 100, 300, 200), app.primaryScreen())  # type: ignore[union-attr]
    panel.show()

    ticks: list[float] = []
    ticker = QTimer()
    ticker.setTimerType(Qt.TimerType.PreciseTimer)
    ticker.setInterval(TICK_MS)
    ticker.timeout.connect(lambda: ticks.append(time.perf_counter()))
    result: dict[str, float] = {}

    def on_completed(text: str) -> None:
        result["end"] = time.perf_counter()
        result["chars"] = len(text)
        QTimer.singleShot(50, app.quit)  # type: ignore[union-attr]

    panel.answer_completed.connect(on_completed)
    ticker.start()
    cpu0, gui0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    panel.start()
    QTimer.singleShot(int(args.seconds * 1000 * 3 + 10_000), app.quit)  # type: ignore[union-attr]
    app.exec()  # type: ignore[union-attr]
    cpu, gui, wall = time.process_time() - cpu0, time.thread_time() - gui0, time.perf_counter() - t0
    ticker.stop()
    panel.close()
    client.close()
    if "end" not in result:
        print("the stream did not complete")
        return 1

    gaps = [b - a for a, b in itertools.pairwise(ticks)]  # the final redraw included
    longest = max(gaps) * 1000
    p99 = statistics.quantiles(gaps, n=100)[98] * 1000
    before_end = [t for t in ticks if t <= result["end"]]
    streaming = max(b - a for a, b in itertools.pairwise(before_end[:-1])) * 1000
    after = [t for t in ticks if t > result["end"]]
    final = ((after[0] if after else result["end"]) - before_end[-1]) * 1000
    stream_s = result["end"] - t0
    print(f"platform          {app.platformName()}, PySide6 {_pyside()}")  # type: ignore[union-attr]
    print(f"stream            {count} tokens in {stream_s:.2f} s = {count / stream_s:.0f} tok/s")
    print(f"event-loop gaps   longest {longest:.1f} ms, p99 {p99:.1f} ms, ticks {len(gaps)}")
    print(f"  while streaming longest {streaming:.1f} ms")
    print(f"  final redraw    {final:.1f} ms ({result['chars']:,.0f} characters, {args.mode})")
    print(f"cpu (process)     {cpu:.2f} s = {100 * cpu / wall:.0f}% of one core over {wall:.1f} s")
    print(f"cpu (GUI thread)  {gui:.2f} s = {100 * gui / wall:.0f}% of one core")
    verdict = "PASS" if longest <= TARGET_STALL_MS else "FAIL"
    print(f"target            longest stall <= {TARGET_STALL_MS:.0f} ms: {verdict}")
    return 0 if verdict == "PASS" else 1


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
