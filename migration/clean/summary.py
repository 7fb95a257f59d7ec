"""The run's outcome, counted from the copy's change log, and its record in the cleanings table."""

from __future__ import annotations

from dataclasses import replace

from migration.clean.copy import CopyBeingCleaned
from migration.clean.report import (
    CleanReport,
    EmailChange,
    PairConflict,
    QuarantineSummary,
    RuleSummary,
)
from migration.findings import ROW_ID_CAP
from migration.legacy.schema import CHANGES_TABLE, CLEANINGS_TABLE


def summarise(
    copy: CopyBeingCleaned,
    started: CleanReport,
    emails: tuple[EmailChange, ...],
    conflicts: tuple[PairConflict, ...],
    quarantined: tuple[QuarantineSummary, ...],
) -> CleanReport:
    """The run's changes per rule and table, counted from the log itself."""
    first = copy.first_change
    groups = copy.query(
        f"SELECT rule, table_name, count(*), count(DISTINCT row_id) FROM {CHANGES_TABLE} "
        "WHERE id >= ? GROUP BY rule, table_name ORDER BY min(id)",
        (first,),
    )
    rules = []
    for rule, table, changes, rows in groups:
        row_ids = [
            row_id
            for (row_id,) in copy.query(
                f"SELECT DISTINCT row_id FROM {CHANGES_TABLE} WHERE id >= ? AND rule = ? "
                f"AND table_name = ? AND row_id IS NOT NULL ORDER BY row_id LIMIT {ROW_ID_CAP}",
                (first, rule, table),
            )
        ]
        rules.append(RuleSummary(rule, table, changes, rows, tuple(row_ids)))
    return replace(
        started,
        rules=tuple(rules),
        emails=emails,
        conflicts=conflicts,
        quarantined=quarantined,
        total_changes=sum(summary.changes for summary in rules),
    )


def record_cleaning(copy: CopyBeingCleaned, report: CleanReport) -> None:
    copy.connection.execute(
        f"INSERT INTO {CLEANINGS_TABLE} (source_path, source_sha256, cleaned_at, changes, "
        "quarantined) VALUES (?, ?, ?, ?, ?)",
        (
            report.source,
            report.source_sha256,
            report.cleaned_at,
            report.total_changes,
            report.total_quarantined,
        ),
    )
