"""Rows and their trainers: a missing trainer inferred, and the rows nobody can place quarantined.

Both follow the reference rules of rules/references.py, the ones precheck
reports: inference fills a trainer id that is empty or points at no trainer
from the row's parents; quarantine moves each row whose references still lead
nowhere to the quarantine table, parents first, so that a quarantined client
takes its packages, sessions and payments along.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from migration.clean.copy import CopyBeingCleaned, sqlite_writable
from migration.clean.report import (
    DANGLING_RULE,
    INFERRED_RULE,
    UNINFERABLE_RULE,
    QuarantinedRow,
    QuarantineSummary,
)
from migration.findings import ROW_ID_CAP
from migration.legacy import quote_identifier
from migration.legacy.schema import CHANGES_TABLE, QUARANTINE_TABLE
from migration.mapping.canonical import canonical_json, raw_row
from migration.mapping.specs import IMPORT_ORDER, SPECS, TableSpec
from migration.rules.references import dangling, inferred_column, inferred_trainer, names_no_trainer


def infer_missing_trainers(copy: CopyBeingCleaned) -> None:
    """Fill a trainer id that is empty or points at no trainer, where the row's parents
    tell: the rows and trainers precheck counts (rules/references.py)."""
    if not copy.has_table("trainers"):
        return
    for spec in SPECS.values():
        column = inferred_column(spec)
        if column is None or not copy.has_column(spec.table, column.column):
            continue
        name, trainer = quote_identifier(spec.table), quote_identifier(column.column)
        names_none = names_no_trainer(copy.layout, spec, column)
        names_a_gone_trainer = dangling(
            copy.layout, spec.table, column.column, spec.references[column.column]
        )
        mark = copy.last_change_id()
        # The log is written first and the update reads it: one pass each, all in SQL.
        copy.connection.execute(
            f"INSERT INTO {CHANGES_TABLE} (table_name, row_id, column_name, old_value, "
            "new_value, rule, changed_at) "
            "SELECT ?, id, ?, old, new, CASE WHEN named_none THEN ? ELSE ? END, ? "
            f"FROM (SELECT x.id AS id, x.{trainer} AS old, {names_none} AS named_none, "
            f"{inferred_trainer(copy.layout, spec, column)} AS new FROM {name} x "
            f"WHERE {names_none} OR ({names_a_gone_trainer})) "
            "WHERE new IS NOT NULL ORDER BY id",
            (spec.table, column.column, INFERRED_RULE, DANGLING_RULE, copy.changed_at),
        )
        copy.connection.execute(
            f"UPDATE {name} AS x SET {trainer} = c.new_value FROM {CHANGES_TABLE} c "
            "WHERE c.id > ? AND c.table_name = ? AND c.row_id = x.id",
            (mark, spec.table),
        )


@dataclass(frozen=True)
class OrphanCheck:
    """One way a row of a table cannot be imported: an SQL condition on `x`, and why."""

    condition: str
    rule: str
    column: str
    explain: Callable[[Any], str]  # the column's value -> the reason


def quarantine_orphans(copy: CopyBeingCleaned) -> tuple[QuarantineSummary, ...]:
    """Move rows whose references lead nowhere to the quarantine table, parents first."""
    quarantined: dict[str, set[Any]] = defaultdict(set)
    summaries = []
    for spec in IMPORT_ORDER:
        if not copy.has_table(spec.table):
            continue
        checks = _orphan_checks(copy, spec, quarantined)
        if checks:
            summary = _quarantine_table(copy, spec.table, checks, quarantined[spec.table])
            if summary.rows:
                summaries.append(summary)
    return tuple(summaries)


def _orphan_checks(
    copy: CopyBeingCleaned, spec: TableSpec, quarantined: Mapping[str, set[Any]]
) -> list[OrphanCheck]:
    # Precheck's reference.dangling and uninferable-trainer: the same rules.
    layout = copy.layout
    checks = []
    for column, target in spec.references.items():
        if layout.has_column(spec.table, column):
            reason = _dangling_reason(column, target, quarantined)
            checks.append(
                OrphanCheck(
                    dangling(layout, spec.table, column, target), DANGLING_RULE, column, reason
                )
            )
    inferred = inferred_column(spec)
    if inferred is not None and layout.has_table("trainers"):
        nobody = (
            f"{names_no_trainer(layout, spec, inferred)} "
            f"AND {inferred_trainer(layout, spec, inferred)} IS NULL"
        )
        parents = " nor its ".join(via.removesuffix("_id") for via in inferred.infer.via)
        checks.append(
            OrphanCheck(
                nobody,
                UNINFERABLE_RULE,
                inferred.column,
                lambda _: (
                    f"{inferred.column} is empty, and neither its {parents} leads to a trainer"
                ),
            )
        )
    return checks


def _dangling_reason(
    column: str, target: str, quarantined: Mapping[str, set[Any]]
) -> Callable[[Any], str]:
    def explain(value: Any) -> str:
        if value in quarantined.get(target, ()):
            return f"{column} {value!r}: that {target} row is quarantined too"
        return f"{column} {value!r}: no {target} row has that id"

    return explain


def _quarantine_table(
    copy: CopyBeingCleaned, table: str, checks: Sequence[OrphanCheck], done: set[Any]
) -> QuarantineSummary:
    columns = copy.columns(table)
    selected = ", ".join(f"x.{quote_identifier(column)}" for column in columns)
    which = " ".join(f"WHEN {check.condition} THEN {n}" for n, check in enumerate(checks))
    orphaned = " OR ".join(f"({check.condition})" for check in checks)
    examples: list[QuarantinedRow] = []
    rows = 0
    for batch in copy.batches(
        f"CASE {which} END, {selected}", f"{quote_identifier(table)} x", orphaned
    ):
        moved, log = [], []
        for row_id, index, *values in batch:
            check = checks[index]
            row = dict(zip(columns, values, strict=True))
            reason = check.explain(row[check.column])
            row_json = canonical_json(raw_row(columns, values))
            moved.append((table, row_id, reason, row_json, copy.changed_at))
            log.append((table, row_id, None, row_json, None, check.rule))
            if len(examples) < ROW_ID_CAP:
                examples.append(QuarantinedRow(row_id, check.rule, reason))
            done.add(row_id)
        copy.connection.executemany(
            f"INSERT INTO {QUARANTINE_TABLE} (source_table, source_id, reason, row_json, "
            "quarantined_at) VALUES (?, ?, ?, ?, ?)",
            [(t, i, sqlite_writable(r), j, at) for t, i, r, j, at in moved],
        )
        copy.connection.executemany(
            f"DELETE FROM {quote_identifier(table)} WHERE id = ?",
            [(row_id,) for _, row_id, *_ in moved],
        )
        copy.log(log)
        rows += len(moved)
    return QuarantineSummary(table, rows, tuple(examples))
