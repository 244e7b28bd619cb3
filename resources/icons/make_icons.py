"""Render ScreenScribe's PNG icons from the SVG (run after changing the SVG).

    QT_QPA_PLATFORM=offscreen python resources/icons/make_icons.py

Writes ``hicolor/<size>x<size>/apps/<app id>.png`` for each of ``SIZES`` beside this
script, with Qt's SVG renderer (QtSvg is in PySide6-Essentials). The PNGs are committed
so that packaging needs no renderer; tests/packaging/test_desktop_files.py checks that
they are still what the SVG renders.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

APP_ID = "io.github.screenscribe.ScreenScribe"
SIZES = (64, 128, 256)
HERE = Path(__file__).resolve().parent
SVG = HERE / f"{APP_ID}.svg"


def png_path(size: int, root: Path = HERE) -> Path:
    return root / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"


def render(size: int, svg: Path = SVG) -> QImage:
    """The SVG drawn at ``size`` x ``size`` pixels on a transparent background (needs a
    QGuiApplication)."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not an SVG image Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    for size in SIZES:
        path = png_path(size)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not render(size).save(str(path)):
            print(f"make_icons: could not write {path}", file=sys.stderr)
            return 1
        print(path.relative_to(HERE))
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
