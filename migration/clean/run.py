"""clean_legacy: a fixed copy of a legacy file, with every change logged inside it.

The run, and the order of its steps (written once, in _clean_copy). The source
is only read (through the read-only `legacy` alias) and copied with SQLite's
backup API to a temporary file beside the output. The fixes run on that copy,
in one transaction, each recording what it changed in the copy's change log
(copy.py) under the precheck code it addresses; the copy is renamed into place
only when every fix succeeded, and every cell in which it differs from the
source has its entry in that log (checked at the end: see unlogged.py).
Nothing is printed here: `clean_legacy` returns a `CleanReport` (report.py)
that the command renders.

First the copy is made plain data (plain_data.py), so that no code stored in
the file runs or computes while the fixes write it. Then the fixes, in this
order, each relying on the ones before it:

1. e-mail addresses with spaces around them trimmed (trimmed_emails.py), then
   duplicate e-mails (emails.py): the account created first keeps the
   address, the others get a plus-address on the same mailbox (or the one
   given with --email); then trimmed again what a UNIQUE column held back;
2. dates and moments a person typed that read one way only (typed_dates.py:
   `2025/06/08`, `20250608`) written in ISO form, so that step 3 matches rows
   on the dates they hold; one that reads two ways (`03/04/2025`) is left for
   a person;
3. rows on both sides of an old/new table pair (pair_rows.py): the old copy is
   deleted, so that a package's gross (step 5, the sum of its payments) counts
   it once; rows that match on the natural key but differ are left for a person;
4. missing trainer ids (trainers.py): the package's trainer, else the client's,
   so that step 7 quarantines only the rows nobody can place;
5. fee breakdowns the app's fee migration would have written (fees.py, adding
   its columns and fee_audit_log to a file that predates it);
6. text the target cannot store (text.py: NUL, bytes that are not UTF-8), so
   that the quarantined rows' JSON holds storable text too;
7. rows whose references point at nothing (trainers.py), parents first
   (IMPORT_ORDER), so that a quarantined client takes its packages, sessions
   and payments along. A fee_audit_log row written in step 5 for a row
   quarantined here goes with it;
8. an audit row for each fee breakdown the file records without one
   (fees.py: the app's fee migration wrote none), for the rows imported.

Cleaning a cleaned copy changes nothing: every fix looks only for what it fixes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from migration.clean.copy import CopyBeingCleaned
from migration.clean.emails import fix_duplicate_emails
from migration.clean.errors import CleanError, CleanFault
from migration.clean.fees import audit_recorded_breakdowns, fill_fee_breakdowns
from migration.clean.pair_rows import drop_duplicate_pair_rows
from migration.clean.plain_data import make_plain_data
from migration.clean.report import CleanReport
from migration.clean.summary import record_cleaning, summarise
from migration.clean.text import make_text_storable
from migration.clean.trainers import infer_missing_trainers, quarantine_orphans
from migration.clean.trimmed_emails import trim_emails
from migration.clean.typed_dates import read_typed_dates
from migration.clean.unlogged import find_unlogged_change
from migration.guard import check_written
from migration.legacy import FileWatch, LegacyFileError, LegacySource, file_sha256
from migration.legacy.schema import TOOL_TABLES_SQL, newest_schema, optional_tables
from migration.legacy.source import decode_legacy_text
from migration.legacy.stored_code import VIEW, of_kind, stored_code
from migration.paths import Output, renamed_over, temporary_beside


def clean_legacy(
    *, source: LegacySource, output: Path, explicit_emails: Mapping[str, str]
) -> CleanReport:
    """Write a cleaned copy of the source to `output`, which is replaced only on success."""
    output = Path(output).absolute()
    # The command checked its outputs before it began; checked again here, where it is written.
    check_written(source.path, [Output("--output", output, database=True)])
    _refuse_incomplete_file(source)
    _refuse_damaged_file(source)
    started = CleanReport(
        source=str(source.path),
        source_sha256=file_sha256(source.path),
        output=str(output),
        output_sha256="",
        cleaned_at=datetime.now(UTC).replace(microsecond=0).isoformat(),
        rules=(),
        emails=(),
        conflicts=(),
        quarantined=(),
        total_changes=0,
    )
    watch = FileWatch(source.path)
    try:
        temporary = temporary_beside(output)
    except OSError as error:
        raise CleanError(f"{output}: cannot write there ({error.strerror})") from error
    with renamed_over(output, temporary):
        check_written(source.path, [Output("the copy", temporary, database=True)])
        _copy(source, temporary)
        report, first_change = _clean_copy(temporary, started, explicit_emails)
        _refuse_unlogged_changes(source, temporary, first_change, watch)
        report = replace(report, output_sha256=file_sha256(temporary))
    return report


def _refuse_incomplete_file(source: LegacySource) -> None:
    # Without, say, its trainers table every client would look orphaned and be
    # quarantined: a file like that is the wrong file, not one to clean. A view
    # standing where a table should be is there (the copy makes it a table).
    present = set(source.table_names())
    present.update(view.name for view in of_kind(stored_code(source.query), VIEW))
    optional = optional_tables()
    for table in newest_schema():
        if table not in present and table not in optional:
            raise CleanError(
                f"{source.path}: no table {table}, so this is not a complete legacy file; "
                "check --source (precheck says more)"
            )


def _refuse_damaged_file(source: LegacySource) -> None:
    # The copy is made page by page: a damaged page would be copied as it is,
    # and a cleaned file that is still damaged is worse than none.
    integrity = source.integrity_check()
    if integrity != ["ok"]:
        raise CleanError(
            f"{source.path}: SQLite finds the file damaged ({integrity[0]}): restore it from "
            "a backup, or recover it with sqlite3's .recover and clean the result"
        )


def _copy(source: LegacySource, destination: Path) -> None:
    """A consistent copy of the source, whatever else has it open."""
    copy = sqlite3.connect(destination)
    try:
        source.connection.ensure_connection()
        source.connection.connection.backup(copy)
    except sqlite3.Error as error:
        raise LegacyFileError(f"{source.path}: copying failed ({error})") from error
    finally:
        copy.close()


def _clean_copy(
    path: Path, started: CleanReport, explicit_emails: Mapping[str, str]
) -> tuple[CleanReport, int]:
    """Every fix on the copy at `path`, in one transaction: all of them or none.

    Returns the report, and the id of the run's first entry in the change log.
    """
    connection = sqlite3.connect(path, isolation_level=None)
    connection.text_factory = decode_legacy_text
    try:
        # The copy inherits the source's journal mode; one file is all we rename.
        connection.execute("PRAGMA journal_mode = DELETE")
        # A hand-made foreign key's ON DELETE CASCADE would delete rows when a row is
        # quarantined, unlogged: off, whatever the build's default (and it must be
        # set outside a transaction).
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("BEGIN IMMEDIATE")
        for statement in TOOL_TABLES_SQL.split(";"):
            if statement.strip():
                connection.execute(statement)
        copy = CopyBeingCleaned(connection, datetime.fromisoformat(started.cleaned_at))
        _step("making the copy plain data", make_plain_data, copy)
        copy.read_layout()
        _step("making text storable", make_text_storable, copy)
        _step("trimming e-mail addresses", trim_emails, copy)
        emails = _step("making e-mails unique", fix_duplicate_emails, copy, explicit_emails)
        # Where e-mails are UNIQUE (the first generation), an address another row held
        # trimmed could not be trimmed before the duplicates were made unique.
        _step("trimming e-mail addresses", trim_emails, copy)
        _step("reading typed dates", read_typed_dates, copy)
        conflicts = _step("removing duplicate pair rows", drop_duplicate_pair_rows, copy)
        _step("inferring trainers", infer_missing_trainers, copy)
        _step("computing fee breakdowns", fill_fee_breakdowns, copy)
        copy.read_layout()  # with the fee columns and the fee_audit_log it may have added
        quarantined = _step("quarantining rows", quarantine_orphans, copy)
        _step("auditing recorded fee breakdowns", audit_recorded_breakdowns, copy)
        report = _step("summing up", summarise, copy, started, emails, conflicts, quarantined)
        _step("recording the run", record_cleaning, copy, report)
        connection.execute("COMMIT")
        return report, copy.first_change
    except sqlite3.Error as error:
        raise CleanError(f"cleaning the copy failed ({error}); nothing was written") from error
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


def _step(what: str, fix: Callable[..., Any], *args: Any) -> Any:
    try:
        return fix(*args)
    except sqlite3.Error as error:
        raise CleanError(f"{what} failed on the copy ({error}); nothing was written") from error


def _refuse_unlogged_changes(
    source: LegacySource, copy: Path, since: int, watch: FileWatch
) -> None:
    # A fix that forgot to log, or code in the file nobody thought of, would
    # change the studio's data with no record: the copy is compared with the
    # source, and every difference must have its entry in the change log.
    failed: sqlite3.Error | None = None
    try:
        change = find_unlogged_change(copy=copy, source=source.read_path, since=since)
    except sqlite3.Error as error:
        change, failed = None, error
    # A source written meanwhile differs from its copy for that reason alone.
    if watch.changed():
        raise CleanError(
            f"{source.path}: the legacy file was written to while it was cleaned, so the copy "
            "may mix two states of it; nothing was written: stop the legacy app (or wait "
            "for it), then run clean_legacy again"
        )
    if failed is not None:
        raise CleanError(
            f"checking the copy against its change log failed ({failed}); nothing was written"
        ) from failed
    if change is not None:
        raise CleanFault(
            f"clean_legacy's check of its own work failed: the copy differs from the source "
            f"({change}) where its change log records nothing; nothing was written. This is "
            "a fault in clean_legacy, or code in the file it does not know: report it, with "
            "the report of precheck --redact on the file"
        )
