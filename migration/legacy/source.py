"""Reading a legacy file through the read-only `legacy` database alias.

`open_legacy(path)` checks that the file is there and is SQLite, and that its
WAL journal, if it has one, holds nothing SQLite would drop (see wal.py),
registers the alias for the duration of the `with` block, opened with
`mode=ro` and `query_only`, so nothing done through it can change the file;
a file in WAL mode is read from a private copy, so that nothing appears beside
it either (snapshot.py).
Every failure to read is a `LegacyFileError` whose message is one line naming
the file and the problem.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import DatabaseError, OperationalError, connections

from migration.errors import InputError
from migration.legacy.paging import DEFAULT_BATCH_SIZE, pages
from migration.legacy.snapshot import SnapshotError, readable_copy
from migration.legacy.wal import wal_damage, wal_path
from migration.paths import SIDECARS

SQLITE_HEADER = b"SQLite format 3\x00"
# SQLite's names for a table's rowid; a column of the same name hides that one.
ROWID_NAMES = ("rowid", "_rowid_", "oid")


class LegacyFileError(InputError):
    """The legacy file cannot be read; the message names the file and the problem."""


def quote_identifier(name: str) -> str:
    """Quote a table or column name taken from the legacy file, whatever it contains."""
    return '"' + name.replace('"', '""') + '"'


def decode_legacy_text(raw: bytes) -> str:
    # The legacy app never checked its text: bytes that are not UTF-8 are kept
    # (as lone surrogates, reversible) so that precheck can report them instead
    # of the whole read failing.
    return raw.decode("utf-8", "surrogateescape")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class FileWatch:
    """Whether anything wrote a legacy file, or its WAL journal, since the watch began.

    The old app may still be running during a cutover; rows read from a file
    it is writing to could mix two states of it. A write changes a file's
    modification time (to the nanosecond) and often its size; checking both
    costs a stat, so it can be done after every table.
    """

    def __init__(self, path: Path):
        self.path = path
        self._seen = self._state()

    def changed(self) -> bool:
        return self._state() != self._seen

    def _state(self) -> tuple:
        def stat(path: Path) -> tuple[int, int] | None:
            try:
                found = path.stat()
            except FileNotFoundError:
                return None
            return found.st_size, found.st_mtime_ns

        return stat(self.path), stat(wal_path(self.path))


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    declared_type: str
    not_null: bool
    primary_key: bool
    generated: bool = False  # GENERATED ALWAYS AS (...): SQLite computes it from the row


# pragma_table_xinfo's `hidden`: 0 a plain column, 2 and 3 a generated one
# (virtual, stored), which pragma_table_info leaves out; 1 a virtual table's
# hidden column, which is part of the module, not of the data.
_GENERATED = (2, 3)


def table_kinds(fetch: Callable[[str], list[tuple]]) -> dict[str, str]:
    """Each table and view of an SQLite file, 'table' or 'view' by name (not SQLite's own).

    `fetch(sql)` runs a query without parameters: the legacy source's, or clean_legacy's copy's.
    """
    return dict(
        fetch(
            "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
        )
    )


def table_columns(fetch: Callable[[str], list[tuple]], table: str) -> list[ColumnInfo]:
    """Every column of `table` that holds data, generated ones included (pragma_table_info
    omits them). The name is an SQL string, not a parameter: see table_kinds."""
    name = "'" + table.replace("'", "''") + "'"
    return [
        ColumnInfo(name, declared_type, bool(not_null), bool(pk), hidden in _GENERATED)
        for name, declared_type, not_null, pk, hidden in fetch(
            f'SELECT name, type, "notnull", pk, hidden FROM pragma_table_xinfo({name}) '
            "WHERE hidden != 1 ORDER BY cid"
        )
    ]


class LegacySource:
    """The open legacy file: its tables, their columns, and their rows."""

    def __init__(self, path: Path, alias: str, read_path: Path | None = None):
        self.path = path
        self.alias = alias
        # What SQLite opens to read `path`: the file, or a private copy of it
        # (see snapshot.py). Whatever opens the file with SQLite itself opens this.
        self.read_path = read_path or path

    @property
    def connection(self):
        return connections[self.alias]

    def connect(self) -> None:
        """Open this thread's (or this process's) connection to the file, as open_legacy does.

        Django keeps a connection per thread: a precheck thread or a forked
        worker gets one of its own, and it must read text the same way.
        """
        self.connection.ensure_connection()
        self.connection.connection.text_factory = decode_legacy_text

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        # A damaged page may only show when it is read, deep into a table.
        try:
            yield
        except DatabaseError as error:
            if _is_damage(error):
                raise _damaged(self.path, f"reading {what} failed", error) from error
            raise LegacyFileError(f"{self.path}: reading {what} failed ({error})") from error

    def _fetchall(
        self, sql: str, params: Sequence[Any] | None = None, *, what: str = "the file"
    ) -> list[tuple]:
        with self._reading(what), self.connection.cursor() as cursor:
            # Without params Django passes the SQL through untouched, so a quoted
            # identifier holding '%' (legacy names are not ours) needs no escaping.
            cursor.execute(sql, params)
            return cursor.fetchall()

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run a read-only query and return all its rows (placeholders are `%s`)."""
        return self._fetchall(sql, params)

    def table_names(self) -> list[str]:
        """The file's tables and views: a view is read like the table it stands for."""
        return sorted(self.table_kinds())

    def views(self) -> list[str]:
        return sorted(name for name, kind in self.table_kinds().items() if kind == "view")

    def is_view(self, table: str) -> bool:
        return self.table_kinds().get(table) == "view"

    def table_kinds(self) -> dict[str, str]:
        return table_kinds(self._fetchall)

    def columns(self, table: str) -> list[ColumnInfo]:
        return table_columns(partial(self._fetchall, what=table), table)

    def count(self, table: str) -> int:
        return self._fetchall(f"SELECT count(*) FROM {quote_identifier(table)}", what=table)[0][0]

    def rowid_name(self, table: str) -> str | None:
        """The name that reaches this table's real rowid, or None if nothing does.

        A hand-added column called `rowid` would shadow SQLite's own; its
        other spellings may still reach it. WITHOUT ROWID tables and views have none.
        """
        if self.is_view(table):
            return None  # a view's rowid reads as NULL on every row
        taken = {column.name.lower() for column in self.columns(table)}
        for name in ROWID_NAMES:
            if name in taken:
                continue
            try:
                with self.connection.cursor() as cursor:
                    cursor.execute(f"SELECT {name} FROM {quote_identifier(table)} LIMIT 0")
            except DatabaseError:
                return None  # a WITHOUT ROWID table
            return name
        return None

    def rows(
        self,
        table: str,
        columns: Sequence[str],
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        rowids: tuple[int, int] | None = None,
    ) -> Iterator[tuple]:
        """Every row of `table` as a tuple of `columns`, streamed in rowid ranges.

        `rowids` (first, last) reads only the rows in that range (see rowid_chunks).
        A table without rowids (a view) is read in one query, in key_order.
        """
        return self.select(
            table, [quote_identifier(c) for c in columns], batch_size=batch_size, rowids=rowids
        )

    def select(
        self,
        table: str,
        expressions: Sequence[str],
        *,
        where: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        rowids: tuple[int, int] | None = None,
    ) -> Iterator[tuple]:
        """The SQL `expressions` of each row of `table` where `where` holds (both may
        name the row `x`), in the order `rows` reads: by rowid, a page at a time.

        A table without rowids (a view) is read in one query, in key_order.
        """
        selected = ", ".join(expressions)
        name = f"{quote_identifier(table)} x"
        rowid = self.rowid_name(table)
        with self._reading(table), self.connection.cursor() as cursor:
            if rowid is None:
                filtered = "" if where is None else f" WHERE {where}"
                cursor.execute(
                    f"SELECT {selected} FROM {name}{filtered} ORDER BY {self.key_order(table)}"
                )
                while batch := cursor.fetchmany(batch_size):
                    yield from batch
                return
            after: int | None = None
            if rowids is not None:
                after = rowids[0] - 1
                through = f"{rowid} <= {int(rowids[1])}"
                where = through if where is None else f"{through} AND ({where})"
            fetch = partial(self._fetch_batch, cursor)
            for page in pages(
                fetch, rowid, selected, name, where=where, after=after, batch_size=batch_size
            ):
                for row in page:
                    yield row[1:]

    def key_order(self, table: str) -> str:
        """How to order a table without rowids (a view, or WITHOUT ROWID) so that it is
        read in one order every time: by id, then by every other column, which
        orders even rows a view repeats."""
        names = [column.name for column in self.columns(table)]
        keys = sorted(names, key=lambda name: name != "id")  # id first, the rest as they are
        return ", ".join(quote_identifier(name) for name in keys)

    def chunk(self, table: str, columns: Sequence[str], rowids: tuple[int, int]) -> list[tuple]:
        """The rows of a chunk of `table` (see rowid_chunks), as tuples of `columns`, in
        rowid order: one query, the chunk's rows held at once (a worker's chunk
        is ten thousand), without rows' paging."""
        rowid = self.rowid_name(table)
        selected = ", ".join(quote_identifier(column) for column in columns)
        first, last = int(rowids[0]), int(rowids[1])
        with self._reading(table), self.connection.cursor() as cursor:
            return self._fetch_batch(
                cursor,
                f"SELECT {selected} FROM {quote_identifier(table)} "
                f"WHERE {rowid} BETWEEN {first} AND {last} ORDER BY {rowid}",
            )

    def rowid_chunks(self, table: str, rows_per_chunk: int) -> list[tuple[int, int]] | None:
        """The table's rowids cut into ranges of `rows_per_chunk` rows, as (first, last)
        pairs in order; None for a table without rowids."""
        rowid = self.rowid_name(table)
        if rowid is None:
            return None
        name, n = quote_identifier(table), int(rows_per_chunk)
        # Each chunk's last rowid, found by stepping n rows along the rowid
        # b-tree from the one before: on a million rows a fraction of a second,
        # where numbering every row (a window function) took most of one.
        ends = [
            end
            for (end,) in self._fetchall(
                f"WITH RECURSIVE edge(r) AS ("
                f"SELECT (SELECT {rowid} FROM {name} ORDER BY {rowid} LIMIT 1 OFFSET {n - 1}) "
                f"UNION ALL SELECT (SELECT {rowid} FROM {name} WHERE {rowid} > edge.r "
                f"ORDER BY {rowid} LIMIT 1 OFFSET {n - 1}) FROM edge WHERE edge.r IS NOT NULL) "
                "SELECT r FROM edge WHERE r IS NOT NULL",
                what=table,
            )
        ]
        ((first, last),) = self._fetchall(f"SELECT min({rowid}), max({rowid}) FROM {name}")
        if first is None:
            return []
        if not ends or ends[-1] != last:
            ends.append(last)  # the last chunk, short of n rows
        return list(zip([first, *(end + 1 for end in ends[:-1])], ends, strict=True))

    def _fetch_batch(self, cursor, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """One batch of rows, its text decoded in C unless some of it is not UTF-8.

        A million rows' text through decode_legacy_text costs seconds; SQLite's
        own decoding costs next to nothing, but fails a whole fetch on a single
        bad byte. Such a batch is read again the careful way (the same rows:
        the file is opened read-only, and nothing else runs in between).
        """
        sqlite_connection = self.connection.connection
        # Without params Django passes the SQL through untouched, so a quoted
        # identifier holding '%' (legacy names are not ours) needs no escaping.
        params = params or None
        sqlite_connection.text_factory = str
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        except OperationalError:  # "Could not decode to UTF-8 column ..."
            pass
        finally:
            sqlite_connection.text_factory = decode_legacy_text
        cursor.execute(sql, params)
        return cursor.fetchall()

    def integrity_check(self) -> list[str]:
        """SQLite's own verdict on the file: ["ok"] when it is sound."""
        return [message for (message,) in self._fetchall("PRAGMA integrity_check")]


def _check_is_sqlite_file(path: Path) -> None:
    if not path.exists():
        raise LegacyFileError(f"{path}: no such file; check the --source path")
    if not path.is_file():
        raise LegacyFileError(f"{path}: not a file; --source takes the legacy .db file")
    if folder := _kernel_folder(path):
        raise LegacyFileError(
            f"{path}: a file the kernel makes as it is read (in {folder}), not a legacy "
            "database; --source takes the legacy .db file"
        )
    try:
        with path.open("rb") as file:
            header = file.read(len(SQLITE_HEADER))
    except OSError as error:
        raise LegacyFileError(f"{path}: cannot be read ({error.strerror})") from error
    if not header:
        raise LegacyFileError(f"{path}: the file is empty, not a SQLite database")
    if header != SQLITE_HEADER:
        raise LegacyFileError(f"{path}: not a SQLite database (wrong file header)")


def _check_journals_are_files(path: Path) -> None:
    """Each journal SQLite may open beside the file is a file, if it is there: a pipe
    would hold every read up for ever, a folder fail it in SQLite's own words."""
    for suffix in ("-wal", "-journal"):
        journal = Path(f"{path}{suffix}")
        try:
            mode = journal.stat().st_mode
        except FileNotFoundError:
            continue
        except OSError as error:
            raise LegacyFileError(f"{journal}: cannot be looked at ({error.strerror})") from error
        if not stat.S_ISREG(mode):
            raise LegacyFileError(
                f"{journal}: not a file (a pipe, a device or a folder) where SQLite keeps "
                f"{path.name}'s {SIDECARS[suffix]}: move it away, then run this again"
            )
        if folder := _kernel_folder(journal):
            raise LegacyFileError(
                f"{journal}: a file the kernel makes as it is read (in {folder}) where "
                f"SQLite keeps {path.name}'s {SIDECARS[suffix]}: move it away, then run "
                "this again"
            )


# Where the kernel makes files as they are read: their size says nothing of what a
# read gives, and a read may wait for ever (/proc/kmsg), past any signal to stop.
# No app keeps a database there.
_KERNEL_FOLDERS = (Path("/proc"), Path("/sys"))


def _kernel_folder(path: Path) -> Path | None:
    """The kernel's folder `path` is in, links followed; None for any other file."""
    resolved = path.resolve()
    return next((folder for folder in _KERNEL_FOLDERS if resolved.is_relative_to(folder)), None)


def _check_journal_is_whole(path: Path) -> None:
    """The file's WAL journal, if it has one, is one SQLite can replay in full.

    SQLite would read the file without the writes it cannot replay, and say
    nothing (see wal.py); a journal like that is damage.
    """
    journal = wal_path(path)
    watch = FileWatch(path)
    try:
        damage = wal_damage(path)
    except OSError as error:
        raise LegacyFileError(f"{journal}: cannot be read ({error.strerror})") from error
    if not damage:
        return
    if watch.changed():  # read while the app wrote it: not the journal it leaves
        raise LegacyFileError(_WRITING.format(path=path, error="its WAL journal changed"))
    raise LegacyFileError(
        f"{path}: its WAL journal {journal.name} is damaged ({damage}); the journal holds "
        "the last writes made to the file, which may itself be intact: restore the file with "
        "its -wal from a backup, or recover what SQLite can still read (without those writes) "
        "with sqlite3's .recover from copies of the two (sqlite3 deletes the journal of a file "
        "it closes) into a new file, and precheck that"
    )


# SQLite rolls a hot journal back when it opens the file, a write: read-only, it cannot.
_UNFINISHED_WRITE = (
    "{path}: its rollback journal {path.name}-journal holds a write the app never finished "
    "(it was stopped mid-write), which SQLite must roll back before the file can be read: "
    "copy the file and its -journal together into another folder, open the copy once with "
    "sqlite3 (which rolls the write back), then run this on the copy"
)
_WRITING = (
    "{path}: another program is writing to it ({error}): stop the legacy app (or wait for it), "
    "then run this again"
)


def _read_only_settings(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        # mode=ro: SQLite itself refuses to write the file.
        "NAME": f"file:{quote(str(path))}?mode=ro",
        "OPTIONS": {
            # Django's default converters would turn TIMESTAMP and BOOLEAN
            # columns into Python values on the way out, hiding what the file
            # really holds; the migration reads raw values and converts them itself.
            "detect_types": 0,
            "init_command": "PRAGMA query_only = ON",
        },
        "TEST": {"MIGRATE": False},
    }


def _is_damage(error: DatabaseError) -> bool:
    """SQLite found a page it cannot make sense of (SQLITE_CORRUPT, or a page past the end)."""
    name = getattr(error.__cause__, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in str(error)


def _damaged(path: Path, what_failed: str, error: DatabaseError) -> LegacyFileError:
    return LegacyFileError(
        f"{path}: {what_failed}, the file is damaged ({error}): "
        "restore it from a backup, or recover it with sqlite3's .recover"
    )


@contextmanager
def open_legacy(path: str | Path) -> Iterator[LegacySource]:
    """Open the legacy file read-only as the `legacy` alias, for the `with` block."""
    try:
        path = Path(path).expanduser().resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop (RuntimeError before Python 3.13)
        raise LegacyFileError(
            f"{path}: a loop of symbolic links that names no file; check the --source path"
        ) from error
    _check_is_sqlite_file(path)
    _check_journals_are_files(path)
    _check_journal_is_whole(path)
    alias = settings.LEGACY_DATABASE_ALIAS
    if alias in connections.settings:
        raise LegacyFileError(f"{path}: another legacy file is already open as {alias!r}")
    with _read_by(path) as readable, _opened(path, readable, alias) as source:
        yield source


@contextmanager
def _read_by(path: Path) -> Iterator[Path]:
    """The file SQLite reads for `path`: itself, or a private copy (see snapshot.py)."""
    watch = FileWatch(path)
    try:
        with readable_copy(path) as readable:
            if watch.changed():
                raise LegacyFileError(
                    _WRITING.format(path=path, error="it changed while it was copied")
                )
            yield readable
    except SnapshotError as error:
        raise LegacyFileError(f"{path}: {error}") from error


@contextmanager
def _opened(path: Path, readable: Path, alias: str) -> Iterator[LegacySource]:
    """`path`, read by `readable`, registered as the read-only `alias`."""
    # configure_settings fills in Django's defaults; it insists on seeing "default".
    connections.settings[alias] = connections.configure_settings(
        {"default": connections.settings["default"], alias: _read_only_settings(readable)}
    )[alias]
    try:
        source = LegacySource(path, alias, readable)
        try:
            source.connect()
            # Reading the schema makes SQLite check the header and page 1 now,
            # so that a damaged file is reported here, before any work starts.
            with source.connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM sqlite_master")
        except DatabaseError as error:
            if "locked" in str(error):
                raise LegacyFileError(_WRITING.format(path=path, error=error)) from error
            if _is_damage(error):
                raise _damaged(path, "cannot be read", error) from error
            if "readonly" in str(error) and Path(f"{path}-journal").exists():
                raise LegacyFileError(_UNFINISHED_WRITE.format(path=path)) from error
            raise LegacyFileError(f"{path}: cannot be read as SQLite ({error})") from error
        yield source
    finally:
        connections[alias].close()
        del connections[alias]
        del connections.settings[alias]
