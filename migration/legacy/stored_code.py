"""Code a SQLite file holds that runs, or computes values, when the file is read or written.

The legacy app's own schema has none. A file someone edited by hand may have:
a trigger (it runs when rows are written), a view (its rows are a query's,
recomputed from other tables each time it is read), a generated column (its
value is computed from the row's other columns). The import only reads, so none
of it changes anything there; clean_legacy writes its copy, so it makes the
copy plain data first. This is the one definition of what counts, for precheck
and clean_legacy alike, with the SQL that makes each kind plain data.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from migration.legacy.source import ROWID_NAMES, quote_identifier

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


# --- a view made a table -------------------------------------------------------
# clean_legacy makes each view of its copy a table of the rows the view shows;
# its completeness check (unlogged.py) makes the source view's rows a table the
# same way, to pair them with the copy's by rowid. Both use these.


def view_table_sql(table: str, columns: Sequence[str], *, keyed_by_id: bool) -> str:
    """The CREATE TABLE a view becomes, named `table`: its columns without a type, so
    that each value stays what the view shows (no affinity converts it); its id the
    rowid, as in a legacy table, when `keyed_by_id` (the view's ids are distinct integers)."""
    definitions = [
        f"{quote_identifier(column)} INTEGER PRIMARY KEY"
        if keyed_by_id and column == "id"
        else quote_identifier(column)
        for column in columns
    ]
    return f"CREATE TABLE {quote_identifier(table)} ({', '.join(definitions)})"


def ids_are_a_key_sql(view: str) -> str:
    """One row, 1 when the view's ids are distinct integers (then they can be its rowids).

    `view`, here and below, is the view as SQL names it (quoted, with its schema).
    """
    return (
        'SELECT count(*) = count(DISTINCT "id") '
        f"AND coalesce(sum(typeof(\"id\") != 'integer'), 0) = 0 FROM {view}"
    )


def view_rows_sql(view: str, columns: Sequence[str], *, keyed_by_id: bool) -> tuple[list[str], str]:
    """The columns to INSERT INTO, and the SELECT giving them, that fill a view's table
    with its rows. Without ids that can be rowids, each row's rowid is its number
    in the order of all its values (and their types): the same rows, the same numbers."""
    quoted = [quote_identifier(column) for column in columns]
    if keyed_by_id:
        return quoted, f"SELECT {', '.join(quoted)} FROM {view}"
    rowid = free_rowid_name(columns)
    if rowid is None:
        raise ValueError("its columns take every name SQLite has for a rowid")
    order = ", ".join(f"{column} COLLATE BINARY, typeof({column})" for column in quoted)
    return (
        [rowid, *quoted],
        f"SELECT row_number() OVER (ORDER BY {order}), {', '.join(quoted)} FROM {view}",
    )


def free_rowid_name(columns: Sequence[str]) -> str | None:
    """The first of SQLite's names for the rowid that no column of the table takes."""
    taken = {column.lower() for column in columns}
    return next((name for name in ROWID_NAMES if name not in taken), None)


def rowid_of(connection: sqlite3.Connection, relation: str, columns: Sequence[str]) -> str | None:
    """The name that reaches the rowid of `relation` (SQL naming a table, with its
    schema; `columns` are its own), or None: WITHOUT ROWID, or every name taken."""
    rowid = free_rowid_name(columns)
    if rowid is None:
        return None
    try:
        connection.execute(f"SELECT {rowid} FROM {relation} LIMIT 0")
    except sqlite3.OperationalError:
        return None  # a WITHOUT ROWID table
    return rowid


# --- a generated column made plain --------------------------------------------


_SQL_TOKEN = re.compile(
    r"""\s+|--[^\n]*|/\*.*?(?:\*/|\Z)|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]"""
    r"""|'(?:[^']|'')*'|[\w$]+|.""",
    re.DOTALL,
)


def plain_table_sql(create_table: str) -> str:
    """The CREATE TABLE with each column's generated clause taken out, and all else kept.

    `[CONSTRAINT name] [GENERATED ALWAYS] AS (expression) [STORED | VIRTUAL]`
    is the only place AS can stand at the top level of a table's definition
    (elsewhere it is inside parentheses: CHECK, DEFAULT, CAST). Raises ValueError
    on SQL it cannot follow; the caller compares the columns it makes anyway.
    """
    tokens = _SQL_TOKEN.findall(create_table)
    kept: list[str] = []
    depth = position = 0
    while position < len(tokens):
        token = tokens[position]
        if depth == 1 and token.upper() == "AS":
            del kept[_clause_start(kept) :]
            position = _clause_end(tokens, position)
            continue
        depth += {"(": 1, ")": -1}.get(token, 0)
        kept.append(token)
        position += 1
    return "".join(kept)


def _is_blank(token: str) -> bool:
    return token.isspace() or token.startswith(("--", "/*"))


def _previous(tokens: Sequence[str], before: int) -> int:
    """The index of the last token before `before` that is not blank (-1 if none)."""
    index = before - 1
    while index >= 0 and _is_blank(tokens[index]):
        index -= 1
    return index


def _clause_start(kept: Sequence[str]) -> int:
    start = len(kept)
    always = _previous(kept, start)
    generated = _previous(kept, always) if always >= 0 else -1
    if min(always, generated) >= 0 and (kept[generated].upper(), kept[always].upper()) == (
        "GENERATED",
        "ALWAYS",
    ):
        start = generated
    name = _previous(kept, start)
    constraint = _previous(kept, name) if name >= 0 else -1
    if min(name, constraint) >= 0 and kept[constraint].upper() == "CONSTRAINT":
        start = constraint
    while start > 0 and kept[start - 1].isspace():
        start -= 1
    return start


def _clause_end(tokens: Sequence[str], as_at: int) -> int:
    position = as_at + 1
    while position < len(tokens) and _is_blank(tokens[position]):
        position += 1
    if position == len(tokens) or tokens[position] != "(":
        raise ValueError("AS is not followed by an expression in parentheses")
    depth = 0
    for closing in range(position, len(tokens)):
        depth += {"(": 1, ")": -1}.get(tokens[closing], 0)
        if depth == 0:
            break
    else:
        raise ValueError("the expression's parentheses do not close")
    after = closing + 1
    following = after
    while following < len(tokens) and _is_blank(tokens[following]):
        following += 1
    if following < len(tokens) and tokens[following].upper() in ("STORED", "VIRTUAL"):
        return following + 1
    return after
