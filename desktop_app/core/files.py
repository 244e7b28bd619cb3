"""Small file helpers shared by the stores (settings, history)."""

from __future__ import annotations

import time
from pathlib import Path


def corrupt_backup_path(path: Path) -> Path:
    """A free name beside ``path`` for keeping a damaged file: ``NAME.corrupt-YYYYmmdd-HHMMSS``
    (with ``-1``, ``-2`` ... when that exists already)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    return backup
