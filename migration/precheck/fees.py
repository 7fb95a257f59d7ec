"""The fee breakdowns of payments and packages: missing, or not adding up."""

from __future__ import annotations

from collections.abc import Iterator

from migration.findings import Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.legacy.schema import FEE_AMOUNTS
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
            inconsistent = ids_selected(
                source,
                f"SELECT id FROM {name} WHERE gross_amount IS NOT NULL AND gross_amount != "
                "coalesce(vat_amount, 0) + coalesce(card_fee_amount, 0) "
                "+ coalesce(net_amount, 0) ORDER BY id",
            )
            if inconsistent:
                yield finding(
                    "fees.inconsistent",
                    f"{table}: {len(inconsistent):,} fee breakdown(s) where gross is not "
                    "VAT + card fee + net",
                    table=table,
                    row_ids=inconsistent,
                )
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
