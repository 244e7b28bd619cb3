"""PySide6's per-import source scan, skipped in a fresh process as the app does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_SCRIPT = """
import json, sys, linecache
from desktop_app.pyside_setup import skip_feature_source_scan
skipped = skip_feature_source_scan() if sys.argv[1] == "skip" else False
import desktop_app.app, desktop_app.hotkeys.x11, desktop_app.cli
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(["t"])
class Probe(QObject):
    said = Signal(str)
heard = []
p = Probe()
p.said.connect(heard.append)
p.said.emit("ok")
w = QWidget()
w.setWindowTitle("t")  # camelCase API as always (no snake_case selected anywhere)
print(json.dumps({"skipped": skipped, "heard": heard, "title": w.windowTitle(),
                  "cached_lines": sum(len(v[2]) for v in linecache.cache.values()
                                      if len(v) > 2)}))
"""


def _run(mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_app_skips_pysides_source_scan_and_qt_works_as_before() -> None:
    scanned, skipped = _run("scan"), _run("skip")
    assert skipped["skipped"] is True
    assert skipped["heard"] == scanned["heard"] == ["ok"]
    assert skipped["title"] == scanned["title"] == "t"
    # PySide6 read every imported module's source: tens of thousands of lines, kept
    assert isinstance(scanned["cached_lines"], int)
    assert isinstance(skipped["cached_lines"], int)
    assert scanned["cached_lines"] > 20_000
    assert skipped["cached_lines"] < scanned["cached_lines"] / 5
