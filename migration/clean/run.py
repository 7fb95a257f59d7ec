"""clean_legacy: a fixed copy of a legacy file, with every change logged inside it.

The source is only read (through the read-only `legacy` alias) and copied with
SQLite's backup API to a temporary file beside the output. The fixes below run
on that copy, in one transaction, each recording what it changed in the copy's
CHANGES_TABLE under the precheck code it addresses; the copy is renamed into
place only when every fix succeeded, and every cell in which it differs from
the source has its entry in that log (checked at the end: see unlogged.py).
Nothing is printed here: `clean_legacy` returns a `CleanReport` that the
command renders.

First the copy is made plain data, so that no code stored in the file runs or
computes while the fixes write it: its triggers are dropped, its views made
tables of the rows they show, its generated columns made plain columns holding
the values they show (what counts: legacy/stored_code.py), each logged with its
SQL. Then the fixes, in this order, each relying on the ones before it:

1. duplicate e-mails: the account created first keeps the address, the others
   get a plus-address on the same mailbox (or the one given with --email);
2. rows on both sides of an old/new table pair: the old copy is deleted, so
   that a package's gross (step 4, the sum of its payments) counts it once;
   rows that match on the natural key but differ are left for a person;
3. missing trainer ids: the package's trainer, else the client's, so that
   step 6 quarantines only the rows nobody can place;
4. fee breakdowns the app's fee migration would have written (adding its
   columns and fee_audit_log to a file that predates it);
5. text the target cannot store (NUL, bytes that are not UTF-8), so that the
   quarantined rows' JSON holds storable text too;
6. rows whose references point at nothing, parents first (IMPORT_ORDER), so
   that a quarantined client takes its packages, sessions and payments along.
   A fee_audit_log row written in step 4 for a row quarantined here goes with it.

Cleaning a cleaned copy changes nothing: every fix looks only for what it fixes.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import chain, count
from pathlib import Path
from typing import Any

from migration.clean.unlogged import find_unlogged_change
from migration.errors import EXIT_FINDINGS, InputError
from migration.findings import CATALOGUE, ROW_ID_CAP, Finding
from migration.legacy import FileWatch, LegacyFileError, LegacySource, file_sha256, quote_identifier
from migration.legacy.lineage import recorded_sources
from migration.legacy.paging import pages
from migration.legacy.schema import (
    CHANGES_TABLE,
    CLEANINGS_TABLE,
    QUARANTINE_TABLE,
    TOOL_TABLES_SQL,
    newest_schema,
    optional_columns,
    optional_tables,
    schema_sql,
)
from migration.legacy.source import decode_legacy_text, table_columns
from migration.legacy.stored_code import (
    GENERATED_COLUMN,
    TRIGGER,
    VIEW,
    StoredCode,
    ids_are_a_key_sql,
    of_kind,
    plain_table_sql,
    rowid_of,
    stored_code,
    view_rows_sql,
    view_table_sql,
)
from migration.mapping.canonical import canonical_json, id_order, raw_row
from migration.mapping.converters import LegacyValueError, is_storable, mailbox_key, won
from migration.mapping.fees import (
    CARD_FEE_RATE,
    FEE_CALCULATION_METHOD,
    VAT_RATE,
    FeeBreakdown,
    fee_breakdown,
)
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import IMPORT_ORDER, SPECS, TABLE_PAIRS, TableSpec
from migration.paths import Output, check_outputs
from migration.precheck.report import PrecheckReport
from migration.rules.pairs import match_pair_rows
from migration.rules.references import (
    dangling,
    inferred_column,
    inferred_trainer,
    names_no_trainer,
)

# Rule names are the precheck codes each fix makes go away.
TRIGGER_RULE = "schema.trigger"
VIEW_RULE = "schema.view"
GENERATED_RULE = "schema.generated-column"
EMAIL_RULE = "trainers.duplicate-email"
PAIR_RULE = "pairs.duplicate-row"
INFERRED_RULE = "reference.inferable-trainer"
DANGLING_RULE = "reference.dangling"
UNINFERABLE_RULE = "reference.uninferable-trainer"
FEES_RULE = "fees.missing"
TEXT_RULE = "value.unstorable-text"
CONFLICT_CODE = "pairs.conflicting-row"  # left for a person, never fixed here

# What each rule did, in words for the report.
RULES: dict[str, str] = {
    TRIGGER_RULE: "triggers dropped, so that no fix fires them (their SQL is in the change log)",
    VIEW_RULE: "views made tables of the rows they show (their SQL is in the change log)",
    GENERATED_RULE: (
        "generated columns made plain columns holding the values they show "
        "(the table's SQL is in the change log)"
    ),
    EMAIL_RULE: "duplicate e-mail addresses made unique",
    PAIR_RULE: "old-table copies of rows also in the new table deleted",
    INFERRED_RULE: "missing trainer ids filled in from the package, else the client",
    DANGLING_RULE: "ids pointing at no row: trainer inferred, else the row quarantined",
    FEES_RULE: "fee breakdowns computed with the app's fee rule",
    TEXT_RULE: "text made storable (the original bytes are in the change log)",
    UNINFERABLE_RULE: "rows naming no trainer, none inferable: quarantined",
}

FEE_AUDIT_TABLE = "fee_audit_log"
FEE_RULE_TEXT = (
    "the app's fee rule: prices include VAT; VAT = gross x 0.10 / 1.10, card fee = "
    "gross x 0.035, net = gross - VAT - card fee, each rounded half up to the won"
)
LOCAL_PART_SAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254


class CleanError(InputError):
    """clean_legacy cannot do what was asked; the message is one line saying why."""


class CleanFault(CleanError):
    """clean_legacy's check of its own work failed: not the file's fault, nor the command line's."""

    exit_code = EXIT_FINDINGS


# --- results ----------------------------------------------------------------


@dataclass(frozen=True)
class RuleSummary:
    """What one rule changed in one table: counted from the copy's change log."""

    rule: str
    table: str
    changes: int
    rows: int
    row_ids: tuple[Any, ...]  # the first ROW_ID_CAP, in id order

    @property
    def description(self) -> str:
        return RULES.get(self.rule, self.rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "table": self.table,
            "description": self.description,
            "changes": self.changes,
            "rows": self.rows,
            "row_ids": list(self.row_ids),
            "row_ids_capped": self.rows > len(self.row_ids),
        }


@dataclass(frozen=True)
class EmailChange:
    trainer_id: Any
    username: str
    old_address: str
    new_address: str
    how: str  # "plus-address" or "explicit" (--email)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PairConflict:
    """An old-table row with a new-table twin on the natural key but other content."""

    old_table: str
    old_id: Any
    new_table: str
    new_id: Any
    differing: tuple[str, ...]
    code = CONFLICT_CODE

    @property
    def fix(self) -> str:
        return CATALOGUE[self.code].fix

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "differing": list(self.differing),
            "code": self.code,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class QuarantinedRow:
    row_id: Any
    rule: str
    reason: str


@dataclass(frozen=True)
class QuarantineSummary:
    table: str
    rows: int
    examples: tuple[QuarantinedRow, ...]  # the first ROW_ID_CAP

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows": self.rows,
            "rows_capped": self.rows > len(self.examples),
            "examples": [row.__dict__ for row in self.examples],
        }


@dataclass(frozen=True)
class CleanReport:
    source: str
    source_sha256: str
    output: str
    output_sha256: str
    cleaned_at: str
    rules: tuple[RuleSummary, ...]
    emails: tuple[EmailChange, ...]
    conflicts: tuple[PairConflict, ...]
    quarantined: tuple[QuarantineSummary, ...]
    total_changes: int
    # Set by with_precheck(): the blocking findings precheck still makes on the
    # copy (None: the copy was not prechecked).
    precheck_blocking: tuple[Finding, ...] | None = field(default=None)

    changes_table = CHANGES_TABLE
    quarantine_table = QUARANTINE_TABLE

    @property
    def total_quarantined(self) -> int:
        return sum(summary.rows for summary in self.quarantined)

    @property
    def needs_person(self) -> bool:
        return bool(self.conflicts or self.precheck_blocking)

    @property
    def other_blocking(self) -> tuple[Finding, ...]:
        """Precheck's blocking findings on the copy, but for the conflicts listed already."""
        return tuple(item for item in self.precheck_blocking or () if item.code != CONFLICT_CODE)

    def with_precheck(self, report: PrecheckReport) -> CleanReport:
        return replace(self, precheck_blocking=tuple(report.blocking))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_sha256": self.source_sha256,
            "output": self.output,
            "output_sha256": self.output_sha256,
            "cleaned_at": self.cleaned_at,
            "change_log": {"file": self.output, "table": CHANGES_TABLE},
            "quarantine": {"file": self.output, "table": QUARANTINE_TABLE},
            "total_changes": self.total_changes,
            "total_quarantined": self.total_quarantined,
            "rules": [summary.to_dict() for summary in self.rules],
            "emails": [change.to_dict() for change in self.emails],
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
            "quarantined": [summary.to_dict() for summary in self.quarantined],
            "prechecked": self.precheck_blocking is not None,
            "precheck_blocking": [item.to_dict() for item in self.precheck_blocking or ()],
            "needs_person": self.needs_person,
        }


# --- the run ------------------------------------------------------------------


def clean_legacy(
    *, source: LegacySource, output: Path, explicit_emails: Mapping[str, str]
) -> CleanReport:
    """Write a cleaned copy of the source to `output`, which is replaced only on success."""
    output = Path(output).absolute()
    # The command checked its outputs before it began; checked again here, where it is written.
    cleaned_from = recorded_sources(source.path)
    check_outputs(
        source=source.path,
        outputs=[Output("--output", output, database=True)],
        cleaned_from=cleaned_from,
    )
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
    temporary = _temporary_beside(output)
    try:
        check_outputs(
            source=source.path,
            outputs=[Output("the copy", temporary, database=True)],
            cleaned_from=cleaned_from,
        )
        _copy(source, temporary)
        report, first_change = _clean_copy(temporary, started, explicit_emails)
        _refuse_unlogged_changes(source.path, temporary, first_change, watch)
        report = replace(report, output_sha256=file_sha256(temporary))
        os.replace(temporary, output)
    except BaseException:
        for leftover in (temporary, *(Path(f"{temporary}-{s}") for s in ("journal", "wal", "shm"))):
            leftover.unlink(missing_ok=True)
        raise
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


def _temporary_beside(output: Path) -> Path:
    try:
        fd, name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as error:
        raise CleanError(f"{output}: cannot write there ({error.strerror})") from error
    os.close(fd)
    return Path(name)


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
        emails = _step("making e-mails unique", fix_duplicate_emails, copy, explicit_emails)
        conflicts = _step("removing duplicate pair rows", drop_duplicate_pair_rows, copy)
        _step("inferring trainers", infer_missing_trainers, copy)
        _step("computing fee breakdowns", fill_fee_breakdowns, copy)
        copy.read_layout()  # with the fee columns and the fee_audit_log it may have added
        _step("making text storable", make_text_storable, copy)
        quarantined = _step("quarantining rows", quarantine_orphans, copy)
        report = _step("summing up", _summarise, copy, started, emails, conflicts, quarantined)
        _step("recording the run", _record_cleaning, copy, report)
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


def _refuse_unlogged_changes(source: Path, copy: Path, since: int, watch: FileWatch) -> None:
    # A fix that forgot to log, or code in the file nobody thought of, would
    # change the studio's data with no record: the copy is compared with the
    # source, and every difference must have its entry in the change log.
    failed: sqlite3.Error | None = None
    try:
        change = find_unlogged_change(copy=copy, source=source, since=since)
    except sqlite3.Error as error:
        change, failed = None, error
    # A source written meanwhile differs from its copy for that reason alone.
    if watch.changed():
        raise CleanError(
            f"{source}: the legacy file was written to while it was cleaned, so the copy "
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


class CopyBeingCleaned:
    """The copy's connection, its current layout, and its change log."""

    # Read once the copy is plain data (a view that cannot be read is the
    # plain-data fix's to report), and again after a fix that changes it.
    layout: LegacyLayout

    def __init__(self, connection: sqlite3.Connection, moment: datetime):
        self.connection = connection
        self.changed_at = moment.isoformat()  # UTC, ISO 8601
        self.sqlite_timestamp = moment.strftime("%Y-%m-%d %H:%M:%S")  # CURRENT_TIMESTAMP's form
        self.first_change = self.last_change_id() + 1  # an earlier run's log may be there

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.connection.execute(sql, params).fetchall()

    def read_layout(self) -> None:
        """Read the copy's tables and columns, as precheck reads a file's."""
        self.layout = LegacyLayout.read_sqlite(self.query)

    def columns(self, table: str) -> tuple[str, ...]:
        return self.layout.columns.get(table, ())

    def has_table(self, table: str) -> bool:
        return self.layout.has_table(table)

    def has_column(self, table: str, column: str) -> bool:
        return self.layout.has_column(table, column)

    def has_sequences(self) -> bool:
        """Whether the copy has sqlite_sequence (a table's AUTOINCREMENT counter): SQLite's
        own table, which no layout lists, made by the first table that needs it."""
        return bool(self.query("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"))

    def last_change_id(self) -> int:
        return self.query(f"SELECT coalesce(max(id), 0) FROM {CHANGES_TABLE}")[0][0]

    def log(self, changes: Sequence[tuple[str, Any, str | None, Any, Any, str]]) -> None:
        """Record (table, row id, column, old value, new value, rule) for each change."""
        self.connection.executemany(
            f"INSERT INTO {CHANGES_TABLE} (table_name, row_id, column_name, old_value, "
            "new_value, rule, changed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (table, row_id, column, _storable(old), _storable(new), rule, self.changed_at)
                for table, row_id, column, old, new, rule in changes
            ],
        )

    def batches(self, select: str, tables: str, where: str) -> Iterator[list]:
        """`SELECT x.id, <select> FROM <tables> WHERE <where>` in id ranges: never a
        whole table at once.

        Each batch is read in full before the caller changes anything, so a fix
        may update the rows it reads.
        """
        return pages(self.query, "x.id", select, tables, where=where)


def _storable(value: Any) -> Any:
    # Legacy text that is not UTF-8 reads as lone surrogates; it goes back as its bytes.
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape")
    return value


def _q(name: str) -> str:
    return quote_identifier(name)


# --- 0. the copy made plain data ----------------------------------------------


def make_plain_data(copy: CopyBeingCleaned) -> None:
    """Leave no code in the copy that runs, or computes a value, when the fixes write it.

    Triggers are dropped; views become tables of the rows they show; generated
    columns become plain columns holding the values they show. Each is logged
    with its SQL, and none changes a value anyone reads: the rows and values are
    those the source shows.
    """
    code = stored_code(copy.query)
    triggers = of_kind(code, TRIGGER)
    for trigger in triggers:
        copy.connection.execute(f"DROP TRIGGER main.{_q(trigger.name)}")
    # Logged once none is left: writing the log is an INSERT too.
    copy.log([(t.table, None, None, t.sql, None, TRIGGER_RULE) for t in triggers])
    _views_made_tables(copy, of_kind(code, VIEW))
    generated: dict[str, list[StoredCode]] = defaultdict(list)
    for column in of_kind(code, GENERATED_COLUMN):
        generated[column.table].append(column)
    for table, columns in generated.items():
        _generated_columns_made_plain(copy, table, columns)


def _views_made_tables(copy: CopyBeingCleaned, views: Sequence[StoredCode]) -> None:
    # Every view's rows are read before any view is replaced: a view that reads
    # another reads it as the source shows it, not as the table it becomes.
    held = [_hold_view_rows(copy, number, view) for number, view in enumerate(views)]
    for view in views:
        copy.connection.execute(f"DROP VIEW main.{_q(view.name)}")
    for view, table_sql, targets, holding in held:
        copy.connection.execute(table_sql)
        copy.connection.execute(
            f"INSERT INTO main.{_q(view.name)} ({', '.join(targets)}) "
            f"SELECT * FROM {holding} ORDER BY rowid"
        )
        copy.connection.execute(f"DROP TABLE {holding}")
    copy.log([(view.name, None, None, view.sql, sql, VIEW_RULE) for view, sql, *_ in held])


def _hold_view_rows(
    copy: CopyBeingCleaned, number: int, view: StoredCode
) -> tuple[StoredCode, str, list[str], str]:
    """The view's rows in a temporary table; its table's CREATE, and the columns to fill."""
    name = f"main.{_q(view.name)}"
    holding = f"temp.clean_view_{number}"
    try:
        columns = [column.name for column in table_columns(copy.query, view.name)]
        keyed_by_id = "id" in columns and bool(copy.query(ids_are_a_key_sql(name))[0][0])
        targets, rows = view_rows_sql(name, columns, keyed_by_id=keyed_by_id)
        # Untyped, so that the values are held exactly as the view shows them.
        copy.connection.execute(
            f"CREATE TABLE {holding} ({', '.join(f'c{n}' for n in range(len(targets)))})"
        )
        copy.connection.execute(f"INSERT INTO {holding} {rows}")
    except (sqlite3.Error, ValueError) as error:
        raise CleanError(
            f"view {view.name}: it cannot be read as a table ({error}); nothing was written: "
            "drop it, or make it a table, in a copy of the file, and clean that"
        ) from error
    return view, view_table_sql(view.name, columns, keyed_by_id=keyed_by_id), targets, holding


def _generated_columns_made_plain(
    copy: CopyBeingCleaned, table: str, generated: Sequence[StoredCode]
) -> None:
    """Rebuild the table with each generated column a plain one holding its value.

    SQLite cannot alter a column's definition: the table is made again from its
    own CREATE TABLE without the generated clauses, its rows (rowids included),
    indexes and AUTOINCREMENT counter put back as they were.
    """
    original = generated[0].sql
    try:
        plain = plain_table_sql(original)
    except ValueError:
        plain = None
    columns = copy.query(
        'SELECT cid, name, type, "notnull", dflt_value, pk FROM pragma_table_xinfo(?, ?) '
        "ORDER BY cid",
        (table, "main"),
    )
    if plain is None or _columns_it_makes(table, plain) != [(*c, 0) for c in columns]:
        names = ", ".join(column.name for column in generated)
        raise CleanError(
            f"table {table}: its generated columns ({names}) cannot be made plain data, as "
            "clean_legacy reads its CREATE TABLE; nothing was written: make them plain "
            "columns in a copy of the file, and clean that"
        )
    names = [name for _, name, *_ in columns]
    indexes = copy.query(
        "SELECT sql FROM main.sqlite_master WHERE type = 'index' AND tbl_name = ? "
        "AND sql IS NOT NULL ORDER BY rowid",
        (table,),
    )
    counter = (
        copy.query("SELECT seq FROM main.sqlite_sequence WHERE name = ?", (table,))
        if copy.has_sequences()
        else []
    )
    rowid = rowid_of(copy.connection, f"main.{_q(table)}", names)
    targets = [_q(name) for name in names] if rowid is None else [rowid, *map(_q, names)]
    holding = "temp.clean_plain_rows"
    copy.connection.execute(
        f"CREATE TABLE {holding} ({', '.join(f'c{n}' for n in range(len(targets)))})"
    )
    copy.connection.execute(
        f"INSERT INTO {holding} SELECT {', '.join(targets)} FROM main.{_q(table)}"
    )
    copy.connection.execute(f"DROP TABLE main.{_q(table)}")
    copy.connection.execute(plain)
    copy.connection.execute(
        f"INSERT INTO main.{_q(table)} ({', '.join(targets)}) "
        f"SELECT * FROM {holding} ORDER BY rowid"
    )
    copy.connection.execute(f"DROP TABLE {holding}")
    for (index,) in indexes:
        copy.connection.execute(index)
    if copy.has_sequences():
        copy.connection.execute("DELETE FROM main.sqlite_sequence WHERE name = ?", (table,))
        copy.connection.executemany(
            "INSERT INTO main.sqlite_sequence (name, seq) VALUES (?, ?)",
            [(table, seq) for (seq,) in counter],
        )
    copy.log([(table, None, None, original, plain, GENERATED_RULE)])


def _columns_it_makes(table: str, create_table: str) -> list[tuple] | None:
    """The columns (as pragma_table_xinfo gives them) a CREATE TABLE makes, or None."""
    scratch = sqlite3.connect(":memory:")
    try:
        scratch.execute(create_table)
        return scratch.execute(
            'SELECT cid, name, type, "notnull", dflt_value, pk, hidden '
            "FROM pragma_table_xinfo(?) ORDER BY cid",
            (table,),
        ).fetchall()
    except sqlite3.Error:
        return None
    finally:
        scratch.close()


# --- 1. duplicate e-mails -----------------------------------------------------


@dataclass(frozen=True)
class TrainerAddress:
    trainer_id: Any
    username: Any
    email: Any
    created_at: Any


def fix_duplicate_emails(
    copy: CopyBeingCleaned, explicit: Mapping[str, str]
) -> tuple[EmailChange, ...]:
    if not (copy.has_column("trainers", "email") and copy.has_column("trainers", "username")):
        if explicit:
            raise CleanError("--email: this file's trainers have no username or e-mail column")
        return ()
    created = "created_at" if copy.has_column("trainers", "created_at") else "NULL"
    trainers = [
        TrainerAddress(*row)
        for row in copy.query(f"SELECT id, username, email, {created} FROM trainers ORDER BY id")
    ]
    changes = plan_email_changes(trainers, explicit)
    copy.connection.executemany(
        "UPDATE trainers SET email = CAST(? AS TEXT) WHERE id = ?",
        [(_storable(change.new_address), change.trainer_id) for change in changes],
    )
    copy.log(
        [
            ("trainers", c.trainer_id, "email", c.old_address, c.new_address, EMAIL_RULE)
            for c in changes
        ]
    )
    return tuple(changes)


def plan_email_changes(
    trainers: Sequence[TrainerAddress], explicit: Mapping[str, str]
) -> list[EmailChange]:
    """Which trainers get which new address, so that no two share one."""
    by_username = {trainer.username: trainer for trainer in trainers}
    for username in explicit:
        if username not in by_username:
            raise CleanError(
                f"--email {username}=...: no trainer has the username {username}; "
                "check the username (precheck lists the trainers sharing an address)",
                personal=[username],
            )
    final = {trainer.trainer_id: trainer.email for trainer in trainers}
    changes = []
    for username, address in explicit.items():
        trainer = by_username[username]
        final[trainer.trainer_id] = address
        if trainer.email != address:
            changes.append(
                EmailChange(trainer.trainer_id, username, trainer.email, address, "explicit")
            )
    explicitly_set = {by_username[username].trainer_id for username in explicit}
    sharing: dict[str, list[TrainerAddress]] = defaultdict(list)
    for trainer in trainers:
        key = mailbox_key(trainer.email)
        if key is not None and trainer.trainer_id not in explicitly_set:
            sharing[key].append(trainer)
    taken = {key for key in map(mailbox_key, final.values()) if key is not None}
    for group in sharing.values():
        # The account created first keeps the address; it is the one its owner knows.
        first, *others = sorted(group, key=_creation_order)
        for trainer in others:
            address = plus_address(trainer.email, trainer.username, trainer.trainer_id, taken)
            taken.add(mailbox_key(address))
            final[trainer.trainer_id] = address
            changes.append(
                EmailChange(
                    trainer.trainer_id, trainer.username, trainer.email, address, "plus-address"
                )
            )
    for username, address in explicit.items():
        trainer_id = by_username[username].trainer_id
        for other in trainers:
            if other.trainer_id != trainer_id and mailbox_key(final[other.trainer_id]) == (
                mailbox_key(address)
            ):
                raise CleanError(
                    f"--email {username}={address}: trainer {other.username} has that address "
                    "too; give one that is nobody else's",
                    personal=[username, address, other.username],
                )
    return sorted(changes, key=lambda change: id_order(change.trainer_id))


def _creation_order(trainer: TrainerAddress) -> tuple:
    created = trainer.created_at
    unknown = created is None or created == ""
    return (unknown, "" if unknown else str(created), id_order(trainer.trainer_id))


def plus_address(address: str, username: Any, trainer_id: Any, taken: set[str]) -> str:
    """`local+username@domain`: the same mailbox, so it reaches its owner and no stranger."""
    local, at, domain = address.strip().rpartition("@")
    if not (at and local and domain):
        raise CleanError(
            f"trainer {username} shares an address that is not an e-mail address, so no "
            f"plus-address can be made from it: give one with --email {username}=ADDRESS",
            personal=[username, address],
        )
    tag = _local_part_tag(username)
    too_long = len(f"{local}+{tag}") > MAX_LOCAL_PART or len(address) + len(tag) > MAX_ADDRESS - 20
    if not tag or too_long:
        tag = str(trainer_id)
    numbered = (f"{tag}-{trainer_id}-{n}" for n in count(2))
    for suffix in chain((tag, f"{tag}-{trainer_id}"), numbered):
        candidate = f"{local}+{suffix}@{domain}"
        if mailbox_key(candidate) not in taken:
            return candidate
    raise AssertionError("unreachable: the candidates never run out")


def _local_part_tag(username: Any) -> str:
    # Only characters every mail system takes in a local part; no leading,
    # trailing or doubled dot (RFC 5322 forbids those).
    tag = LOCAL_PART_SAFE.sub("", str(username or ""))
    return re.sub(r"\.{2,}", ".", tag).strip(".")


# --- 2. rows on both sides of a table pair ------------------------------------


def drop_duplicate_pair_rows(copy: CopyBeingCleaned) -> tuple[PairConflict, ...]:
    """Delete the old-table copy of each true duplicate; report the conflicts."""
    conflicts: list[PairConflict] = []
    for pair in TABLE_PAIRS:
        matches = match_pair_rows(copy.query, copy.layout, pair)
        if matches is None:
            continue
        columns = copy.layout.columns[pair.old]
        selected = ", ".join(_q(column) for column in columns)
        log = []
        for old_id in matches.duplicates:
            (row,) = copy.query(f"SELECT {selected} FROM {_q(pair.old)} WHERE id = ?", (old_id,))
            log.append((pair.old, old_id, None, canonical_json(raw_row(columns, row)), None))
        copy.connection.executemany(
            f"DELETE FROM {_q(pair.old)} WHERE id = ?", [(old_id,) for old_id in matches.duplicates]
        )
        copy.log([(*change, PAIR_RULE) for change in log])
        for old_id, new_id in matches.conflicts.items():
            differing = _differing(copy, pair.old, old_id, pair.new, new_id, matches.content)
            conflicts.append(PairConflict(pair.old, old_id, pair.new, new_id, differing))
    return tuple(conflicts)


def _differing(
    copy: CopyBeingCleaned, old: str, old_id: Any, new: str, new_id: Any, columns: Sequence[str]
) -> tuple[str, ...]:
    if not columns:
        return ()
    compared = ", ".join(f"o.{_q(c)} IS NOT n.{_q(c)}" for c in columns)
    (flags,) = copy.query(
        f"SELECT {compared} FROM {_q(old)} o, {_q(new)} n WHERE o.id = ? AND n.id = ?",
        (old_id, new_id),
    )
    return tuple(column for column, differs in zip(columns, flags, strict=True) if differs)


# --- 3. missing trainer ids ---------------------------------------------------


def infer_missing_trainers(copy: CopyBeingCleaned) -> None:
    """Fill a trainer id that is empty or points at no trainer, where the row's parents
    tell: the rows and trainers precheck counts (rules/references.py)."""
    if not copy.has_table("trainers"):
        return
    for spec in SPECS.values():
        column = inferred_column(spec)
        if column is None or not copy.has_column(spec.table, column.column):
            continue
        name, trainer = _q(spec.table), _q(column.column)
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


# --- 4. fee breakdowns --------------------------------------------------------


def fill_fee_breakdowns(copy: CopyBeingCleaned) -> None:
    """What the app's fee migration did, for a file it never ran on, or rows it missed."""
    for table in ("session_packages", "payments"):
        if copy.has_table(table):
            _add_fee_columns(copy, table)
    if copy.has_table("session_packages") or copy.has_table("payments"):
        _create_fee_audit_log(copy)
    if copy.has_table("payments"):
        _fill_payment_fees(copy)
    if copy.has_table("session_packages"):
        _fill_package_fees(copy)


def fee_columns_of(table: str) -> tuple[str, ...]:
    """The columns the app's fee migration added to `table`, in schema order."""
    fee_migration = optional_columns()[("payments", "gross_amount")]
    return tuple(column for owner, column in fee_migration.columns if owner == table)


def _add_fee_columns(copy: CopyBeingCleaned, table: str) -> None:
    declared = {column.name: column.declared_type for column in newest_schema()[table]}
    for column in fee_columns_of(table):
        if copy.has_column(table, column):
            continue
        ddl = f"ADD COLUMN {_q(column)} {declared[column]}"
        copy.connection.execute(f"ALTER TABLE {_q(table)} {ddl}")
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


def _fill_payment_fees(copy: CopyBeingCleaned) -> None:
    columns = fee_columns_of("payments")
    if not copy.has_column("payments", "amount"):
        return
    olds = ", ".join(f"x.{_q(c)}" for c in columns)
    for batch in copy.batches(f"x.amount, {olds}", "payments x", "x.gross_amount IS NULL"):
        breakdowns = []
        for row_id, amount, *old in batch:
            gross = _won_or_none(amount)
            if gross is None:
                continue  # an amount the importer cannot read: precheck names it
            breakdowns.append((row_id, dict(zip(columns, old, strict=True)), gross))
        _write_fees(
            copy,
            "payments",
            [
                (row_id, old, fee_breakdown(gross), "payments.amount")
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
    olds = ", ".join(f"x.{_q(c)}" for c in columns)
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
        f"SELECT package_id, amount FROM {_q(table)}"
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


_AMOUNT = won()


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
    assignments = ", ".join(f"{_q(column)} = ?" for column in columns)
    updates, log = [], []
    for row_id, old, breakdown, _ in rows:
        new = _fee_values(breakdown, with_method=with_method)
        updates.append((*(new[column] for column in columns), row_id))
        log.extend(
            (table, row_id, column, old[column], new[column], FEES_RULE)
            for column in columns
            if _differs(old[column], new[column])
        )
    copy.connection.executemany(f"UPDATE {_q(table)} SET {assignments} WHERE id = ?", updates)
    copy.log(log)
    _write_audit_rows(copy, table, rows)


def _differs(old: Any, new: Any) -> bool:
    return type(old) is not type(new) or old != new


AUDIT_COLUMNS = (
    "package_id",
    "payment_id",
    "calculation_type",
    "gross_amount",
    "vat_amount",
    "card_fee_amount",
    "net_amount",
    "vat_rate",
    "card_fee_rate",
    "calculation_details",
    "created_by",
    "created_at",
)


def _write_audit_rows(
    copy: CopyBeingCleaned, table: str, rows: Sequence[tuple[Any, Any, FeeBreakdown, str]]
) -> None:
    columns = ("id", *AUDIT_COLUMNS)
    insert = (
        f"INSERT INTO {FEE_AUDIT_TABLE} ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    first_id = _next_id(copy, FEE_AUDIT_TABLE)
    # Stamped with the audited row's own created_at, not the time of cleaning:
    # cleaning the same source again must give the very same rows (the time of
    # cleaning is in the change log).
    stamps = _created_at(copy, table, [row_id for row_id, *_ in rows])
    inserts, log = [], []
    for audit_id, (row_id, _, breakdown, origin) in enumerate(rows, start=first_id):
        details = json.dumps(
            {"rule": FEE_RULE_TEXT, "gross_source": origin, "written_by": "clean_legacy"},
            ensure_ascii=False,
            sort_keys=True,
        )
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
                FEES_RULE,
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
            copy.query(f"SELECT id, created_at FROM {_q(table)} WHERE id IN ({marks})", chunk)
        )
    return stamps


def _next_id(copy: CopyBeingCleaned, table: str) -> int:
    """The id AUTOINCREMENT would give next: past the highest id the table ever had.

    Given explicitly so that a whole batch is one executemany and each row's id is known.
    """
    highest = copy.query(f"SELECT coalesce(max(id), 0) FROM {_q(table)}")[0][0]
    if copy.has_sequences():
        used = copy.query("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
        highest = max([highest, *(seq for (seq,) in used if isinstance(seq, int))])
    return highest + 1


# --- 5. text the target cannot store ------------------------------------------


def is_unstorable(raw: bytes | None) -> bool:
    """Text PostgreSQL refuses (read as bytes here): the converters' own test."""
    return raw is not None and not is_storable(raw.decode("utf-8", "surrogateescape"))


def storable_version(raw: bytes) -> str:
    return raw.replace(b"\x00", b"").decode("utf-8", errors="replace")


def make_text_storable(copy: CopyBeingCleaned) -> None:
    """Every TEXT value of the known tables, scanned in SQLite; only the bad ones reach Python."""
    copy.connection.create_function("clean_unstorable", 1, is_unstorable, deterministic=True)
    for table in SPECS:
        columns = [column for column in copy.columns(table) if column != "id"]
        if not columns:
            continue
        # Read as bytes (CAST ... AS BLOB) so that nothing is decoded on the way.
        as_bytes = [
            f"CASE WHEN typeof(x.{_q(c)}) = 'text' THEN CAST(x.{_q(c)} AS BLOB) END"
            for c in columns
        ]
        unstorable = " OR ".join(f"clean_unstorable({expression})" for expression in as_bytes)
        for batch in copy.batches(", ".join(as_bytes), f"{_q(table)} x", unstorable):
            log, updates = [], []
            for row_id, *values in batch:
                for column, raw in zip(columns, values, strict=True):
                    if is_unstorable(raw):
                        fixed = storable_version(raw)
                        updates.append((column, fixed, row_id))
                        log.append((table, row_id, column, raw, fixed, TEXT_RULE))
            for column, fixed, row_id in updates:
                copy.connection.execute(
                    f"UPDATE {_q(table)} SET {_q(column)} = ? WHERE id = ?", (fixed, row_id)
                )
            copy.log(log)


# --- 6. rows that point at nothing --------------------------------------------


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
    selected = ", ".join(f"x.{_q(column)}" for column in columns)
    which = " ".join(f"WHEN {check.condition} THEN {n}" for n, check in enumerate(checks))
    orphaned = " OR ".join(f"({check.condition})" for check in checks)
    examples: list[QuarantinedRow] = []
    rows = 0
    for batch in copy.batches(f"CASE {which} END, {selected}", f"{_q(table)} x", orphaned):
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
            [(t, i, _storable(r), j, at) for t, i, r, j, at in moved],
        )
        copy.connection.executemany(
            f"DELETE FROM {_q(table)} WHERE id = ?", [(row_id,) for _, row_id, *_ in moved]
        )
        copy.log(log)
        rows += len(moved)
    return QuarantineSummary(table, rows, tuple(examples))


# --- the summary ----------------------------------------------------------------


def _summarise(
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


def _record_cleaning(copy: CopyBeingCleaned, report: CleanReport) -> None:
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
