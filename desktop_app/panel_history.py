"""A past conversation, read back from the history to be shown in a panel again.

Qt-free: it only reads ``core.history``. Kept out of ``core`` because it knows the
panel's shape of a conversation (a first answer, then question and answer pairs, a
"continue" request appending to the answer before it).
"""

from __future__ import annotations

from desktop_app.core.history import History, HistoryEntry
from desktop_app.core.prompts import CONTINUE_PROMPT

Conversation = tuple[HistoryEntry, list[tuple[str | None, str]], bytes, bool]


def conversation_of(history: History, entry_id: int) -> Conversation | None:
    """``(first entry, exchanges, picture, full)`` for the conversation holding
    ``entry_id``; ``picture`` is the full PNG when kept (``full``), else the thumbnail.
    None when the entry is gone or has no picture at all."""
    entry = history.get(entry_id)
    if entry is None:
        return None
    if entry.parent_id is not None:
        root = history.get(entry.parent_id)
        entry = root if root is not None else entry
    exchanges: list[tuple[str | None, str]] = [(None, entry.answer)]
    for follow in history.followups(entry.id):
        if follow.prompt == CONTINUE_PROMPT:
            question, answer = exchanges[-1]
            exchanges[-1] = (question, answer + follow.answer)
        else:
            exchanges.append((follow.prompt, follow.answer))
    image = history.image(entry.id)
    if image is not None:
        return entry, exchanges, image, True
    if entry.thumbnail is None:
        return None
    return entry, exchanges, entry.thumbnail, False
