"""Stream parsing throughput and client overhead to the first token, on loopback.

    .venv/bin/python bench/bench_stream.py [--chunks 20000] [--runs 5] [--first-runs 500]
    .venv/bin/python bench/bench_stream.py --quick --json PATH   # for python -m bench
    .venv/bin/python bench/bench_stream.py --smoke --json PATH   # 200 chunks, once: it works

A server in a process of its own serves two vLLM-shaped streams on 127.0.0.1: a long one
of N text chunks (in 64 KiB writes) and a short one of 8 text chunks (one write). Three
readers read both, taking turns run by run: our client (EndpointClient.stream_chat: SSE +
JSON + typed events), raw httpx ``iter_lines`` + ``json.loads`` (the floor: nothing a
client could leave out) and openai-python (``pip install openai``; reported as not
installed otherwise). Printed: medians of chunks per second on the long stream and of the
time from the call to the first text chunk on the short one (the client's overhead: the
server answers at once). Targets (issue 7): our rate at least 90% of raw httpx's and 8x
openai-python's; our time to the first token within 0.2 ms of raw httpx's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from bench.common import Figure, add_smoke_flag, write_figures
from desktop_app.core.endpoint import EndpointClient
from desktop_app.core.models import ChatRequest, TextDelta

BENCH = "bench_stream"
SHORT_CHUNKS = 8
SHORT_PREFIX = "/short"  # the short stream's base URL: http://127.0.0.1:PORT/short/v1
TARGET_FLOOR_SHARE = 0.9  # of raw httpx's chunks per second
TARGET_OPENAI_RATIO = 8.0
TARGET_FIRST_SLACK_MS = 0.2  # over raw httpx's time to the first token

SERVER = """
import sys
from http.server import BaseHTTPRequestHandler
from tests.servers import StreamServer, stream_reply, vllm_stream
# TCP_NODELAY, as uvicorn (vLLM) and other real servers set it: with Nagle on, the
# body of a reply on a reused connection waits ~40 ms for the ACK of its headers.
BaseHTTPRequestHandler.disable_nagle_algorithm = True
server = StreamServer().start()
server.chat(stream_reply(vllm_stream([f" w{{i}}" for i in range({chunks})]), split=64 * 1024))
server.queue(
    "{short_prefix}/v1/chat/completions",
    stream_reply(vllm_stream([f" w{{i}}" for i in range({short})])),
)
print(server.base_url, flush=True)
sys.stdin.read()
"""

REQUEST = ChatRequest(model="Qwen/Qwen3-VL-8B-Instruct", prompt="Read all the text.")

Reader = Callable[[str], tuple[float, int]]
"""Reads the stream at a base URL; returns (seconds to the first text chunk, text chunks)."""


def ours() -> Reader:
    clients: dict[str, EndpointClient] = {}

    def run(base: str) -> tuple[float, int]:
        client = clients.get(base) or clients.setdefault(base, EndpointClient(base))
        t0 = time.perf_counter()
        first = 0.0
        n = 0
        for e in client.stream_chat(REQUEST):
            if isinstance(e, TextDelta):
                if not n:
                    first = time.perf_counter() - t0
                n += 1
        return first, n

    return run


def raw_httpx() -> Reader:
    clients: dict[str, httpx.Client] = {}
    body = {"model": REQUEST.model, "messages": [{"role": "user", "content": "x"}], "stream": True}

    def run(base: str) -> tuple[float, int]:
        client = clients.get(base) or clients.setdefault(base, httpx.Client())
        t0 = time.perf_counter()
        first = 0.0
        n = 0
        with client.stream("POST", f"{base}/chat/completions", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    json.loads(line[6:])  # the least any client must do with a chunk
                    n += 1
                    if n == 2:  # the role chunk comes first, then the first text chunk
                        first = time.perf_counter() - t0
        return first, n - 2  # the role chunk and the usage chunk carry no text

    return run


def openai_python() -> Reader | None:
    try:
        import openai
    except ImportError:
        return None
    clients: dict[str, openai.OpenAI] = {}

    def run(base: str) -> tuple[float, int]:
        client = clients.get(base) or clients.setdefault(
            base, openai.OpenAI(base_url=base, api_key="x", max_retries=0)
        )
        t0 = time.perf_counter()
        first = 0.0
        n = 0
        stream = client.chat.completions.create(
            model=REQUEST.model, messages=[{"role": "user", "content": "x"}], stream=True
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if not n:
                    first = time.perf_counter() - t0
                n += 1
        return first, n

    return run


def _openai_version() -> str:
    try:
        import openai
    except ImportError:
        return "openai-python"
    return f"openai-python {openai.__version__}"


def measure(
    readers: dict[str, Reader], base: str, expected: int, runs: int
) -> dict[str, list[tuple[float, float]]]:
    """(seconds to the first chunk, chunks per second) of every run of every reader; the
    readers take turns run by run, so that a slower or busier moment hits them all."""
    for name, reader in readers.items():
        _, n = reader(base)  # warm-up: connection, imports, caches
        assert n == expected, (name, n)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in readers}
    for _ in range(runs):
        for name, reader in readers.items():
            t0 = time.perf_counter()
            first, n = reader(base)
            elapsed = time.perf_counter() - t0
            assert n == expected, (name, n)
            samples[name].append((first, n / elapsed))
    return samples


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--chunks", type=int, help="text chunks in the long stream (default 20,000; --smoke: 200)"
    )
    ap.add_argument("--runs", type=int, help="runs on the long stream (default 5; --quick: 3)")
    ap.add_argument(
        "--first-runs", type=int, help="runs on the short stream (default 1000; --quick: 200)"
    )
    ap.add_argument("--quick", action="store_true", help="fewer runs")
    ap.add_argument("--json", metavar="PATH", help="write the figures there (bench.common)")
    add_smoke_flag(ap)
    args = ap.parse_args()
    args.chunks = args.chunks or (200 if args.smoke else 20_000)
    runs = args.runs or (1 if args.smoke else 3 if args.quick else 5)
    first_runs = args.first_runs or (5 if args.smoke else 200 if args.quick else 1000)
    # The server runs in a process of its own, so that it does not share the GIL with
    # the readers being measured.
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SERVER.format(chunks=args.chunks, short=SHORT_CHUNKS, short_prefix=SHORT_PREFIX),
        ],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert server.stdout is not None
        base = server.stdout.readline().strip()
        short_base = base.removesuffix("/v1") + SHORT_PREFIX + "/v1"
        figures = run(args.chunks, runs, first_runs, base, short_base, smoke=args.smoke)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.terminate()
        server.wait()
    write_figures(figures, args.json, smoke=args.smoke)


def run(
    chunks: int, runs: int, first_runs: int, base: str, short_base: str, *, smoke: bool = False
) -> list[Figure]:
    """The figures; a smoke run leaves out the ratio to openai-python where it is not
    installed (it is the "bench" extra, not the "test" one: no number to check)."""
    ours_name, raw_name, openai_name = "screenscribe", "httpx iter_lines+json", "openai-python"
    found: dict[str, Reader | None] = {
        ours_name: ours(),
        raw_name: raw_httpx(),
        openai_name: openai_python(),
    }
    readers = {name: r for name, r in found.items() if r is not None}
    long_runs = measure(readers, base, chunks, runs)
    short_runs = measure(readers, short_base, SHORT_CHUNKS, first_runs)
    rates = {name: statistics.median(s for _, s in long_runs[name]) for name in readers}
    long_firsts = {name: statistics.median(f for f, _ in long_runs[name]) for name in readers}
    firsts = {name: statistics.median(f for f, _ in short_runs[name]) * 1000 for name in readers}

    print(
        f"{chunks} chunks x {runs} runs; time to the first text chunk of a {SHORT_CHUNKS}-chunk "
        f"stream x {first_runs} runs; medians"
    )
    print(f"{'reader':<24}{'chunks/s':>12}{'first chunk ms':>16}{'first token ms':>16}")
    for name in found:
        if name not in readers:
            print(f"{name:<24}{'not installed':>12}")
            continue
        print(
            f"{name:<24}{rates[name]:>12,.0f}{long_firsts[name] * 1000:>16.2f}{firsts[name]:>16.3f}"
        )
    floor = rates[raw_name]
    print(f"screenscribe / httpx iter_lines+json: {rates[ours_name] / floor:.0%} (target >= 90%)")
    if openai_name in readers:
        ratio = rates[ours_name] / rates[openai_name]
        print(f"screenscribe / openai-python: {ratio:.1f}x (target >= {TARGET_OPENAI_RATIO:.0f}x)")
    extra = firsts[ours_name] - firsts[raw_name]
    print(
        f"first token, screenscribe - httpx: {extra:+.3f} ms "
        f"(target <= +{TARGET_FIRST_SLACK_MS} ms)"
    )

    raw_peer = f"httpx {httpx.__version__} iter_lines + json.loads"
    openai_peer = _openai_version()
    what_parse = f"stream parsing, {chunks:,} chunks from loopback"
    figures = [
        Figure(
            BENCH,
            what_parse,
            rates[ours_name],
            "chunks/s",
            "higher",
            target=TARGET_FLOOR_SHARE * floor,
            peer=raw_peer,
            peer_value=floor,
            note=f"{rates[ours_name] / floor:.0%} of the peer (target: >= 90% of it); "
            f"median of {runs} runs",
        )
    ]
    if openai_name in readers:
        figures.append(
            Figure(
                BENCH,
                f"{what_parse}, ours / openai-python",
                rates[ours_name] / rates[openai_name],
                "x",
                "higher",
                target=TARGET_OPENAI_RATIO,
                peer=openai_peer,
                peer_value=1.0,
                note=f"{rates[ours_name]:,.0f} vs {rates[openai_name]:,.0f} chunks/s",
            )
        )
    elif not smoke:
        figures.append(
            Figure(
                BENCH,
                f"{what_parse}, ours / openai-python",
                None,
                "x",
                "higher",
                target=TARGET_OPENAI_RATIO,
                peer=openai_peer,
                note="openai-python is not installed (pip install openai)",
            )
        )
    what_first = f"client overhead to the first token ({SHORT_CHUNKS}-chunk loopback stream)"
    figures.append(
        Figure(
            BENCH,
            what_first,
            firsts[ours_name],
            "ms",
            "lower",
            target=firsts[raw_name] + TARGET_FIRST_SLACK_MS,
            peer=raw_peer,
            peer_value=firsts[raw_name],
            note=f"ours - peer = {extra:+.3f} ms (target: <= +{TARGET_FIRST_SLACK_MS} ms); "
            f"median of {first_runs} requests",
        )
    )
    figures.append(
        Figure(
            BENCH,
            f"{what_first}, against openai-python",
            firsts[ours_name],
            "ms",
            "lower",
            peer=openai_peer,
            peer_value=firsts.get(openai_name),
            note=f"median of {first_runs} requests"
            if openai_name in readers
            else "openai-python is not installed (pip install openai)",
        )
    )
    return figures


if __name__ == "__main__":
    main()
