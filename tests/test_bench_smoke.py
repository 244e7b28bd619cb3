"""Every benchmark runs once at a tiny size (``--smoke``), so that none can rot.

The benchmarks are not part of the test run (their figures are not pass/fail, and a full
run takes minutes): here each ``bench/<name>.py`` of ``bench.__main__.BENCHES`` runs as
``python bench/<name>.py --smoke --json PATH``, through its real code path (the real
app, command line, server or X server), and must exit 0 having written figures with
plausible numbers. A benchmark added to BENCHES is covered without a change here.

Each runs in a process of its own with HOME, the XDG folders and D-Bus pointed into
``tmp_path`` (no user settings, history, keyring or session bus), and without DISPLAY:
a benchmark that needs a screen starts its own Xvfb (``tests.xserver.xvfb`` lets Xvfb
pick a free display number, so it cannot collide with pytest-xvfb's or another's).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHES, RESULTS

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 180  # one benchmark's smoke run; they take 1 to 12 s on 2 busy cores


def isolated_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a benchmark: this one, with its own home and no display."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QT_", "SCREENSCRIBE_", "XDG_"))
        and k not in ("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "NORMCAP")
    }
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    for sub in ("home", "config", "data", "cache"):
        (tmp_path / sub).mkdir()
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path / "home"),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "XDG_RUNTIME_DIR": str(runtime),
            "SCREENSCRIBE_CONFIG_DIR": str(tmp_path / "ss-config"),
            "SCREENSCRIBE_DATA_DIR": str(tmp_path / "ss-data"),
            # a bus that is not there: nothing reaches the session's D-Bus (tray, keyring)
            "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime / 'no-bus'}",
            "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.PlaintextKeyring",
        }
    )
    return env


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Runs ``command`` in a process group of its own; on a timeout the whole group is
    killed (the benchmark's Xvfb and helpers too, whose clean-up it cannot do then)."""
    with subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"{' '.join(command)} did not finish in {TIMEOUT_S} s:\n{err[-4000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def plausible(value: float, unit: str) -> bool:
    """Finite; a time, size or rate above zero; a percentage (a CER may be 0, an excess
    over a yardstick may be below it) within -100 % and absurdity."""
    if not math.isfinite(value):
        return False
    if unit == "%":
        return -100 < value < 100_000
    return value > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", BENCHES)
def test_each_benchmark_runs_once_at_a_tiny_size(name: str, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    command = [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--smoke", "--json", str(out)]
    proc = run(command, isolated_env(tmp_path))
    log = f"{' '.join(command)}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, log
    assert out.exists(), log
    figures = json.loads(out.read_text(encoding="utf-8"))
    assert figures, log
    for figure in figures:
        assert figure["bench"] == name, figure
        assert "smoke" in figure["note"], figure
        assert figure["value"] is not None, figure
        assert plausible(figure["value"], figure["unit"]), figure


def test_the_runner_refuses_an_unknown_benchmark(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.__main__ import main

    monkeypatch.setattr(sys, "argv", ["python -m bench", "--smoke", "--only", "bench_nope"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown benchmark(s) bench_nope" in err
    assert "bench_history" in err  # it names the ones there are


@pytest.mark.slow
def test_the_runners_smoke_run_prints_the_table_and_keeps_the_results(tmp_path: Path) -> None:
    """``python -m bench --smoke`` passes --smoke on and, without --json, writes the JSON
    to a temporary file: bench/results.json keeps the last real measurement."""
    before = hashlib.sha256(RESULTS.read_bytes()).digest() if RESULTS.exists() else None
    proc = run(
        [sys.executable, "-m", "bench", "--smoke", "--only", "bench_history"],
        isolated_env(tmp_path),
    )
    after = hashlib.sha256(RESULTS.read_bytes()).digest() if RESULTS.exists() else None
    assert after == before, "python -m bench --smoke overwrote bench/results.json"
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("what the user waits for"), proc.stdout
    assert any("history insert rate" in line and "smoke" in line for line in lines)
    wrote = [line for line in proc.stderr.splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 1, proc.stderr
    path = Path(wrote[0].removeprefix("wrote "))
    try:
        assert path.parent != ROOT / "bench"
        data = json.loads(path.read_text(encoding="utf-8"))
        assert data["command"] == "python -m bench --smoke"
        assert {f["bench"] for f in data["figures"]} == {"bench_history"}
    finally:
        path.unlink(missing_ok=True)
