"""What the text reports and the Markdown plan render alike: sizes, table cells,
a finding's rows, the schema generation and precheck's verdict.

Plain functions of the reports' data; nothing here reads the file or the database.
"""

from __future__ import annotations

from typing import Any

from migration.findings import Severity, capped_ids
from migration.precheck.report import PrecheckReport

HEADINGS = {Severity.BLOCKING: "Blocking", Severity.WARNING: "Warnings", Severity.INFO: "Info"}


def human_size(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def markdown_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def rows_cell(row_ids: tuple[Any, ...], total: int) -> str:
    """Rows for a Markdown table's cell: their ids (and how many more there are), or
    "-" when none are named (a count of values, say, not of rows to look up)."""
    return markdown_cell(capped_ids(row_ids, total)) if row_ids else "-"


def generation_line(report: PrecheckReport) -> str:
    if report.is_newest_generation:
        return "newest generation (every schema change present)"
    older = [g for g in report.generations if not g.present]
    return "older generation, without: " + "; ".join(
        f"{g.name} ({', '.join(g.missing)})" for g in older
    )


def precheck_verdict(report: PrecheckReport) -> str:
    blocking = len(report.blocking)
    if blocking:
        return (
            f"Result: {blocking:,} blocking finding(s): this file cannot be imported as it is. "
            "Apply the fixes above (clean_legacy handles most), then run precheck again."
        )
    return "Result: nothing blocks an import of this file."
