"""Reading order for OCR results: boxes of text in, plain text a person would write out.

Pure functions on plain data (no image, no model), so they are tested with boxes made
by hand. The detector gives one box per stretch of text on a line; a line with wide gaps
(table cells, toolbar buttons, two columns side by side) comes as several boxes.

How the boxes are put in order (a recursive X-Y cut, with tables recognised on the way):

1. Boxes that overlap vertically by half a line form a *row*.
2. A region whose boxes leave a vertical strip of white across all of it (at least about a
   line height wide) may be two columns, or a table. It is a **table** when the rows on
   both sides of the strip line up (most rows of one side have a partner at the same
   height on the other) and the two sides are not both long running text; the table comes
   out row by row, cells separated by a tab. Otherwise, when both sides hold at least two
   rows, they are **columns**, read left one first, each on its own.
3. A region with no usable vertical strip is cut across its widest horizontal gaps, and
   each band is looked at again (a band may have columns of its own).
4. Rows that follow one another in one column form runs; a run breaks into **paragraphs**
   where the gap between two rows is clearly wider than the run's ordinary line gap, or
   where the text size changes. Paragraphs and tables are separated by a blank line.

A row's boxes are joined with a space, in order from left to right.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "Paragraph",
    "Table",
    "TextBox",
    "blocks_to_text",
    "layout",
    "layout_text",
]

ROW_OVERLAP = 0.5
"""Two boxes are on one row when they overlap vertically by this share of the lower one."""
MIN_COLUMN_GAP = 0.5
"""A vertical strip of white this many box heights wide can separate columns or cells
(detector boxes are about 1.5 times the height of their letters)."""
LONG_LINE = 12.0
"""A box this many times wider than high is running text, not a table cell."""
TABLE_MATCH_FEW = 0.8
"""Share of the rows of the side with fewer rows that must have a partner row..."""
TABLE_MATCH_MANY = 0.5
"""...and of the side with more rows (a table may have empty cells)."""
PARAGRAPH_GAP = 1.6
"""Gaps between rows fall in classes: a class this many times wider than the one below
it (the ordinary line gap) starts paragraphs..."""
PARAGRAPH_MIN_EXTRA = 0.25
"""...when it is also wider by this many line heights."""
MONO_SPREAD = 1.12
"""Rows whose widths per character differ by less than this may be monospaced code."""
SIZE_CHANGE = 1.6
"""Rows whose heights differ by this factor are in different paragraphs (detector boxes
of short words are up to a third taller than those of long ones in the same font)."""


def _median(values: Iterable[float]) -> float:
    """statistics.median, without loading statistics (and decimal, fractions) into the
    app for the sake of one function."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no median of nothing")
    mid = len(ordered) // 2
    return float(ordered[mid]) if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


@dataclass(frozen=True, slots=True)
class TextBox:
    """One piece of recognised text and its axis-aligned box in image pixels."""

    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2


@dataclass(frozen=True, slots=True)
class Paragraph:
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class Table:
    rows: tuple[tuple[str, ...], ...]

    @property
    def text(self) -> str:
        return "\n".join("\t".join(row).rstrip("\t") for row in self.rows)


Block = Paragraph | Table


# --- rows --------------------------------------------------------------------------------


@dataclass(slots=True)
class _Row:
    boxes: list[TextBox]
    y0: float
    y1: float

    @property
    def height(self) -> float:
        return _median(b.height for b in self.boxes)

    @property
    def x0(self) -> float:
        return min(b.x0 for b in self.boxes)

    @property
    def x1(self) -> float:
        return max(b.x1 for b in self.boxes)

    @property
    def text(self) -> str:
        return " ".join(b.text for b in sorted(self.boxes, key=lambda b: b.x0) if b.text)


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def _group_rows(boxes: Iterable[TextBox]) -> list[_Row]:
    """Boxes into rows, top to bottom; each row's boxes left to right."""
    rows: list[_Row] = []
    for box in sorted(boxes, key=lambda b: (b.cy, b.x0)):
        best: _Row | None = None
        best_share = ROW_OVERLAP
        for row in rows[-4:]:  # sorted by centre: only the last few rows can overlap
            lower = min(box.height, row.height)
            if lower <= 0:
                continue
            share = _overlap(box.y0, box.y1, row.y0, row.y1) / lower
            if share >= best_share:
                best, best_share = row, share
        if best is None:
            rows.append(_Row([box], box.y0, box.y1))
        else:
            best.boxes.append(box)
            best.y0, best.y1 = min(best.y0, box.y0), max(best.y1, box.y1)
    for row in rows:
        row.boxes.sort(key=lambda b: b.x0)
    rows.sort(key=lambda r: (r.y0 + r.y1) / 2)
    return rows


def _line_height(boxes: Sequence[TextBox]) -> float:
    return _median(b.height for b in boxes) if boxes else 0.0


# --- cuts ------------------------------------------------------------------------------


def _x_gaps(boxes: Sequence[TextBox], min_width: float) -> list[tuple[float, float]]:
    """Vertical strips free of boxes, at least ``min_width`` wide, left to right."""
    spans = sorted((b.x0, b.x1) for b in boxes)
    gaps: list[tuple[float, float]] = []
    right = spans[0][1]
    for x0, x1 in spans[1:]:
        if x0 - right >= min_width:
            gaps.append((right, x0))
        right = max(right, x1)
    return gaps


def _split_x(boxes: Sequence[TextBox], at: float) -> tuple[list[TextBox], list[TextBox]]:
    left = [b for b in boxes if b.x1 <= at]
    right = [b for b in boxes if b.x1 > at]
    return left, right


def _partnered(rows: Sequence[_Row], others: Sequence[_Row]) -> float:
    """Share of ``rows`` that have a row of similar height at the same height in ``others``."""
    found = 0
    for row in rows:
        for other in others:
            lower = min(row.height, other.height)
            higher = max(row.height, other.height)
            same_size = lower > 0 and higher / lower <= 1.5
            if same_size and _overlap(row.y0, row.y1, other.y0, other.y1) >= 0.6 * lower:
                found += 1
                break
    return found / len(rows) if rows else 0.0


def _is_long_text(boxes: Sequence[TextBox]) -> bool:
    return _median(b.width / max(b.height, 1.0) for b in boxes) >= LONG_LINE


def _looks_like_table(left: Sequence[TextBox], right: Sequence[TextBox]) -> bool:
    rows_l, rows_r = _group_rows(left), _group_rows(right)
    if len(rows_l) < 2 or len(rows_r) < 2:
        return False
    if _is_long_text(left) and _is_long_text(right):
        return False
    share_l, share_r = _partnered(rows_l, rows_r), _partnered(rows_r, rows_l)
    few, many = (share_l, share_r) if len(rows_l) <= len(rows_r) else (share_r, share_l)
    return few >= TABLE_MATCH_FEW and many >= TABLE_MATCH_MANY


def _table(boxes: Sequence[TextBox], gaps: Sequence[tuple[float, float]]) -> Table:
    bounds = [(g0 + g1) / 2 for g0, g1 in gaps]
    rows: list[tuple[str, ...]] = []
    for row in _group_rows(boxes):
        cells: list[list[str]] = [[] for _ in range(len(bounds) + 1)]
        for box in row.boxes:
            column = sum(1 for bound in bounds if (box.x0 + box.x1) / 2 > bound)
            if box.text:
                cells[column].append(box.text)
        rows.append(tuple(" ".join(cell) for cell in cells))
    return Table(tuple(rows))


def _table_region(rows: list[_Row], min_gap: float) -> list[_Item]:
    """A table, and the rows above or below it that do not fit its columns (a title)."""
    cells = [b for row in rows if len(row.boxes) >= 2 for b in row.boxes]
    gaps = _x_gaps(cells, min_gap) if cells else []

    def fits(row: _Row) -> bool:
        return not any(b.x0 < g1 and b.x1 > g0 for b in row.boxes for g0, g1 in gaps)

    fitting = [i for i, row in enumerate(rows) if fits(row)]
    if not gaps or len(fitting) < 2:
        return [_Run(rows)]
    first, last = fitting[0], fitting[-1]
    items: list[_Item] = []
    if first > 0:
        items.extend(_cut([b for row in rows[:first] for b in row.boxes]))
    items.append(_table([b for row in rows[first : last + 1] for b in row.boxes], gaps))
    if last + 1 < len(rows):
        items.extend(_cut([b for row in rows[last + 1 :] for b in row.boxes]))
    return items


@dataclass(slots=True)
class _Run:
    """Rows read one after another in one column."""

    rows: list[_Row]


_Item = _Run | Table


def _concat(items: list[_Item], more: list[_Item]) -> None:
    """Appends ``more``; a run that follows a run in the same column continues it."""
    for item in more:
        last = items[-1] if items else None
        if isinstance(item, _Run) and isinstance(last, _Run):
            last.rows.extend(item.rows)
        else:
            items.append(item)


def _cut(boxes: list[TextBox]) -> list[_Item]:
    rows = _group_rows(boxes)
    if len(rows) <= 1:
        return [_Run(rows)]
    min_gap = max(MIN_COLUMN_GAP * _line_height(boxes), 4.0)
    gaps = _x_gaps(boxes, min_gap)
    if gaps:
        widest = max(gaps, key=lambda g: g[1] - g[0])
        left, right = _split_x(boxes, (widest[0] + widest[1]) / 2)
        if _looks_like_table(left, right):
            return _table_region(rows, min_gap)
        if len(_group_rows(left)) >= 2 and len(_group_rows(right)) >= 2:
            return _cut(left) + _cut(right)  # columns: each keeps its own runs
    return _cut_across(rows)


def _cut_across(rows: list[_Row]) -> list[_Item]:
    """Cuts a region into bands at its widest horizontal gaps; each band is cut again."""
    bottoms: list[float] = []
    deepest = rows[0].y1
    for row in rows:
        bottoms.append(deepest)
        deepest = max(deepest, row.y1)
    gaps = [rows[i].y0 - bottoms[i] for i in range(1, len(rows))]
    widest = max(gaps)
    if widest <= 0:
        return [_Run(rows)]
    items: list[_Item] = []
    start = 0
    for i, gap in enumerate(gaps, start=1):
        if gap >= 0.9 * widest:
            _concat(items, _cut([b for row in rows[start:i] for b in row.boxes]))
            start = i
    _concat(items, _cut([b for row in rows[start:] for b in row.boxes]))
    return items


# --- paragraphs --------------------------------------------------------------------------


def _paragraph_gap(gaps: Sequence[float], height: float) -> float:
    """The smallest gap that starts a paragraph: above the first clear jump in the sorted
    gaps (the ordinary line gaps are below it). Infinite when the gaps are all alike."""
    ordered = sorted(gaps)
    for small, large in itertools.pairwise(ordered):
        clearly_wider = large - small > PARAGRAPH_MIN_EXTRA * height
        if clearly_wider and large >= PARAGRAPH_GAP * max(small, 1.0):
            return large
    return math.inf


def _indents(rows: Sequence[_Row]) -> list[int]:
    """Leading spaces per row for code in a monospaced font, else zeros.

    Monospaced text has one advance per character, so a row's width over its length
    is the same on every row, and indented rows start a whole number of characters to
    the right. Prose (same start on every row) and centred text (starts at odd
    fractions of a character) get no indentation.
    """
    zeros = [0] * len(rows)
    if len(rows) < 3:
        return zeros
    advances = [r.x1 - r.x0 for r in rows]
    lengths = [len(r.text) for r in rows]
    per_char = [w / n for w, n in zip(advances, lengths, strict=True) if n >= 8]
    if len(per_char) < 2 or max(per_char) > MONO_SPREAD * min(per_char):
        return zeros
    advance = _median(per_char)
    left = min(r.x0 for r in rows)
    steps = [(r.x0 - left) / advance for r in rows]
    if max(steps) < 1.5 or any(abs(step - round(step)) > 0.3 for step in steps):
        return zeros
    return [round(step) for step in steps]


def _paragraphs(run: _Run) -> list[Paragraph]:
    rows = run.rows
    gaps = [rows[i].y0 - rows[i - 1].y1 for i in range(1, len(rows))]
    height = _median(r.height for r in rows)
    threshold = _paragraph_gap(gaps, height)
    texts = [" " * indent + row.text for indent, row in zip(_indents(rows), rows, strict=True)]
    out: list[Paragraph] = []
    current: list[str] = [texts[0]]
    for i, gap in enumerate(gaps, start=1):
        prev, row = rows[i - 1], rows[i]
        ratio = max(prev.height, row.height) / max(min(prev.height, row.height), 1.0)
        if gap >= threshold or ratio >= SIZE_CHANGE:
            out.append(Paragraph(tuple(current)))
            current = []
        current.append(texts[i])
    out.append(Paragraph(tuple(current)))
    return out


# --- entry points ----------------------------------------------------------------------


def layout(boxes: Iterable[TextBox]) -> list[Block]:
    """The boxes as paragraphs and tables in reading order. Empty texts are ignored."""
    kept = [b for b in boxes if b.text.strip() and b.height > 0 and b.width >= 0]
    if not kept:
        return []
    blocks: list[Block] = []
    for item in _cut(kept):
        if isinstance(item, Table):
            blocks.append(item)
        elif item.rows:
            blocks.extend(_paragraphs(item))
    return blocks


def blocks_to_text(blocks: Iterable[Block]) -> str:
    """Paragraph lines on their own lines, a blank line between blocks, tabs in tables."""
    return "\n\n".join(block.text for block in blocks)


def layout_text(boxes: Iterable[TextBox]) -> str:
    return blocks_to_text(layout(boxes))
