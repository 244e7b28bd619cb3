"""Reading order from hand-made boxes: rows, paragraphs, columns, tables, code."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_app.core.ocr_layout import Paragraph, Table, TextBox, layout, layout_text

H = 20.0  # box height of ordinary text


def box(x: float, y: float, text: str, *, w: float | None = None, h: float = H) -> TextBox:
    """A box at (x, y); its width follows the text (8 px a character) unless given."""
    return TextBox(x, y, x + (w if w is not None else 8.0 * len(text)), y + h, text)


def lines(x: float, y: float, texts: list[str], *, pitch: float = 26.0) -> list[TextBox]:
    return [box(x, y + i * pitch, t) for i, t in enumerate(texts)]


def test_nothing_gives_nothing() -> None:
    assert layout([]) == []
    assert layout_text([]) == ""
    assert layout_text([box(0, 0, "  "), box(0, 40, "")]) == ""


def test_a_row_reads_left_to_right_whatever_the_input_order() -> None:
    row = [box(300, 2, "three"), box(10, 0, "one"), box(150, 1, "two")]
    assert layout_text(row) == "one two three"
    assert layout(row) == [Paragraph(("one two three",))]


def test_lines_of_a_paragraph_stay_lines() -> None:
    text = ["The first line of a paragraph", "and its second line", "and a third."]
    assert layout_text(lines(10, 10, text)) == "\n".join(text)


def test_a_wider_gap_starts_a_paragraph() -> None:
    first = lines(10, 10, ["Para one, line one", "para one, line two"])
    second = lines(10, 10 + 2 * 26 + 20, ["Para two, line one", "para two, line two"])
    out = layout(first + second)
    assert out == [
        Paragraph(("Para one, line one", "para one, line two")),
        Paragraph(("Para two, line one", "para two, line two")),
    ]
    assert layout_text(first + second).count("\n\n") == 1


def test_evenly_spaced_items_are_one_block() -> None:
    items = ["Getting started", "Capture a region", "History", "Settings"]
    assert layout(lines(10, 10, items, pitch=34)) == [Paragraph(tuple(items))]


def test_touching_boxes_still_break_at_a_paragraph_gap() -> None:
    # Boxes of close lines overlap a little (the detector pads them); gaps are <= 0.
    first = lines(10, 10, ["one one one one", "two two two two"], pitch=18)
    second = lines(10, 10 + 18 + 30, ["three three three", "four four four"], pitch=18)
    assert layout_text(first + second) == (
        "one one one one\ntwo two two two\n\nthree three three\nfour four four"
    )


def test_a_heading_is_its_own_paragraph() -> None:
    heading = box(10, 10, "Working offline", h=32)
    body = lines(10, 46, ["Body text line one", "body text line two"])
    assert [b.text for b in layout([heading, *body])] == [
        "Working offline",
        "Body text line one\nbody text line two",
    ]


def test_columns_are_read_one_after_the_other() -> None:
    # A sidebar of short items beside an article of long lines; their rows interleave.
    sidebar = lines(10, 60, ["Home", "Offline mode", "Shortcuts", "History"], pitch=34)
    article = lines(
        300,
        64,
        [
            "An article line that runs on for quite a long way across",
            "the page and then wraps onto the next line of the column,",
            "and a third one that ends the article's first paragraph.",
        ],
        pitch=22,
    )
    text = layout_text(article + sidebar)
    assert text.index("History") < text.index("An article")
    assert text.split("\n\n") == [
        "Home\nOffline mode\nShortcuts\nHistory",
        "\n".join(b.text for b in article),
    ]


def test_two_aligned_columns_of_running_text_are_columns_not_a_table() -> None:
    left = lines(10, 10, ["Left column running text that is long " + str(i) for i in range(4)])
    right = lines(500, 10, ["Right column running text that is long " + str(i) for i in range(4)])
    blocks = layout(right + left)
    assert all(isinstance(b, Paragraph) for b in blocks)
    assert layout_text(right + left).split("\n\n") == [
        "\n".join(b.text for b in left),
        "\n".join(b.text for b in right),
    ]


def test_a_table_keeps_its_rows_with_tabs() -> None:
    rows = [
        ["ID", "Name", "Status"],
        ["1042", "Import invoices", "Open"],
        ["1043", "Fix login timeout", "In review"],
        ["1047", "Export", "Done"],
    ]
    boxes = [
        box(10 + 150 * c, 10 + 30 * r, cell)
        for r, row in enumerate(rows)
        for c, cell in enumerate(row)
    ]
    random.Random(1).shuffle(boxes)
    blocks = layout(boxes)
    assert blocks == [Table(tuple(tuple(row) for row in rows))]
    assert layout_text(boxes) == "\n".join("\t".join(row) for row in rows)


def test_an_empty_cell_keeps_the_columns_in_place() -> None:
    cells = {(0, 0): "Key", (0, 1): "Value", (0, 2): "Note", (1, 0): "a", (1, 2): "first"}
    cells |= {(2, 0): "b", (2, 1): "2", (2, 2): "second"}
    boxes = [box(10 + 150 * c, 10 + 30 * r, t) for (r, c), t in cells.items()]
    assert layout_text(boxes) == "Key\tValue\tNote\na\t\tfirst\nb\t2\tsecond"


def test_a_title_above_a_table_comes_first() -> None:
    title = box(10, 10, "Open tickets and who owns them", h=26)
    table = [box(10 + 200 * c, 60 + 30 * r, f"r{r}c{c}") for r in range(3) for c in range(3)]
    assert layout_text([*table, title]) == (
        "Open tickets and who owns them\n\nr0c0\tr0c1\tr0c2\nr1c0\tr1c1\tr1c2\nr2c0\tr2c1\tr2c2"
    )


def test_a_toolbar_row_is_one_line() -> None:
    labels = ["New", "Open", "Save", "Undo", "Settings", "Help"]
    row = [box(10 + 90 * i, 8, label) for i, label in enumerate(labels)]
    assert layout_text(row) == " ".join(labels)


def test_a_dialog_reads_title_body_buttons() -> None:
    title = box(48, 36, "Save changes before closing?", h=36)
    body = lines(
        48,
        100,
        ["Your document has unsaved changes. If you close", "it now they are lost."],
        pitch=40,
    )
    body = [TextBox(b.x0, b.y0, b.x1, b.y0 + 32, b.text) for b in body]
    buttons = [
        box(340, 250, "Don't Save", h=32),
        box(560, 250, "Cancel", h=32),
        box(720, 250, "Save", h=32),
    ]
    assert layout_text(buttons + body + [title]) == (
        "Save changes before closing?\n\n"
        "Your document has unsaved changes. If you close\nit now they are lost.\n\n"
        "Don't Save Cancel Save"
    )


def test_monospaced_code_keeps_its_indentation() -> None:
    code = [
        "def parse(text):",
        "    if not text:",
        "        return None",
        "    return int(text)",
    ]
    boxes = [
        box(16 + 8 * (len(t) - len(t.lstrip())), 10 + 19 * i, t.strip()) for i, t in enumerate(code)
    ]
    assert layout_text(boxes) == "\n".join(code)


def test_centred_lines_get_no_indentation() -> None:
    texts = ["A centred title line", "and a shorter one", "then a much longer third line of it"]
    boxes = [box(400 - 4.3 * len(t), 10 + 26 * i, t) for i, t in enumerate(texts)]
    assert layout_text(boxes) == "\n".join(texts)


@st.composite
def _grids(draw: st.DrawFn) -> list[TextBox]:
    rows = draw(st.integers(1, 6))
    cols = draw(st.integers(1, 4))
    gap = draw(st.sampled_from([26.0, 30.0, 60.0]))
    out: list[TextBox] = []
    for r in range(rows):
        for c in range(cols):
            if draw(st.booleans()) or (r, c) == (0, 0):
                word = draw(st.text("abcdefgh", min_size=1, max_size=12))
                out.append(box(10 + 200 * c, 10 + gap * r, f"{word}{r}{c}"))
    return out


@settings(max_examples=60, deadline=None)
@given(_grids(), st.randoms(use_true_random=False))
def test_no_text_is_lost_and_input_order_does_not_matter(
    boxes: list[TextBox], rnd: random.Random
) -> None:
    text = layout_text(boxes)
    assert sorted(text.split()) == sorted(b.text for b in boxes)
    shuffled = boxes[:]
    rnd.shuffle(shuffled)
    assert layout_text(shuffled) == text


@pytest.mark.parametrize(
    "values", [[3.0], [1.0, 9.0], [5.0, 1.0, 4.0], [2.0, 2.0, 8.0, 1.0], list(range(101))]
)
def test_the_median_is_statistics_median(values: list[float]) -> None:
    import statistics

    from desktop_app.core.ocr_layout import _median

    assert _median(values) == statistics.median(values)
    assert _median(iter(values)) == statistics.median(values)
