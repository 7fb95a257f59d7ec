"""Whether every way a cleaned copy differs from its source has its entry in the change log.

clean_legacy's last step, a check it makes about itself: a fix that forgot to
log, or code in the file nobody thought of, would otherwise change the studio's
data with no record of it. The copy and the source are compared in SQLite, on
one read-only connection with the source attached, table by table: a table or
column added needs its entry (row NULL); a row deleted or inserted needs its
row's (column NULL); a cell whose value or type differs needs its own. Rows
are paired by rowid (a WITHOUT ROWID table's by its primary key; a view's as
clean_legacy numbered them when it made the view a table). Each table is
read three times, each row of one side looked up by rowid in the other, in
SQL: the check grows with the file as the fixes do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from migration.legacy import quote_identifier
from migration.legacy.schema import CHANGES_TABLE, is_tool_table
from migration.legacy.source import decode_legacy_text
from migration.legacy.stored_code import rowid_of, view_rows_sql, view_table_sql

# Columns compared in one query: SQLite caps a compound SELECT (500 terms) and
# an expression's depth (1000).
COLUMNS_PER_QUERY = 100


@dataclass(frozen=True)
class UnloggedChange:
    """A difference between the copy and its source that no entry of the change log records."""

    table: str
    row_id: Any = None  # the row's id (its rowid in a table without one); None: the schema
    column: str | None = None  # None: the whole row, or the whole table
    what: str = "changed"  # changed, deleted, inserted, added, gone

    def __str__(self) -> str:
        if self.row_id is None:
            where = f"table {self.table}" if self.column is None else f"{self.table} column"
            where += "" if self.column is None else f" {self.column}"
        else:
            where = f"{self.table} row {self.row_id}"
            where += "" if self.column is None else f", column {self.column}"
        return f"{where} {self.what}"


def find_unlogged_change(*, copy: Path, source: Path, since: int) -> UnloggedChange | None:
    """The first difference between `copy` and `source` that the copy's change log entries
    from id `since` on do not record, or None when each has its entry."""
    connection = sqlite3.connect(_read_only_uri(copy), uri=True)
    connection.text_factory = decode_legacy_text
    try:
        connection.execute("ATTACH DATABASE ? AS source", (_read_only_uri(source),))
        check = _Comparison(connection, since)
        return next(check.unlogged(), None)
    finally:
        connection.close()


def _read_only_uri(path: Path) -> str:
    return f"file:{quote(str(Path(path).absolute()))}?mode=ro"


@dataclass(frozen=True)
class _Side:
    """One side's rows of a table: what to read them from, and the key that pairs them."""

    relation: str  # SQL naming the rows: a table, or the temporary table of a view's rows
    types: dict[str, str]  # each column's declared type, in the table's order
    key: tuple[str, ...]  # SQL for the rowid (one of its names), or the primary key's columns

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.types)

    def row_id(self, alias: str) -> str:
        """SQL for a row's id as the change log names it: its id column, else its key."""
        return f"{alias}.{_q('id') if 'id' in self.columns else self.key[0]}"


class _Comparison:
    def __init__(self, connection: sqlite3.Connection, since: int):
        self.connection = connection
        # This run's entries, indexed to be looked up row by row (the log is in the copy).
        connection.execute(
            "CREATE TEMP TABLE clean_logged AS SELECT DISTINCT table_name, row_id, column_name "
            f"FROM main.{CHANGES_TABLE} WHERE id >= ?",
            (since,),
        )
        connection.execute(
            "CREATE INDEX temp.clean_logged_key ON clean_logged (table_name, row_id, column_name)"
        )
        self.held_views = 0

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.connection.execute(sql, params).fetchall()

    def unlogged(self) -> Iterator[UnloggedChange]:
        before, after = self._tables("source"), self._tables("main")
        for table in sorted(before.keys() - after.keys()):
            yield UnloggedChange(table, what="gone")
        for table in sorted(after.keys() - before.keys()):
            if not self._logged(table, None, None):
                yield UnloggedChange(table, what="added")
            new = self._side("main", table)
            yield from self._rows_only_in(new, None, table, "inserted")
        for table in sorted(before.keys() & after.keys()):
            yield from self._table(table, viewed=before[table] == "view")

    def _tables(self, schema: str) -> dict[str, str]:
        # A virtual table's rows are its module's, which no fix writes: not compared.
        return {
            name: kind
            for name, kind in self.query(
                f"SELECT name, type FROM {schema}.sqlite_master WHERE type IN ('table', 'view') "
                "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL %'"
            )
            if not is_tool_table(name)
        }

    def _types(self, schema: str, table: str) -> dict[str, str]:
        return dict(
            self.query(
                "SELECT name, type FROM pragma_table_xinfo(?, ?) WHERE hidden != 1 ORDER BY cid",
                (table, schema),
            )
        )

    def _side(self, schema: str, table: str) -> _Side:
        types = self._types(schema, table)
        relation = f"{schema}.{_q(table)}"
        rowid = rowid_of(self.connection, relation, list(types))
        if rowid is not None:
            return _Side(relation, types, (rowid,))
        primary_key = self.query(
            "SELECT name FROM pragma_table_info(?, ?) WHERE pk > 0 ORDER BY pk", (table, schema)
        )
        return _Side(relation, types, tuple(_q(name) for (name,) in primary_key))

    def _viewed_side(self, table: str) -> _Side:
        """The source view's rows as clean_legacy made them a table: held in a temporary
        table made the same way, so that the same rows have the same rowids."""
        columns = list(self._types("source", table))
        keyed_by_id = "id" in columns and self._id_is_rowid("main", table)
        targets, rows = view_rows_sql(f"source.{_q(table)}", columns, keyed_by_id=keyed_by_id)
        self.held_views += 1
        holding = f"clean_source_view_{self.held_views}"
        create = view_table_sql(holding, columns, keyed_by_id=keyed_by_id)
        self.connection.execute(create.replace("CREATE TABLE", "CREATE TEMP TABLE", 1))
        self.connection.execute(f"INSERT INTO temp.{holding} ({', '.join(targets)}) {rows}")
        return self._side("temp", holding)

    def _id_is_rowid(self, schema: str, table: str) -> bool:
        return (
            self.query(
                "SELECT count(*) = 1 AND sum(name = 'id' AND upper(type) = 'INTEGER') = 1 "
                "FROM pragma_table_info(?, ?) WHERE pk > 0",
                (table, schema),
            )[0][0]
            == 1
        )

    def _table(self, table: str, *, viewed: bool) -> Iterator[UnloggedChange]:
        new = self._side("main", table)
        old = self._viewed_side(table) if viewed else self._side("source", table)
        for column in old.columns:
            if column not in new.columns:
                yield UnloggedChange(table, column=column, what="gone")
        added = [column for column in new.columns if column not in old.columns]
        for column in added:
            if not self._logged(table, None, column):
                yield UnloggedChange(table, column=column, what="added")
        yield from self._rows_only_in(old, new, table, "deleted")
        yield from self._rows_only_in(new, old, table, "inserted")
        cells = [
            (column, _differs(column, strictly=_may_hold_either(new, old, column)))
            for column in new.columns
            if column in old.columns
        ]
        # A column the run added was NULL in every row: a value there is a change.
        cells += [(column, f"n.{_q(column)} IS NOT NULL") for column in added]
        for start in range(0, len(cells), COLUMNS_PER_QUERY):
            yield from self._cells(table, new, old, cells[start : start + COLUMNS_PER_QUERY])

    def _rows_only_in(
        self, side: _Side, other: _Side | None, table: str, what: str
    ) -> Iterator[UnloggedChange]:
        missing = ""
        if other is not None:
            missing = (
                f"AND NOT EXISTS (SELECT 1 FROM {other.relation} o WHERE {_pairs(side, other)}) "
            )
        row_id = side.row_id("n")
        found = self.query(
            f"SELECT {row_id} FROM {side.relation} n WHERE 1 {missing}"
            f"AND NOT EXISTS (SELECT 1 FROM temp.clean_logged l WHERE l.table_name = ? "
            f"AND l.row_id IS {row_id} AND l.column_name IS NULL) LIMIT 1",
            (table,),
        )
        for (row,) in found:
            yield UnloggedChange(table, row, what=what)

    def _cells(
        self, table: str, new: _Side, old: _Side, cells: Sequence[tuple[str, str]]
    ) -> Iterator[UnloggedChange]:
        flags = ", ".join(f"{condition} AS f{n}" for n, (_, condition) in enumerate(cells))
        differing = " OR ".join(condition for _, condition in cells)
        unlogged = " UNION ALL ".join(
            f"SELECT row_id, ? FROM d WHERE f{n} AND NOT EXISTS (SELECT 1 FROM temp.clean_logged "
            "l WHERE l.table_name = ? AND l.row_id IS d.row_id AND l.column_name = ?)"
            for n in range(len(cells))
        )
        params = [value for column, _ in cells for value in (column, table, column)]
        found = self.query(
            f"WITH d AS MATERIALIZED (SELECT {new.row_id('n')} AS row_id, {flags} "
            f"FROM {new.relation} n JOIN {old.relation} o ON {_pairs(new, old)} "
            f"WHERE {differing}) {unlogged} LIMIT 1",
            params,
        )
        for row, column in found:
            yield UnloggedChange(table, row, column)

    def _logged(self, table: str, row_id: Any, column: str | None) -> bool:
        return bool(
            self.query(
                "SELECT 1 FROM temp.clean_logged WHERE table_name = ? AND row_id IS ? "
                "AND column_name IS ?",
                (table, row_id, column),
            )
        )


def _pairs(side: _Side, other: _Side) -> str:
    """SQL pairing row n of `side` with row o of `other` (the aliases are the caller's).

    A key is never NULL (a rowid, or a WITHOUT ROWID table's primary key).
    """
    return " AND ".join(
        f"o.{theirs} = n.{ours}" for ours, theirs in zip(side.key, other.key, strict=True)
    )


def _differs(column: str, *, strictly: bool) -> str:
    """SQL: the column's value in row n is not the one in row o. 'a' and 'A' differ,
    whatever the column's collation; so do 1 and 1.0, which only a column without
    affinity can hold side by side (so only there is the type compared: it costs)."""
    name = _q(column)
    differs = f"n.{name} IS NOT o.{name} COLLATE BINARY"
    return f"(typeof(n.{name}) IS NOT typeof(o.{name}) OR {differs})" if strictly else differs


def _may_hold_either(new: _Side, old: _Side, column: str) -> bool:
    """Whether the column may hold equal values of two types (1 and 1.0) in the two rows.

    A column with an affinity converts each value it stores to its one form of
    a number (datatype3: 3.1); one without (a BLOB, an untyped or ANY column) keeps both.
    """
    declared = new.types[column].upper()
    if declared != old.types[column].upper() or declared == "ANY":
        return True
    if "INT" in declared or any(text in declared for text in ("CHAR", "CLOB", "TEXT")):
        return False
    return declared == "" or "BLOB" in declared


def _q(name: str) -> str:
    return quote_identifier(name)
