"""Benchmark the history store: insert rate, search-as-you-type latency, size on disk.

Run: ``.venv/bin/python bench/bench_history.py [--entries N] [--quick] [--json PATH]``

``--quick``: 5 runs per query instead of 25 (still 10,000 entries: the figure is about
that size); ``--smoke``: 200 entries, 2 runs per query (it works; no measurement);
``--json PATH`` writes the figures there for ``python -m bench`` (bench.common): the
search-as-you-type latency (no target) and the insert rate.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Figure, add_smoke_flag, write_figures
from desktop_app.core.history import History, NewEntry

BENCH = "bench_history"

VOCABULARY = (
    "the of and to in is that for it as with was on be by this are from at or an have "
    "not which but all were when we there can more if has their will one about would "
    "invoice total amount due date payment account number customer order shipping "
    "address receipt subtotal tax discount quantity price item description service "
    "error exception traceback line file module function return value none type "
    "kubernetes deployment container image pod service namespace cluster node volume "
    "meeting agenda notes action items owner deadline review project status update "
    "table column row header cell value percent revenue quarter growth forecast "
    "café résumé naïve façade über straße crème brûlée jalapeño piñata "
    "python rust typescript compiler runtime memory thread lock queue socket request"
)
WORDS = VOCABULARY.split()

PROMPTS = (
    "Extract all text from the image exactly as written.",
    "Convert the table in the image to Markdown.",
    "Describe what the screenshot shows.",
    "What does this error mean and how do I fix it?",
    "Translate the text in the image to English.",
)

QUERIES = ("i", "inv", "invoice", "invoice to", "kubernetes deploy", "cafe", "zzz", "the")


def answer(rng: random.Random) -> str:
    """A few hundred characters of plausible text in a few lines."""
    lines = []
    for _ in range(rng.randint(3, 8)):
        lines.append(" ".join(rng.choices(WORDS, k=rng.randint(5, 14))).capitalize() + ".")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, help="default 10,000; --smoke: 200")
    parser.add_argument("--repeat", type=int, help="runs per query (default 25; --quick: 5)")
    parser.add_argument("--quick", action="store_true", help="5 runs per query")
    parser.add_argument("--json", metavar="PATH", help="write the figures there (bench.common)")
    add_smoke_flag(parser)
    args = parser.parse_args()
    args.entries = args.entries or (200 if args.smoke else 10_000)
    args.repeat = args.repeat or (2 if args.smoke else 5 if args.quick else 25)
    rng = random.Random(1234)
    thumbnail = rng.randbytes(6_000)  # about a 160 px JPEG
    now = time.time()
    entries = [
        NewEntry(
            profile="local",
            model="Qwen2.5-VL-7B-Instruct",
            base_url="http://127.0.0.1:8000/v1",
            mode=rng.choice(("ocr", "ask")),
            prompt=rng.choice(PROMPTS),
            answer=answer(rng),
            finish_reason="stop",
            prompt_tokens=rng.randint(300, 1600),
            completion_tokens=rng.randint(40, 300),
            ttft_ms=rng.uniform(80, 400),
            total_ms=rng.uniform(500, 4000),
            image_width=rng.randint(64, 1600),
            image_height=rng.randint(32, 1200),
            source="screen",
            thumbnail=thumbnail if i % 2 == 0 else None,
            created_at=now - (args.entries - i),
        )
        for i in range(args.entries)
    ]
    mean_chars = statistics.fmean(len(e.answer) for e in entries)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.sqlite3"
        with History(path, max_entries=args.entries) as history:
            start = time.perf_counter()
            for entry in entries:
                history.add(entry)
            elapsed = time.perf_counter() - start
            print(f"entries:            {history.count():,} (answers {mean_chars:.0f} chars)")
            print(
                f"insert rate:        {args.entries / elapsed:,.0f} entries/s "
                f"(one transaction each, half with a 6 kB thumbnail)"
            )

            medians = []
            for query in QUERIES:
                typed = [query[:n] for n in range(1, len(query) + 1)]
                times = []
                hits = 0
                for _ in range(args.repeat):
                    for prefix in typed:
                        t0 = time.perf_counter()
                        hits = len(history.search(prefix, limit=50))
                        times.append((time.perf_counter() - t0) * 1000)
                median = statistics.median(times)
                medians.append(median)
                print(
                    f"search {query!r:<20} median {median:6.2f} ms  "
                    f"p95 {statistics.quantiles(times, n=20)[-1]:6.2f} ms  ({hits} hits)"
                )
            typing_ms = statistics.median(medians)
            insert_rate = args.entries / elapsed
            print(f"search-as-you-type: median {typing_ms:.2f} ms per keystroke")

            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                history.recent(50)
                times.append((time.perf_counter() - t0) * 1000)
            print(f"recent(50):         median {statistics.median(times):.2f} ms")

            t0 = time.perf_counter()
            history.add(entries[0])  # at the cap: prunes the oldest
            print(f"add at the cap:     {(time.perf_counter() - t0) * 1000:.2f} ms")

        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        print(f"db size on disk:    {size / 1e6:.1f} MB ({size / args.entries:,.0f} B/entry)")
        t0 = time.perf_counter()
        with History(path, max_entries=args.entries) as history:
            opened = (time.perf_counter() - t0) * 1000
        print(f"reopen:             {opened:.1f} ms")
        t0 = time.perf_counter()
        history, _ = History.open_or_recover(path, max_entries=args.entries)
        history.close()
        opened = (time.perf_counter() - t0) * 1000
        print(f"open_or_recover:    {opened:.1f} ms (read-only look + quick_check, warm cache)")
    write_figures(
        [
            Figure(
                BENCH,
                f"history search-as-you-type, {args.entries:,} entries",
                round(typing_ms, 2),
                "ms",
                note=f"the median of {len(QUERIES)} queries' medians, each query typed a "
                f"letter at a time, every prefix searched {args.repeat} times; 50 results",
            ),
            Figure(
                BENCH,
                f"history insert rate, {args.entries:,} entries",
                round(insert_rate),
                "entries/s",
                better="higher",
                note="one transaction each, half with a 6 kB thumbnail",
            ),
        ],
        args.json,
        smoke=args.smoke,
    )


if __name__ == "__main__":
    main()
