"""What the app does to PySide6 before importing its own Qt modules.

PySide6 replaces ``__import__`` to support ``from __feature__ import snake_case``. After
every import in the process it asks whether the new module "uses PySide" by reading the
module's whole source with ``inspect.getsource`` (napari/napari#8584 traced the same):
for the tray app that meant reading and keeping 52,000 source lines of 76 files in
``linecache``, 4.5 MiB of resident memory for good and up to 10 ms of its start.

The answer only decides whether a module takes part in switching features on and off;
nothing in this process selects a feature (ScreenScribe, its dependencies), so every
Qt type stays in its default form either way. :func:`skip_feature_source_scan` answers
"no" without reading anything, unless some module has already asked for a feature.
"""

from __future__ import annotations

import sys

__all__ = ["skip_feature_source_scan"]


def _never(module: object) -> bool:
    return False


def skip_feature_source_scan() -> bool:
    """True when PySide6's per-import source scan is now skipped (call it right after
    importing PySide6, before the app's own modules)."""
    import PySide6.QtCore  # noqa: F401 -- installs the import hook being adjusted

    feature = sys.modules.get("shibokensupport.feature")
    if feature is None or not callable(getattr(feature, "_mod_uses_pyside", None)):
        return False  # another PySide6: leave it as it is
    chosen = getattr(feature, "pyside_feature_dict", {})
    if any(isinstance(v, int) and v > 0 for v in chosen.values()):
        return False  # a module selected a feature: the scan matters
    setattr(feature, "_mod_uses_pyside", _never)  # noqa: B010 -- a private name of PySide6
    return True
