"""The benchmark runner's arithmetic and reporting (the benchmarks themselves are run by
`python -m bench`, not by the test suite: their figures are not pass/fail)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import END, START, markdown, table, write_markdown
from bench.common import Figure, read_figures, write_figures


def test_a_figure_knows_whether_it_met_its_target() -> None:
    assert Figure("b", "latency", 20.0, "ms", target=25.0).met is True
    assert Figure("b", "latency", 30.0, "ms", target=25.0).met is False
    assert Figure("b", "throughput", 9.0, "x", better="higher", target=8.0).met is True
    assert Figure("b", "throughput", 7.0, "x", better="higher", target=8.0).met is False
    assert Figure("b", "no target", 7.0, "ms").met is None
    assert Figure("b", "failed", None, "ms", target=1.0).met is None


def test_figures_round_trip_through_json(tmp_path: Path) -> None:
    figures = [
        Figure("bench_stream", "parse", 95_000.0, "chunks/s", "higher", 85_000.0, "httpx", 1e5)
    ]
    write_figures(figures, tmp_path / "f.json")
    assert read_figures(tmp_path / "f.json") == figures


def test_the_table_shows_ours_the_peer_the_target_and_misses() -> None:
    figures = [
        Figure(
            "x",
            "cold launch to overlay",
            160.0,
            "ms",
            target=175.0,
            peer="NormCap",
            peer_value=186.0,
        ),
        Figure("y", "idle memory", 80.0, "MiB", target=65.0, note="tray app"),
    ]
    text = table(figures)
    lines = text.splitlines()
    assert lines[0].startswith("what the user waits for")
    assert "160 ms" in lines[1]
    assert "186 ms (NormCap)" in lines[1]
    assert "<= 175 ms" in lines[1]
    assert lines[1].rstrip().endswith("yes")
    assert "NO" in lines[2]
    assert lines[2].endswith("tray app")


def test_markdown_replaces_only_the_marked_part(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(f"# Benchmarks\n\nintro\n\n{START}\nold\n{END}\n\nhow to reproduce\n")
    machine = {"date": "2026-11-25", "machine": "Linux", "cpus": "2", "python": "3.11"}
    md = markdown([Figure("x", "a | b", 1.0, "ms")], machine, "python -m bench")
    write_markdown(page, md)
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n\n")
    assert text.endswith(f"{END}\n\nhow to reproduce\n")
    assert "old" not in text
    assert "| a \\| b | 1.0 ms |" in text


def test_print_figures_says_ours_the_target_and_the_peer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench.common import print_figures

    print_figures([Figure("b", "throughput", 9.0, "x", better="higher", target=8.0, peer="p")])
    assert (
        capsys.readouterr().out == "throughput\n    ours 9.0 x (target >= 8.0), p: n/a; met: True\n"
    )
