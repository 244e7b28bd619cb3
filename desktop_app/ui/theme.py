"""Light, dark or the system's colours, switched live.

Qt 6.8's ``QStyleHints.setColorScheme`` is honoured only by some platform themes
(Windows 11, macOS, GNOME with a portal); elsewhere (plain X11, Xvfb, KDE without the
plugin) it changes nothing. So the app also sets a Fusion palette of its own for light
and dark, and puts the system's style and palette back for "system".
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

THEMES = ("system", "light", "dark")

_original: tuple[str, QPalette] | None = None  # the system's style name and palette


def _dark_palette() -> QPalette:
    p = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colours = {
        role.Window: "#2b2b2e",
        role.WindowText: "#e6e6e6",
        role.Base: "#1e1e20",
        role.AlternateBase: "#2f2f33",
        role.ToolTipBase: "#3a3a3e",
        role.ToolTipText: "#e6e6e6",
        role.PlaceholderText: "#8c8c90",
        role.Text: "#e6e6e6",
        role.Button: "#38383c",
        role.ButtonText: "#e6e6e6",
        role.BrightText: "#ff6b6b",
        role.Link: "#6ea8fe",
        role.Highlight: "#3d6fd9",
        role.HighlightedText: "#ffffff",
        role.Mid: "#4a4a4f",
        role.Dark: "#19191b",
        role.Light: "#505055",
    }
    for r, name in colours.items():
        p.setColor(r, QColor(name))
    for r in (role.Text, role.WindowText, role.ButtonText):
        p.setColor(group.Disabled, r, QColor("#7a7a7e"))
    return p


def apply_theme(theme: str) -> None:
    """Applies ``theme`` ("system", "light" or "dark") to the running application."""
    global _original  # noqa: PLW0603  (the one application's original look)
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    style = app.style()
    if _original is None:
        _original = (style.name() if style is not None else "", QPalette(app.palette()))
    hints = QGuiApplication.styleHints()
    scheme = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}
    if hasattr(hints, "setColorScheme"):
        hints.setColorScheme(scheme.get(theme, Qt.ColorScheme.Unknown))
    if theme == "system":
        name, palette = _original
        if name and style is not None and style.name() != name:
            app.setStyle(QStyleFactory.create(name))
        app.setPalette(palette)
        return
    fusion = QStyleFactory.create("Fusion")
    app.setStyle(fusion)
    app.setPalette(_dark_palette() if theme == "dark" else fusion.standardPalette())
