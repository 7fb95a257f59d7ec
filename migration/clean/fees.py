"""Fee breakdowns the app's fee migration would have written, and its audit log.

For a file the migration never ran on (its columns and fee_audit_log are
added) or rows it missed: each gross is the payment's amount, or the sum of a
package's payments, and the breakdown follows the app's own rule
(mapping/fees.py). The old payments table (payment_records), which the
migration never gave fee columns, gets the new payments table's. Every value
written is logged, and each breakdown gets its fee_audit_log row as the app
would have written it. So does each breakdown the app's migration recorded
without one (rules/fee_audits.py), when it is the fee rule's: one the rule
disagrees with is precheck's fees.inconsistent, left for a person.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from migration.clean.copy import CopyBeingCleaned
from migration.clean.report import AUDIT_RULE, FEES_RULE
from migration.legacy import quote_identifier
from migration.legacy.schema import newest_schema, optional_columns, schema_sql
from migration.mapping.canonical import canonical_json, raw_row
from migration.mapping.converters import LegacyValueError, won
from migration.mapping.fees import (
    BREAKDOWN_FIELDS,
    CARD_FEE_RATE,
    FEE_CALCULATION_METHOD,
    VAT_RATE,
    FeeBreakdown,
    fee_breakdown,
    rule_disagreement,
)
from migration.mapping.specs import fee_columns
from migration.rules.fee_audits import (
    AUDITED_TABLES,
    FEE_AUDIT_TABLE,
    OLD_PAYMENT_KEY,
    audited_ids,
    unaudited,
)

PAYMENT_TABLES = ("payments", "payment_records")
FEE_TABLES = ("session_packages", *PAYMENT_TABLES)
# The old payments table never had fee columns: it gets the new payments table's.
_FEE_COLUMNS_AS_IN = {"payment_records": "payments"}
FEE_RULE_TEXT = (
    "the app's fee rule: prices include VAT; VAT = gross x 0.10 / 1.10, card fee = "
    "gross x 0.035, net = gross - VAT - card fee, each rounded half up to the won"
)


def fill_fee_breakdowns(copy: CopyBeingCleaned) -> None:
    """What the app's fee migration did, for a file it never ran on, or rows it missed."""
    tables = [table for table in FEE_TABLES if _needs_fees(copy, table)]
    for table in tables:
        _add_fee_columns(copy, table)
    if tables:
        _create_fee_audit_log(copy)
    for table in PAYMENT_TABLES:
        if table in tables:
            _fill_payment_fees(copy, table)
    if "session_packages" in tables:
        _fill_package_fees(copy)


def audit_recorded_breakdowns(copy: CopyBeingCleaned) -> None:
    """An audit row for each breakdown the file records without one (the app's fee
    migration wrote none), when it is the fee rule's. After the quarantine, so that
    only rows that are imported get one."""
    if not copy.has_table(FEE_AUDIT_TABLE):
        return
    for table in AUDITED_TABLES:
        gathered = "temp.clean_audited"
        condition = unaudited(copy.layout, table, gathered_in=gathered)
        if not copy.has_column(table, "gross_amount") or condition is None:
            continue
        # Gathered once, not once a page: a chain's audit log has a row per payment.
        copy.connection.execute("CREATE TEMP TABLE clean_audited (id INTEGER PRIMARY KEY)")
        try:
            copy.connection.execute(f"INSERT OR IGNORE INTO {gathered} {audited_ids(table)}")
            _audit_recorded(copy, table, condition)
        finally:
            copy.connection.execute(f"DROP TABLE {gathered}")


def _needs_fees(copy: CopyBeingCleaned, table: str) -> bool:
    if table == "payment_records":
        # Columns the app never gave this table: added only for rows to hold them,
        # so that a file with no old payments is left as the app made it.
        name = quote_identifier(table)
        return copy.has_table(table) and bool(copy.query(f"SELECT 1 FROM {name} LIMIT 1"))
    return copy.has_table(table)


def fee_columns_of(table: str) -> tuple[str, ...]:
    """The columns the app's fee migration added to `table` (to payments, for the old
    payments table, which it never gave them), in schema order."""
    fee_migration = optional_columns()[("payments", "gross_amount")]
    owner_of_columns = _FEE_COLUMNS_AS_IN.get(table, table)
    return tuple(column for owner, column in fee_migration.columns if owner == owner_of_columns)


def _add_fee_columns(copy: CopyBeingCleaned, table: str) -> None:
    schema = newest_schema()[_FEE_COLUMNS_AS_IN.get(table, table)]
    declared = {column.name: column.declared_type for column in schema}
    for column in fee_columns_of(table):
        if copy.has_column(table, column):
            continue
        ddl = f"ADD COLUMN {quote_identifier(column)} {declared[column]}"
        copy.connection.execute(f"ALTER TABLE {quote_identifier(table)} {ddl}")
        copy.log([(table, None, column, None, ddl, FEES_RULE)])


def _create_fee_audit_log(copy: CopyBeingCleaned) -> None:
    if copy.has_table(FEE_AUDIT_TABLE):
        return
    ddl = fee_audit_log_ddl()
    copy.connection.execute(ddl)
    copy.log([(FEE_AUDIT_TABLE, None, None, None, ddl, FEES_RULE)])


def fee_audit_log_ddl() -> str:
    """The app's own CREATE TABLE for fee_audit_log, as SQLite itself reads it from schema.sql."""
    schema = sqlite3.connect(":memory:")
    try:
        schema.executescript(schema_sql())
        (ddl,) = schema.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (FEE_AUDIT_TABLE,)
        ).fetchone()
        return ddl
    finally:
        schema.close()


def _fee_values(breakdown: FeeBreakdown, *, with_method: bool) -> dict[str, Any]:
    values: dict[str, Any] = {
        "gross_amount": int(breakdown.gross_amount),
        "vat_amount": int(breakdown.vat_amount),
        "card_fee_amount": int(breakdown.card_fee_amount),
        "net_amount": int(breakdown.net_amount),
        "vat_rate": float(VAT_RATE),
        "card_fee_rate": float(CARD_FEE_RATE),
    }
    if with_method:
        values["fee_calculation_method"] = FEE_CALCULATION_METHOD
    return values


def _fill_payment_fees(copy: CopyBeingCleaned, table: str) -> None:
    columns = fee_columns_of(table)
    if not copy.has_column(table, "amount"):
        return
    olds = ", ".join(f"x.{quote_identifier(c)}" for c in columns)
    rows = f"{quote_identifier(table)} x"
    for batch in copy.batches(f"x.amount, {olds}", rows, "x.gross_amount IS NULL"):
        breakdowns = []
        for row_id, amount, *old in batch:
            gross = _won_or_none(amount)
            if gross is None:
                continue  # an amount the importer cannot read: precheck names it
            breakdowns.append((row_id, dict(zip(columns, old, strict=True)), gross))
        _write_fees(
            copy,
            table,
            [
                (row_id, old, fee_breakdown(gross), f"{table}.amount")
                for row_id, old, gross in breakdowns
            ],
            with_method=False,
        )


def _fill_package_fees(copy: CopyBeingCleaned) -> None:
    # "A package's gross_amount is the sum of its payments" (the legacy README),
    # old and new tables alike; a package nobody paid for yet is worth its price.
    columns = fee_columns_of("session_packages")
    if not copy.has_column("session_packages", "total_amount"):
        return
    _sum_package_payments(copy)
    olds = ", ".join(f"x.{quote_identifier(c)}" for c in columns)
    tables = "session_packages x LEFT JOIN temp.clean_package_payments s ON s.package_id = x.id"
    try:
        for batch in copy.batches(
            f"x.total_amount, s.total, s.payments, s.unreadable, {olds}",
            tables,
            "x.gross_amount IS NULL",
        ):
            rows = []
            for row_id, total_amount, paid, payments, unreadable, *old in batch:
                if payments:
                    gross = None if unreadable else _won_or_none(paid)
                    origin = f"the sum of its {payments} payment(s) in payments and payment_records"
                else:
                    gross = _won_or_none(total_amount)
                    origin = "session_packages.total_amount (no payment recorded)"
                if gross is None:
                    continue  # an amount the importer cannot read: precheck names it
                old_values = dict(zip(columns, old, strict=True))
                rows.append((row_id, old_values, fee_breakdown(gross), origin))
            _write_fees(copy, "session_packages", rows, with_method=True)
    finally:
        copy.connection.execute("DROP TABLE temp.clean_package_payments")


def _sum_package_payments(copy: CopyBeingCleaned) -> None:
    """Each package's payments, summed once into a temporary table (not in the file)."""
    copy.connection.execute(
        "CREATE TEMP TABLE clean_package_payments "
        "(package_id INTEGER PRIMARY KEY, total, payments, unreadable)"
    )
    parts = [
        f"SELECT package_id, amount FROM {quote_identifier(table)}"
        for table in ("payments", "payment_records")
        if copy.has_column(table, "package_id") and copy.has_column(table, "amount")
    ]
    if not parts:
        return
    copy.connection.execute(
        "INSERT INTO temp.clean_package_payments "
        "SELECT package_id, sum(amount), count(*), "
        "sum(amount IS NULL OR typeof(amount) NOT IN ('integer', 'real')) "
        f"FROM ({' UNION ALL '.join(parts)}) "
        "WHERE typeof(package_id) = 'integer' GROUP BY package_id"
    )


def _audit_recorded(copy: CopyBeingCleaned, table: str, condition: str) -> None:
    recorded = ", ".join(f"x.{quote_identifier(c)}" for c in BREAKDOWN_FIELDS)
    rows = f"{quote_identifier(table)} x"
    for batch in copy.batches(recorded, rows, condition):
        breakdowns = []
        for row_id, *values in batch:
            try:
                gross, *rest = (read(value) for read, value in zip(_READ_FEES, values, strict=True))
            except LegacyValueError:
                continue  # a value the importer cannot read: precheck names it
            if gross is None or rule_disagreement(gross, *rest) is not None:
                continue  # precheck's fees.inconsistent: left for a person
            origin = f"the breakdown recorded in {table} by the app's fee migration"
            breakdowns.append((row_id, {}, fee_breakdown(gross), origin))
        _write_audit_rows(copy, table, breakdowns, AUDIT_RULE)


_AMOUNT = won()
# Each recorded breakdown column read as the import reads it.
_READ_FEES = tuple(column.convert for column in fee_columns(with_method=False))


def _won_or_none(raw: Any) -> Any:
    try:
        return _AMOUNT(raw)
    except LegacyValueError:
        return None


def _write_fees(
    copy: CopyBeingCleaned,
    table: str,
    rows: Sequence[tuple[Any, dict[str, Any], FeeBreakdown, str]],
    *,
    with_method: bool,
) -> None:
    """Write each row's breakdown, log every column it changes, and add its audit row."""
    if not rows:
        return
    columns = fee_columns_of(table)
    assignments = ", ".join(f"{quote_identifier(column)} = ?" for column in columns)
    updates, log = [], []
    for row_id, old, breakdown, _ in rows:
        new = _fee_values(breakdown, with_method=with_method)
        updates.append((*(new[column] for column in columns), row_id))
        log.extend(
            (table, row_id, column, old[column], new[column], FEES_RULE)
            for column in columns
            if _differs(old[column], new[column])
        )
    copy.connection.executemany(
        f"UPDATE {quote_identifier(table)} SET {assignments} WHERE id = ?", updates
    )
    copy.log(log)
    _write_audit_rows(copy, table, rows, FEES_RULE)


def _differs(old: Any, new: Any) -> bool:
    return type(old) is not type(new) or old != new


AUDIT_COLUMNS = (
    "package_id",
    "payment_id",
    "calculation_type",
    *BREAKDOWN_FIELDS,
    "calculation_details",
    "created_by",
    "created_at",
)


def _write_audit_rows(
    copy: CopyBeingCleaned,
    table: str,
    rows: Sequence[tuple[Any, Any, FeeBreakdown, str]],
    rule: str,
) -> None:
    if not rows:
        return
    columns = ("id", *AUDIT_COLUMNS)
    insert = (
        f"INSERT INTO {FEE_AUDIT_TABLE} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    first_id = copy.next_id(FEE_AUDIT_TABLE)
    # Stamped with the audited row's own created_at, not the time of cleaning:
    # cleaning the same source again must give the very same rows (the time of
    # cleaning is in the change log).
    stamps = _created_at(copy, table, [row_id for row_id, *_ in rows])
    inserts, log = [], []
    for audit_id, (row_id, _, breakdown, origin) in enumerate(rows, start=first_id):
        about = {"rule": FEE_RULE_TEXT, "gross_source": origin, "written_by": "clean_legacy"}
        if table == "payment_records":
            # fee_audit_log.payment_id points at the new payments table, whose ids
            # an old payment's collide with: the old row is named here instead.
            about[OLD_PAYMENT_KEY] = row_id
        details = json.dumps(about, ensure_ascii=False, sort_keys=True)
        values = (
            audit_id,
            row_id if table == "session_packages" else None,
            row_id if table == "payments" else None,
            "migration",
            int(breakdown.gross_amount),
            int(breakdown.vat_amount),
            int(breakdown.card_fee_amount),
            int(breakdown.net_amount),
            float(breakdown.vat_rate),
            float(breakdown.card_fee_rate),
            details,
            None,
            stamps.get(row_id) or copy.sqlite_timestamp,
        )
        inserts.append(values)
        log.append(
            (
                FEE_AUDIT_TABLE,
                audit_id,
                None,
                None,
                canonical_json(raw_row(columns, values)),
                rule,
            )
        )
    copy.connection.executemany(insert, inserts)
    copy.log(log)


def _created_at(copy: CopyBeingCleaned, table: str, row_ids: Sequence[Any]) -> dict[Any, Any]:
    stamps: dict[Any, Any] = {}
    for start in range(0, len(row_ids), 500):
        chunk = row_ids[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        stamps.update(
            copy.query(
                f"SELECT id, created_at FROM {quote_identifier(table)} WHERE id IN ({marks})", chunk
            )
        )
    return stamps
