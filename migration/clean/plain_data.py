"""The copy made plain data: no code stored in it runs, or computes a value, when it is written.

clean_legacy's first step, so that the fixes after it change only what they
log: triggers are dropped, views become tables of the rows they show, generated
columns become plain columns holding the values they show (what counts as
stored code: legacy/stored_code.py). Each is logged with its SQL.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Sequence

from migration.clean.copy import CopyBeingCleaned
from migration.clean.errors import CleanError
from migration.clean.report import GENERATED_RULE, TRIGGER_RULE, VIEW_RULE
from migration.legacy import quote_identifier
from migration.legacy.source import table_columns
from migration.legacy.stored_code import (
    GENERATED_COLUMN,
    TRIGGER,
    VIEW,
    StoredCode,
    ids_are_a_key_sql,
    of_kind,
    plain_table_sql,
    rowid_of,
    stored_code,
    view_rows_sql,
    view_table_sql,
)


def make_plain_data(copy: CopyBeingCleaned) -> None:
    """Leave no code in the copy that runs, or computes a value, when the fixes write it.

    Triggers are dropped; views become tables of the rows they show; generated
    columns become plain columns holding the values they show. Each is logged
    with its SQL, and none changes a value anyone reads: the rows and values are
    those the source shows.
    """
    code = stored_code(copy.query)
    triggers = of_kind(code, TRIGGER)
    for trigger in triggers:
        copy.connection.execute(f"DROP TRIGGER main.{quote_identifier(trigger.name)}")
    # Logged once none is left: writing the log is an INSERT too.
    copy.log([(t.table, None, None, t.sql, None, TRIGGER_RULE) for t in triggers])
    _views_made_tables(copy, of_kind(code, VIEW))
    generated: dict[str, list[StoredCode]] = defaultdict(list)
    for column in of_kind(code, GENERATED_COLUMN):
        generated[column.table].append(column)
    for table, columns in generated.items():
        _generated_columns_made_plain(copy, table, columns)


def _views_made_tables(copy: CopyBeingCleaned, views: Sequence[StoredCode]) -> None:
    # Every view's rows are read before any view is replaced: a view that reads
    # another reads it as the source shows it, not as the table it becomes.
    held = [_hold_view_rows(copy, number, view) for number, view in enumerate(views)]
    for view in views:
        copy.connection.execute(f"DROP VIEW main.{quote_identifier(view.name)}")
    for view, table_sql, targets, holding in held:
        copy.connection.execute(table_sql)
        copy.connection.execute(
            f"INSERT INTO main.{quote_identifier(view.name)} ({', '.join(targets)}) "
            f"SELECT * FROM {holding} ORDER BY rowid"
        )
        copy.connection.execute(f"DROP TABLE {holding}")
    copy.log([(view.name, None, None, view.sql, sql, VIEW_RULE) for view, sql, *_ in held])


def _hold_view_rows(
    copy: CopyBeingCleaned, number: int, view: StoredCode
) -> tuple[StoredCode, str, list[str], str]:
    """The view's rows in a temporary table; its table's CREATE, and the columns to fill."""
    name = f"main.{quote_identifier(view.name)}"
    holding = f"temp.clean_view_{number}"
    try:
        columns = [column.name for column in table_columns(copy.query, view.name)]
        keyed_by_id = "id" in columns and bool(copy.query(ids_are_a_key_sql(name))[0][0])
        targets, rows = view_rows_sql(name, columns, keyed_by_id=keyed_by_id)
        # Untyped, so that the values are held exactly as the view shows them.
        copy.connection.execute(
            f"CREATE TABLE {holding} ({', '.join(f'c{n}' for n in range(len(targets)))})"
        )
        copy.connection.execute(f"INSERT INTO {holding} {rows}")
    except (sqlite3.Error, ValueError) as error:
        raise CleanError(
            f"view {view.name}: it cannot be read as a table ({error}); nothing was written: "
            "drop it, or make it a table, in a copy of the file, and clean that"
        ) from error
    return view, view_table_sql(view.name, columns, keyed_by_id=keyed_by_id), targets, holding


def _generated_columns_made_plain(
    copy: CopyBeingCleaned, table: str, generated: Sequence[StoredCode]
) -> None:
    """Rebuild the table with each generated column a plain one holding its value.

    SQLite cannot alter a column's definition: the table is made again from its
    own CREATE TABLE without the generated clauses, its rows (rowids included),
    indexes and AUTOINCREMENT counter put back as they were.
    """
    original = generated[0].sql
    try:
        plain = plain_table_sql(original)
    except ValueError:
        plain = None
    columns = copy.query(
        'SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_xinfo(?, ?) '
        "ORDER BY cid",
        (table, "main"),
    )
    if plain is None or _columns_it_makes(table, plain) != [(*c, 0) for c in columns]:
        names = ", ".join(column.name for column in generated)
        raise CleanError(
            f"table {table}: its generated columns ({names}) cannot be made plain data, as "
            "clean_legacy reads its CREATE TABLE; nothing was written: make them plain "
            "columns in a copy of the file, and clean that"
        )
    names = [name for _, name, *_ in columns]
    indexes = copy.query(
        "SELECT sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY rowid",
        (table,),
    )
    counter = (
        copy.query("SELECT seq FROM main.sqlite_sequence WHERE name = ?", (table,))
        if copy.has_sequences()
        else []
    )
    rowid = rowid_of(copy.connection, f"main.{quote_identifier(table)}", names)
    targets = (
        [quote_identifier(name) for name in names]
        if rowid is None
        else [rowid, *map(quote_identifier, names)]
    )
    holding = "temp.clean_plain_rows"
    copy.connection.execute(
        f"CREATE TABLE {holding} ({', '.join(f'c{n}' for n in range(len(targets)))})"
    )
    copy.connection.execute(
        f"INSERT INTO {holding} SELECT {', '.join(targets)} FROM main.{quote_identifier(table)}"
    )
    copy.connection.execute(f"DROP TABLE main.{quote_identifier(table)}")
    copy.connection.execute(plain)
    copy.connection.execute(
        f"INSERT INTO main.{quote_identifier(table)} ({', '.join(targets)}) "
        f"SELECT * FROM {holding} ORDER BY rowid"
    )
    copy.connection.execute(f"DROP TABLE {holding}")
    for (index,) in indexes:
        copy.connection.execute(index)
    if copy.has_sequences():
        copy.connection.execute("DELETE FROM main.sqlite_sequence WHERE name = ?", (table,))
        copy.connection.executemany(
            "INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)",
            [(table, seq) for (seq,) in counter],
        )
    copy.log([(table, None, None, original, plain, GENERATED_RULE)])


def _columns_it_makes(table: str, create_table: str) -> list[tuple] | None:
    """The columns (as pragma_table_xinfo gives them) a CREATE TABLE makes, or None."""
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.execute(create_table)
        return scratch.execute(
            'SELECT cid, name, type, "notnull", dflt_value, pk, hidden '
            "FROM pragma_table_xinfo(?) ORDER BY cid",
            (table,),
        ).fetchall()
    except sqlite3.Error:
        return None
    finally:
        scratch.close()
