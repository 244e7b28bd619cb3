"""The clipboard: read an image (the image itself, or an image file whose path or
``file://`` URL is on it) and write text back. QtGui only (no widgets); the image
leaves as core data.

On Wayland a program may touch the clipboard only while one of its windows has the
keyboard focus. When none of ours has it (an answer that completes after the user
clicked elsewhere, the CLI-started one-shot app), ``wl-copy`` and ``wl-paste`` from
wl-clipboard do it through the compositor's data-control protocol instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QClipboard, QGuiApplication, QImage

from desktop_app.core.errors import ImageError, UsageError


@dataclass(frozen=True)
class ClipboardImage:
    """Either raw pixels (``bgra`` with its size and stride) or a file ``path``."""

    source: str  # "clipboard" or the file path
    bgra: bytes | None = None
    width: int = 0
    height: int = 0
    stride: int = 0
    path: str | None = None


def _local_file(text: str) -> Path | None:
    text = text.strip().strip('"').strip("'")
    if not text or "\n" in text:
        return None
    if text.startswith("file://"):
        parts = urlsplit(text)
        text = unquote(parts.path)
    elif "://" in text:
        raise UsageError(
            "The clipboard holds a web address; copy the image itself, or save it and copy "
            "the file."
        )
    path = Path(text).expanduser()
    return path if path.is_file() else None


_WL_TIMEOUT_S = 3.0
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff")


def _wayland_without_focus() -> bool:
    """On Wayland with no window of ours focused: Qt's clipboard cannot be used now."""
    return (
        QGuiApplication.platformName() == "wayland" or bool(os.environ.get("WAYLAND_DISPLAY"))
    ) and QGuiApplication.focusWindow() is None


def wl_clipboard_available() -> bool:
    return bool(os.environ.get("WAYLAND_DISPLAY")) and shutil.which("wl-copy") is not None


def write_text(text: str, html: str | None = None) -> str:
    """Puts ``text`` (and ``html`` for rich editors) on the clipboard; returns how:
    "qt", or "wl-copy" on Wayland when no window of ours has the focus."""
    if _wayland_without_focus() and wl_clipboard_available():
        try:
            # wl-copy forks a small process that serves the text until replaced.
            subprocess.run(
                ["wl-copy", "--type", "text/plain;charset=utf-8"],
                input=text.encode("utf-8"),
                timeout=_WL_TIMEOUT_S,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            pass  # fall back to Qt: it works once a window of ours is focused again
        else:
            return "wl-copy"
    mime = QMimeData()
    mime.setText(text)
    if html is not None:
        mime.setHtml(html)
    QGuiApplication.clipboard().setMimeData(mime)
    return "qt"


def _wl_paste_image() -> QImage | None:
    """The clipboard's image through wl-paste (Wayland, no window of ours focused)."""
    if not os.environ.get("WAYLAND_DISPLAY") or shutil.which("wl-paste") is None:
        return None
    try:
        types = subprocess.run(
            ["wl-paste", "--list-types"],
            capture_output=True,
            timeout=_WL_TIMEOUT_S,
            check=False,
        ).stdout.decode("utf-8", "replace")
        kind = next((t for t in _IMAGE_TYPES if t in types.split()), None)
        if kind is None:
            return None
        data = subprocess.run(
            ["wl-paste", "--no-newline", "--type", kind],
            capture_output=True,
            timeout=_WL_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    image = QImage.fromData(data)
    return None if image.isNull() else image


def _from_qimage(image: QImage) -> ClipboardImage:
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    return ClipboardImage(
        "clipboard",
        bgra=bytes(image.constBits()),
        width=image.width(),
        height=image.height(),
        stride=image.bytesPerLine(),
    )


def read_image(clipboard: QClipboard) -> ClipboardImage:
    """The clipboard's image. Raises ``UsageError`` with a sentence for the user when
    there is nothing usable on it."""
    if _wayland_without_focus():
        pasted = _wl_paste_image()
        if pasted is not None:
            return _from_qimage(pasted)
    mime = clipboard.mimeData()
    if mime is not None and mime.hasImage():
        image = clipboard.image()
        if not image.isNull():
            return _from_qimage(image)
    candidates: list[str] = []
    if mime is not None and mime.hasUrls():
        candidates += [u.toString() for u in mime.urls()]
    if mime is not None and mime.hasText():
        candidates.append(mime.text())
    for text in candidates:
        path = _local_file(text)
        if path is not None:
            return ClipboardImage(str(path), path=str(path))
    if candidates:
        raise ImageError("The clipboard holds text, not an image or the path of an image file.")
    raise UsageError("The clipboard is empty: copy an image (or an image file) first.")
