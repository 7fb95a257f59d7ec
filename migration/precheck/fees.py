"""The fee breakdowns of payments and packages: missing, or not the app's fee rule's.

verify_import holds every breakdown in the target to the fee rule
(mapping/fees.py's rule_disagreement); a breakdown the file already records
otherwise is found here, by the same function, before anything is imported."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from migration.findings import Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.legacy.schema import FEE_AMOUNTS, FEE_COLUMNS
from migration.mapping.fees import rule_disagreement
from migration.mapping.layout import LegacyLayout
from migration.precheck.tables import ids_selected


def check_fees(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    for table in ("session_packages", "payments", "payment_records"):
        if not layout.has_table(table):
            continue
        name = quote_identifier(table)
        has_fee_columns = all(layout.has_column(table, column) for column in FEE_AMOUNTS)
        if table == "payment_records" and not has_fee_columns:
            yield from _old_payments(source)
            continue
        if not has_fee_columns:
            missing = ids_selected(source, f"SELECT id FROM {name} ORDER BY id")
            reason = "the file predates the app's fee migration"
        else:
            missing = ids_selected(
                source, f"SELECT id FROM {name} WHERE gross_amount IS NULL ORDER BY id"
            )
            reason = "no breakdown recorded"
            yield from _not_the_rules(source, layout, table)
        if missing:
            yield finding(
                "fees.missing",
                f"{table}: {len(missing):,} row(s) without a fee breakdown ({reason}); "
                "the app's fee rule can compute it",
                table=table,
                row_ids=missing,
            )


def _old_payments(source: LegacySource) -> Iterator[Finding]:
    """The old payments table never had fee columns: the fee rule gives each its breakdown
    (clean_legacy in its copy, else the import)."""
    old_rows = ids_selected(source, "SELECT id FROM payment_records ORDER BY id")
    if old_rows:
        yield finding(
            "fees.not-recorded",
            f"payment_records: {len(old_rows):,} old payment(s) without a fee breakdown "
            "(the table never had fee columns); the app's fee rule computes each",
            table="payment_records",
            row_ids=old_rows,
        )


def _not_the_rules(source: LegacySource, layout: LegacyLayout, table: str) -> Iterator[Finding]:
    columns = [column for column in FEE_COLUMNS if layout.has_column(table, column)]
    rows = source.select(
        table,
        [f"x.{quote_identifier(c)}" for c in ("id", *columns)],
        where="x.gross_amount IS NOT NULL",
    )
    wrong: dict[object, str] = {}
    for row_id, *values in rows:
        recorded = dict(zip(columns, values, strict=True))
        try:
            breakdown = [_amount(recorded.get(column)) for column in FEE_COLUMNS]
        except (InvalidOperation, TypeError, ValueError):
            continue  # a value the importer cannot take: check_values reports it
        if (problem := rule_disagreement(*breakdown)) is not None:
            wrong[row_id] = problem
    if wrong:
        yield finding(
            "fees.inconsistent",
            f"{table}: {len(wrong):,} fee breakdown(s) not the app's fee rule's "
            f"({'; '.join(sorted(set(wrong.values())))})",
            table=table,
            row_ids=list(wrong),
        )


def _amount(value: object) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))
