"""Code a SQLite file holds that runs, or computes values, when the file is read or written.

The legacy app's own schema has none. A file someone edited by hand may have:
a trigger (it runs when rows are written), a view (its rows are a query's,
recomputed from other tables each time it is read), a generated column (its
value is computed from the row's other columns). The import only reads, so none
of it changes anything there; clean_legacy writes its copy, so it makes the
copy plain data first. This is the one definition of what counts, for precheck
and clean_legacy alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

Query = Callable[[str], list[tuple]]

TRIGGER = "trigger"
VIEW = "view"
GENERATED_COLUMN = "generated column"

# pragma_table_xinfo's `hidden`: 2 a VIRTUAL generated column, 3 a STORED one.
GENERATED_HIDDEN = (2, 3)


@dataclass(frozen=True)
class StoredCode:
    kind: str  # TRIGGER, VIEW or GENERATED_COLUMN
    name: str  # the trigger's, the view's, or the generated column's
    table: str  # what it belongs to: a trigger's table (or view), a view itself, a column's table
    sql: str  # its CREATE TRIGGER or CREATE VIEW; for a generated column, its table's CREATE TABLE


def stored_code(query: Query) -> list[StoredCode]:
    """Every trigger, view and generated column of the file `query` reads (its main schema).

    `query` runs SQL without parameters (LegacySource.query, or a sqlite3 one).
    """
    found = [
        StoredCode(kind, name, table, sql)
        for kind, name, table, sql in query(
            "SELECT type, name, tbl_name, sql FROM main.sqlite_master "
            "WHERE type IN ('trigger', 'view') ORDER BY type, name"
        )
    ]
    # A virtual table's columns are its module's (which may not be loaded here): skipped.
    found += [
        StoredCode(GENERATED_COLUMN, column, table, sql)
        for table, column, sql in query(
            "SELECT m.name, x.name, m.sql FROM main.sqlite_master m, "
            "pragma_table_xinfo(m.name, 'main') x WHERE m.type = 'table' "
            "AND m.sql NOT LIKE 'CREATE VIRTUAL %' "
            f"AND x.hidden IN {GENERATED_HIDDEN} ORDER BY m.name, x.cid"
        )
    ]
    return found


def of_kind(code: Sequence[StoredCode], kind: str) -> list[StoredCode]:
    return [item for item in code if item.kind == kind]
