"""Where ScreenScribe's data files are: icons, prompt presets, the .desktop file, metainfo.

Standard library only (no Qt), so ``core`` may use it. The files live in the
repository's ``resources/`` folder; the wheel carries that folder as the package data
``desktop_app/resources/`` (``force-include`` in ``pyproject.toml``). The folder is looked
for in this order, and the first one that holds ``MARKER`` wins:

1. ``desktop_app/resources/`` beside this module: an installed wheel (pip, pipx) or a
   frozen bundle that puts the data files there;
2. ``<repository>/resources/``: a source checkout run in place (``python -m desktop_app``)
   or an editable install, whose ``.pth`` file imports ``desktop_app`` from the checkout
   (hatchling's editable wheel also copies the force-included files into site-packages,
   but that copy is a snapshot taken at install time and is never looked at).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

APP_ID: Final = "io.github.screenscribe.ScreenScribe"
"""The reverse-DNS application id: the .desktop file's, the metainfo's and the icon's name."""

MARKER: Final = f"{APP_ID}.desktop"
"""A file that every resources folder of ScreenScribe holds: how a candidate is recognised."""

_PACKAGE_DIR: Final = Path(__file__).resolve().parent


def candidates(package_dir: Path = _PACKAGE_DIR) -> tuple[Path, ...]:
    """The folders looked at, in order (see the module docstring)."""
    return (package_dir / "resources", package_dir.parent / "resources")


def find_resources_dir(package_dir: Path = _PACKAGE_DIR) -> Path:
    """The first of :func:`candidates` that holds :data:`MARKER`.

    Raises ``FileNotFoundError`` naming every folder looked at when none does.
    """
    looked = candidates(package_dir)
    for folder in looked:
        if (folder / MARKER).is_file():
            return folder
    raise FileNotFoundError(
        "ScreenScribe's resource files are missing (looked for "
        + " and ".join(str(folder / MARKER) for folder in looked)
        + "). Reinstall ScreenScribe."
    )


@functools.cache
def resources_dir() -> Path:
    """The resources folder of this installation (found once, then remembered)."""
    return find_resources_dir()


def resource_path(*parts: str) -> Path:
    """The path of the resource ``parts`` (e.g. ``"prompts", "presets.toml"``).

    Raises ``FileNotFoundError`` with a message for a person when the resources folder or
    that file in it is missing.
    """
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"ScreenScribe's resource file {path} is missing. Reinstall ScreenScribe."
        )
    return path
