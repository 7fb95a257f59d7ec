"""Reports with personal data masked, for CI logs and tickets (every command's --redact).

A report's personal data sits in known places: a finding's summary and details
(names, e-mail addresses, the values a check quotes), and clean_legacy's
e-mail changes and quarantine reasons. Redacting keeps what a report is acted
on with (codes, fixes, tables, columns, counts, row ids: an id says which row,
not whose) and masks the rest, on the report's data, before it is rendered:
every format shows the same redacted report.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from functools import singledispatch
from typing import Any

from migration.clean.run import CleanReport, EmailChange, QuarantineSummary
from migration.findings import Finding
from migration.load.report import ImportReport
from migration.precheck.report import PrecheckReport
from migration.verify.report import VerifyReport

MASK = "[redacted]"


def redact_finding(item: Finding) -> Finding:
    where = ".".join(part for part in (item.table, item.column) if part)
    rows = f"{item.row_count} row(s)" if item.row_count else "see the code"
    return replace(item, summary=f"{where or item.code}: {rows}, {MASK}", details={})


def _findings(items: Any) -> Any:
    return None if items is None else type(items)(redact_finding(item) for item in items)


@singledispatch
def redacted(report: Any) -> Any:
    raise TypeError(f"no redaction for {type(report).__name__}")


@redacted.register
def _(report: PrecheckReport) -> PrecheckReport:
    return replace(report, findings=_findings(report.findings))


@redacted.register
def _(report: ImportReport) -> ImportReport:
    return replace(report, warnings=_findings(report.warnings))


@redacted.register
def _(report: VerifyReport) -> VerifyReport:
    checks = tuple(replace(check, findings=_findings(check.findings)) for check in report.checks)
    return replace(report, checks=checks)


@redacted.register
def _(report: CleanReport) -> CleanReport:
    return replace(
        report,
        emails=tuple(_email(change) for change in report.emails),
        quarantined=tuple(_quarantine(summary) for summary in report.quarantined),
        precheck_blocking=_findings(report.precheck_blocking),
    )


def _email(change: EmailChange) -> EmailChange:
    return replace(change, username=MASK, old_address=MASK, new_address=MASK)


def _quarantine(summary: QuarantineSummary) -> QuarantineSummary:
    rows = tuple(replace(row, reason=MASK) for row in summary.examples)
    return replace(summary, examples=rows)


# A database's error quotes the values it refused: 'Key (email)=(kim@example.com)', and
# PostgreSQL's first lines 'invalid input syntax for type bigint: "Kim"' and 'value "9e99"
# is out of range' (the names it quotes otherwise are a table's, a column's, a constraint's).
_QUOTED_VALUES = re.compile(r"=\(.*?\)(?= |$|\.|,)")
_QUOTED_INPUT = re.compile(r'(: |\bvalue )"(?:[^"]|"")*"')
_EMAIL = re.compile(r"[^\s@()'\"<>]+@[^\s@()'\"<>]+")


def redact_text(message: str) -> str:
    """An error line with the values a database or a check quoted in it masked."""
    message = _QUOTED_INPUT.sub(rf'\1"{MASK}"', _QUOTED_VALUES.sub(f"=({MASK})", message))
    return _EMAIL.sub(MASK, message)


def redact_line(line: str, *, personal: Iterable[str] = ()) -> str:
    """An error line under --redact: the personal values its error says it quotes (a
    username, an address), and any value a database or a check quoted, masked."""
    values = sorted(set(personal), key=len, reverse=True)  # "kim.lee" before "kim"
    if values:
        line = re.sub("|".join(map(re.escape, values)), MASK, line)
    return redact_text(line)
