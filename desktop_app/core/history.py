"""The history: every request and its answer, in one SQLite file with full-text search.

One connection (WAL journal, ``synchronous=NORMAL``, foreign keys on) shared by all
threads behind a lock, so the GUI and a batch CLI's worker threads can write at once;
other processes share the file through WAL and a busy timeout.

Schema (``PRAGMA user_version`` counts the applied ``_MIGRATIONS``)::

    entries      one row per request; ``id`` is AUTOINCREMENT so a deleted id never
                 comes back under a stream that still holds it
    thumbnails   entry_id -> JPEG bytes, apart so lists and scans stay small
    entries_fts  external-content FTS5 over entries(prompt, answer), kept in sync by
                 triggers; unicode61 tokenizer with remove_diacritics 2; prefix
                 indexes of 1-3 characters for search-as-you-type

Every ``sqlite3`` error leaves this module as a ``HistoryError``; a damaged file says so
with ``corrupt=True`` and ``History.open_or_recover`` sets it aside and starts afresh.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self, get_args

from desktop_app.core.errors import ScreenScribeError
from desktop_app.core.files import corrupt_backup_path

__all__ = ["EntryStatus", "History", "HistoryEntry", "HistoryError", "NewEntry", "fts_query"]

EntryStatus = Literal["complete", "partial", "failed"]
_STATUSES: Final = frozenset(get_args(EntryStatus))
_BUSY_TIMEOUT_S: Final = 5.0
_DAY_S: Final = 86_400.0


class HistoryError(ScreenScribeError):
    """The history file cannot be used: damaged, from a newer version, locked, unwritable.

    ``corrupt`` is True when the file is damaged or not a SQLite database at all; only
    then does ``History.open_or_recover`` set it aside.
    """

    exit_code = 2

    def __init__(self, message: str, *, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A request and its answer (so far), to be saved."""

    profile: str
    model: str
    base_url: str
    mode: str  # "ocr", "ask", ...
    prompt: str
    answer: str
    reasoning: str = ""
    finish_reason: str | None = None
    status: EntryStatus = "complete"
    error: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    total_ms: float | None = None
    image_width: int | None = None
    image_height: int | None = None
    source: str | None = None  # a file path, "screen", "clipboard"
    thumbnail: bytes | None = None  # a small JPEG
    image: bytes | None = None  # the picture as sent (PNG), when full images are kept
    created_at: float | None = None  # epoch seconds; None means now
    parent_id: int | None = None  # the entry this one follows up


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """A saved entry. ``thumbnail`` is loaded only by ``History.get``; in lists it is None
    and ``has_thumbnail`` tells whether there is one."""

    id: int
    created_at: float
    profile: str
    model: str
    base_url: str
    mode: str
    prompt: str
    answer: str
    reasoning: str
    finish_reason: str | None
    status: EntryStatus
    error: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    ttft_ms: float | None
    total_ms: float | None
    image_width: int | None
    image_height: int | None
    source: str | None
    parent_id: int | None
    has_thumbnail: bool
    thumbnail: bytes | None = None


# Each migration is a tuple of statements run in one transaction; never edit a released
# one, append a new one (e.g. ``("ALTER TABLE entries ADD COLUMN cost REAL",)``).
_MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """
        CREATE TABLE entries (
            id                INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at        REAL    NOT NULL,
            profile           TEXT    NOT NULL,
            model             TEXT    NOT NULL,
            base_url          TEXT    NOT NULL,
            mode              TEXT    NOT NULL,
            prompt            TEXT    NOT NULL,
            answer            TEXT    NOT NULL,
            reasoning         TEXT    NOT NULL DEFAULT '',
            finish_reason     TEXT,
            status            TEXT    NOT NULL,
            error             TEXT,
            prompt_tokens     INTEGER,
            completion_tokens INTEGER,
            ttft_ms           REAL,
            total_ms          REAL,
            image_width       INTEGER,
            image_height      INTEGER,
            source            TEXT,
            parent_id         INTEGER REFERENCES entries(id) ON DELETE SET NULL
        )
        """,
        "CREATE INDEX entries_created_at ON entries(created_at)",
        "CREATE INDEX entries_parent_id ON entries(parent_id)",
        """
        CREATE TABLE thumbnails (
            entry_id INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
            jpeg     BLOB    NOT NULL
        )
        """,
        """
        CREATE VIRTUAL TABLE entries_fts USING fts5(
            prompt, answer,
            content='entries', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2',
            prefix='1 2 3'
        )
        """,
        """
        CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries BEGIN
            INSERT INTO entries_fts(rowid, prompt, answer)
            VALUES (new.id, new.prompt, new.answer);
        END
        """,
        """
        CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
            INSERT INTO entries_fts(entries_fts, rowid, prompt, answer)
            VALUES ('delete', old.id, old.prompt, old.answer);
        END
        """,
        """
        CREATE TRIGGER entries_fts_update AFTER UPDATE OF prompt, answer ON entries BEGIN
            INSERT INTO entries_fts(entries_fts, rowid, prompt, answer)
            VALUES ('delete', old.id, old.prompt, old.answer);
            INSERT INTO entries_fts(rowid, prompt, answer)
            VALUES (new.id, new.prompt, new.answer);
        END
        """,
    ),
    (
        """
        CREATE TABLE images (
            entry_id INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE,
            png      BLOB    NOT NULL
        )
        """,
    ),
)
SCHEMA_VERSION: Final = len(_MIGRATIONS)

# The order of _INSERT's columns after created_at and parent_id.
_ENTRY_COLUMNS: Final = (
    "profile",
    "model",
    "base_url",
    "mode",
    "prompt",
    "answer",
    "reasoning",
    "finish_reason",
    "status",
    "error",
    "prompt_tokens",
    "completion_tokens",
    "ttft_ms",
    "total_ms",
    "image_width",
    "image_height",
    "source",
)
# Columns in HistoryEntry's field order; lists select NULL for the thumbnail.
_COLUMNS: Final = """
    e.id, e.created_at, e.profile, e.model, e.base_url, e.mode, e.prompt, e.answer,
    e.reasoning, e.finish_reason, e.status, e.error, e.prompt_tokens, e.completion_tokens,
    e.ttft_ms, e.total_ms, e.image_width, e.image_height, e.source, e.parent_id,
    EXISTS (SELECT 1 FROM thumbnails t WHERE t.entry_id = e.id)
"""
_SELECT: Final = f"SELECT {_COLUMNS}, NULL"
_SELECT_WITH_THUMBNAIL: Final = (
    f"SELECT {_COLUMNS}, (SELECT jpeg FROM thumbnails t WHERE t.entry_id = e.id)"  # noqa: S608
)
_INSERT: Final = """
    INSERT INTO entries (
        created_at, parent_id, profile, model, base_url, mode, prompt, answer, reasoning,
        finish_reason, status, error, prompt_tokens, completion_tokens, ttft_ms, total_ms,
        image_width, image_height, source
    ) VALUES (
        ?, (SELECT id FROM entries WHERE id = ?), ?, ?, ?, ?, ?, ?, ?,
        ?, ?, ?, ?, ?, ?, ?,
        ?, ?, ?
    )
"""


def _is_corruption(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text


def _clean(text: str) -> str:
    """``text`` as SQLite can store it: lone surrogates (from a broken JSON escape in a
    model's answer) become U+FFFD instead of failing the whole save."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _is_token_char(ch: str) -> bool:
    """What the unicode61 tokenizer keeps: letters, numbers, private use."""
    cat = unicodedata.category(ch)
    return cat[0] in "LN" or cat == "Co"


def fts_query(text: str) -> str | None:
    """Turn what a person typed into an FTS5 query that can never be read as syntax.

    Each whitespace-separated word becomes a quoted phrase (the tokenizer splits it
    further, so ``foo-bar`` matches the adjacent words), all of them required; the last
    word is a prefix query for search-as-you-type unless the text ends in whitespace.
    None when the text holds no searchable word.
    """
    words = text.replace("\0", " ").split()  # FTS5's parser stops at a NUL
    if not any(_is_token_char(ch) for word in words for ch in word):
        return None
    phrases = ['"' + word.replace('"', '""') + '"' for word in words]
    if not text[-1].isspace():
        phrases[-1] += "*"
    return " ".join(phrases)


class History:
    """The SQLite store of requests and answers. Thread-safe; use as a context manager.

    ``max_entries`` and ``max_age_days`` may be changed on a live store (settings
    dialog); ``add`` and ``prune`` apply the values of the moment.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_entries: int | None = 10_000,
        max_age_days: float | None = None,
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ValueError(f"max_entries must be at least 1 or None, not {max_entries}")
        if max_age_days is not None and not max_age_days > 0:
            raise ValueError(f"max_age_days must be positive or None, not {max_age_days}")
        self.path = Path(path)
        self.max_entries = max_entries
        self.max_age_days = max_age_days
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._conn = self._connect()
        try:
            with self._guard("open"):
                self._migrate(self._conn)
            self.prune()
        except BaseException:
            self.close()
            raise

    # --- opening -----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with contextlib.suppress(FileExistsError):
                # Screen contents are private: create the file (and so its -wal, -shm,
                # which SQLite gives the same mode) readable by the owner only.
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise HistoryError(
                f"Cannot create the history file {self.path}: {exc.strerror or exc}."
            ) from exc
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._error("open", exc) from exc
        try:
            self._configure(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _configure(self, conn: sqlite3.Connection) -> None:
        with self._guard("open"):
            # Reading the schema reads the header: a non-database fails here.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")  # deleted rows are zeroed
        if mode.lower() != "wal":
            raise HistoryError(
                f"The history file {self.path} cannot use WAL journaling "
                f"(got {mode!r}); is it on a network share?"
            )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if self._schema_version(conn) == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._upgrade(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    def _upgrade(self, conn: sqlite3.Connection) -> None:
        """Apply the missing migrations; inside a write transaction."""
        # Read again under the write lock: another process may have migrated.
        version = self._schema_version(conn)
        if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raise HistoryError(
                f"The file {self.path} is a SQLite database of another program, "
                "not a ScreenScribe history; choose another history file."
            )
        for number in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[number]:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    def _schema_version(self, conn: sqlite3.Connection) -> int:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise HistoryError(
                f"The history file {self.path} was written by a newer ScreenScribe "
                f"(schema {version}, this version knows {SCHEMA_VERSION}); "
                "update ScreenScribe or choose another history file."
            )
        return version

    @classmethod
    def open_or_recover(
        cls,
        path: Path,
        *,
        max_entries: int | None = 10_000,
        max_age_days: float | None = None,
        check: bool = True,
    ) -> tuple[History, str | None]:
        """Open the history; if the file is damaged, keep it as
        ``<name>.corrupt-YYYYmmdd-HHMMSS`` (with its -wal) and start an empty one.

        The file is first looked at through a read-only connection, which can neither
        checkpoint nor delete the -wal, so the backup holds exactly what was there. With
        ``check`` that look reads the whole file (``PRAGMA quick_check``, about 30 ms for
        10,000 entries) so damage is found now rather than in the middle of a search.
        Returns the history and a one-sentence warning for the user, None when all was
        well. Other errors (a newer schema, another program's database, permissions, a
        lock) still raise ``HistoryError``.
        """
        path = Path(path)
        if not _looks_damaged(path, check=check):
            try:
                return cls(path, max_entries=max_entries, max_age_days=max_age_days), None
            except HistoryError as exc:
                if not exc.corrupt:
                    raise
        backup = _set_aside(path)
        history = cls(path, max_entries=max_entries, max_age_days=max_age_days)
        return history, (
            f"The history file {path} was damaged, so it was kept as {backup.name} "
            "and a new, empty history was started."
        )

    # --- plumbing ----------------------------------------------------------------------

    def _error(self, action: str, exc: sqlite3.Error) -> HistoryError:
        if _is_corruption(exc):
            return HistoryError(
                f"The history file {self.path} is damaged or is not a ScreenScribe "
                f"history ({exc}).",
                corrupt=True,
            )
        text = str(exc)
        if "no such module: fts5" in text:
            text = "this Python's SQLite was built without FTS5 full-text search"
        elif "locked" in text or "busy" in text:
            text = f"another program kept it locked for over {_BUSY_TIMEOUT_S:g} s"
        return HistoryError(f"Cannot {action} the history file {self.path}: {text}.")

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._error(action, exc) from exc

    @contextlib.contextmanager
    def _reading(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock, self._guard(action):
            if self._conn is None:
                raise HistoryError(f"The history file {self.path} is closed.")
            yield self._conn

    @contextlib.contextmanager
    def _writing(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (no upgrade deadlock with readers)."""
        with self._reading(action) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.rollback()
                raise

    # --- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; later calls raise ``HistoryError``. Idempotent."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA optimize")
            conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------

    def add(self, entry: NewEntry) -> int:
        """Save an entry, then apply retention; returns its id.

        A ``parent_id`` that no longer exists (deleted meanwhile) is stored as None,
        as ``ON DELETE SET NULL`` would have done a moment later.
        """
        _check_status(entry.status)
        created_at = time.time() if entry.created_at is None else entry.created_at
        values = [
            _clean(v) if isinstance(v := getattr(entry, c), str) else v for c in _ENTRY_COLUMNS
        ]
        with self._writing("save to") as conn:
            cursor = conn.execute(_INSERT, (created_at, entry.parent_id, *values))
            entry_id = cursor.lastrowid
            assert entry_id is not None
            if entry.thumbnail is not None:
                conn.execute(
                    "INSERT INTO thumbnails (entry_id, jpeg) VALUES (?, ?)",
                    (entry_id, entry.thumbnail),
                )
            if entry.image is not None:
                conn.execute(
                    "INSERT INTO images (entry_id, png) VALUES (?, ?)", (entry_id, entry.image)
                )
            self._prune(conn)
        return entry_id

    def update_answer(
        self,
        id: int,
        *,
        answer: str,
        status: EntryStatus,
        finish_reason: str | None = None,
        error: str | None = None,
        completion_tokens: int | None = None,
        prompt_tokens: int | None = None,
        total_ms: float | None = None,
    ) -> bool:
        """Replace a saved answer (a stream saved as partial, now finished or failed).

        ``answer``, ``status``, ``finish_reason`` and ``error`` describe the final state
        and are set as given (None clears); the token counts and ``total_ms`` keep their
        saved value when None. Returns False when the entry no longer exists.
        """
        _check_status(status)
        with self._writing("update") as conn:
            cursor = conn.execute(
                """
                UPDATE entries SET
                    answer = ?, status = ?, finish_reason = ?, error = ?,
                    completion_tokens = coalesce(?, completion_tokens),
                    prompt_tokens = coalesce(?, prompt_tokens),
                    total_ms = coalesce(?, total_ms)
                WHERE id = ?
                """,
                (
                    _clean(answer),
                    status,
                    None if finish_reason is None else _clean(finish_reason),
                    None if error is None else _clean(error),
                    completion_tokens,
                    prompt_tokens,
                    total_ms,
                    id,
                ),
            )
            return cursor.rowcount > 0

    def delete(self, id: int) -> bool:
        """Delete one entry (and its thumbnail); False when there was none."""
        with self._writing("delete from") as conn:
            return conn.execute("DELETE FROM entries WHERE id = ?", (id,)).rowcount > 0

    def clear(self) -> int:
        """Delete every entry and compact the file so no text lingers; returns how many."""
        with self._writing("clear") as conn:
            removed = conn.execute("DELETE FROM entries").rowcount
            # Drop the index's segments outright, not merely mark their rows deleted.
            conn.execute("INSERT INTO entries_fts (entries_fts) VALUES ('delete-all')")
        # Best effort: the rows are gone either way; another process may hold the file.
        with self._reading("compact") as conn, contextlib.suppress(sqlite3.OperationalError):
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return removed

    def prune(self) -> int:
        """Apply ``max_entries`` (dropping the oldest) and ``max_age_days``; returns how
        many entries were removed."""
        if self.max_entries is None and self.max_age_days is None:
            return 0
        with self._writing("prune") as conn:
            return self._prune(conn)

    def _prune(self, conn: sqlite3.Connection) -> int:
        removed = 0
        if self.max_age_days is not None:
            cutoff = time.time() - self.max_age_days * _DAY_S
            removed += conn.execute("DELETE FROM entries WHERE created_at < ?", (cutoff,)).rowcount
        if self.max_entries is not None:
            excess = conn.execute("SELECT count(*) FROM entries").fetchone()[0] - self.max_entries
            if excess > 0:  # walk only the oldest rows, not the kept ones
                removed += conn.execute(
                    """
                    DELETE FROM entries WHERE id IN (
                        SELECT id FROM entries ORDER BY created_at, id LIMIT ?
                    )
                    """,
                    (excess,),
                ).rowcount
        return removed

    # --- reading -----------------------------------------------------------------------

    def get(self, id: int) -> HistoryEntry | None:
        """One entry with its thumbnail, or None."""
        with self._reading("read") as conn:
            row = conn.execute(
                f"{_SELECT_WITH_THUMBNAIL} FROM entries e WHERE e.id = ?",
                (id,),
            ).fetchone()
        return None if row is None else _entry(row)

    def image(self, id: int) -> bytes | None:
        """The full picture saved with entry ``id`` (PNG), or None when only a thumbnail
        was kept."""
        with self._reading("read") as conn:
            row = conn.execute("SELECT png FROM images WHERE entry_id = ?", (id,)).fetchone()
        return None if row is None else bytes(row[0])

    def followups(self, id: int) -> list[HistoryEntry]:
        """The entries that follow up entry ``id``, oldest first, without thumbnails."""
        with self._reading("read") as conn:
            rows = conn.execute(
                f"{_SELECT} FROM entries e WHERE e.parent_id = ? ORDER BY e.created_at, e.id",
                (id,),
            ).fetchall()
        return [_entry(row) for row in rows]

    def recent(self, limit: int = 50, offset: int = 0) -> list[HistoryEntry]:
        """Entries newest first, without thumbnails."""
        with self._reading("read") as conn:
            rows = conn.execute(
                f"{_SELECT} FROM entries e ORDER BY e.created_at DESC, e.id DESC LIMIT ? OFFSET ?",
                (limit, offset),
            ).fetchall()
        return [_entry(row) for row in rows]

    def search(self, text: str, limit: int = 50) -> list[HistoryEntry]:
        """Entries whose prompt or answer holds every word of ``text`` (the last one as
        a prefix), best match first, then newest. Typed text is never FTS syntax;
        text without a word gives ``recent(limit)``."""
        query = fts_query(_clean(text))
        if query is None:
            return self.recent(limit)
        with self._reading("search") as conn:
            # Rank inside FTS5 first, then join only the rows kept (twice as fast).
            # Exact bm25 ties at the cut are kept by id, newest first.
            rows = conn.execute(
                f"""
                {_SELECT} FROM (
                    SELECT rowid, rank FROM entries_fts WHERE entries_fts MATCH ?
                    ORDER BY rank, rowid DESC LIMIT ?
                ) f JOIN entries e ON e.id = f.rowid
                ORDER BY f.rank, e.created_at DESC, e.id DESC
                """,  # noqa: S608 - constants only
                (query, limit),
            ).fetchall()
        return [_entry(row) for row in rows]

    def check(self) -> None:
        """Read the whole file (``PRAGMA quick_check``); damage raises ``HistoryError``
        with ``corrupt=True``."""
        with self._reading("check") as conn:
            problem = _quick_check(conn)
        if problem is not None:
            raise HistoryError(
                f"The history file {self.path} is damaged ({problem}).", corrupt=True
            )

    def count(self) -> int:
        """How many entries there are."""
        with self._reading("read") as conn:
            return int(conn.execute("SELECT count(*) FROM entries").fetchone()[0])


def _check_status(status: str) -> None:
    if status not in _STATUSES:
        raise ValueError(f"status must be one of {sorted(_STATUSES)}, not {status!r}")


def _entry(row: tuple[Any, ...]) -> HistoryEntry:
    values = (*row[:-2], bool(row[-2]), row[-1])  # has_thumbnail comes as 0 or 1
    return HistoryEntry(*values)


def _quick_check(conn: sqlite3.Connection) -> str | None:
    """The first problem ``PRAGMA quick_check`` reports, or None when the file is sound."""
    lines = [str(row[0]) for row in conn.execute("PRAGMA quick_check(3)")]
    if lines == ["ok"]:
        return None
    details = [ln for line in lines for ln in line.splitlines() if not ln.startswith("***")]
    return (details or ["unknown damage"])[0][:200]


def _looks_damaged(path: Path, *, check: bool) -> bool:
    """Whether a read-only look finds ``path`` damaged. Any other trouble (missing file,
    permissions, locks) is left for the real open to report."""
    try:
        if path.stat().st_size == 0:
            return False
    except OSError:
        return False
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=_BUSY_TIMEOUT_S)) as conn:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return check and _quick_check(conn) is not None
    except sqlite3.Error as exc:
        return _is_corruption(exc)


def _set_aside(path: Path) -> Path:
    """Rename a damaged database (and its -wal and -shm) to a dated backup name."""
    backup = corrupt_backup_path(path)
    try:
        path.rename(backup)
        # The -wal holds committed pages of the old file: it must not meet the new one.
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(backup.with_name(backup.name + suffix))
    except OSError as exc:
        raise HistoryError(
            f"The history file {path} is damaged and could not be set aside: {exc.strerror or exc}."
        ) from exc
    return backup
