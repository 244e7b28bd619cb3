from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from desktop_app.core.textdiff import Segment, agreement, word_diff


def test_identical_texts_agree_fully_whatever_the_spacing() -> None:
    segs = word_diff("Total due\n€1,149.78", "Total  due €1,149.78")
    assert segs == [Segment("same", "Total due €1,149.78")]
    assert agreement(segs) == 1.0


def test_invented_and_dropped_words_are_marked() -> None:
    model = "Please pay by bank transfer quickly to DE89 3704"
    offline = "Please pay by transfer to DE89 3704 0044"
    assert word_diff(model, offline) == [
        Segment("same", "Please pay by"),
        Segment("first_only", "bank"),
        Segment("same", "transfer"),
        Segment("first_only", "quickly"),
        Segment("same", "to DE89 3704"),
        Segment("second_only", "0044"),
    ]


def test_a_changed_word_shows_both_readings() -> None:
    segs = word_diff("Invoice 2026-1187", "Invoice 2026-1181")
    assert segs == [
        Segment("same", "Invoice"),
        Segment("first_only", "2026-1187"),
        Segment("second_only", "2026-1181"),
    ]
    assert agreement(segs) == 1 / 3


word = st.text(alphabet="abcdefgh0123€", min_size=1, max_size=5)


@given(st.lists(word, max_size=30), st.lists(word, max_size=30))
def test_each_text_is_rebuilt_from_its_segments(a: list[str], b: list[str]) -> None:
    segs = word_diff(" ".join(a), " ".join(b))
    first = " ".join(s.text for s in segs if s.kind != "second_only")
    second = " ".join(s.text for s in segs if s.kind != "first_only")
    assert first.split() == a
    assert second.split() == b
    assert 0.0 <= agreement(segs) <= 1.0
