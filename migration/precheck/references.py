"""What the reference rules (rules/references.py) find in a file: rows pointing at
rows that do not exist, and rows naming no trainer, with or without one to infer."""

from __future__ import annotations

from collections.abc import Iterator

from migration.findings import Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import TableSpec
from migration.precheck.tables import ids_selected
from migration.rules.references import (
    dangling,
    inferred_column,
    inferred_trainer,
    names_no_trainer,
)


def check_references(
    source: LegacySource, layout: LegacyLayout, spec: TableSpec
) -> Iterator[Finding]:
    """Each reference of the table to a row that exists, and a trainer for each row
    that names none, inferred as clean_legacy and the import infer it (rules/references.py)."""
    for column, target in spec.references.items():
        if layout.has_column(spec.table, column):
            yield from _dangling(source, layout, spec.table, column, target)
    yield from _missing_trainers(source, layout, spec)


def _dangling(
    source: LegacySource, layout: LegacyLayout, table: str, column: str, target: str
) -> Iterator[Finding]:
    row_ids = ids_selected(
        source,
        f"SELECT x.id FROM {quote_identifier(table)} x "
        f"WHERE {dangling(layout, table, column, target)} ORDER BY x.id",
    )
    if row_ids:
        yield finding(
            "reference.dangling",
            f"{table}.{column}: {len(row_ids):,} row(s) point at {target} rows that do not exist",
            table=table,
            column=column,
            row_ids=row_ids,
        )


def _missing_trainers(
    source: LegacySource, layout: LegacyLayout, spec: TableSpec
) -> Iterator[Finding]:
    trainer = inferred_column(spec)
    if trainer is None:
        return
    # SQLite finds the rows that name no trainer, and the trainer each would get.
    inferable, uninferable = [], []
    for row_id, is_inferable in source.select(
        spec.table,
        [quote_identifier("id"), f"{inferred_trainer(layout, spec, trainer)} IS NOT NULL"],
        where=names_no_trainer(layout, spec, trainer),
    ):
        (inferable if is_inferable else uninferable).append(row_id)
    if inferable:
        yield finding(
            "reference.inferable-trainer",
            f"{spec.table}: {len(inferable):,} row(s) name no trainer; "
            f"inferred from {' or '.join(trainer.infer.via)}",
            table=spec.table,
            column=trainer.column,
            row_ids=inferable,
        )
    if uninferable:
        yield finding(
            "reference.uninferable-trainer",
            f"{spec.table}: {len(uninferable):,} row(s) name no trainer, and neither their "
            f"{' nor their '.join(trainer.infer.via)} leads to one",
            table=spec.table,
            column=trainer.column,
            row_ids=uninferable,
        )
