"""Precheck's view of a file's generation: what it lacks, what its columns mean.

The generations table (legacy/schema.py) says what each change to the app's
schema added; the specs say where each column goes. From the two: a table the
file lacks is an older generation or damage; a table of the first generation's
shape is read by its own column names, and precheck says where each of them
goes and what every later column it lacks becomes; a trainer's password hash
is bcrypt, a SHA-256 digest to be wrapped, or of no known format (a reset).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from migration.findings import Finding, finding
from migration.legacy import LegacySource
from migration.legacy.schema import (
    GENERATIONS,
    LATER_COLUMN_NAMES,
    UNSALTED_COLUMN,
    first_generation_columns,
    first_generation_schema,
    generations_of_missing_tables,
    newest_schema,
    optional_columns,
)
from migration.mapping.layout import LegacyLayout
from migration.mapping.passwords import PasswordFormat, password_format
from migration.mapping.reading import password_columns
from migration.mapping.spec_types import REQUIRED, ColumnMap, FromTheFile
from migration.mapping.specs import SPECS
from migration.precheck.report import GenerationStatus


def generation_statuses(layout: LegacyLayout) -> Iterator[GenerationStatus]:
    """Each change to the schema, and whether the file has it: first the later names the
    first generation's columns were given; a missing table under the change it is
    put down to."""
    first_shaped = [table for table in layout.known_tables if layout.is_first_generation(table)]
    yield GenerationStatus(
        LATER_COLUMN_NAMES,
        not first_shaped,
        tuple(first_shaped),
        "the first generation's own column names, read for what they mean",
    )
    explained = generations_of_missing_tables(
        {table for table in newest_schema() if not layout.has_table(table)}
    )
    for generation in GENERATIONS:
        missing = [table for table in generation.tables if explained.get(table) is generation]
        missing += [
            f"{table}.{column}"
            for table, column in generation.columns
            if layout.has_table(table)
            and not layout.is_first_generation(table)
            and not layout.has_column(table, column)
        ]
        yield GenerationStatus(
            generation.name, not missing, tuple(missing), generation.when_missing
        )


def missing_tables(layout: LegacyLayout) -> Iterator[Finding]:
    missing = {table for table in newest_schema() if not layout.has_table(table)}
    explained = generations_of_missing_tables(missing)
    for table in newest_schema():
        if table not in missing:
            continue
        generation = explained.get(table)
        if generation is None:
            yield finding("schema.missing-table", f"the file has no table {table}", table=table)
            continue
        yield finding(
            "schema.older-generation",
            f"no table {table} (before the {generation.name!r} change): {generation.when_missing}",
            table=table,
        )


def missing_columns(layout: LegacyLayout, table: str) -> Iterator[Finding]:
    """The columns a table of the newest shape lacks: an older generation, or damage."""
    if layout.is_first_generation(table):
        yield from _first_generation_table(layout, table)
        return
    optional_column = optional_columns()
    for column in newest_schema()[table]:
        if layout.has_column(table, column.name):
            continue
        generation = optional_column.get((table, column.name))
        if generation is not None:
            yield finding(
                "schema.older-generation",
                f"no column {table}.{column.name} (before the {generation.name!r} change): "
                f"{generation.when_missing}",
                table=table,
                column=column.name,
            )
        else:
            yield finding(
                "schema.missing-column",
                f"the file has no column {table}.{column.name}",
                table=table,
                column=column.name,
            )


def _first_generation_table(layout: LegacyLayout, table: str) -> Iterator[Finding]:
    """Where each column of a first-generation table goes, and what the rest becomes."""
    spec, present = SPECS[table], layout.columns[table]
    for column in first_generation_schema()[table]:
        if layout.has_column(table, column.name):
            continue
        if (table, column.name) == UNSALTED_COLUMN:
            continue  # the first days' trainers: said by the password check
        yield finding(
            "schema.missing-column",
            f"the file has no column {table}.{column.name} (a table of the first generation)",
            table=table,
            column=column.name,
        )
    own = first_generation_columns(table) & set(present)
    goes = _where_columns_go(spec.columns_in_effect(present), own)
    given = {
        name: _described(value)
        for name, value in spec.if_missing(present).items()
        if value is not REQUIRED
    }
    parts = [f"{column} → {', '.join(fields)}" for column, fields in goes.items()]
    parts += [f"{name}: {what}" for name, what in given.items()]
    yield finding(
        "schema.first-generation",
        f"{table} is of the app's first generation: " + "; ".join(parts),
        table=table,
        details={"columns": goes, "filled": given},
    )


def _where_columns_go(columns: tuple[ColumnMap, ...], own: set[str]) -> dict[str, list]:
    goes: dict[str, list[str]] = {}
    for column in columns:
        names = " + ".join(name for name in column.inputs if name in own)
        if names:
            goes.setdefault(names, []).append(_field_shown(column))
    return goes


def _field_shown(column: ColumnMap) -> str:
    """The field, and how its value is made when the row is (a digest wrapped), if so."""
    if column.stored_as is None or not column.stored_as.__doc__:
        return column.field
    made = column.stored_as.__doc__.strip().splitlines()[0].split(" (")[0].rstrip(".")
    return f"{column.field} ({made[:1].lower()}{made[1:]})"


def _described(value: Any) -> str:
    if isinstance(value, FromTheFile):
        return value.what
    return "empty" if value is None else f"{value!r}"


def password_findings(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    """Trainers whose hash is a SHA-256 digest (wrapped at import) or of no known format
    (an unusable password: they need a reset)."""
    columns = password_columns(layout)
    if columns is None:
        return
    by_format: dict[PasswordFormat, list[tuple[Any, Any]]] = {}
    for row_id, username, password_hash, *salt in source.rows(
        "trainers", ("id", "username", *columns)
    ):
        kind = password_format(password_hash, salt[0] if salt else None)
        by_format.setdefault(kind, []).append((row_id, username))
    hash_column = columns[0]
    if unusable := by_format.get(PasswordFormat.UNKNOWN):
        yield finding(
            "trainers.unusable-password",
            f"{len(unusable):,} trainer(s) have a password hash of no format the app wrote "
            f"(bcrypt, or the first generation's SHA-256): {_names(unusable)}",
            table="trainers",
            column=hash_column,
            row_ids=[row_id for row_id, _ in unusable],
        )
    wrapped = [
        *by_format.get(PasswordFormat.SHA256, ()),
        *by_format.get(PasswordFormat.HMAC_SHA256, ()),
    ]
    if wrapped:
        salted = len(by_format.get(PasswordFormat.HMAC_SHA256, ()))
        yield finding(
            "trainers.wrapped-digest",
            f"{len(wrapped):,} trainer(s) have the first generation's SHA-256 digest "
            f"({salted:,} salted, {len(wrapped) - salted:,} unsalted): {_names(wrapped)}",
            table="trainers",
            column=hash_column,
            row_ids=[row_id for row_id, _ in wrapped],
        )


def _names(trainers: list[tuple[Any, Any]]) -> str:
    return ", ".join(str(username) for _, username in trainers[:10])
