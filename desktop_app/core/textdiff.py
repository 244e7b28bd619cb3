"""Word-level comparison of two transcriptions of one image (the model's and the offline
engine's), so a person sees where the model may have invented or dropped text."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Kind = Literal["same", "first_only", "second_only"]


@dataclass(frozen=True, slots=True)
class Segment:
    kind: Kind  # first_only: only in the first text (the model's); second_only: the other
    text: str


def word_diff(first: str, second: str) -> list[Segment]:
    """Segments of ``first`` and ``second`` in reading order: runs of words both have,
    and where they differ, the first's words then the second's. Whitespace differences
    (line breaks, tabs) do not count; words keep the first text's spacing where equal."""
    a, b = first.split(), second.split()
    out: list[Segment] = []

    def add(kind: Kind, words: list[str]) -> None:
        if not words:
            return
        text = " ".join(words)
        if out and out[-1].kind == kind:
            out[-1] = Segment(kind, f"{out[-1].text} {text}")
        else:
            out.append(Segment(kind, text))

    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            add("same", a[i1:i2])
        else:
            add("first_only", a[i1:i2])
            add("second_only", b[j1:j2])
    return out


def agreement(segments: list[Segment]) -> float:
    """The share of words both texts have, from 0 to 1 (1 for two empty texts)."""
    same = sum(len(s.text.split()) for s in segments if s.kind == "same")
    total = sum(len(s.text.split()) for s in segments)
    return 1.0 if total == 0 else same / total


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), two rows of the DP table."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def normalise_space(text: str) -> str:
    """Runs of whitespace as one space: OCR error rates do not count layout."""
    return " ".join(text.split())


def char_errors(got: str, want: str) -> tuple[int, int]:
    """(edits, reference length) after whitespace normalisation: the character error
    rate is their quotient."""
    got, want = normalise_space(got), normalise_space(want)
    return levenshtein(got, want), len(want)
