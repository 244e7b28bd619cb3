"""The theme setting changes the colours of the running app, and "system" puts them back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from desktop_app.ui.theme import apply_theme


@pytest.fixture
def app(qapp: QApplication) -> Iterator[QApplication]:
    yield qapp
    apply_theme("system")


def window_lightness(app: QApplication) -> int:
    return app.palette().color(QPalette.ColorRole.Window).lightness()


def test_dark_light_and_back_to_the_system(app: QApplication) -> None:
    style = app.style()
    assert style is not None
    system_style = style.name()
    system_window = app.palette().color(QPalette.ColorRole.Window).name()
    apply_theme("dark")
    assert window_lightness(app) < 80
    assert app.palette().color(QPalette.ColorRole.Text).lightness() > 180
    apply_theme("light")
    assert window_lightness(app) > 200
    apply_theme("system")
    back = app.style()
    assert back is not None
    assert back.name() == system_style
    assert app.palette().color(QPalette.ColorRole.Window).name() == system_window
