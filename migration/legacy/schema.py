"""What the legacy file looks like: its newest schema, and what older files may lack.

The column lists come from `schema.sql` (the real file's DDL, column for column)
and `first_generation.sql` (the app's first schema, from its own code) by
letting SQLite itself parse them, so there is one source of truth for them.
The generations table mirrors the legacy README's "Schema generations" and
generations.md, oldest first.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SCHEMA_SQL_PATH = Path(__file__).with_name("schema.sql")
FIRST_GENERATION_SQL_PATH = Path(__file__).with_name("first_generation.sql")


@dataclass(frozen=True)
class LegacyColumn:
    name: str
    declared_type: str
    not_null: bool


@dataclass(frozen=True)
class Generation:
    """A change the legacy app made to its schema over its life (newest last).

    `tables` and `columns` are what a file from before the change lacks;
    `when_missing` what the importer gives in their place.
    """

    name: str
    tables: tuple[str, ...] = ()
    columns: tuple[tuple[str, str], ...] = ()  # (table, column)
    when_missing: str = ""


# The fee breakdown the app's fee migration added to packages and payments
# (packages also got fee_calculation_method).
FEE_AMOUNTS = ("gross_amount", "vat_amount", "card_fee_amount", "net_amount")
FEE_COLUMNS = (*FEE_AMOUNTS, "vat_rate", "card_fee_rate")

# The app's first generation named many columns otherwise, and had a few the
# later app dropped (see first_generation.sql): a table of its shape is read by
# those names (the specs say where each goes), and lacks every later column.
# Precheck's report names the change that renamed them as it names the others.
LATER_COLUMN_NAMES = "later column names"
# The first days' trainers had no salt: their passwords are unsalted SHA-256.
UNSALTED_COLUMN = ("trainers", "salt")
# What a file from before session packages lacks: the tables the app gained
# with them, and every table added after them (a studio that never sold a
# package through the app has none).
PACKAGE_TABLES = (
    "session_packages",
    "training_sessions",
    "payment_records",
    "sessions",
    "payments",
    "fee_audit_log",
)

GENERATIONS: tuple[Generation, ...] = (
    Generation(
        "session packages",
        tables=PACKAGE_TABLES,
        when_missing="no packages, sessions or payments: trainers, clients and assessments only",
    ),
    Generation(
        "rate limiting",
        columns=(("trainers", "failed_login_attempts"), ("trainers", "locked_until")),
        when_missing="0 failed attempts, not locked",
    ),
    Generation(
        "assessment ownership",
        columns=(("assessments", "trainer_id"),),
        when_missing="the client's trainer",
    ),
    Generation(
        "later scores",
        columns=(
            ("assessments", "shoulder_mobility_score"),
            ("assessments", "farmer_carry_score"),
        ),
        when_missing="NULL",
    ),
    Generation(
        "table rename",
        tables=("sessions", "payments"),
        when_missing="only the old tables training_sessions and payment_records exist",
    ),
    Generation(
        "trainer on new tables",
        columns=(("sessions", "trainer_id"), ("payments", "trainer_id")),
        when_missing="the trainer of the row's package, else of its client",
    ),
    Generation(
        "fee migration",
        tables=("fee_audit_log",),
        columns=(
            *(("session_packages", column) for column in (*FEE_COLUMNS, "fee_calculation_method")),
            *(("payments", column) for column in FEE_COLUMNS),
        ),
        when_missing="fee breakdown computed by the app's fee rule",
    ),
)


def schema_sql() -> str:
    return SCHEMA_SQL_PATH.read_text(encoding="utf-8")


def first_generation_sql() -> str:
    return FIRST_GENERATION_SQL_PATH.read_text(encoding="utf-8")


@cache
def newest_schema() -> dict[str, tuple[LegacyColumn, ...]]:
    """Every table of the newest legacy schema, with its columns in file order."""
    return _parsed(schema_sql())


@cache
def first_generation_schema() -> dict[str, tuple[LegacyColumn, ...]]:
    """The tables of the app's first generation (its salted days), columns in file order."""
    return _parsed(first_generation_sql())


@cache
def first_generation_columns(table: str) -> frozenset[str]:
    """The columns only the first generation has: by these its tables are known."""
    newest = {column.name for column in newest_schema().get(table, ())}
    return frozenset(
        column.name
        for column in first_generation_schema().get(table, ())
        if column.name not in newest
    )


# Columns clean_legacy adds to a table the app never gave them: the old payments'
# fee breakdown, as the fee migration gave the new payments table (clean/fees.py).
CLEANED_COLUMNS: dict[str, tuple[str, ...]] = {"payment_records": FEE_COLUMNS}


def known_columns(table: str) -> frozenset[str]:
    """Every column a generation of the app had in `table`, or clean_legacy adds to it."""
    return frozenset(
        column.name
        for schema in (newest_schema(), first_generation_schema())
        for column in schema.get(table, ())
    ) | frozenset(CLEANED_COLUMNS.get(table, ()))


def is_first_generation_table(table: str, columns: tuple[str, ...]) -> bool:
    return not first_generation_columns(table).isdisjoint(columns)


def _parsed(ddl: str) -> dict[str, tuple[LegacyColumn, ...]]:
    connection = sqlite3.connect(":memory:")
    try:
        connection.executescript(ddl)
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        return {
            table: tuple(
                LegacyColumn(name=name, declared_type=declared_type, not_null=bool(not_null))
                for name, declared_type, not_null in connection.execute(
                    'SELECT name, type, "notnull" FROM pragma_table_info(?) ORDER BY cid',
                    (table,),
                )
            )
            for table in tables
        }
    finally:
        connection.close()


def optional_tables() -> dict[str, Generation]:
    return {table: generation for generation in GENERATIONS for table in generation.tables}


def generations_of_missing_tables(missing: set[str]) -> dict[str, Generation]:
    """Each missing table an older generation explains, with the generation.

    A table is put down to the newest change a file without it is from; but
    when a file lacks every table of an older change (a file from before
    session packages), the tables it lacks are put down to that oldest change.
    """
    explained: dict[str, Generation] = {}
    oldest: Generation | None = None
    for generation in GENERATIONS:
        if oldest is None and generation.tables and set(generation.tables) <= missing:
            oldest = generation
        for table in generation.tables:
            if table in missing:
                explained[table] = oldest or generation
    return explained


def optional_columns() -> dict[tuple[str, str], Generation]:
    return {column: generation for generation in GENERATIONS for column in generation.columns}


# --- The tool's own tables, inside a copy written by clean_legacy ------------
# Their names start with a prefix the legacy app never used, so that precheck
# and the importer know them from a studio's hand-made tables.

TOOL_TABLE_PREFIX = "_migration_"
CHANGES_TABLE = "_migration_changes"  # every change clean_legacy made, with the old value
QUARANTINE_TABLE = "_migration_quarantine"  # rows that cannot be imported, with why
CLEANINGS_TABLE = "_migration_cleanings"  # one row per clean_legacy run, with the source's hash

TOOL_TABLES_SQL = f"""
CREATE TABLE IF NOT EXISTS {CHANGES_TABLE} (
    id INTEGER PRIMARY KEY,
    table_name TEXT NOT NULL,
    row_id INTEGER,
    column_name TEXT,
    old_value,
    new_value,
    rule TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {QUARANTINE_TABLE} (
    id INTEGER PRIMARY KEY,
    source_table TEXT NOT NULL,
    source_id INTEGER,
    reason TEXT NOT NULL,
    row_json TEXT NOT NULL,
    quarantined_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {CLEANINGS_TABLE} (
    id INTEGER PRIMARY KEY,
    source_path TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    cleaned_at TEXT NOT NULL,
    changes INTEGER NOT NULL,
    quarantined INTEGER NOT NULL
);
"""


def is_tool_table(table: str) -> bool:
    return table.startswith(TOOL_TABLE_PREFIX)
