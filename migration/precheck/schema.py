"""The file's schema against the legacy app's: its tables and columns (what an older
generation lacks is told by precheck/generations.py), and the triggers someone added
by hand."""

from __future__ import annotations

from collections.abc import Iterator

from migration.findings import Finding, finding
from migration.legacy import LegacySource
from migration.legacy.schema import optional_tables
from migration.legacy.stored_code import TRIGGER, of_kind, stored_code
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import SPECS
from migration.precheck.generations import missing_columns, missing_tables
from migration.precheck.report import TableInventory


def table_inventory(source: LegacySource, layout: LegacyLayout) -> Iterator[TableInventory]:
    """Each declared table, present or not, then the tables the file has beside them."""
    optional = optional_tables()
    for table, spec in SPECS.items():
        if not layout.has_table(table):
            status = "missing (older generation)" if table in optional else "missing"
            yield TableInventory(table, spec.model, None, status)
            continue
        status = f"merged with {spec.merge_into}" if spec.merge_into else "ok"
        yield _present(source, layout, table, spec.model, status)
    for table in layout.unknown_tables:
        yield _present(source, layout, table, None, "unknown: not imported")
    for table in layout.tool_tables:
        yield _present(source, layout, table, None, "written by clean_legacy")


def _present(
    source: LegacySource, layout: LegacyLayout, table: str, model: str | None, status: str
) -> TableInventory:
    """A table the file has, its status saying what is unusual in how it holds its rows."""
    notes = ["a view"] if layout.is_view(table) else []
    if generated := layout.generated_columns(table):
        notes.append(f"generated: {', '.join(generated)}")
    if notes:
        status = f"{status} ({'; '.join(notes)})"
    return TableInventory(table, model, source.count(table), status)


def check_schema(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    yield from missing_tables(layout)
    for table in layout.known_tables:
        yield from missing_columns(layout, table)
    for table in layout.unknown_tables:
        yield finding(
            "schema.unknown-table",
            f"{'view' if layout.is_view(table) else 'table'} {table} is not part of the legacy "
            f"app's schema: its {source.count(table):,} rows are not imported",
            table=table,
        )
    for table in layout.known_tables:
        unknown = layout.unknown_columns(table)
        generated = layout.generated_columns(table)
        if layout.is_view(table):
            yield finding(
                "schema.view",
                f"{table} is a view, not a table: its {source.count(table):,} rows are read "
                f"through it and imported as the rows of {table}",
                table=table,
            )
        for column in unknown:
            kind = "generated column" if column in generated else "column"
            yield finding(
                "schema.unknown-column",
                f"{kind} {table}.{column} is not part of the legacy app's schema: "
                "it has no field in the target (the ledger's copy of each row keeps it)",
                table=table,
                column=column,
            )
        for column in generated:
            if column not in unknown:
                yield finding(
                    "schema.generated-column",
                    f"column {table}.{column} is generated: SQLite computes its value from "
                    "each row's other columns",
                    table=table,
                    column=column,
                )


def check_triggers(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    """Each trigger in the file: not data, and never fired by the import (which only
    reads), but code someone added by hand, that ran when the legacy app wrote rows."""
    for trigger in of_kind(stored_code(source.query), TRIGGER):
        yield finding(
            "schema.trigger",
            f"trigger {trigger.name} on {trigger.table} is not part of the legacy app's "
            "schema: it ran when the app wrote rows; the import never fires it",
            table=trigger.table,
            details={"trigger": trigger.name, "sql": trigger.sql},
        )
