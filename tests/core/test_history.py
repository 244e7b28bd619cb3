"""The history store, on real SQLite files under tmp_path."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_app.core.errors import ScreenScribeError
from desktop_app.core.history import (
    SCHEMA_VERSION,
    History,
    HistoryEntry,
    HistoryError,
    NewEntry,
    fts_query,
)

DAY = 86_400.0


def make(**kw: Any) -> NewEntry:
    """A NewEntry with plausible defaults for the fields a test does not care about."""
    fields: dict[str, Any] = {
        "profile": "local",
        "model": "qwen2.5-vl-7b",
        "base_url": "http://127.0.0.1:8000/v1",
        "mode": "ocr",
        "prompt": "Extract the text.",
        "answer": "Nothing here.",
    }
    fields.update(kw)
    return NewEntry(**fields)


def ids(entries: list[HistoryEntry]) -> list[int]:
    return [e.id for e in entries]


def sql(path: Path, query: str) -> list[tuple[Any, ...]]:
    """Run one query on a second, independent connection."""
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "nested" / "history.sqlite3"


@pytest.fixture
def history(path: Path) -> Iterator[History]:
    with History(path) as h:
        yield h


# --- round trip ---------------------------------------------------------------------


def test_add_get_round_trips_every_field(history: History) -> None:
    thumbnail = bytes(range(256)) * 20 + b"\x00\xff"
    new = NewEntry(
        profile="hosted",
        model="gpt-4o-mini",
        base_url="https://api.example.com/v1",
        mode="ask",
        prompt="What is the total?\nPlease be brief.",
        answer="The total is **42 €**.\n\n| a | b |\n|---|---|",
        reasoning="Looked at the bottom row.",
        finish_reason="length",
        status="failed",
        error="Stream cut after 12 s.",
        prompt_tokens=1234,
        completion_tokens=56,
        ttft_ms=187.5,
        total_ms=2345.25,
        image_width=896,
        image_height=448,
        source="/home/me/Pictures/receipt.png",
        thumbnail=thumbnail,
        created_at=1_700_000_000.125,
        parent_id=None,
    )
    entry_id = history.add(new)
    got = history.get(entry_id)
    assert got is not None
    expected = {
        **{k: v for k, v in dataclasses.asdict(new).items() if k != "image"},
        "id": entry_id,
        "has_thumbnail": True,
    }
    assert dataclasses.asdict(got) == expected
    assert isinstance(got.thumbnail, bytes)


def test_add_get_keeps_none_values_and_defaults(history: History) -> None:
    before = time.time()
    entry_id = history.add(make())
    after = time.time()
    got = history.get(entry_id)
    assert got is not None
    assert before <= got.created_at <= after
    assert got.reasoning == ""
    assert got.status == "complete"
    for name in (
        "finish_reason",
        "error",
        "prompt_tokens",
        "completion_tokens",
        "ttft_ms",
        "total_ms",
        "image_width",
        "image_height",
        "source",
        "thumbnail",
        "parent_id",
    ):
        assert getattr(got, name) is None, name
    assert got.has_thumbnail is False


def test_get_missing_is_none(history: History) -> None:
    assert history.get(12345) is None


def test_lists_leave_thumbnails_out_but_say_whether_there_is_one(history: History) -> None:
    with_id = history.add(make(thumbnail=b"\xff\xd8jpeg", created_at=2.0))
    without_id = history.add(make(created_at=1.0))
    listed = {e.id: e for e in history.recent()}
    assert listed[with_id].thumbnail is None
    assert listed[with_id].has_thumbnail is True
    assert listed[without_id].has_thumbnail is False
    found = history.search("nothing")
    assert [e.thumbnail for e in found] == [None, None]
    assert [e.has_thumbnail for e in found] == [True, False]


def test_lone_surrogates_are_saved_as_replacement_characters(history: History) -> None:
    entry_id = history.add(make(answer="broken \ud800 escape"))
    got = history.get(entry_id)
    assert got is not None
    assert got.answer == "broken \ufffd escape"


def test_invalid_status_is_refused(history: History) -> None:
    with pytest.raises(ValueError, match="status"):
        history.add(make(status="done"))
    assert history.count() == 0


# --- the file -----------------------------------------------------------------------


def test_file_uses_wal_foreign_keys_and_schema_version(history: History, path: Path) -> None:
    assert path.parent.is_dir()
    assert sql(path, "PRAGMA journal_mode") == [("wal",)]
    assert sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    # Foreign keys on: deleting an entry cascades to its thumbnail.
    entry_id = history.add(make(thumbnail=b"jpeg"))
    assert sql(path, "SELECT count(*) FROM thumbnails") == [(1,)]
    assert history.delete(entry_id)
    assert sql(path, "SELECT count(*) FROM thumbnails") == [(0,)]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_file_is_private_to_the_owner(history: History, path: Path) -> None:
    history.add(make())
    assert path.stat().st_mode & 0o777 == 0o600


def test_reopening_keeps_the_data(path: Path) -> None:
    with History(path) as first:
        entry_id = first.add(make(answer="persistent words", thumbnail=b"jpeg"))
    with History(path) as second:
        assert second.count() == 1
        got = second.get(entry_id)
        assert got is not None
        assert got.answer == "persistent words"
        assert got.thumbnail == b"jpeg"
        assert ids(second.search("persist")) == [entry_id]


def test_closed_history_refuses_politely(path: Path) -> None:
    history = History(path)
    history.close()
    history.close()  # idempotent
    with pytest.raises(HistoryError, match="closed"):
        history.count()


def test_context_manager_closes(path: Path) -> None:
    with History(path) as history:
        pass
    with pytest.raises(HistoryError):
        history.recent()


def test_retention_arguments_are_checked(path: Path) -> None:
    with pytest.raises(ValueError, match="max_entries"):
        History(path, max_entries=0)
    with pytest.raises(ValueError, match="max_age_days"):
        History(path, max_age_days=0)


# --- recent -------------------------------------------------------------------------


def test_recent_is_newest_first_by_created_at(history: History) -> None:
    middle = history.add(make(created_at=2000.0))
    oldest = history.add(make(created_at=1000.0))
    newest = history.add(make(created_at=3000.0))
    tie_first = history.add(make(created_at=2500.0))
    tie_second = history.add(make(created_at=2500.0))
    assert ids(history.recent()) == [newest, tie_second, tie_first, middle, oldest]
    assert ids(history.recent(limit=2)) == [newest, tie_second]
    assert ids(history.recent(limit=2, offset=3)) == [middle, oldest]
    assert history.recent(limit=10, offset=5) == []
    assert history.count() == 5


# --- search -------------------------------------------------------------------------


def test_search_finds_words_in_prompt_and_in_answer(history: History) -> None:
    in_prompt = history.add(make(prompt="Translate to Portuguese", answer="Olá mundo"))
    in_answer = history.add(make(prompt="Extract the text.", answer="Invoice 2024-113"))
    assert ids(history.search("portuguese")) == [in_prompt]
    assert ids(history.search("invoice")) == [in_answer]
    assert ids(history.search("INVOICE 2024")) == [in_answer]
    assert history.search("absent") == []


def test_search_needs_every_word(history: History) -> None:
    both = history.add(make(answer="red apple"))
    history.add(make(answer="red car"))
    assert ids(history.search("apple red")) == [both]


def test_search_as_you_type_treats_the_last_word_as_a_prefix(history: History) -> None:
    hello = history.add(make(answer="hello world"))
    help_ = history.add(make(answer="help wanted", created_at=1.0))
    assert set(ids(history.search("hel"))) == {hello, help_}
    assert ids(history.search("hello wor")) == [hello]
    # Only the last word is a prefix, and a finished word (trailing space) is not.
    assert history.search("hel world") == []
    assert history.search("hel ") == []
    assert ids(history.search("hello ")) == [hello]


def test_search_ignores_diacritics_and_case(history: History) -> None:
    accented = history.add(make(answer="Un café crème, s'il vous plaît"))
    plain = history.add(make(answer="cafe au lait", created_at=1.0))
    assert set(ids(history.search("cafe"))) == {accented, plain}
    assert set(ids(history.search("CAFÉ"))) == {accented, plain}
    assert ids(history.search("creme")) == [accented]
    assert ids(history.search("plait")) == [accented]


def test_search_matches_hyphenated_words_as_adjacent_words(history: History) -> None:
    adjacent = history.add(make(answer="see the foo-bar option"))
    apart = history.add(make(answer="foo and then bar"))
    assert ids(history.search("foo-bar")) == [adjacent]
    assert set(ids(history.search("foo bar"))) == {adjacent, apart}


def test_search_ranks_by_relevance_then_newest(history: History) -> None:
    weak = history.add(
        make(answer="A long answer that mentions the receipt once among many other words " * 5)
    )
    strong = history.add(make(answer="receipt receipt receipt", created_at=1.0))
    twin_old = history.add(make(answer="receipt total", created_at=100.0))
    twin_new = history.add(make(answer="receipt total", created_at=200.0))
    assert ids(history.search("receipt")) == [strong, twin_new, twin_old, weak]
    assert ids(history.search("receipt", limit=2)) == [strong, twin_new]


@pytest.mark.parametrize(
    "text",
    ['"', "AND OR", "NOT", "foo*", "col:val", "(", ")", "NEAR(a b)", "^start", "-x", "+", "*",
     'say "hi', "a\x00b", "{prompt answer}: x", "prompt:hello", "'", "\\", "\ud800"],
)  # fmt: skip
def test_fts_syntax_in_user_text_never_raises(history: History, text: str) -> None:
    history.add(make(answer="hello world foobar"))
    result = history.search(text)
    assert isinstance(result, list)
    assert all(isinstance(e, HistoryEntry) for e in result)


def test_fts_syntax_is_taken_literally(history: History) -> None:
    logic = history.add(make(answer="Boolean AND OR NOT operators"))
    columns = history.add(make(answer="the col val pair"))
    prefixed = history.add(make(answer="foobar baz"))
    history.add(make(answer="unrelated"))
    assert ids(history.search("AND OR")) == [logic]
    assert ids(history.search("NOT")) == [logic]
    assert ids(history.search("col:val")) == [columns]
    assert ids(history.search("foo*")) == [prefixed]
    assert ids(history.search("prompt:foobar")) == []  # not a column filter


@pytest.mark.parametrize("text", ["", "   ", "!!!", "--- ...", '"', "()", "\x00", "*"])
def test_query_without_words_gives_recent(history: History, text: str) -> None:
    first = history.add(make(created_at=1.0))
    second = history.add(make(created_at=2.0))
    assert ids(history.search(text)) == [second, first]
    assert ids(history.search(text, limit=1)) == [second]


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('he said "hi"') == '"he" "said" """hi"""*'
    assert fts_query("done ") == '"done"'
    assert fts_query(" ...  ") is None


# --- writes keep the index in sync --------------------------------------------------


def test_deleted_entry_is_no_longer_found(history: History) -> None:
    gone = history.add(make(answer="ephemeral words"))
    kept = history.add(make(answer="ephemeral too"))
    assert history.delete(gone) is True
    assert history.delete(gone) is False
    assert history.get(gone) is None
    assert ids(history.search("ephemeral")) == [kept]
    assert history.count() == 1


def test_updated_answer_is_found_by_new_words_not_old(history: History) -> None:
    entry_id = history.add(
        make(answer="draft partial", status="partial", prompt_tokens=900, total_ms=10.0)
    )
    assert history.update_answer(
        entry_id,
        answer="final complete text",
        status="complete",
        finish_reason="stop",
        completion_tokens=42,
    )
    assert ids(history.search("final")) == [entry_id]
    assert history.search("draft") == []
    got = history.get(entry_id)
    assert got is not None
    assert (got.answer, got.status, got.finish_reason) == (
        "final complete text",
        "complete",
        "stop",
    )
    assert got.completion_tokens == 42
    assert got.prompt_tokens == 900  # None keeps what was saved
    assert got.total_ms == 10.0


def test_update_answer_sets_and_clears_the_error(history: History) -> None:
    entry_id = history.add(make(answer="", status="partial"))
    history.update_answer(entry_id, answer="cut", status="failed", error="Server went away.")
    got = history.get(entry_id)
    assert got is not None
    assert (got.status, got.error) == ("failed", "Server went away.")
    history.update_answer(entry_id, answer="retried fine", status="complete")
    got = history.get(entry_id)
    assert got is not None
    assert (got.status, got.error) == ("complete", None)


def test_update_answer_of_a_missing_entry_says_so(history: History) -> None:
    assert history.update_answer(999, answer="x", status="complete") is False
    with pytest.raises(ValueError, match="status"):
        history.update_answer(999, answer="x", status="finished")  # type: ignore[arg-type]


def test_index_matches_the_entries_after_every_kind_of_write(path: Path) -> None:
    with History(path, max_entries=6) as history:
        added = [history.add(make(answer=f"word{n} common")) for n in range(10)]  # 4 pruned
        history.update_answer(added[5], answer="rewritten common", status="complete")
        history.update_answer(added[6], answer="partial again", status="partial")
        history.delete(added[7])
        history.add(make(prompt="another prompt", answer="", parent_id=added[8]))
        assert history.count() == 6
        assert len(history.search("common")) == 4
    # FTS5 compares its index with the content table, row by row.
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("INSERT INTO entries_fts (entries_fts, rank) VALUES ('integrity-check', 1)")


def test_partial_entries_are_saved_and_listed(history: History) -> None:
    entry_id = history.add(make(answer="the first half of", status="partial"))
    [listed] = history.recent()
    assert (listed.id, listed.status, listed.answer) == (entry_id, "partial", "the first half of")
    [found] = history.search("half")
    assert found.status == "partial"


def test_clear_removes_everything_including_the_text_on_disk(history: History, path: Path) -> None:
    for n in range(5):
        history.add(make(answer=f"zanzibarsecret number {n}", thumbnail=b"jpeg"))
    assert history.clear() == 5
    assert history.count() == 0
    assert history.search("zanzibarsecret") == []
    assert history.recent() == []
    on_disk = b"".join(
        p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)
    )
    assert b"zanzibarsecret" not in on_disk
    assert history.add(make(answer="after clear")) > 0
    assert history.count() == 1


# --- follow-ups ---------------------------------------------------------------------


def test_follow_up_links_to_its_parent_until_the_parent_goes(history: History) -> None:
    parent = history.add(make(answer="a chart of sales"))
    child = history.add(make(mode="ask", prompt="Which month?", answer="May", parent_id=parent))
    got = history.get(child)
    assert got is not None
    assert got.parent_id == parent
    history.delete(parent)
    got = history.get(child)
    assert got is not None
    assert got.parent_id is None


def test_follow_up_of_a_deleted_parent_is_saved_without_the_link(history: History) -> None:
    child = history.add(make(answer="orphan", parent_id=424242))
    got = history.get(child)
    assert got is not None
    assert got.parent_id is None


# --- retention ----------------------------------------------------------------------


def test_max_entries_drops_the_oldest(path: Path) -> None:
    with History(path, max_entries=3) as history:
        added = [history.add(make(answer=f"entry{n}", created_at=1000.0 + n)) for n in range(5)]
        assert history.count() == 3
        assert ids(history.recent()) == added[:1:-1]
        assert history.search("entry0") == []
        # An entry older than all kept ones is itself the oldest, so it goes at once.
        late = history.add(make(answer="backdated", created_at=1.0))
        assert history.get(late) is None
        assert history.count() == 3


def test_max_age_days_drops_old_entries(path: Path) -> None:
    now = time.time()
    with History(path, max_entries=None, max_age_days=30) as history:
        old = history.add(make(answer="ancient", created_at=now - 40 * DAY))
        fresh = history.add(make(answer="recent", created_at=now - 1 * DAY))
        assert ids(history.recent()) == [fresh]
        assert history.get(old) is None
        assert history.search("ancient") == []


def test_retention_applies_on_open_and_prune_reports_what_went(path: Path) -> None:
    now = time.time()
    with History(path, max_entries=None) as history:
        for days in (100, 50, 20, 10, 1):
            history.add(make(created_at=now - days * DAY))
        assert history.count() == 5
        assert history.prune() == 0  # no limits set
    with History(path, max_entries=None, max_age_days=30) as history:
        assert history.count() == 3
        assert history.prune() == 0
        history.max_entries = 1
        assert history.prune() == 2
        assert history.count() == 1


# --- threads ------------------------------------------------------------------------


def test_many_threads_can_write_and_read_at_once(history: History) -> None:
    errors: list[BaseException] = []
    added: list[int] = []
    start = threading.Barrier(8)

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(50):
                added.append(history.add(make(answer=f"worker{worker} item{n}")))
                if n % 10 == 0:
                    history.search(f"worker{worker}")
                    history.recent(5)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert history.count() == 400
    assert len(set(added)) == 400
    assert len(history.search("worker3", limit=100)) == 50


def test_two_stores_on_one_file_write_at_once(path: Path) -> None:
    """As the GUI and a batch CLI do, each with its own connection."""
    errors: list[BaseException] = []
    with History(path) as gui, History(path) as cli:

        def work(history: History, name: str) -> None:
            try:
                for n in range(100):
                    history.add(make(answer=f"{name} {n}"))
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=work, args=(h, name))
            for h, name in ((gui, "fromgui"), (cli, "fromcli"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert gui.count() == cli.count() == 200
        assert len(gui.search("fromcli", limit=500)) == 100


# --- damage and foreign files -------------------------------------------------------


def test_a_file_that_is_not_a_database_is_a_history_error(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not SQLite, just some text " * 200)
    with pytest.raises(HistoryError) as info:
        History(path)
    assert info.value.corrupt is True
    assert isinstance(info.value, ScreenScribeError)
    assert info.value.exit_code == 2
    assert str(path) in str(info.value)
    assert "damaged" in str(info.value)


def test_open_or_recover_keeps_the_damaged_file_and_starts_afresh(path: Path) -> None:
    path.parent.mkdir(parents=True)
    original = b"\x00garbage\xff" * 1000
    path.write_bytes(original)
    wal = path.with_name(path.name + "-wal")
    wal.write_bytes(b"old wal")
    history, warning = History.open_or_recover(path)
    with history:
        assert warning is not None
        [backup] = path.parent.glob(f"{path.name}.corrupt-*[0-9]")
        assert backup.read_bytes() == original
        assert backup.with_name(backup.name + "-wal").read_bytes() == b"old wal"
        assert backup.name in warning
        assert history.count() == 0
        assert history.add(make(answer="fresh start")) > 0
    stamp = backup.name.rsplit(".corrupt-", 1)[1]
    assert time.strptime(stamp, "%Y%m%d-%H%M%S")


def test_open_or_recover_finds_damage_inside_a_real_database(path: Path) -> None:
    with History(path) as history:
        for n in range(300):
            history.add(make(answer=f"filler text number {n} " * 20, thumbnail=b"j" * 500))
    data = bytearray(path.read_bytes())
    assert data.startswith(b"SQLite format 3\x00")
    page_size = int.from_bytes(data[16:18], "big")
    for page in range(2, len(data) // page_size, 3):  # garble every third page but the first
        data[page * page_size + 8 : page * page_size + 200] = b"\xa5" * 192
    path.write_bytes(bytes(data))

    history, warning = History.open_or_recover(path)
    with history:
        assert warning is not None
        assert "damaged" in warning
        assert history.count() == 0
    [backup] = path.parent.glob(f"{path.name}.corrupt-*[0-9]")
    assert backup.read_bytes() == bytes(data)


def test_open_or_recover_keeps_the_wal_of_a_damaged_database_untouched(
    tmp_path: Path, path: Path
) -> None:
    crashed = tmp_path / "crashed" / "history.sqlite3"
    crashed.parent.mkdir()
    with History(path) as history:
        for n in range(50):
            history.add(make(answer=f"checkpointed into the file {n} " * 20))
    with History(path) as history:
        for n in range(5):
            history.add(make(answer=f"still only in the wal {n}"))
        # Copy the files while the store is open, as a crash would leave them.
        for suffix in ("", "-wal"):
            source = path.with_name(path.name + suffix)
            crashed.with_name(crashed.name + suffix).write_bytes(source.read_bytes())
    wal = crashed.with_name(crashed.name + "-wal").read_bytes()
    assert len(wal) > 0
    damaged = b"not a database any more" * 500
    crashed.write_bytes(damaged)

    history, warning = History.open_or_recover(crashed)
    history.close()
    assert warning is not None
    [backup] = crashed.parent.glob(f"{crashed.name}.corrupt-*[0-9]")
    assert backup.read_bytes() == damaged
    assert backup.with_name(backup.name + "-wal").read_bytes() == wal


def test_open_or_recover_handles_odd_characters_in_the_path(tmp_path: Path) -> None:
    path = tmp_path / "my data #1 100%" / "history ?.sqlite3"
    with History(path) as history:
        history.add(make())
    history, warning = History.open_or_recover(path)
    with history:
        assert warning is None
        assert history.count() == 1


def test_open_or_recover_leaves_a_good_file_alone(path: Path) -> None:
    with History(path) as history:
        history.add(make())
    history, warning = History.open_or_recover(path)
    with history:
        assert warning is None
        assert history.count() == 1
    assert list(path.parent.glob("*.corrupt-*")) == []


def test_two_recoveries_in_one_second_keep_both_backups(path: Path) -> None:
    path.parent.mkdir(parents=True)
    for content in (b"first bad file" * 100, b"second bad file" * 100):
        path.unlink(missing_ok=True)
        path.with_name(path.name + "-wal").unlink(missing_ok=True)
        path.write_bytes(content)
        history, warning = History.open_or_recover(path)
        history.close()
        assert warning is not None
    backups = sorted(p.read_bytes() for p in path.parent.glob(f"{path.name}.corrupt-*[0-9]"))
    assert backups == sorted([b"first bad file" * 100, b"second bad file" * 100])


def test_another_programs_database_is_refused_not_renamed(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE contacts (name TEXT)")
        conn.commit()
    with pytest.raises(HistoryError, match="another program") as info:
        History.open_or_recover(path)
    assert info.value.corrupt is False
    assert sql(path, "SELECT name FROM sqlite_master") == [("contacts",)]


def test_a_newer_schema_is_refused_not_renamed(path: Path) -> None:
    with History(path) as history:
        history.add(make())
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer") as info:
        History.open_or_recover(path)
    assert info.value.corrupt is False
    assert list(path.parent.glob("*.corrupt-*")) == []


def test_an_unusable_location_is_a_history_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(HistoryError, match="Cannot create"):
        History(blocker / "history.sqlite3")


# --- properties ---------------------------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1)


@settings(max_examples=60, deadline=None)
@given(before=st.text(), word=WORD, after=st.text(), in_prompt=st.booleans())
def test_any_text_is_found_by_one_of_its_words(
    before: str, word: str, after: str, in_prompt: bool
) -> None:
    text = f"{before} {word} {after}"
    with tempfile.TemporaryDirectory() as tmp, History(Path(tmp) / "h.sqlite3") as history:
        history.add(make(answer="unrelated filler", created_at=1.0))
        fields = {"prompt": text, "answer": ""} if in_prompt else {"answer": text}
        entry_id = history.add(make(**fields))
        assert entry_id in ids(history.search(word))
        assert entry_id in ids(history.search(word.upper() + " "))
        got = history.get(entry_id)
        assert got is not None
        assert (got.prompt if in_prompt else got.answer) == text


@pytest.fixture(scope="module")
def shared_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    with History(tmp_path_factory.mktemp("shared") / "h.sqlite3") as history:
        history.add(make(answer="alpha beta gamma"))
        history.add(make(answer='delta epsilon "quoted" (parens) col:val a*b'))
        yield history


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.characters(codec="utf-8")) | st.text(alphabet='"*:^()-+ AND'))
def test_no_typed_text_breaks_search(shared_history: History, text: str) -> None:
    result = shared_history.search(text)
    assert len(result) <= 2
    if fts_query(text) is None:
        assert len(result) == 2  # no words: recent()


def test_environment_does_not_leak_files(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    with History(path) as history:
        history.add(make())
    # After the last connection closes, SQLite checkpoints and removes the -wal and -shm.
    assert sorted(os.listdir(tmp_path)) == ["h.sqlite3"]


# --- schema 2: full images, follow-ups ----------------------------------------------------


def test_a_schema_1_file_upgrades_and_keeps_its_entries(path: Path) -> None:
    from desktop_app.core import history as mod

    path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(path)) as conn:
        for statement in mod._MIGRATIONS[0]:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO entries (created_at, profile, model, base_url, mode, prompt, answer, "
            "status) VALUES (1.0, 'p', 'm', 'http://x/v1', 'ocr', 'Read.', 'old answer', "
            "'complete')"
        )
        conn.execute("PRAGMA user_version = 1")
        conn.commit()

    with History(path) as h:
        [old] = h.recent()
        assert old.answer == "old answer"
        assert h.image(old.id) is None
        new_id = h.add(make(image=b"\x89PNG full picture"))
        assert h.image(new_id) == b"\x89PNG full picture"
    assert sql(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(2,)]


def test_an_image_goes_with_its_entry(history: History, path: Path) -> None:
    kept = history.add(make(image=b"png-1"))
    gone = history.add(make(image=b"png-2"))
    assert history.delete(gone)
    assert history.image(kept) == b"png-1"
    assert sql(path, "SELECT entry_id FROM images") == [(kept,)]
    history.clear()
    assert sql(path, "SELECT count(*) FROM images") == [(0,)]


def test_followups_of_an_entry_oldest_first(history: History) -> None:
    root = history.add(make(answer="first"))
    second = history.add(make(prompt="And then?", answer="second", parent_id=root))
    third = history.add(make(prompt="More?", answer="third", parent_id=root))
    history.add(make(answer="unrelated"))
    assert ids(history.followups(root)) == [second, third]
    assert history.followups(second) == []
