"""Renders the OCR test images in this folder, each with its exact ground truth.

    .venv/bin/python tests/data/render.py          # rewrites tests/data/ocr/*.png and *.txt

The pictures imitate screenshots: anti-aliased text from the DejaVu fonts (Debian package
``fonts-dejavu-core``, free licence) at 11 to 16 px, light and dark themes, a toolbar, a
table, code, a dialog rendered at scale 2 (HiDPI) and a one-line crop. All text was written
for this project (MIT, like the rest of it).

Ground truth conventions (what ``core.local_ocr`` aims to return): one line of text per
line on screen, a blank line between paragraphs and between separate blocks (toolbar,
sidebar, article), table cells separated by a tab. ``bench/ocr_accuracy.py`` compares after
collapsing every run of whitespace to one space, so it measures characters and reading
order; the tests check the line, paragraph and tab structure separately.

The PNGs are committed: the tests never need the fonts. Re-rendering with another FreeType
version may change pixels, not the ground truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent / "ocr"
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/TTF"))

Color = tuple[int, int, int]
LIGHT_BG: Color = (255, 255, 255)
LIGHT_FG: Color = (32, 33, 36)
DARK_BG: Color = (30, 30, 30)
DARK_FG: Color = (212, 212, 212)


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    for folder in FONT_DIRS:
        path = folder / f"{name}.ttf"
        if path.exists():
            return ImageFont.truetype(str(path), size)
    raise SystemExit(f"{name}.ttf not found: install the DejaVu fonts (fonts-dejavu-core).")


@dataclass
class Page:
    """A picture being drawn, and its ground truth as blocks of lines."""

    width: int
    height: int
    bg: Color
    scale: int = 1
    blocks: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.image = Image.new("RGB", (self.width * self.scale, self.height * self.scale), self.bg)
        self.draw = ImageDraw.Draw(self.image)

    def f(self, name: str, size: int) -> ImageFont.FreeTypeFont:
        return font(name, size * self.scale)

    def text(self, x: float, y: float, s: str, fnt: ImageFont.FreeTypeFont, fill: Color) -> float:
        """Draws ``s`` with its top-left at logical (x, y); returns its logical width."""
        k = self.scale
        self.draw.text((x * k, y * k), s, font=fnt, fill=fill)
        return fnt.getlength(s) / k

    def rect(
        self,
        box: tuple[float, float, float, float],
        fill: Color | None = None,
        outline: Color | None = None,
        radius: float = 0,
    ) -> None:
        k = self.scale
        x0, y0, x1, y1 = box
        self.draw.rounded_rectangle(
            (x0 * k, y0 * k, x1 * k - 1, y1 * k - 1),
            radius=radius * k,
            fill=fill,
            outline=outline,
            width=k,
        )

    def paragraph(
        self,
        x: float,
        y: float,
        text: str,
        fnt: ImageFont.FreeTypeFont,
        width: float,
        fill: Color,
        leading: float,
    ) -> tuple[list[str], float]:
        """Word-wraps ``text`` into ``width``; returns the lines and the y below them."""
        lines: list[str] = []
        current = ""
        for word in text.split():
            trial = f"{current} {word}" if current else word
            if current and fnt.getlength(trial) / self.scale > width:
                lines.append(current)
                current = word
            else:
                current = trial
        lines.append(current)
        for line in lines:
            self.text(x, y, line, fnt, fill)
            y += leading
        return lines, y

    def truth(self) -> str:
        return "\n\n".join("\n".join(block) for block in self.blocks) + "\n"


# --- the pictures ----------------------------------------------------------------------

ARTICLE = [
    "When the network is down, the embedded engine still reads the text on your screen. "
    "It runs on the processor of this computer and sends nothing anywhere, so private "
    "documents stay private.",
    "Select a region with the mouse, or press Enter to take the whole window. The text "
    "appears in the panel beside the selection a moment later, and the copy button puts "
    "it on the clipboard.",
    "Results are kept in the history for thirty days by default. You can search them, copy "
    "them again, or delete them one by one from the history window.",
]
SIDEBAR = [
    "Getting started",
    "Capture a region",
    "Offline mode",
    "Keyboard shortcuts",
    "History",
    "Settings",
    "Troubleshooting",
]


def page_light() -> Page:
    """A 1280x800 help page: menu bar, sidebar, article in 14 px, footer."""
    p = Page(1280, 800, LIGHT_BG)
    sans, bold = p.f("DejaVuSans", 14), p.f("DejaVuSans-Bold", 22)
    menu = p.f("DejaVuSans", 13)
    p.rect((0, 0, 1280, 34), fill=(240, 240, 242))
    x = 16.0
    items = ["File", "Edit", "View", "Capture", "Help"]
    for item in items:
        x += p.text(x, 9, item, menu, LIGHT_FG) + 22
    p.blocks.append([" ".join(items)])
    p.rect((0, 34, 250, 800), fill=(246, 247, 249))
    y = 60.0
    for item in SIDEBAR:
        p.text(24, y, item, sans, (60, 64, 67))
        y += 34
    p.blocks.append(SIDEBAR[:])
    p.text(300, 62, "Working offline", bold, (20, 20, 20))
    p.blocks.append(["Working offline"])
    y = 112.0
    for para in ARTICLE:
        lines, y = p.paragraph(300, y, para, sans, 700, LIGHT_FG, 22)
        p.blocks.append(lines)
        y += 16
    footer = "Last updated 12 March 2024 - version 0.9.3"
    p.text(300, 760, footer, p.f("DejaVuSans", 12), (110, 110, 110))
    p.blocks.append([footer])
    return p


DARK_TEXT = [
    "The quarterly report lists 1,284 open tickets, down from 1,530 in the previous "
    "quarter. Most of the remaining work concerns the import of old invoices (about 37% "
    "of all tickets) and the new login page.",
    "Please send comments to the review team before Friday, 14 June. Late changes can "
    "still go into version 2.4.1 if they fix a crash or a data loss.",
]


def paragraphs_dark_13px() -> Page:
    p = Page(720, 200, DARK_BG)
    sans = p.f("DejaVuSans", 13)
    y = 16.0
    for para in DARK_TEXT:
        lines, y = p.paragraph(20, y, para, sans, 670, DARK_FG, 20)
        p.blocks.append(lines)
        y += 14
    return p


SMALL_TEXT = [
    "Small print: prices include VAT at 20% where it applies. Delivery takes 3-5 working "
    "days within the EU; orders placed after 16:00 ship the next day.",
    "Returns are free within 30 days of delivery. Keep the receipt and the original box.",
]


def paragraphs_11px() -> Page:
    p = Page(560, 120, LIGHT_BG)
    sans = p.f("DejaVuSans", 11)
    y = 12.0
    for para in SMALL_TEXT:
        lines, y = p.paragraph(14, y, para, sans, 530, LIGHT_FG, 16)
        p.blocks.append(lines)
        y += 10
    return p


SERIF_TEXT = [
    "It was late in the afternoon when the train finally left the station. Outside the "
    "window, the fields turned from green to gold, and the small villages passed by one "
    "after another like the pages of an old book.",
    "Nobody in the carriage spoke. A child was asleep on her mother's shoulder.",
]


def paragraphs_16px_serif() -> Page:
    p = Page(700, 230, (250, 248, 242))
    serif = p.f("DejaVuSerif", 16)
    y = 18.0
    for para in SERIF_TEXT:
        lines, y = p.paragraph(24, y, para, serif, 650, (40, 36, 30), 26)
        p.blocks.append(lines)
        y += 18
    return p


TOOLBAR = [
    "New",
    "Open",
    "Save",
    "Undo",
    "Redo",
    "Cut",
    "Copy",
    "Paste",
    "Find",
    "Zoom 100%",
    "Settings",
    "Help",
]


def toolbar_12px() -> Page:
    p = Page(860, 40, (236, 236, 236))
    sans = p.f("DejaVuSans", 12)
    x = 8.0
    for item in TOOLBAR:
        w = sans.getlength(item) / p.scale
        p.rect((x, 7, x + w + 20, 33), fill=(250, 250, 250), outline=(190, 190, 190), radius=4)
        p.text(x + 10, 12, item, sans, (30, 30, 30))
        x += w + 28
    p.blocks.append([" ".join(TOOLBAR)])
    return p


TABLE = [
    ["ID", "Name", "Status", "Owner", "Updated"],
    ["1042", "Import invoices", "Open", "M. Rossi", "2024-03-02"],
    ["1043", "Fix login timeout", "In review", "A. Chen", "2024-03-05"],
    ["1047", "Export to CSV", "Done", "J. Smith", "2024-02-28"],
    ["1051", "Dark theme icons", "Open", "K. Novak", "2024-03-07"],
    ["1058", "Update help pages", "Blocked", "L. Garcia", "2024-03-01"],
    ["1060", "Memory leak in viewer", "Done", "P. Dubois", "2024-02-25"],
]


def table_13px() -> Page:
    p = Page(640, 232, LIGHT_BG)
    sans, bold = p.f("DejaVuSans", 13), p.f("DejaVuSans-Bold", 13)
    cols = [12, 80, 270, 390, 510]
    row_h = 30
    for r, row in enumerate(TABLE):
        top = 8 + r * row_h
        if r == 0:
            p.rect((8, top, 632, top + row_h), fill=(232, 236, 241))
        elif r % 2 == 0:
            p.rect((8, top, 632, top + row_h), fill=(248, 249, 250))
        p.rect((8, top + row_h - 1, 632, top + row_h), fill=(210, 214, 220))
        for c, cell in enumerate(row):
            p.text(cols[c], top + 8, cell, bold if r == 0 else sans, LIGHT_FG)
    p.blocks.append(["\t".join(row) for row in TABLE])
    return p


CODE = '''\
def parse_size(text: str) -> tuple[int, int]:
    """Parse '1280x800' into (1280, 800)."""
    width, _, height = text.lower().partition("x")
    if not width.isdigit() or not height.isdigit():
        raise ValueError(f"bad size: {text!r}")
    return int(width), int(height)

for name in ["alpha", "beta"]:
    print(name.upper(), parse_size("640x480"))'''


def code_14px() -> Page:
    p = Page(560, 190, (250, 250, 250))
    mono = p.f("DejaVuSansMono", 14)
    y = 12.0
    for line in CODE.splitlines():
        p.text(16, y, line, mono, (36, 41, 46))
        y += 19
    p.blocks = [block.splitlines() for block in CODE.split("\n\n")]
    return p


def hidpi_dialog_scale2() -> Page:
    """A dialog at device pixel ratio 2: 13 px text becomes 26 physical pixels."""
    p = Page(460, 170, (246, 246, 246), scale=2)
    sans, bold = p.f("DejaVuSans", 13), p.f("DejaVuSans-Bold", 15)
    p.text(24, 18, "Save changes before closing?", bold, (20, 20, 20))
    p.blocks.append(["Save changes before closing?"])
    body = (
        "Your document has unsaved changes. If you close it now, the changes made in "
        "the last 5 minutes will be lost."
    )
    lines, _ = p.paragraph(24, 52, body, sans, 410, (40, 40, 40), 20)
    p.blocks.append(lines)
    x = 170.0
    buttons = ["Don't Save", "Cancel", "Save"]
    for label in buttons:
        w = sans.getlength(label) / p.scale
        p.rect((x, 122, x + w + 24, 150), fill=(255, 255, 255), outline=(180, 180, 180), radius=5)
        p.text(x + 12, 128, label, sans, (20, 20, 20))
        x += w + 36
    p.blocks.append([" ".join(buttons)])
    return p


def single_line() -> Page:
    line = "Error: could not open 'settings.toml' (permission denied), line 42"
    p = Page(500, 22, LIGHT_BG)
    p.text(6, 3, line, p.f("DejaVuSans", 13), (176, 0, 32))
    p.blocks.append([line])
    return p


PAGES: dict[str, Callable[[], Page]] = {
    "page_light_1280x800": page_light,
    "paragraphs_dark_13px": paragraphs_dark_13px,
    "paragraphs_11px": paragraphs_11px,
    "paragraphs_16px_serif": paragraphs_16px_serif,
    "toolbar_12px": toolbar_12px,
    "table_13px": table_13px,
    "code_14px": code_14px,
    "hidpi_dialog_scale2": hidpi_dialog_scale2,
    "single_line_13px": single_line,
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    total = 0
    for name, make in PAGES.items():
        page = make()
        png = OUT / f"{name}.png"
        page.image.save(png, optimize=True)
        (OUT / f"{name}.txt").write_text(page.truth(), encoding="utf-8")
        total += png.stat().st_size
        print(
            f"{png.name:28} {page.image.width:>5} x {page.image.height:<4} "
            f"{png.stat().st_size / 1024:7.1f} KiB"
        )
    print(f"{'total':28} {'':12} {total / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()
