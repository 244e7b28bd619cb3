"""Stream parsing throughput and client overhead to the first chunk, on loopback.

    .venv/bin/python bench/bench_stream.py [--chunks 20000] [--runs 5]

Serves a vLLM-shaped stream of N chunks from a real HTTP server on 127.0.0.1 and reads
it with: our client (EndpointClient.stream_chat: SSE + JSON + typed events), raw httpx
``iter_lines`` (the floor: no JSON parsing at all), and openai-python when installed.
Prints medians of chunks per second and time to the first chunk.
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

from desktop_app.core.endpoint import EndpointClient
from desktop_app.core.models import ChatRequest, TextDelta

SERVER = """
import sys
from tests.servers import StreamServer, stream_reply, vllm_stream
server = StreamServer().start()
server.chat(stream_reply(vllm_stream([f" w{{i}}" for i in range({chunks})]), split=64 * 1024))
print(server.base_url, flush=True)
sys.stdin.read()
"""

REQUEST = ChatRequest(model="Qwen/Qwen3-VL-8B-Instruct", prompt="Read all the text.")


def ours(base: str) -> Callable[[], tuple[float, int]]:
    client = EndpointClient(base)

    def run() -> tuple[float, int]:
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


def raw_httpx(base: str) -> Callable[[], tuple[float, int]]:
    client = httpx.Client()
    body = {"model": REQUEST.model, "messages": [{"role": "user", "content": "x"}], "stream": True}

    def run() -> tuple[float, int]:
        t0 = time.perf_counter()
        first = 0.0
        n = 0
        with client.stream("POST", f"{base}/chat/completions", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("data: {"):
                    json.loads(line[6:])  # the least any client must do with a chunk
                    if not n:
                        first = time.perf_counter() - t0
                    n += 1
        return first, n - 2  # the role chunk and the usage chunk carry no text

    return run


def openai_python(base: str) -> Callable[[], tuple[float, int]] | None:
    try:
        import openai
    except ImportError:
        return None
    client = openai.OpenAI(base_url=base, api_key="x")

    def run() -> tuple[float, int]:
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    # The server runs in a process of its own, so that it does not share the GIL with
    # the readers being measured.
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(chunks=args.chunks)],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert server.stdout is not None
    base = server.stdout.readline().strip()
    readers: dict[str, Callable[[], tuple[float, int]] | None] = {
        "screenscribe": ours(base),
        "httpx iter_lines+json": raw_httpx(base),
        "openai-python": openai_python(base),
    }
    print(f"{args.chunks} chunks, {args.runs} runs, medians")
    print(f"{'reader':<24}{'chunks/s':>12}{'first chunk ms':>16}")
    rates: dict[str, float] = {}
    for name, reader in readers.items():
        if reader is None:
            print(f"{name:<24}{'not installed':>12}")
            continue
        reader()  # warm-up: connection, imports
        firsts, speeds = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            first, n = reader()
            elapsed = time.perf_counter() - t0
            assert n == args.chunks, (name, n)
            firsts.append(first * 1000)
            speeds.append(n / elapsed)
        rates[name] = statistics.median(speeds)
        print(f"{name:<24}{rates[name]:>12,.0f}{statistics.median(firsts):>16.2f}")
    floor = rates["httpx iter_lines+json"]
    print(
        f"screenscribe / httpx iter_lines+json: {rates['screenscribe'] / floor:.0%} (target >= 90%)"
    )
    server.terminate()
    server.wait()


if __name__ == "__main__":
    main()
