"""What every benchmark shares: a figure, and how it is handed to ``python -m bench``.

Each ``bench/bench_*.py`` still runs on its own and prints what it measured; given
``--json PATH`` it also writes its figures there, as a list of :class:`Figure` dicts, for
the runner (``python -m bench``) to gather into one table and one JSON file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


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


def write_figures(figures: list[Figure], path: str | Path | None) -> None:
    """Writes ``figures`` as JSON to ``path`` (nothing when ``path`` is None)."""
    if path is None:
        return
    Path(path).write_text(json.dumps([asdict(f) for f in figures], indent=2), encoding="utf-8")


def read_figures(path: str | Path) -> list[Figure]:
    return [Figure(**item) for item in json.loads(Path(path).read_text(encoding="utf-8"))]
