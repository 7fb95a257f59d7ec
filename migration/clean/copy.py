"""The copy being cleaned: its connection, its layout as it stands, and its change log.

Every fix goes through it to read the copy in id ranges and to record each
change it makes under the precheck code it addresses, so that the run's
self-check (unlogged.py) finds every difference from the source logged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from migration.legacy import quote_identifier
from migration.legacy.paging import pages
from migration.legacy.schema import CHANGES_TABLE
from migration.mapping.layout import LegacyLayout


class CopyBeingCleaned:
    """The copy's connection, its current layout, and its change log."""

    # Read once the copy is plain data (a view that cannot be read is the
    # plain-data fix's to report), and again after a fix that changes it.
    layout: LegacyLayout

    def __init__(self, connection: sqlite3.Connection, moment: datetime):
        self.connection = connection
        self.changed_at = moment.isoformat()  # UTC, ISO 8601
        self.sqlite_timestamp = moment.strftime("%Y-%m-%d %H:%M:%S")  # CURRENT_TIMESTAMP's form
        self.first_change = self.last_change_id() + 1  # an earlier run's log may be there

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.connection.execute(sql, params).fetchall()

    def read_layout(self) -> None:
        """Read the copy's tables and columns, as precheck reads a file's."""
        self.layout = LegacyLayout.read_sqlite(self.query)

    def columns(self, table: str) -> tuple[str, ...]:
        return self.layout.columns.get(table, ())

    def has_table(self, table: str) -> bool:
        return self.layout.has_table(table)

    def has_column(self, table: str, column: str) -> bool:
        return self.layout.has_column(table, column)

    def has_sequences(self) -> bool:
        """Whether the copy has sqlite_sequence (a table's AUTOINCREMENT counter): SQLite's
        own table, which no layout lists, made by the first table that needs it."""
        return bool(self.query("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"))

    def last_change_id(self) -> int:
        return self.query(f"SELECT coalesce(max(id), 0) FROM {CHANGES_TABLE}")[0][0]

    def next_id(self, table: str) -> int:
        """The id AUTOINCREMENT would give next: past the highest id the table ever had.

        Given explicitly so that a whole batch is one executemany and each row's id is known.
        """
        highest = self.query(f"SELECT coalesce(max(id), 0) FROM {quote_identifier(table)}")[0][0]
        if self.has_sequences():
            used = self.query("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
            highest = max([highest, *(seq for (seq,) in used if isinstance(seq, int))])
        return highest + 1

    def log(self, changes: Sequence[tuple[str, Any, str | None, Any, Any, str]]) -> None:
        """Record (table, row id, column, old value, new value, rule) for each change."""
        self.connection.executemany(
            f"INSERT INTO {CHANGES_TABLE} (table_name, row_id, column_name, old_value, "
            "new_value, rule, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    table,
                    row_id,
                    column,
                    sqlite_writable(old),
                    sqlite_writable(new),
                    rule,
                    self.changed_at,
                )
                for table, row_id, column, old, new, rule in changes
            ],
        )

    def batches(self, select: str, tables: str, where: str) -> Iterator[list]:
        """`SELECT x.id, <select> FROM <tables> WHERE <where>` in id ranges: never a
        whole table at once.

        Each batch is read in full before the caller changes anything, so a fix
        may update the rows it reads.
        """
        return pages(self.query, "x.id", select, tables, where=where)


def sqlite_writable(value: Any) -> Any:
    """The value as it goes back into SQLite."""
    # Legacy text that is not UTF-8 reads as lone surrogates; it goes back as its bytes.
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape")
    return value
