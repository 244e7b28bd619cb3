"""ScreenScribe: select a region of the screen, get its text or an answer about it."""

__version__ = "0.1.0"
