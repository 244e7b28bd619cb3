"""Image loading, Qwen3-VL sizing and encoding (Pillow only; no Qt).

The client sizes every image itself to the model's pixel budget (see PROTOCOL.md,
"Qwen3-VL image geometry"): sides are multiples of 32 and one token covers 32 x 32 pixels.
"""

from __future__ import annotations

import io
import math
import os
import struct
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from desktop_app.core.errors import ImageError
from desktop_app.core.models import PreparedImage, Region

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MIN_TOKENS",
    "FACTOR",
    "MAX_ASPECT_RATIO",
    "MAX_SOURCE_PIXELS",
    "PNG_COMPRESS_LEVEL",
    "WRAPPER_TOKENS",
    "adler32_combine",
    "encode_png",
    "estimate_image_tokens",
    "load_image",
    "make_thumbnail",
    "prepare_image",
    "prepare_image_with_thumbnail",
    "smart_resize",
]

MAX_SOURCE_PIXELS = 100_000_000
"""Largest source image accepted (checked from the header, before decoding)."""
MAX_ASPECT_RATIO = 200
"""Longest side / shortest side above this is rejected (Qwen's own limit)."""
FACTOR = 32
"""Patch 16 x spatial merge 2: sides are multiples of 32, one token per 32 x 32 pixels."""
WRAPPER_TOKENS = 2
"""The vision start/end tokens around every image (not counted in ``tokens``)."""
DEFAULT_MIN_TOKENS = 64
DEFAULT_MAX_TOKENS = 16384

PNG_COMPRESS_LEVEL = 1
"""zlib level for PNG: the fastest; on screenshots only ~10% larger than level 6."""
JPEG_QUALITY = 90
WEBP_METHOD = 1
"""Lossless WebP effort: method 1 with quality 0 is about half PNG's size at ~1.5x its time."""
THUMBNAIL_QUALITY = 80

_WHITE = (255, 255, 255)
_SUPPORTED = "PNG, JPEG, WebP, BMP, TIFF or GIF"
# Restricting the formats keeps odd decoders (EPS runs Ghostscript) out of reach.
_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")  # JPEG covers MPO (camera) files
# What Pillow's decoders raise on damaged data (UnidentifiedImageError is an OSError).
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    struct.error,
    zlib.error,
)
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_HIGH_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


# --- geometry ------------------------------------------------------------------------


def _check_shape(width: int, height: int, what: str = "The image") -> None:
    """Raise ImageError for an empty image or one narrower than 1:200."""
    if width <= 0 or height <= 0:
        raise ImageError(f"{what} has no pixels ({width} x {height}).")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageError(
            f"{what} is too long and thin ({width} x {height} pixels); "
            f"the longest side may be at most {MAX_ASPECT_RATIO} times the shortest."
        )


def smart_resize(
    width: int,
    height: int,
    *,
    factor: int = FACTOR,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> tuple[int, int]:
    """Return ``(width, height)`` the model will see, by Qwen's ``smart_resize`` rule.

    Sides are rounded to multiples of ``factor``; the area is then scaled down to at most
    ``max_tokens`` or up to at least ``min_tokens`` tokens of ``factor`` x ``factor`` pixels.
    """
    if factor < 1 or min_tokens < 1 or max_tokens < min_tokens:
        raise ValueError(
            f"Invalid budget: factor={factor}, min_tokens={min_tokens}, max_tokens={max_tokens}."
        )
    _check_shape(width, height)
    min_pixels = min_tokens * factor * factor
    max_pixels = max_tokens * factor * factor
    # round() is Python's banker's rounding, exactly as in Qwen's reference code.
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def estimate_image_tokens(
    width: int,
    height: int,
    *,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
) -> int:
    """Image tokens for a ``width`` x ``height`` source, without the 2 wrapper tokens."""
    new_w, new_h = smart_resize(width, height, min_tokens=min_tokens, max_tokens=max_tokens)
    return new_w * new_h // (FACTOR * FACTOR)


# --- loading -------------------------------------------------------------------------


@contextmanager
def _quiet_bomb_warning() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning (~89 MP): our own limit is stricter.

    ``warnings.catch_warnings`` swaps process-wide state; it is held only around Pillow calls.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _too_large(what: str, width: int, height: int) -> ImageError:
    return ImageError(
        f"{what} is too large: {width} x {height} pixels ({width * height / 1e6:.1f} megapixels); "
        f"the limit is {MAX_SOURCE_PIXELS // 1_000_000} megapixels."
    )


def _check_source_size(im: Image.Image, what: str) -> None:
    width, height = im.size
    if width <= 0 or height <= 0:
        raise ImageError(f"{what} has no pixels ({width} x {height}).")
    if width * height > MAX_SOURCE_PIXELS:
        raise _too_large(what, width, height)


def _decode(
    fp: IO[bytes], name: str | None, opened: list[Image.Image] | None = None
) -> Image.Image:
    """Open, check the header's size, then decode; every failure becomes ImageError.
    ``opened`` receives the image as the file holds it (before normalizing)."""
    what = f"'{name}'" if name else "The image"
    try:
        with _quiet_bomb_warning():
            im = Image.open(fp, formats=_FORMATS)
            if opened is not None:
                opened.append(im)
    except Image.DecompressionBombError:
        raise ImageError(
            f"{what} is too large (over {MAX_SOURCE_PIXELS // 1_000_000} megapixels)."
        ) from None
    except UnidentifiedImageError:
        subject = what if name else "The data"
        raise ImageError(f"{subject} is not a supported image ({_SUPPORTED}).") from None
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{what} is damaged and cannot be read.") from exc
    _check_source_size(im, what)  # header only: nothing is decoded yet
    _check_shape(*im.size, what=what)
    return _load_normalized(im, what)


def _load_normalized(im: Image.Image, what: str) -> Image.Image:
    """Decode pixel data, apply EXIF orientation and convert to RGB on white."""
    try:
        with _quiet_bomb_warning():
            im.load()
    except _DECODE_ERRORS as exc:
        raise ImageError(f"{what} is damaged or truncated and cannot be decoded.") from exc
    return _to_rgb(_apply_orientation(im))


def _apply_orientation(im: Image.Image) -> Image.Image:
    """Return ``im`` turned upright by its EXIF/XMP orientation (a new image, or ``im``)."""
    try:
        orientation = im.getexif().get(ExifTags.Base.Orientation, 1)
    except _DECODE_ERRORS:  # damaged EXIF must not make the picture unusable
        return im
    if orientation not in _ORIENTATION_TRANSPOSE:
        return im
    return ImageOps.exif_transpose(im)


def _high_bit_to_l(im: Image.Image) -> Image.Image:
    """Scale 16-bit / 32-bit integer and float greyscale to 8-bit ``L``."""
    if im.mode == "F":
        extrema = im.getextrema()
        high = float(extrema[1]) if isinstance(extrema[1], (int, float)) else 255.0
        scale = 255.0 if high <= 1.0 else 1.0  # 0..1 floats, else already 0..255
        return im.point(lambda v: v * scale).convert("L")
    wide = im.convert("I")
    extrema = wide.getextrema()
    high = float(extrema[1]) if isinstance(extrema[1], (int, float)) else 0.0
    if im.mode.startswith("I;16") or high > 255:
        wide = wide.point(lambda v: v / 257)  # 0..65535 -> 0..255
    return wide.convert("L")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Return an RGB image; transparency is flattened onto white."""
    if im.mode == "RGB" and "transparency" not in im.info:
        return im
    if im.mode in _HIGH_BIT_MODES:
        return _high_bit_to_l(im).convert("RGB")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("LA").convert("RGBA") if im.mode == "La" else im.convert("RGBA")
        out = Image.new("RGB", rgba.size, _WHITE)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    return im.convert("RGB")


def load_image(source: bytes | str | os.PathLike[str]) -> Image.Image:
    """Load an image file or its bytes as upright RGB (alpha flattened on white).

    Accepts PNG, JPEG, WebP, BMP, TIFF and GIF (first frame). Raises ImageError for empty,
    unreadable, damaged or non-image input, an empty picture, an aspect ratio above 200:1 or
    more than 100 megapixels (checked from the header, before decoding).
    """
    return _load(source)[0]


def _load(source: bytes | str | os.PathLike[str]) -> tuple[Image.Image, bytes | None]:
    """``load_image``, and the source's bytes when they are a plain PNG that needs no
    change to be sent as it is (8-bit RGB, no transparency, upright, not interlaced)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise ImageError("The image is empty (0 bytes).")
        raw = bytes(source)
        return _decode_keeping(raw, None)
    try:
        path = Path(os.fspath(source))
        fh = path.open("rb")
    except FileNotFoundError:
        raise ImageError(f"File not found: {source}") from None
    except IsADirectoryError:
        raise ImageError(f"'{source}' is a folder, not an image file.") from None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ImageError(f"Cannot read '{source}': {reason}.") from exc
    with fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise ImageError(f"'{path.name}' is empty (0 bytes).")
        try:
            raw = fh.read()
        except OSError as exc:
            raise ImageError(f"Cannot read '{source}': {exc.strerror or exc}.") from exc
    return _decode_keeping(raw, path.name)


def _decode_keeping(raw: bytes, name: str | None) -> tuple[Image.Image, bytes | None]:
    opened: list[Image.Image] = []
    im = _decode(io.BytesIO(raw), name, opened)
    original = opened[0] if opened else None
    plain_png = (
        original is not None
        and im is original  # nothing was converted or turned
        and original.format == "PNG"
        and original.mode == "RGB"
        and "transparency" not in original.info
        and not original.info.get("interlace")
    )
    return im, raw if plain_png else None


def normalize_image(im: Image.Image) -> Image.Image:
    """Check and normalize an image the caller already has (never modifies it)."""
    _check_source_size(im, "The image")
    return _load_normalized(im, "The image")


# --- preparing -----------------------------------------------------------------------


def _crop(im: Image.Image, region: Region) -> Image.Image:
    """Crop to ``region`` clamped to the picture; ImageError when nothing is left."""
    if region.width <= 0 or region.height <= 0:
        raise ImageError(f"The selected region is empty ({region.width} x {region.height}).")
    width, height = im.size
    left, top = max(0, region.x), max(0, region.y)
    right = min(width, region.x + region.width)
    bottom = min(height, region.y + region.height)
    if right <= left or bottom <= top:
        raise ImageError(
            f"The selected region ({region.width} x {region.height} at {region.x}, {region.y}) "
            f"lies outside the image ({width} x {height})."
        )
    if (left, top, right, bottom) == (0, 0, width, height):
        return im
    with _quiet_bomb_warning():
        return im.crop((left, top, right, bottom))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_COLOUR_TYPES = {"RGB": (2, 3), "L": (0, 1)}  # mode -> (PNG colour type, bytes/pixel)
_ADLER_BASE = 65521
_PARALLEL_MIN_BYTES = 2_000_000
"""Below this much pixel data one thread compresses faster than two (thread hand-off)."""
_png_pool: ThreadPoolExecutor | None = None
_png_pool_lock = threading.Lock()


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + tag
        + data
        + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))
    )


def adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """The Adler-32 of A + B from Adler-32(A), Adler-32(B) and len(B): zlib's
    ``adler32_combine``, which Python's zlib module does not expose."""
    rem = len2 % _ADLER_BASE
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % _ADLER_BASE
    sum1 += (adler2 & 0xFFFF) + _ADLER_BASE - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + _ADLER_BASE - rem
    sum1 %= _ADLER_BASE
    sum2 %= _ADLER_BASE
    return sum1 | (sum2 << 16)


def _deflate_rows(
    im: Image.Image, first: int, last: int, final: bool, pad_right: bytes, pad_rows: bytes
) -> tuple[bytes, int, int]:
    """Rows ``first`` to ``last`` (exclusive) of ``im``, each behind PNG filter byte 0 and
    followed by ``pad_right``, then ``pad_rows`` (whole filtered rows), as a raw deflate
    fragment that ends byte-aligned (a sync flush) unless ``final``; with the Adler-32
    and length of the filtered bytes. Pillow and zlib let go of the GIL while they copy
    and compress, so bands run in parallel threads."""
    width = im.size[0]
    band = im if (first, last) == (0, im.size[1]) else im.crop((0, first, width, last))
    raw = memoryview(band.tobytes())
    stride = len(raw) // (last - first)
    pieces: list[bytes | memoryview] = []
    for row in range(last - first):
        pieces += (b"\x00", raw[row * stride : (row + 1) * stride], pad_right)
    pieces.append(pad_rows)
    filtered = b"".join(pieces)
    compressor = zlib.compressobj(PNG_COMPRESS_LEVEL, zlib.DEFLATED, -15)
    body = compressor.compress(filtered)
    body += compressor.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)
    return body, zlib.adler32(filtered), len(filtered)


def _pool() -> ThreadPoolExecutor:
    global _png_pool  # noqa: PLW0603 - one lazily made pool for the process
    with _png_pool_lock:
        if _png_pool is None:
            _png_pool = ThreadPoolExecutor(
                max_workers=max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="png"
            )
        return _png_pool


def encode_png(
    im: Image.Image,
    size: tuple[int, int] | None = None,
    fill: int | tuple[int, ...] | None = None,
) -> bytes:
    """``im`` (RGB or L) as a PNG: filter 0 on every row and zlib level 1, split across
    the CPU's cores for a large picture (pigz's method: fragments that end with a sync
    flush are one valid deflate stream when concatenated).

    ``size`` (at least ``im``'s) pads the picture on the right and at the bottom with
    ``fill`` (default: its bottom-right pixel) while it is written, with no padded copy
    of it made first (10 ms at 3840x2176).

    Pillow tries all five PNG filters on every row, which costs more than compressing
    (43 ms of its 48 ms on a 1920x1088 screenshot at level 0). On screenshots, flat
    colour and text, filter 0 is also the smaller file (283 KB against Pillow's 310 KB).
    Other modes go to Pillow.
    """
    width, height = size or im.size
    if width < im.size[0] or height < im.size[1]:
        raise ValueError(f"Cannot pad {im.size[0]}x{im.size[1]} to a smaller {width}x{height}.")
    kind = _PNG_COLOUR_TYPES.get(im.mode)
    if kind is None:
        if (width, height) != im.size:
            im = _pad(im, width, height, fill)
        buf = io.BytesIO()
        im.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL)
        return buf.getvalue()
    colour_type, depth = kind
    pixel = _pixel_bytes(im, fill)
    pad_right = pixel * (width - im.size[0])
    pad_rows = (b"\x00" + pixel * width) * (height - im.size[1])
    rows = im.size[1]
    parts = min(4, os.cpu_count() or 1, rows) if width * depth * rows >= _PARALLEL_MIN_BYTES else 1
    bounds = [rows * k // parts for k in range(parts + 1)]
    jobs = [
        (
            im,
            bounds[k],
            bounds[k + 1],
            k == parts - 1,
            pad_right,
            pad_rows if k == parts - 1 else b"",
        )
        for k in range(parts)
    ]
    if parts == 1:
        results = [_deflate_rows(*jobs[0])]
    else:
        results = list(_pool().map(lambda job: _deflate_rows(*job), jobs))
    checksum = results[0][1]
    for _, adler, length in results[1:]:
        checksum = adler32_combine(checksum, adler, length)
    stream = b"\x78\x01" + b"".join(r[0] for r in results) + struct.pack(">I", checksum)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", stream)
        + _png_chunk(b"IEND", b"")
    )


def _pixel_bytes(im: Image.Image, fill: int | tuple[int, ...] | None) -> bytes:
    if fill is None:
        fill = im.getpixel((im.size[0] - 1, im.size[1] - 1))  # type: ignore[assignment]
    values = (fill,) if isinstance(fill, int) else tuple(fill or ())
    return bytes(int(v) for v in values[: len(im.getbands())])


def _pad(im: Image.Image, width: int, height: int, fill: Any) -> Image.Image:
    if fill is None:
        fill = im.getpixel((im.size[0] - 1, im.size[1] - 1))
    padded = Image.new(im.mode, (width, height), fill)
    padded.paste(im, (0, 0))
    return padded


def _encode_png(im: Image.Image, buf: IO[bytes]) -> None:
    buf.write(encode_png(im))


def _encode_jpeg(im: Image.Image, buf: IO[bytes]) -> None:
    # 4:4:4: chroma subsampling smears coloured text.
    im.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=0)


def _encode_webp(im: Image.Image, buf: IO[bytes]) -> None:
    # For lossless WebP, ``quality`` is the encoder's effort (0 = fastest), not fidelity.
    im.save(buf, "WEBP", lossless=True, quality=0, method=WEBP_METHOD)


_ENCODERS: dict[str, Callable[[Image.Image, IO[bytes]], None]] = {
    "image/png": _encode_png,
    "image/jpeg": _encode_jpeg,
    "image/webp": _encode_webp,
}


def prepare_image(
    source: bytes | str | os.PathLike[str] | Image.Image,
    *,
    region: Region | None = None,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    mime: str = "image/png",
    fit: bool = True,
) -> PreparedImage:
    """Load (or take), crop, size to the token budget and encode an image for the model.

    ``fit=False`` keeps the pixels as they are (for the offline OCR engine, which has
    its own input sizes); ``tokens`` is still what the model would see.

    ``region`` is in physical pixels and is clamped to the picture. ``source_width`` and
    ``source_height`` of the result are the size after rotation and cropping, before sizing.
    ``mime`` is one of ``image/png`` (default), ``image/jpeg``, ``image/webp``.

    A PNG file (or its bytes) that needs no change, 8-bit RGB at a size the budget
    keeps, is sent as it is: decoded, so checked, but not encoded again.
    """
    return _prepare(
        source,
        region=region,
        min_tokens=min_tokens,
        max_tokens=max_tokens,
        mime=mime,
        fit=fit,
    )[0]


def prepare_image_with_thumbnail(
    source: bytes | str | os.PathLike[str] | Image.Image,
    *,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    fit: bool = True,
    max_side: int = 256,
) -> tuple[PreparedImage, bytes]:
    """``prepare_image`` and ``make_thumbnail`` from one decode (the batch command line
    saved the history's thumbnail by decoding the PNG it had just made)."""
    prepared, picture = _prepare(source, min_tokens=min_tokens, max_tokens=max_tokens, fit=fit)
    return prepared, make_thumbnail(picture, max_side)


def _prepare(
    source: bytes | str | os.PathLike[str] | Image.Image,
    *,
    region: Region | None = None,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    mime: str = "image/png",
    fit: bool = True,
) -> tuple[PreparedImage, Image.Image]:
    """``prepare_image``, and the picture before sizing (for a thumbnail)."""
    encoder = _ENCODERS.get(mime)
    if encoder is None:
        raise ValueError(f"Unsupported image encoding {mime!r}; use one of {sorted(_ENCODERS)}.")
    unchanged: bytes | None = None  # a plain PNG file as it is, if nothing changes
    if isinstance(source, Image.Image):
        im = normalize_image(source)
    else:
        im, unchanged = _load(source)
    if region is not None:
        cropped = _crop(im, region)
        if cropped is not im:
            unchanged = None
        im = cropped
    picture = im  # cropped, not yet sized: what a thumbnail is made from
    source_width, source_height = im.size
    width, height = smart_resize(
        source_width, source_height, min_tokens=min_tokens, max_tokens=max_tokens
    )
    pad_to: tuple[int, int] | None = None  # padded by the PNG writer, no copy made
    if not fit:
        width, height = im.size
    elif (width, height) != im.size:
        unchanged = None
        if mime == "image/png" and _pads_only(im, width, height):
            pad_to = (width, height)
        else:
            im = _fit(im, width, height)
    if unchanged is not None and mime == "image/png":
        data = unchanged  # decoded (so checked) but not encoded again: the same pixels
    elif pad_to is not None:
        data = encode_png(im, pad_to)
    else:
        buf = io.BytesIO()
        encoder(im, buf)
        data = buf.getvalue()
    prepared = PreparedImage(
        data=data,
        mime=mime,
        width=width,
        height=height,
        source_width=source_width,
        source_height=source_height,
        tokens=estimate_image_tokens(
            source_width, source_height, min_tokens=min_tokens, max_tokens=max_tokens
        ),
    )
    return prepared, picture


def _pads_only(im: Image.Image, width: int, height: int) -> bool:
    """Whether the budget only rounds ``im``'s sides up to the next multiple of 32."""
    w, h = im.size
    return 0 <= width - w < FACTOR and 0 <= height - h < FACTOR


def _fit(im: Image.Image, width: int, height: int) -> Image.Image:
    """``im`` at exactly ``width`` x ``height``.

    When the budget only rounds a side up to the next multiple of 32 (1920x1080 ->
    1920x1088), the picture is padded with its own corner colour instead of resampled:
    the same tokens, every glyph pixel-exact, a smaller PNG, and about 2 ms instead of
    20-35 ms of LANCZOS on a full-HD screenshot. Otherwise it is resampled.
    """
    if _pads_only(im, width, height):
        return _pad(im, width, height, None)
    return im.resize((width, height), Image.Resampling.LANCZOS)


def image_from_bgra(
    data: bytes | bytearray | memoryview, width: int, height: int, stride: int | None = None
) -> Image.Image:
    """An RGB picture from raw 32-bit BGRX pixels: what mss grabs and what a Qt
    ``QImage.Format_RGB32`` / ``Format_ARGB32`` holds on little-endian machines. Lets the
    capture layer hand the core plain bytes instead of a QImage (no PNG round trip)."""
    if width <= 0 or height <= 0:
        raise ImageError(f"The picture is empty ({width} x {height} pixels).")
    row = stride or width * 4
    if len(data) < row * (height - 1) + width * 4:
        raise ValueError(f"{len(data)} bytes cannot hold {width} x {height} BGRX pixels.")
    return Image.frombuffer("RGB", (width, height), bytes(data), "raw", "BGRX", row, 1)


def make_thumbnail(image: Image.Image | bytes, max_side: int = 256) -> bytes:
    """A JPEG (quality 80) no larger than ``max_side`` on its longest side, for the history."""
    if max_side < 1:
        raise ValueError(f"max_side must be positive, got {max_side}.")
    im = normalize_image(image) if isinstance(image, Image.Image) else load_image(image)
    width, height = im.size
    scale = max_side / max(width, height)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=THUMBNAIL_QUALITY)
    return buf.getvalue()
