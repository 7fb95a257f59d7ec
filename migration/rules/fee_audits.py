"""Which fee breakdown has its fee_audit_log row: the rule precheck and clean_legacy share.

The app's fee migration recorded breakdowns on packages and payments without
writing their audit rows; clean_legacy writes one for each breakdown that has
none (and for each it computes), and precheck counts the breakdowns it would
audit, by the SQL written here once.

An audit row names a package by package_id and a payment by payment_id. An old
payment (payment_records) is named in its row's details instead, under
OLD_PAYMENT_KEY: fee_audit_log.payment_id holds ids of the new payments table,
which an old payment's collide with.
"""

from __future__ import annotations

from migration.mapping.layout import LegacyLayout

FEE_AUDIT_TABLE = "fee_audit_log"
OLD_PAYMENT_KEY = "payment_record_id"
AUDITED_TABLES = ("session_packages", "payments", "payment_records")

_DETAILS = "a.calculation_details"
# The old payment an audit row names: only an integer under the key of a JSON
# object counts, as clean_legacy writes it (CASE keeps json_type off text that
# is not JSON, which it would refuse).
_OLD_PAYMENT_NAMED = (
    f"CASE WHEN json_valid({_DETAILS}) THEN CASE WHEN json_type({_DETAILS}, "
    f"'$.{OLD_PAYMENT_KEY}') = 'integer' THEN json_extract({_DETAILS}, '$.{OLD_PAYMENT_KEY}') "
    "END END"
)
_NAMED_BY = {
    "session_packages": ("a.package_id", "a.package_id IS NOT NULL"),
    "payments": ("a.payment_id", "a.payment_id IS NOT NULL"),
    "payment_records": (_OLD_PAYMENT_NAMED, "a.payment_id IS NULL AND a.package_id IS NULL"),
}


def audited_ids(table: str) -> str:
    """SQL: the ids of `table`'s rows that have an audit row in fee_audit_log."""
    named, of_rows = _NAMED_BY[table]
    return (
        f"SELECT audited_id FROM (SELECT {named} AS audited_id "
        f"FROM {FEE_AUDIT_TABLE} a WHERE {of_rows}) WHERE audited_id IS NOT NULL"
    )


def audited(table: str, *, gathered_in: str | None = None) -> str:
    """SQL: row `x` of `table` has an audit row in fee_audit_log (which the file has).

    An uncorrelated IN: SQLite gathers the audited ids once a statement, not once
    per row. One who reads the table a page at a time gathers them once into a
    table of their own (`gathered_in`, its key `id`), looked up by key."""
    if gathered_in is not None:
        return f"EXISTS (SELECT 1 FROM {gathered_in} g WHERE g.id = x.id)"
    return f"x.id IN ({audited_ids(table)})"


_READ = ("package_id", "payment_id", "calculation_details")


def unaudited(layout: LegacyLayout, table: str, *, gathered_in: str | None = None) -> str | None:
    """SQL: row `x` of `table` records a breakdown that has no audit row; None if the
    file's fee_audit_log lacks a column the rule reads (precheck's schema findings)."""
    has_breakdown = "x.gross_amount IS NOT NULL"
    if not layout.has_table(FEE_AUDIT_TABLE):
        return has_breakdown
    if not all(layout.has_column(FEE_AUDIT_TABLE, column) for column in _READ):
        return None
    return f"{has_breakdown} AND NOT ({audited(table, gathered_in=gathered_in)})"
