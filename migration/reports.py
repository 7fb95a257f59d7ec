"""Rendering reports as text (for a person), markdown (for a ticket) or JSON (for a machine).

Each report is a dataclass with `to_dict()`; this module turns it into a string
and never looks at the database. Precheck's Markdown is the cutover plan
(plan.py); what the text reports and the plan render alike is in rendering.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migration.findings import Finding, by_severity, capped_ids
from migration.plan import plan_markdown
from migration.precheck.report import PrecheckReport
from migration.rendering import (
    HEADINGS,
    generation_line,
    human_size,
    markdown_cell,
    precheck_verdict,
    rows_cell,
)

if TYPE_CHECKING:
    from migration.load.report import ImportReport
    from migration.verify.report import VerifyReport

FORMATS = ("text", "json", "markdown")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def to_json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, default=_json_default) + "\n"


def _finding_lines(item: Finding, indent: int = 2) -> Iterator[str]:
    """A finding as the text reports show it: its code and summary, its rows, its fix."""
    margin = " " * indent
    yield f"{margin}[{item.code}] {item.summary}"
    if item.row_ids:
        yield f"{margin}    rows: {_row_ids(item)}"
    yield f"{margin}    fix:  {item.fix}"


def _row_ids(item: Finding) -> str:
    return capped_ids(item.row_ids, item.row_count)


def render_precheck(report: PrecheckReport, fmt: str) -> str:
    if fmt == "json":
        return to_json(report.to_dict())
    if fmt == "markdown":
        return plan_markdown(report)
    return "\n".join(_precheck_text(report)) + "\n"


def _precheck_text(report: PrecheckReport) -> Iterator[str]:
    yield f"Precheck of {report.source}"
    yield f"  file:      {human_size(report.size_bytes)}, sha256 {report.sha256}"
    yield f"  integrity: {'ok' if report.integrity == ('ok',) else 'FAILED'}"
    yield f"  schema:    {generation_line(report)}"
    yield ""
    width = max(len(table.table) for table in report.tables) + 2
    yield f"  {'table':<{width}}{'target model':<26}{'rows':>10}  status"
    for table in report.tables:
        rows = "-" if table.rows is None else f"{table.rows:,}"
        yield f"  {table.table:<{width}}{table.model or '-':<26}{rows:>10}  {table.status}"
    tables = f"{len(report.legacy_tables):,} tables"
    yield f"  {'total':<{width}}{tables:<26}{report.total_rows:>10,}"
    for severity, items in by_severity(report.findings).items():
        if not items:
            continue
        yield ""
        yield f"{HEADINGS[severity]} ({len(items):,})"
        for item in items:
            yield from _finding_lines(item)
    yield ""
    yield precheck_verdict(report)


def render_import(report: ImportReport, fmt: str) -> str:
    if fmt == "json":
        return to_json(report.to_dict())
    return "\n".join(_import_text(report)) + "\n"


def _import_text(report: ImportReport) -> Iterator[str]:
    title = f"Import of {report.source}"
    if report.dry_run:
        title += "  [DRY RUN: rolled back, the database is unchanged]"
    yield title
    elapsed = (report.finished_at - report.started_at).total_seconds() if report.finished_at else 0
    yield f"  sha256 {report.sha256}, run {report.run_id}, {elapsed:.1f} s"
    precheck = f"  precheck: {report.checks_run:,} checks run"
    if report.checks_recalled:
        precheck += (
            f", {report.checks_recalled:,} passed in a precheck of these same bytes "
            "and not run again"
        )
    yield precheck
    yield ""
    width = max([len(t.table) for t in report.tables] + [5]) + 2
    header = "".join(f"{name:>12}" for name in (*report.COUNTS, "conflicts", "seconds", "rows/s"))
    yield f"  {'table':<{width}}{'target model':<26}{header}"
    for table in report.tables:
        counts = "".join(f"{getattr(table, name):>12,}" for name in report.COUNTS)
        yield (
            f"  {table.table:<{width}}{table.model:<26}{counts}{len(table.conflicts):>12,}"
            f"{table.seconds:>12.2f}{table.rows_per_second:>12,.0f}"
        )
    totals = report.totals()
    counts = "".join(f"{totals[name]:>12,}" for name in report.COUNTS)
    yield f"  {'total':<{width}}{'':<26}{counts}{totals['conflicts']:>12,}"
    if report.conflicts:
        yield ""
        yield (
            f"Conflicts ({len(report.conflicts):,}): legacy rows changed since their import whose "
            "target row was also edited in Django; both left as they are:"
        )
        for conflict in report.conflicts[:50]:
            yield (
                f"  {conflict.table} {conflict.legacy_id} -> "
                f"{conflict.target_model} {conflict.target_id}"
            )
    if report.resolved:
        settled = {
            "take-legacy": "the legacy row written over the edit",
            "keep-target": "the edit kept, the legacy change let go",
        }[str(report.on_conflict)]
        yield ""
        yield (
            f"Conflicts settled by --on-conflict {report.on_conflict} "
            f"({len(report.resolved):,}): {settled}:"
        )
        for conflict in report.resolved[:50]:
            yield (
                f"  {conflict.table} {conflict.legacy_id} -> "
                f"{conflict.target_model} {conflict.target_id}"
            )
    gone = [t for t in report.tables if t.gone_from_legacy]
    if gone:
        yield ""
        yield "Gone from the legacy file since an earlier import (left in the target):"
        for table in gone:
            yield f"  {table.table}: {table.gone_from_legacy:,} row(s)"
    if report.warnings:
        yield ""
        yield f"Carried over with precheck's warnings ({len(report.warnings):,}):"
        for item in report.warnings:
            yield f"  [{item.code}] {item.summary}"
            yield f"      fix:  {item.fix}"
    if report.sequences:
        yield ""
        yield "Id sequences now past the highest id: " + ", ".join(
            f"{label} {value:,}" for label, value in report.sequences.items()
        )


def render_verify(report: VerifyReport, fmt: str) -> str:
    if fmt == "json":
        return to_json(report.to_dict())
    return "\n".join(_verify_text(report)) + "\n"


def _verify_text(report: VerifyReport) -> Iterator[str]:
    yield f"Verification of the import of {report.source}"
    if report.run_id is not None:
        same = "the file imported" if report.sha256 == report.imported_sha256 else "CHANGED since"
        yield f"  sha256 {report.sha256} ({same}), import run {report.run_id}"
    yield ""
    for check in report.checks:
        mark = "ok  " if not check.failures(strict=report.strict) else "FAIL"
        yield f"  {mark} {check.name}: {check.summary}"
        for item in check.findings:
            yield from _finding_lines(item, indent=9)
    yield ""
    if report.passed:
        yield "Result: the target matches the legacy file."
    else:
        strict = " (--strict: edits since the import count)" if report.strict else ""
        yield f"Result: {len(report.failures):,} check finding(s) fail{strict}."


# --- clean_legacy -------------------------------------------------------------

if TYPE_CHECKING:
    from migration.clean.report import CleanReport, EmailChange, PairConflict


EMAIL_HOW = {"plus-address": "plus-address on the same mailbox", "explicit": "set with --email"}


def render_clean(report: CleanReport, fmt: str) -> str:
    if fmt == "json":
        return to_json(report.to_dict())
    lines = _clean_markdown(report) if fmt == "markdown" else _clean_text(report)
    return "\n".join(lines) + "\n"


def _email_line(change: EmailChange) -> str:
    return (
        f"{change.username} (id {change.trainer_id}): {change.old_address} -> "
        f"{change.new_address} ({EMAIL_HOW.get(change.how, change.how)})"
    )


def _conflict_line(conflict: PairConflict) -> str:
    differing = ", ".join(conflict.differing) or "content"
    return (
        f"{conflict.old_table} {conflict.old_id} and {conflict.new_table} {conflict.new_id}: "
        f"the same row by its natural key, but different {differing}"
    )


def _left_for_a_person(report: CleanReport) -> int:
    return len(report.conflicts) + len(report.other_blocking)


def _clean_verdict(report: CleanReport) -> str:
    if report.precheck_blocking is None:
        return f"Result: {report.output} is written; run precheck on it before importing."
    if report.needs_person:
        return (
            f"Result: {report.output} is written, but cannot be imported yet: "
            f"{_left_for_a_person(report)} item(s) above need a person. Correct them in the "
            "legacy app (or a copy of the file), then run clean_legacy again."
        )
    return f"Result: precheck finds nothing blocking in {report.output}: it is ready to import."


def _clean_text(report: CleanReport) -> Iterator[str]:
    yield f"Clean of {report.source}"
    yield f"  source:     {report.source}"
    yield f"              sha256 {report.source_sha256} (only read, never changed)"
    yield f"  cleaned:    {report.output}"
    yield f"              sha256 {report.output_sha256}"
    yield (
        f"  change log: table {report.changes_table} in the cleaned copy "
        f"({report.total_changes:,} change(s) this run, each with its old value)"
    )
    yield (
        f"  quarantine: table {report.quarantine_table} in the cleaned copy "
        f"({report.total_quarantined:,} row(s) this run, each with its whole row)"
    )
    yield ""
    if not report.rules:
        yield "No changes: the file needed none of clean_legacy's fixes."
    else:
        yield f"Changes by rule ({report.total_changes:,})"
        for summary in report.rules:
            changed = f"{summary.rows:,} row(s)" if summary.rows else "its schema"
            yield (
                f"  [{summary.rule}] {summary.table}: {summary.changes:,} change(s) to "
                f"{changed}: {summary.description}"
            )
            if summary.row_ids:
                yield f"      rows: {capped_ids(summary.row_ids, summary.rows)}"
            if summary.rule == "trainers.duplicate-email":
                for change in report.emails:
                    yield f"      {_email_line(change)}"
    if report.quarantined:
        yield ""
        yield f"Quarantined ({report.total_quarantined:,})"
        for quarantined in report.quarantined:
            yield f"  {quarantined.table}: {quarantined.rows:,} row(s)"
            for row in quarantined.examples:
                yield f"      {row.row_id}: {row.reason}"
            if quarantined.rows > len(quarantined.examples):
                more = quarantined.rows - len(quarantined.examples)
                yield f"      and {more:,} more (all in {report.quarantine_table})"
    if report.needs_person:
        yield ""
        yield f"Left for a person ({_left_for_a_person(report)})"
        for conflict in report.conflicts:
            yield f"  [{conflict.code}] {_conflict_line(conflict)}"
        if report.conflicts:
            yield f"      fix:  {report.conflicts[0].fix}"
        for item in report.other_blocking:
            yield from _finding_lines(item)
    yield ""
    yield _clean_verdict(report)


def _clean_markdown(report: CleanReport) -> Iterator[str]:
    yield f"# Clean of `{report.source}`"
    yield ""
    yield f"- Source: `{report.source}`, sha256 `{report.source_sha256}` (only read, never changed)"
    yield f"- Cleaned copy: `{report.output}`, sha256 `{report.output_sha256}`"
    yield (
        f"- Change log: table `{report.changes_table}` in the cleaned copy "
        f"({report.total_changes:,} change(s) this run)"
    )
    yield (
        f"- Quarantine: table `{report.quarantine_table}` in the cleaned copy "
        f"({report.total_quarantined:,} row(s) this run)"
    )
    yield ""
    yield "## Changes by rule"
    yield ""
    if not report.rules:
        yield "No changes: the file needed none of clean_legacy's fixes."
    else:
        yield "| rule | table | changes | rows | row ids | what |"
        yield "|---|---|---:|---:|---|---|"
        for s in report.rules:
            yield (
                f"| `{s.rule}` | {s.table} | {s.changes:,} | {s.rows:,} | "
                f"{rows_cell(s.row_ids, s.rows)} | "
                f"{markdown_cell(s.description)} |"
            )
    if report.emails:
        yield ""
        yield "### E-mail addresses changed"
        yield ""
        for change in report.emails:
            yield f"- {markdown_cell(_email_line(change))}"
    if report.quarantined:
        yield ""
        yield f"## Quarantined ({report.total_quarantined:,})"
        yield ""
        yield "| table | id | rule | reason |"
        yield "|---|---|---|---|"
        for quarantined in report.quarantined:
            for row in quarantined.examples:
                yield (
                    f"| {quarantined.table} | {row.row_id} | `{row.rule}` | "
                    f"{markdown_cell(row.reason)} |"
                )
            if quarantined.rows > len(quarantined.examples):
                more = quarantined.rows - len(quarantined.examples)
                yield f"| {quarantined.table} | and {more:,} more | | |"
    if report.needs_person:
        yield ""
        yield f"## Left for a person ({_left_for_a_person(report)})"
        yield ""
        yield "| code | what | rows | fix |"
        yield "|---|---|---|---|"
        for conflict in report.conflicts:
            yield (
                f"| `{conflict.code}` | {markdown_cell(_conflict_line(conflict))} | "
                f"{conflict.old_id} | {markdown_cell(conflict.fix)} |"
            )
        for item in report.other_blocking:
            yield (
                f"| `{item.code}` | {markdown_cell(item.summary)} | "
                f"{rows_cell(item.row_ids, item.row_count)} | {markdown_cell(item.fix)} |"
            )
    yield ""
    yield _clean_verdict(report)
