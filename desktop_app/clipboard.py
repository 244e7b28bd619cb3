"""Read an image from the clipboard: the image itself, or an image file whose path or
``file://`` URL is on it. QtGui only (no widgets); the image leaves as core data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from PySide6.QtGui import QClipboard, QImage

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


def read_image(clipboard: QClipboard) -> ClipboardImage:
    """The clipboard's image. Raises ``UsageError`` with a sentence for the user when
    there is nothing usable on it."""
    mime = clipboard.mimeData()
    if mime is not None and mime.hasImage():
        image = clipboard.image()
        if not image.isNull():
            image = image.convertToFormat(QImage.Format.Format_RGB32)
            return ClipboardImage(
                "clipboard",
                bgra=bytes(image.constBits()),
                width=image.width(),
                height=image.height(),
                stride=image.bytesPerLine(),
            )
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
