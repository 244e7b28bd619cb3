"""core.imaging against real images written by Pillow: sizing, formats, rejections, encoding."""

from __future__ import annotations

import base64
import io
import math
import random
import struct
import time
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageDraw, ImageFont, ImageOps

from desktop_app.core.errors import ImageError, UsageError
from desktop_app.core.imaging import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_MIN_TOKENS,
    FACTOR,
    MAX_ASPECT_RATIO,
    MAX_SOURCE_PIXELS,
    WRAPPER_TOKENS,
    adler32_combine,
    encode_png,
    estimate_image_tokens,
    load_image,
    make_thumbnail,
    prepare_image,
    smart_resize,
)
from desktop_app.core.models import Region

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)

# PROTOCOL.md, "Qwen3-VL image geometry": (width, height) -> (width, height), tokens.
TABLE = [
    ((200, 20), (832, 96), 78),
    ((1280, 720), (1280, 704), 880),
    ((1920, 1080), (1920, 1088), 2040),
    ((3840, 2160), (3840, 2176), 8160),
    ((7680, 4320), (5440, 3072), 16320),
]


# --- helpers -------------------------------------------------------------------------


def two_halves(size: tuple[int, int] = (64, 48)) -> Image.Image:
    """Left half red, right half blue."""
    im = Image.new("RGB", size, RED)
    im.paste(BLUE, (size[0] // 2, 0, size[0], size[1]))
    return im


def encoded(im: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **params)
    return buf.getvalue()


def close_to(actual: object, expected: object, tol: int = 0) -> bool:
    """Whether two pixel tuples differ by at most ``tol`` per channel."""
    assert isinstance(actual, tuple), actual
    assert isinstance(expected, tuple), expected
    return len(actual) == len(expected) and all(
        abs(a - e) <= tol for a, e in zip(actual, expected, strict=True)
    )


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_header_only(width: int, height: int) -> bytes:
    """A 1-bit greyscale PNG whose header claims ``width`` x ``height`` but holds no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 8))
        + png_chunk(b"IEND", b"")
    )


def noise(size: tuple[int, int], seed: int = 0) -> Image.Image:
    rnd = random.Random(seed)
    return Image.frombytes("RGB", size, rnd.randbytes(size[0] * size[1] * 3))


def dark_bbox(im: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box of the dark pixels (text) of an image."""
    mask = ImageOps.invert(im.convert("L")).point(lambda v: 255 if v > 128 else 0)
    box = mask.getbbox()
    assert box is not None, "no dark pixels"
    return box


# --- geometry ------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "sized", "tokens"), TABLE)
def test_protocol_table(source: tuple[int, int], sized: tuple[int, int], tokens: int) -> None:
    assert smart_resize(*source) == sized
    assert estimate_image_tokens(*source) == tokens
    assert sized[0] * sized[1] // (FACTOR * FACTOR) == tokens


@pytest.mark.parametrize(("source", "sized", "tokens"), TABLE[:4])
def test_prepare_image_matches_table(
    source: tuple[int, int], sized: tuple[int, int], tokens: int
) -> None:
    prepared = prepare_image(Image.new("RGB", source, WHITE))
    assert (prepared.width, prepared.height) == sized
    assert (prepared.source_width, prepared.source_height) == source
    assert prepared.tokens == tokens
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.size == sized


def test_constants() -> None:
    assert (FACTOR, WRAPPER_TOKENS, MAX_ASPECT_RATIO) == (32, 2, 200)
    assert (DEFAULT_MIN_TOKENS, DEFAULT_MAX_TOKENS, MAX_SOURCE_PIXELS) == (64, 16384, 10**8)


def test_banker_rounding_of_sides() -> None:
    # 1200/32 = 37.5 and 1232/32 = 38.5 both round to 38 (half to even), as Qwen's round().
    assert smart_resize(1200, 1232) == (1216, 1216)
    assert smart_resize(1232, 1200) == (1216, 1216)


def test_custom_budget_downscale_and_upscale() -> None:
    assert smart_resize(1920, 1080, min_tokens=256, max_tokens=1024) == (1344, 768)
    assert estimate_image_tokens(1920, 1080, min_tokens=256, max_tokens=1024) == 1008
    assert smart_resize(100, 100, min_tokens=256, max_tokens=1024) == (512, 512)
    assert estimate_image_tokens(100, 100, min_tokens=256) == 256
    prepared = prepare_image(Image.new("RGB", (1920, 1080), WHITE), max_tokens=1024)
    assert (prepared.width, prepared.height, prepared.tokens) == (1344, 768, 1008)
    prepared = prepare_image(Image.new("RGB", (100, 100), WHITE), min_tokens=256)
    assert (prepared.width, prepared.height, prepared.tokens) == (512, 512, 256)


@pytest.mark.parametrize(
    ("width", "height"), [(0, 10), (10, 0), (-5, 10), (201, 1), (1, 201), (20100, 100)]
)
def test_smart_resize_rejects_bad_shapes(width: int, height: int) -> None:
    with pytest.raises(ImageError):
        smart_resize(width, height)


def test_smart_resize_accepts_exactly_200_to_1() -> None:
    width, height = smart_resize(200, 1)
    assert width % 32 == 0
    assert height == 32


@pytest.mark.parametrize(("min_tokens", "max_tokens"), [(0, 100), (100, 99), (-1, 10)])
def test_smart_resize_rejects_bad_budget(min_tokens: int, max_tokens: int) -> None:
    with pytest.raises(ValueError, match="budget"):
        smart_resize(100, 100, min_tokens=min_tokens, max_tokens=max_tokens)


@st.composite
def shapes(draw: st.DrawFn) -> tuple[int, int]:
    width = draw(st.integers(1, 20_000))
    low = max(1, math.ceil(width / MAX_ASPECT_RATIO))
    height = draw(st.integers(low, min(20_000, width * MAX_ASPECT_RATIO)))
    return (width, height) if draw(st.booleans()) else (height, width)


@settings(max_examples=400, deadline=None)
@given(shapes())
def test_smart_resize_properties(shape: tuple[int, int]) -> None:
    width, height = shape
    new_w, new_h = smart_resize(width, height)
    assert new_w % FACTOR == 0
    assert new_h % FACTOR == 0
    assert new_w >= FACTOR
    assert new_h >= FACTOR
    pixels = new_w * new_h
    assert pixels <= DEFAULT_MAX_TOKENS * FACTOR * FACTOR
    assert pixels >= DEFAULT_MIN_TOKENS * FACTOR * FACTOR
    tokens = estimate_image_tokens(width, height)
    assert tokens == pixels // (FACTOR * FACTOR)
    assert DEFAULT_MIN_TOKENS <= tokens <= DEFAULT_MAX_TOKENS
    # Aspect kept: one common scale s explains both sides to within one factor (32 px).
    s_low = max((new_w - FACTOR) / width, (new_h - FACTOR) / height)
    s_high = min((new_w + FACTOR) / width, (new_h + FACTOR) / height)
    assert s_low <= s_high, (shape, (new_w, new_h))


# --- loading: formats ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "suffix", "tol"),
    [
        ("PNG", ".png", 0),
        ("JPEG", ".jpg", 40),
        ("WEBP", ".webp", 0),
        ("BMP", ".bmp", 0),
        ("TIFF", ".tiff", 0),
    ],
)
def test_each_format_loads_from_path_and_bytes(
    tmp_path: Path, fmt: str, suffix: str, tol: int
) -> None:
    params: dict[str, object] = {"lossless": True} if fmt == "WEBP" else {}
    data = encoded(two_halves(), fmt, **params)
    path = tmp_path / f"picture{suffix}"
    path.write_bytes(data)
    for source in (data, path, str(path)):
        im = load_image(source)
        assert im.mode == "RGB"
        assert im.size == (64, 48)
        assert close_to(im.getpixel((8, 24)), RED, tol)
        assert close_to(im.getpixel((56, 24)), BLUE, tol)


def test_gif_first_frame_of_many(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (32, 32), colour) for colour in (RED, GREEN, BLUE)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(path) as check:
        assert getattr(check, "n_frames", 1) == 3
    im = load_image(path)
    assert im.mode == "RGB"
    assert im.getpixel((16, 16)) == RED


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (60, 40), WHITE)
    stored.paste(RED, (0, 0, 10, 10))  # marker in the stored top-left corner
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # display = stored turned 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    stored.save(path, "JPEG", exif=exif, quality=95)
    im = load_image(path)
    assert im.size == (40, 60)
    assert close_to(im.getpixel((34, 5)), RED, 40)  # marker now top-right
    assert close_to(im.getpixel((5, 5)), WHITE, 40)
    assert close_to(im.getpixel((5, 54)), WHITE, 40)
    prepared = prepare_image(path)
    assert (prepared.source_width, prepared.source_height) == (40, 60)


def test_alpha_is_flattened_on_white() -> None:
    rgba = Image.new("RGBA", (4, 1), (0, 0, 0, 0))
    rgba.putpixel((1, 0), (255, 0, 0, 255))
    rgba.putpixel((2, 0), (0, 0, 0, 128))
    im = load_image(encoded(rgba, "PNG"))
    assert im.mode == "RGB"
    assert im.getpixel((0, 0)) == WHITE
    assert im.getpixel((1, 0)) == RED
    assert close_to(im.getpixel((2, 0)), (127, 127, 127), 1)


def test_grey_alpha_is_flattened_on_white() -> None:
    la = Image.new("LA", (2, 1), (0, 0))
    la.putpixel((1, 0), (0, 255))
    im = load_image(encoded(la, "PNG"))
    assert im.getpixel((0, 0)) == WHITE
    assert im.getpixel((1, 0)) == BLACK


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_transparency_becomes_white(fmt: str) -> None:
    pal = Image.new("P", (2, 1), 0)
    pal.putpalette([*BLACK, *GREEN] + [0] * (256 - 2) * 3)
    pal.putpixel((1, 0), 1)
    pal.info["transparency"] = 0
    im = load_image(encoded(pal, fmt, transparency=0))
    assert im.mode == "RGB"
    assert im.getpixel((0, 0)) == WHITE
    assert im.getpixel((1, 0)) == GREEN


def test_rgb_colour_key_transparency_becomes_white() -> None:
    rgb = Image.new("RGB", (2, 1), BLUE)
    rgb.putpixel((1, 0), RED)
    im = load_image(encoded(rgb, "PNG", transparency=BLUE))
    assert im.getpixel((0, 0)) == WHITE
    assert im.getpixel((1, 0)) == RED


def test_sixteen_bit_grey_is_scaled() -> None:
    grey = Image.new("I;16", (3, 1), 0)
    grey.putpixel((1, 0), 65535)
    grey.putpixel((2, 0), 32768)
    data = encoded(grey, "PNG")
    with Image.open(io.BytesIO(data)) as check:
        assert check.mode.startswith("I")
    im = load_image(data)
    assert im.mode == "RGB"
    assert im.getpixel((0, 0)) == BLACK
    assert im.getpixel((1, 0)) == WHITE
    assert close_to(im.getpixel((2, 0)), (127, 127, 127), 1)


def test_float_tiff_is_scaled() -> None:
    flt = Image.new("F", (2, 1), 0.0)
    flt.putpixel((1, 0), 1.0)
    im = load_image(encoded(flt, "TIFF"))
    assert im.mode == "RGB"
    assert im.getpixel((0, 0)) == BLACK
    assert im.getpixel((1, 0)) == WHITE


@pytest.mark.parametrize(
    ("mode", "fmt"), [("CMYK", "JPEG"), ("CMYK", "TIFF"), ("1", "BMP"), ("L", "PNG")]
)
def test_other_modes_become_rgb(mode: str, fmt: str) -> None:
    src = two_halves().convert(mode)
    im = load_image(encoded(src, fmt))
    assert im.mode == "RGB"
    assert im.size == (64, 48)
    expected = src.convert("RGB")
    tol = 40 if fmt == "JPEG" else 0
    assert close_to(im.getpixel((8, 24)), expected.getpixel((8, 24)), tol)
    assert close_to(im.getpixel((56, 24)), expected.getpixel((56, 24)), tol)


# --- loading: rejections -------------------------------------------------------------


def test_empty_bytes_rejected() -> None:
    with pytest.raises(ImageError, match=r"empty \(0 bytes\)"):
        load_image(b"")


def test_empty_file_rejected_with_name(tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"'blank\.png' is empty"):
        load_image(path)


def test_random_bytes_rejected() -> None:
    with pytest.raises(ImageError, match=r"^The data is not a supported image"):
        load_image(random.Random(0).randbytes(4096))


def test_text_file_rejected_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a picture\n")
    with pytest.raises(ImageError, match=r"'notes\.txt' is not a supported image"):
        load_image(path)


def test_other_image_formats_are_refused() -> None:
    with pytest.raises(ImageError, match="not a supported image"):
        load_image(encoded(two_halves(), "PPM"))


@pytest.mark.parametrize(("fmt", "keep"), [("PNG", 0.5), ("JPEG", 0.5), ("PNG", 0.99)])
def test_truncated_file_rejected(fmt: str, keep: float) -> None:
    data = encoded(noise((128, 128)), fmt)
    with pytest.raises(ImageError, match="damaged") as info:
        load_image(data[: int(len(data) * keep)])
    assert isinstance(info.value, UsageError)
    assert "\n" not in str(info.value)


def test_missing_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="File not found"):
        load_image(tmp_path / "nope.png")


def test_folder_rejected(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"folder|Cannot read"):
        load_image(tmp_path)


@pytest.mark.parametrize("size", [(201, 1), (1, 201), (402, 2)])
def test_extreme_aspect_rejected(size: tuple[int, int]) -> None:
    with pytest.raises(ImageError, match="long and thin"):
        load_image(encoded(Image.new("RGB", size, WHITE), "PNG"))


def test_aspect_200_accepted() -> None:
    assert load_image(encoded(Image.new("RGB", (200, 1), WHITE), "PNG")).size == (200, 1)


@pytest.mark.parametrize(
    "size",
    [(20_000, 6_000), (6_000, 20_000), (20_000, 10_000)],  # 120 MP (bomb warning), 200 MP (error)
)
def test_over_100_megapixels_rejected_before_decoding(size: tuple[int, int]) -> None:
    data = png_header_only(*size)  # no pixel data at all: decoding would say "damaged"
    start = time.perf_counter()
    with pytest.raises(ImageError, match="too large"):
        load_image(data)
    assert time.perf_counter() - start < 1.0


def test_exactly_100_megapixels_passes_the_size_check() -> None:
    # The header passes; the missing pixel data is then reported as damage.
    with pytest.raises(ImageError, match="damaged"):
        load_image(png_header_only(10_000, 10_000))


def test_lazy_pil_image_over_limit_rejected_before_decoding() -> None:
    with pytest.warns(Image.DecompressionBombWarning):  # Pillow's own warning, in our open
        lazy = Image.open(io.BytesIO(png_header_only(20_000, 6_000)))
    with lazy:
        start = time.perf_counter()
        with pytest.raises(ImageError, match="too large"):
            prepare_image(lazy)
        assert time.perf_counter() - start < 1.0


# --- prepare_image -------------------------------------------------------------------


def test_zero_size_region_rejected() -> None:
    with pytest.raises(ImageError, match="region is empty"):
        prepare_image(Image.new("RGB", (100, 100), WHITE), region=Region(10, 10, 0, 20))


def test_region_outside_rejected() -> None:
    with pytest.raises(ImageError, match="outside"):
        prepare_image(Image.new("RGB", (100, 100), WHITE), region=Region(150, 10, 20, 20))


def test_region_partly_outside_is_clamped() -> None:
    im = Image.new("RGB", (100, 80), RED)
    im.paste(BLUE, (50, 40, 100, 80))  # bottom-right quadrant
    prepared = prepare_image(im, region=Region(50, 40, 100, 100))
    assert (prepared.source_width, prepared.source_height) == (50, 40)
    with Image.open(io.BytesIO(prepared.data)) as sent:
        sent_rgb = sent.convert("RGB")
        assert sent_rgb.getpixel((sent.width // 2, sent.height // 2)) == BLUE
        assert sent_rgb.getpixel((2, 2)) == BLUE


def test_region_crop_of_aspect_above_200_rejected() -> None:
    with pytest.raises(ImageError, match="long and thin"):
        prepare_image(Image.new("RGB", (500, 100), WHITE), region=Region(0, 0, 402, 2))


def test_single_text_line_is_upscaled() -> None:
    page = Image.new("RGB", (600, 100), WHITE)
    font = ImageFont.load_default(size=12)
    ImageDraw.Draw(page).text(
        (4, 40), "Invoice 2024-117: total 1,234.56 EUR", fill=BLACK, font=font
    )
    line_box = dark_bbox(page)
    region = Region(0, line_box[1] - 2, 300, 14)
    crop_h = dark_bbox(page.crop((0, region.y, 300, region.y + 14)))
    prepared = prepare_image(page, region=region)
    assert (prepared.source_width, prepared.source_height) == (300, 14)
    assert (prepared.width, prepared.height) == smart_resize(300, 14) == (1216, 64)
    assert prepared.tokens == 76
    with Image.open(io.BytesIO(prepared.data)) as sent:
        out_box = dark_bbox(sent)
    text_height_in = crop_h[3] - crop_h[1]
    text_height_out = out_box[3] - out_box[1]
    assert text_height_in >= 5
    assert text_height_out >= 3 * text_height_in


def test_data_url_is_png_of_stated_size() -> None:
    prepared = prepare_image(encoded(two_halves((1280, 720)), "PNG"))
    prefix = "data:image/png;base64,"
    assert prepared.mime == "image/png"
    assert prepared.data_url.startswith(prefix)
    raw = base64.b64decode(prepared.data_url[len(prefix) :], validate=True)
    assert raw == prepared.data
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(raw)) as sent:
        assert sent.format == "PNG"
        assert sent.mode == "RGB"
        assert sent.size == (prepared.width, prepared.height) == (1280, 704)


@pytest.mark.parametrize(("mime", "fmt"), [("image/jpeg", "JPEG"), ("image/webp", "WEBP")])
def test_other_encodings(mime: str, fmt: str) -> None:
    prepared = prepare_image(two_halves((640, 480)), mime=mime)
    assert prepared.data_url.startswith(f"data:{mime};base64,")
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.format == fmt
        assert sent.size == (prepared.width, prepared.height) == smart_resize(640, 480)
        tol = 40 if fmt == "JPEG" else 0
        assert close_to(sent.convert("RGB").getpixel((10, 240)), RED, tol)


def test_unknown_encoding_refused() -> None:
    with pytest.raises(ValueError, match="Unsupported image encoding"):
        prepare_image(two_halves(), mime="image/gif")


def test_caller_image_is_not_modified() -> None:
    rgba = Image.new("RGBA", (50, 30), (0, 0, 0, 0))
    prepared = prepare_image(rgba)
    assert rgba.mode == "RGBA"
    assert rgba.size == (50, 30)
    assert rgba.getpixel((0, 0)) == (0, 0, 0, 0)
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.convert("RGB").getpixel((5, 5)) == WHITE


def test_same_size_is_not_resampled() -> None:
    im = noise((1024, 512), seed=3)  # already multiples of 32 within budget
    prepared = prepare_image(im)
    with Image.open(io.BytesIO(prepared.data)) as sent:
        assert sent.convert("RGB").tobytes() == im.tobytes()


# --- thumbnails ----------------------------------------------------------------------


def test_thumbnail_of_landscape_image() -> None:
    thumb = make_thumbnail(Image.new("RGB", (1920, 1080), WHITE))
    with Image.open(io.BytesIO(thumb)) as im:
        assert im.format == "JPEG"
        assert im.size == (256, 144)


def test_thumbnail_of_portrait_bytes_with_custom_side() -> None:
    thumb = make_thumbnail(encoded(two_halves((300, 1200)), "PNG"), max_side=128)
    with Image.open(io.BytesIO(thumb)) as im:
        assert im.format == "JPEG"
        assert im.size == (32, 128)


def test_thumbnail_never_upscales_and_flattens_alpha() -> None:
    thumb = make_thumbnail(Image.new("RGBA", (200, 100), (0, 0, 0, 0)))
    with Image.open(io.BytesIO(thumb)) as im:
        assert im.size == (200, 100)
        assert close_to(im.getpixel((100, 50)), WHITE, 2)


def test_thumbnail_rejects_bad_side() -> None:
    with pytest.raises(ValueError, match="max_side"):
        make_thumbnail(two_halves(), max_side=0)


def test_rounding_a_side_up_pads_instead_of_resampling() -> None:
    src = noise((1920, 1080), seed=3)
    prepared = prepare_image(src)
    assert (prepared.width, prepared.height, prepared.tokens) == (1920, 1088, 2040)
    out = Image.open(io.BytesIO(prepared.data)).convert("RGB")
    assert out.crop((0, 0, 1920, 1080)).tobytes() == src.tobytes()  # every pixel kept
    corner = src.getpixel((1919, 1079))
    assert out.getpixel((0, 1087)) == corner
    assert out.getpixel((1919, 1080)) == corner


def test_rounding_a_side_down_resamples() -> None:
    prepared = prepare_image(noise((1280, 720), seed=4))
    assert (prepared.width, prepared.height) == (1280, 704)


def test_image_from_bgra_with_row_padding() -> None:
    from desktop_app.core.imaging import image_from_bgra

    # 2x2 pixels, rows padded to 12 bytes: blue, green / red, white (BGRX order)
    rows = [
        bytes([255, 0, 0, 0, 0, 255, 0, 0]) + b"PADD",
        bytes([0, 0, 255, 0, 255, 255, 255, 0]) + b"PADD",
    ]
    im = image_from_bgra(b"".join(rows), 2, 2, 12)
    assert [im.getpixel((x, y)) for y in range(2) for x in range(2)] == [
        (0, 0, 255),
        (0, 255, 0),
        (255, 0, 0),
        (255, 255, 255),
    ]
    with pytest.raises(ImageError):
        image_from_bgra(b"", 0, 2)


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(body, zlib.crc32(tag)), tag
        chunks.append((tag, body))
        pos += 12 + length
    return chunks


@pytest.mark.parametrize(
    ("size", "mode"),
    [((1, 1), "RGB"), ((7, 3), "RGB"), ((333, 97), "L"), ((1920, 1088), "RGB"), ((900, 1201), "L")],
)
def test_encode_png_is_a_valid_png_with_the_exact_pixels(size: tuple[int, int], mode: str) -> None:
    rnd = random.Random(size[0] * 7 + size[1])
    im = Image.new(mode, size, 240 if mode == "L" else (240, 241, 242))
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        fill = rnd.randrange(256) if mode == "L" else tuple(rnd.randrange(256) for _ in range(3))
        draw.rectangle((x, y, x + rnd.randrange(60), y + rnd.randrange(20)), fill=fill)
        draw.text((x, y), "Invoice 1,234.56", fill=0 if mode == "L" else (0, 0, 0))
    data = encode_png(im)
    chunks = _png_chunks(data)
    assert [t for t, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    # zlib.decompress checks the Adler-32 of the whole stream, split or not.
    raw = zlib.decompress(chunks[1][1])
    stride = size[0] * (3 if mode == "RGB" else 1)
    assert len(raw) == size[1] * (stride + 1)
    assert all(raw[r * (stride + 1)] == 0 for r in range(size[1]))
    back = Image.open(io.BytesIO(data))
    back.load()
    assert back.mode == mode
    assert back.size == size
    assert back.tobytes() == im.tobytes()


def test_a_large_png_is_compressed_in_parts_that_make_one_stream() -> None:
    """Above the parallel threshold the stream is joined from sync-flushed fragments."""
    im = Image.effect_noise((1200, 700), 60).convert("RGB")  # 2.5 MB of pixels
    data = encode_png(im)
    idat = _png_chunks(data)[1][1]
    d = zlib.decompressobj()
    raw = d.decompress(idat)
    assert d.eof
    assert not d.unused_data
    assert len(raw) == 700 * (1200 * 3 + 1)
    assert Image.open(io.BytesIO(data)).tobytes() == im.tobytes()


def test_other_modes_still_encode_through_pillow() -> None:
    im = Image.new("P", (10, 10), 3)
    back = Image.open(io.BytesIO(encode_png(im)))
    assert back.mode == "P"
    assert back.size == (10, 10)


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_adler32_combine_matches_zlib(a: bytes, b: bytes) -> None:
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def test_adler32_combine_with_long_parts() -> None:
    a, b = bytes(range(256)) * 4000, b"\xff" * 300_000
    assert adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)


def _png_file(tmp_path: Path, size: tuple[int, int], mode: str = "RGB") -> Path:
    im = Image.new(mode, size, (250, 250, 250) if mode == "RGB" else (250, 250, 250, 255))
    ImageDraw.Draw(im).text((8, 8), "Invoice 1,234.56", fill=(0, 0, 0) if mode == "RGB" else 0)
    path = tmp_path / f"{mode}-{size[0]}x{size[1]}.png"
    im.save(path, "PNG", compress_level=9)
    return path


def test_a_plain_png_that_needs_no_change_is_sent_as_it_is(tmp_path: Path) -> None:
    path = _png_file(tmp_path, (512, 128))  # multiples of 32, within the budget
    prepared = prepare_image(path)
    assert prepared.data == path.read_bytes()  # not encoded again
    assert (prepared.width, prepared.height) == (512, 128)
    assert prepare_image(path.read_bytes()).data == path.read_bytes()


@pytest.mark.parametrize("case", ["resized", "cropped", "alpha", "not png"])
def test_a_png_that_changes_is_encoded_again(tmp_path: Path, case: str) -> None:
    if case == "resized":
        path, kw = _png_file(tmp_path, (500, 120)), {}  # padded to 512x128
    elif case == "cropped":
        path, kw = _png_file(tmp_path, (512, 128)), {"region": Region(0, 0, 256, 64)}
    elif case == "alpha":
        path, kw = _png_file(tmp_path, (512, 128), "RGBA"), {}
    else:
        path = tmp_path / "shot.jpg"
        Image.open(_png_file(tmp_path, (512, 128))).save(path, "JPEG")
        kw = {}
    prepared = prepare_image(path, **kw)  # type: ignore[arg-type]
    assert prepared.data != path.read_bytes()
    assert prepared.data.startswith(b"\x89PNG")


def test_a_damaged_png_is_still_refused_before_it_is_sent(tmp_path: Path) -> None:
    path = _png_file(tmp_path, (512, 128))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside IDAT
    with pytest.raises(ImageError):
        prepare_image(bytes(data))


def test_prepare_with_thumbnail_is_prepare_image_and_make_thumbnail(tmp_path: Path) -> None:
    from desktop_app.core.imaging import prepare_image_with_thumbnail

    path = _png_file(tmp_path, (900, 300))
    prepared, thumbnail = prepare_image_with_thumbnail(path)
    assert prepared == prepare_image(path)
    assert thumbnail == make_thumbnail(path.read_bytes())
    assert Image.open(io.BytesIO(thumbnail)).size == (256, 85)


@pytest.mark.parametrize(
    ("size", "mode", "fill"),
    [
        ((500, 120), "RGB", None),
        ((1300, 700), "RGB", None),
        ((333, 97), "L", 7),
        ((7, 3), "RGB", (1, 2, 3)),
    ],
)
def test_encode_png_pads_while_it_writes(
    size: tuple[int, int], mode: str, fill: int | tuple[int, int, int] | None
) -> None:
    """Padding on the right and at the bottom, with no padded copy made first (the large
    case is written by parallel bands, the padding rows by the last one)."""
    im = Image.effect_noise(size, 50).convert(mode)
    target = (size[0] + 12, size[1] + 9)
    corner = im.getpixel((size[0] - 1, size[1] - 1))
    want = Image.new(mode, target, corner if fill is None else fill)
    want.paste(im, (0, 0))
    data = encode_png(im, target, fill)
    zlib.decompress(_png_chunks(data)[1][1])  # one valid stream, Adler-32 and all
    back = Image.open(io.BytesIO(data))
    assert back.size == target
    assert back.tobytes() == want.tobytes()
    with pytest.raises(ValueError, match="smaller"):
        encode_png(im, (size[0] - 1, size[1]))


def test_a_capture_one_row_short_of_the_budget_is_padded_exactly() -> None:
    im = Image.effect_noise((1920, 1080), 40).convert("RGB")
    prepared = prepare_image(im)
    assert (prepared.width, prepared.height) == (1920, 1088)
    back = Image.open(io.BytesIO(prepared.data))
    assert back.crop((0, 0, 1920, 1080)).tobytes() == im.tobytes()
    corner = im.getpixel((1919, 1079))
    assert isinstance(corner, tuple)
    assert back.crop((0, 1080, 1920, 1088)).tobytes() == bytes(corner) * 1920 * 8
