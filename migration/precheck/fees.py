"""The fee breakdowns of payments and packages: missing, or not the app's fee rule's.

verify_import holds every breakdown in the target to the fee rule
(mapping/fees.py's rule_disagreement); a breakdown the file already records
otherwise is found here, by the same function, before anything is imported."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from migration.findings import Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.legacy.schema import FEE_AMOUNTS
from migration.mapping.fees import BREAKDOWN_FIELDS, rule_disagreement
from migration.mapping.layout import LegacyLayout
from migration.precheck.tables import ids_selected
from migration.rules.fee_audits import unaudited


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
            yield from _unaudited(source, layout, table)
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


def _unaudited(source: LegacySource, layout: LegacyLayout, table: str) -> Iterator[Finding]:
    """The breakdowns recorded without their fee_audit_log row (rules/fee_audits.py)."""
    condition = unaudited(layout, table)
    if condition is None:
        return
    row_ids = ids_selected(
        source, f"SELECT x.id FROM {quote_identifier(table)} x WHERE {condition} ORDER BY x.id"
    )
    if row_ids:
        yield finding(
            "fees.unaudited",
            f"{table}: {len(row_ids):,} fee breakdown(s) without a fee_audit_log row",
            table=table,
            row_ids=row_ids,
        )


def _not_the_rules(source: LegacySource, layout: LegacyLayout, table: str) -> Iterator[Finding]:
    """The rows whose recorded breakdown is not the rule's. A studio charges a few
    prices, so each distinct breakdown is held to the rule once (SQLite groups
    them), and only a table with a wrong one is read row by row for its ids."""
    columns = [column for column in BREAKDOWN_FIELDS if layout.has_column(table, column)]
    breakdown = [f"x.{quote_identifier(c)}" for c in columns]
    distinct = source.query(
        f"SELECT DISTINCT {', '.join(breakdown)} FROM {quote_identifier(table)} x "
        "WHERE x.gross_amount IS NOT NULL"
    )
    wrong = {
        values: problem
        for values in map(tuple, distinct)
        if (problem := _disagreement(dict(zip(columns, values, strict=True)))) is not None
    }
    if not wrong:
        return
    rows = source.select(table, ["x.id", *breakdown], where="x.gross_amount IS NOT NULL")
    ids = [row_id for row_id, *values in rows if tuple(values) in wrong]
    yield finding(
        "fees.inconsistent",
        f"{table}: {len(ids):,} fee breakdown(s) not the app's fee rule's "
        f"({'; '.join(sorted(set(wrong.values())))})",
        table=table,
        row_ids=ids,
    )


def _disagreement(recorded: dict[str, object]) -> str | None:
    try:
        breakdown = [_amount(recorded.get(column)) for column in BREAKDOWN_FIELDS]
    except (InvalidOperation, TypeError, ValueError):
        return None  # a value the importer cannot take: check_values reports it
    return rule_disagreement(*breakdown)


def _amount(value: object) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))
