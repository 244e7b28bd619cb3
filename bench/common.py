"""What every benchmark shares: a figure, and how it is handed to ``python -m bench``.

Each ``bench/bench_*.py`` still runs on its own and prints what it measured; given
``--json PATH`` it also writes its figures there, as a list of :class:`Figure` dicts, for
the runner (``python -m bench``) to gather into one table and one JSON file.

Each also takes ``--smoke`` (:func:`add_smoke_flag`): one run at a tiny size, peers that
must be installed from the network left out, through the same code path and to the same
figures, each marked as a smoke run (:func:`write_figures`). ``tests/test_bench_smoke.py``
runs every benchmark that way so that none can rot; its numbers are no measurement.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

SMOKE_NOTE = "smoke run (one run, tiny size): no measurement, target not judged"


@dataclass
class Figure:
    """One thing the user waits for, measured (a median), beside a peer where there is one.

    ``better`` says which way is good ("lower" for times and memory, "higher" for
    throughput); ``target`` is the issue's target in the same unit (None: no target);
    ``met`` is filled in from them.
    """

    bench: str  # the module, e.g. "bench_stream"
    what: str  # e.g. "stream parsing, 20,000 chunks"
    value: float | None  # ours; None when it could not be measured (see note)
    unit: str  # "ms", "MiB", "chunks/s", "%"
    better: str = "lower"  # or "higher"
    target: float | None = None
    peer: str | None = None  # e.g. "openai-python", "NormCap 0.6.0"
    peer_value: float | None = None
    note: str = ""
    met: bool | None = None

    def __post_init__(self) -> None:
        if self.met is None and self.value is not None and self.target is not None:
            self.met = (
                self.value <= self.target if self.better == "lower" else self.value >= self.target
            )


def print_figures(figures: list[Figure]) -> None:
    """Each figure on two lines: what, then ours, the target, the peer's, met."""
    for f in figures:
        value = "n/a" if f.value is None else f"{f.value:.1f} {f.unit}"
        peer = "n/a" if f.peer_value is None else f"{f.peer_value:.1f}"
        sign = "<=" if f.better == "lower" else ">="
        print(
            f"{f.what}\n    ours {value} (target {sign} {f.target}), {f.peer}: {peer}; met: {f.met}"
        )


def add_smoke_flag(parser: argparse.ArgumentParser) -> None:
    """``--smoke``: the benchmark once at a tiny size (see the module's docstring)."""
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one run at a tiny size, no peers to install: checks that the benchmark works "
        "(tests/test_bench_smoke.py); the figures say 'smoke' and are no measurement",
    )


def smoke_figure(figure: Figure) -> Figure:
    """``figure`` as a smoke run's: the note says so; the target, meant for the full
    size, is left out (so nothing is "met" or missed)."""
    note = f"{SMOKE_NOTE}; {figure.note}" if figure.note else SMOKE_NOTE
    return replace(figure, target=None, met=None, note=note)


def write_figures(figures: list[Figure], path: str | Path | None, *, smoke: bool = False) -> None:
    """Writes ``figures`` as JSON to ``path`` (nothing when ``path`` is None); with
    ``smoke``, as :func:`smoke_figure` marks them."""
    if smoke:
        figures = [smoke_figure(f) for f in figures]
    if path is None:
        return
    Path(path).write_text(json.dumps([asdict(f) for f in figures], indent=2), encoding="utf-8")


def read_figures(path: str | Path) -> list[Figure]:
    return [Figure(**item) for item in json.loads(Path(path).read_text(encoding="utf-8"))]
