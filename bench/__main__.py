"""Every benchmark in one run, each figure beside a peer's, as a table and as JSON.

    .venv/bin/python -m bench                 # everything (under 5 minutes on 2 cores)
    .venv/bin/python -m bench --quick         # fewer repetitions (about 2 minutes)
    .venv/bin/python -m bench --only bench_stream,bench_batch
    .venv/bin/python -m bench --smoke         # each once at a tiny size: do they work?

Each benchmark runs as its own process (cold starts and memory must not share one) and
starts its own Xvfb where it needs a screen. Writes ``bench/results.json`` (every figure,
with the machine) and, with ``--markdown PATH``, the table as Markdown (``docs/
benchmarks.md`` keeps the latest). Absolute times vary between machines; compare the
medians and the ratios to the peers measured in the same run.

``--smoke`` passes ``--smoke`` on (bench.common): its figures are no measurement, so it
writes ``bench/results.json`` and the Markdown table only where ``--json`` and
``--markdown`` name them; by default the JSON goes to a new temporary file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Figure, read_figures  # noqa: E402

# What the user waits for, in the order issue 7 lists it.
BENCHES = (
    "bench_launch",
    "bench_imaging",
    "bench_stream",
    "bench_panel",
    "bench_memory",
    "bench_release_to_clipboard",
    "ocr_accuracy",
    "bench_batch",
    "bench_hotkey",
    "bench_capture",
    "bench_history",
)
TIMEOUT_S = 900
SMOKE_TIMEOUT_S = 300
RESULTS = ROOT / "bench" / "results.json"


def _number(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("chunks/s", "images/s") or abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    if unit == "%":
        return f"{value:.2f} %"
    if unit == "x":
        return f"{value:.1f}x"
    return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"


def _target(figure: Figure) -> str:
    if figure.target is None:
        return ""
    sign = "<=" if figure.better == "lower" else ">="
    return f"{sign} {_number(figure.target, figure.unit)}"


def _met(figure: Figure) -> str:
    return {True: "yes", False: "NO", None: ""}[figure.met]


def rows(figures: list[Figure]) -> list[list[str]]:
    out = []
    for f in figures:
        peer = f"{_number(f.peer_value, f.unit)} ({f.peer})" if f.peer else ""
        out.append([f.what, _number(f.value, f.unit), peer, _target(f), _met(f), f.note])
    return out


HEADER = ["what the user waits for", "ScreenScribe", "peer (same run)", "target", "met", "note"]


def table(figures: list[Figure]) -> str:
    body = rows(figures)
    widths = [max(len(r[i]) for r in [HEADER, *body]) for i in range(len(HEADER) - 1)]
    lines = []
    for r in [HEADER, *body]:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        lines.append("  ".join(cells) + (f"  {r[-1]}" if r[-1] else ""))
    return "\n".join(lines)


def markdown(figures: list[Figure], machine: dict[str, str], command: str) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [
        f"Measured {machine['date']} on {machine['machine']} ({machine['cpus']} CPUs, "
        f"Python {machine['python']}) with `{command}`.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows(figures)]
    return "\n".join(lines) + "\n"


START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def write_markdown(path: Path, table_md: str) -> None:
    """Puts the table between the START and END markers of ``path`` (the text around
    them stays), or writes it as the whole file when there are no markers."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = f"{before}{START}\n{table_md}{END}{after}"
    else:
        text = table_md
    path.write_text(text, encoding="utf-8")


def run_one(
    name: str, quick: bool, folder: Path, *, smoke: bool = False
) -> tuple[list[Figure], float, str]:
    out = folder / f"{name}.json"
    command = [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--json", str(out)]
    if smoke:
        command.append("--smoke")
    elif quick:
        command.append("--quick")
    timeout = SMOKE_TIMEOUT_S if smoke else TIMEOUT_S
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        failure = f"did not finish in {timeout} s"
        return [Figure(name, name, None, "", note=failure)], time.monotonic() - t0, ""
    took = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    if proc.returncode != 0 or not out.exists():
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        note = f"failed (exit {proc.returncode}): {last}"
        return [Figure(name, name, None, "", note=note)], took, log
    return read_figures(out), took, log


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="each benchmark once at a tiny size (no measurement); writes no results "
        "file unless --json names one",
    )
    ap.add_argument("--only", help="comma-separated benchmark names")
    ap.add_argument(
        "--json",
        metavar="PATH",
        help=f"default {RESULTS.relative_to(ROOT)}; with --smoke a new temporary file",
    )
    ap.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown")
    args = ap.parse_args()
    names = BENCHES if not args.only else tuple(n.strip() for n in args.only.split(","))
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    if args.json is None and args.smoke:
        fd, args.json = tempfile.mkstemp(prefix="ss-bench-smoke-", suffix=".json")
        os.close(fd)
    elif args.json is None:
        args.json = str(RESULTS)
    figures: list[Figure] = []
    logs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="ss-bench-") as tmp:
        for name in names:
            print(f"running {name}…", file=sys.stderr, flush=True)
            got, took, log = run_one(name, args.quick, Path(tmp), smoke=args.smoke)
            print(f"  {name}: {len(got)} figure(s) in {took:.0f} s", file=sys.stderr, flush=True)
            figures += got
            logs[name] = log
    machine = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.system()} {platform.release()} {platform.machine()}",
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
    }
    command = "python -m bench" + (" --smoke" if args.smoke else " --quick" if args.quick else "")
    print(table(figures))
    Path(args.json).write_text(
        json.dumps(
            {"machine": machine, "command": command, "figures": [asdict(f) for f in figures]},
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"\nwrote {args.json}", file=sys.stderr)
    if args.markdown:
        write_markdown(Path(args.markdown), markdown(figures, machine, command))
        print(f"wrote {args.markdown}", file=sys.stderr)
    missed = [f for f in figures if f.met is False or f.value is None]
    return 1 if any(f.value is None for f in missed) else 0


if __name__ == "__main__":
    sys.exit(main())
