"""Import: every legacy row into its target model, table by table, through Django.

`import_legacy(...)` takes the target's import lock, refuses a file that
precheck blocks (or a target whose own rows hold legacy ids), then imports the
tables in `specs.IMPORT_ORDER`, each target table in its own atomic transaction
(an old table merged into its new one's model goes in with it), keeping the
ledger: for every legacy row, where it went, what was done, its hash and the
row itself. Each table takes one of two paths, chosen once (table.py): a first
load, every row new (first_load.py), or a load reconciled with the ledger
(reconcile.py), which skips unchanged rows, updates changed ones (unless the
target row was edited in Django since, which is a conflict, reported and left
alone) and creates new ones. A dry run is the same run inside one outer
transaction, rolled back.

New rows reach the tables through a writer (writers.py: COPY on PostgreSQL,
bulk_create elsewhere); a big table's first load is converted by worker
processes beside it (chunks.py). Updates go through the ORM.

Nothing here prints: results come back as data (report.py), and progress goes
to a callback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from functools import partial
from itertools import pairwise
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.utils import timezone

from migration.findings import Severity
from migration.legacy import FileWatch, LegacySource
from migration.load.chunks import ChunkConverters
from migration.load.collisions import taken_ids
from migration.load.first_load import FirstLoad
from migration.load.ids import IdMap
from migration.load.reconcile import Reconcile
from migration.load.report import ImportBusy, ImportFailed, ImportRefused, ImportReport, OnConflict
from migration.load.table import Progress, TableLoad, TableState, import_table, is_first_load
from migration.load.writers import CopyWriter, RowWriter, writer_for
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import IMPORT_ORDER, TableSpec, by_target_model, target_models
from migration.models import ImportRun, LedgerEntry
from migration.postgres import (
    advance_sequences,
    analyzing,
    sequence_in_this_transaction,
    the_only_import,
)
from migration.precheck.report import PrecheckReport
from migration.precheck.run import run_precheck
from migration.rules.references import TrainerLookup
from migration.stops import Interrupted, is_stop
from migration.workers import can_fork


def import_legacy(
    *,
    source: LegacySource,
    using: str,
    dry_run: bool = False,
    on_conflict: OnConflict = OnConflict.REPORT,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the legacy file into the target database `using`; see the module docstring."""
    # One import into a target at a time: a second refuses at once, naming the first.
    with the_only_import(using) as alone:
        if not alone:
            raise ImportBusy(_busy_message(using))
        watch = FileWatch(source.path)  # before anything is read
        precheck = run_precheck(source, recall_passed=True)
        if precheck.blocking:
            raise ImportRefused(
                precheck.blocking,
                f"precheck finds {len(precheck.blocking)} blocking issue(s) in {source.path}: "
                "run clean_legacy (or fix them), then import the result",
            )
        layout = precheck.layout
        if taken := taken_ids(source, layout, using):
            raise ImportRefused(
                taken,
                "the target already has rows of its own where legacy rows go; nothing was "
                f"written: {taken[0].fix}",
            )
        import_tables = partial(
            _import_tables,
            source,
            layout,
            using,
            precheck,
            watch,
            progress,
            on_conflict=on_conflict,
        )
        if not dry_run:
            return import_tables(dry_run=False)
        with transaction.atomic(using=using):
            # The ledger's ids, drawn by COPY, are put back by the rollback too.
            # Safe to hold: only an import takes ledger ids, and this one holds
            # the import lock. The target's sequences are left alone: the import
            # writes every row with its id, never drawing on them, and the app's
            # own inserts must not wait on a dry run.
            sequence_in_this_transaction(using, LedgerEntry)
            report = import_tables(dry_run=True)
            transaction.set_rollback(True, using=using)
        return report


def _busy_message(using: str) -> str:
    running = (
        ImportRun.objects.using(using)
        .filter(outcome=ImportRun.Outcome.RUNNING)
        .order_by("-started_at")
        .first()
    )
    # A dry run's own record is not committed, so not seen: it is named generically.
    which = (
        f"run {running.pk} of {running.source_path}, "
        f"started {running.started_at:%Y-%m-%d %H:%M:%S} UTC"
        if running is not None
        else "a dry run, or one that has not yet started writing"
    )
    return (
        f"another import_legacy is running into this database ({which}): "
        "wait for it to finish, then run this one again"
    )


def _record_runs_killed(using: str) -> None:
    """A run still `running` when an import holds the lock was killed outright: its
    session, and so its share of the lock, ended with its process. Recorded in the
    import's own transaction, so that a dry run leaves the record as it was."""
    ImportRun.objects.using(using).filter(outcome=ImportRun.Outcome.RUNNING).update(
        outcome=ImportRun.Outcome.KILLED,
        error="its process ended without recording why (killed outright, or the machine "
        "stopped); found by the import after it",
    )


def _import_tables(
    source: LegacySource,
    layout: LegacyLayout,
    using: str,
    precheck: PrecheckReport,
    watch: FileWatch,
    progress: Progress | None,
    *,
    dry_run: bool,
    on_conflict: OnConflict,
) -> ImportReport:
    _record_runs_killed(using)
    run = ImportRun.objects.using(using).create(
        source_path=str(source.path),
        source_sha256=precheck.sha256,
        options={"dry_run": dry_run, "on_conflict": str(on_conflict)},
        started_at=timezone.now(),
    )
    # What precheck warned of is said again in the import's report.
    warnings = [item for item in precheck.findings if item.severity == Severity.WARNING]
    report = ImportReport(
        str(source.path),
        precheck.sha256,
        dry_run,
        str(run.pk),
        on_conflict,
        run.started_at,
        warnings=warnings,
        checks_run=precheck.checks_run,
        checks_recalled=precheck.checks_recalled,
    )
    tables = _TablesImport(source, layout, using, precheck, watch, run, report)
    try:
        # The workers end with the tables: stopped where they are if one fails.
        with tables.converters or nullcontext():
            tables.import_all(progress)
        _finish_ledger(tables.writer, using, report)
    except BaseException as error:
        # On the way here the table under way was rolled back, and the workers stopped.
        if is_stop(error):  # Ctrl-C or SIGTERM (see stops.py)
            interrupted = ImportRun.Outcome.INTERRUPTED
            _record_stop(run, using, tables.writer, report, interrupted, "Ctrl-C or SIGTERM")
            raise Interrupted(_left_by_interrupt(tables.under_way, dry_run)) from error
        if isinstance(error, Exception):
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            _record_stop(run, using, tables.writer, report, ImportRun.Outcome.FAILED, first_line)
        raise
    report.finished_at = timezone.now()
    _mark(
        run,
        using,
        outcome=ImportRun.Outcome.SUCCEEDED,
        stopped_at_table="",
        finished_at=report.finished_at,
        report=report.to_dict(),
    )
    return report


class _TablesImport:
    """The file's tables into the target, a model's tables in one transaction, for
    one run: what every table's load shares, and the table under way."""

    def __init__(
        self,
        source: LegacySource,
        layout: LegacyLayout,
        using: str,
        precheck: PrecheckReport,
        watch: FileWatch,
        run: ImportRun,
        report: ImportReport,
    ):
        self.source, self.layout, self.using = source, layout, using
        self.precheck, self.watch, self.run, self.report = precheck, watch, run, report
        self.writer = writer_for(using)
        self.trainers, self.id_map = TrainerLookup(source, layout), IdMap(using)
        # Workers that convert big tables beside the import: only where COPY writes.
        self.converters = (
            ChunkConverters(source, layout, using)
            if isinstance(self.writer, CopyWriter) and can_fork()
            else None
        )
        self.rows_in = {table.table: table.rows for table in precheck.tables}  # counted by precheck
        self.under_way = ""  # the table whose transaction is open, if one is

    def import_all(self, progress: Progress | None) -> None:
        specs = [spec for spec in IMPORT_ORDER if self.layout.has_table(spec.table)]
        spec_after = dict(pairwise(specs))
        upcoming: TableLoad | None = None
        for model_specs in by_target_model(specs):
            upcoming = self._import_model(model_specs, spec_after, upcoming, progress)

    def _import_model(
        self,
        specs: list[TableSpec],
        spec_after: dict[TableSpec, TableSpec],
        upcoming: TableLoad | None,
        progress: Progress | None,
    ) -> TableLoad | None:
        """One transaction per target table: an old table merged into its new one's
        model goes in with it, and its keys are checked once for both. Returns the
        load of the table after them, looked at already."""
        self.under_way = specs[0].table
        _mark(self.run, self.using, stopped_at_table=self.under_way)
        started = time.monotonic()
        rows = sum(self.rows_in[spec.table] for spec in specs)
        with (
            transaction.atomic(using=self.using),
            _checking_references(self.writer, specs, rows),
        ):
            for spec in specs:
                this = upcoming or self._load(spec)
                # The next table, looked at now so that its first chunks may be
                # converted while this one finishes. Nothing written here changes
                # what it finds: whether its part of the ledger is empty, and
                # whether its model is, which only a table keeping its ids asks,
                # and such a table shares no model with the one before it.
                following = spec_after.get(spec)
                upcoming = self._load(following) if following is not None else None
                self.report.tables.append(import_table(this, progress, then=upcoming))
        self.under_way = ""
        # The model's keys and indexes, put back after its last table, count in its time.
        done = self.report.tables[-len(specs) :]
        done[-1].seconds = time.monotonic() - started - sum(t.seconds for t in done[:-1])
        return upcoming

    def _load(self, spec: TableSpec) -> TableLoad:
        """The table's state, and the path its rows take, chosen once."""
        table = TableState(
            spec=spec,
            source=self.source,
            layout=self.layout,
            run=self.run,
            using=self.using,
            trainers=self.trainers,
            id_map=self.id_map,
            writer=self.writer,
            twins=_twins(self.precheck, spec),
            row_count=self.rows_in[spec.table],
            watch=self.watch,
            on_conflict=self.report.on_conflict,
        )
        return FirstLoad(table, self.converters) if is_first_load(table) else Reconcile(table)


def _finish_ledger(writer: RowWriter, using: str, report: ImportReport) -> None:
    """After the tables: the ledger's keys checked; and, unless a dry run, statistics
    gathered and the sequences moved on."""
    if report.dry_run:
        _check_ledger_keys(writer, using)
        return
    # Statistics gathered beside the ledger's check; the ledger's last, once
    # checked (both take the same lock).
    with analyzing(using, [*target_models(), LedgerEntry]):
        _check_ledger_keys(writer, using)
        report.sequences = advance_sequences(using, target_models())


def _record_stop(
    run: ImportRun, using: str, writer: RowWriter, report: ImportReport, outcome: str, error: str
) -> None:
    """Whatever stopped the run, the ledger says so and where; and the tables
    committed before it get their sequences moved, or the app's next insert
    into them would collide with an imported id, and their ledger entries
    checked.

    If the database itself is gone, none of it can be done: what stopped the
    run is what the operator must see.
    """
    with suppress(DatabaseError, ImportFailed):
        _mark(run, using, outcome=outcome, error=error)
        if not report.dry_run:
            report.sequences = advance_sequences(using, target_models())
            _check_ledger_keys(writer, using)


def _left_by_interrupt(under_way: str, dry_run: bool) -> str:
    """What an interrupted run leaves, and what to do about it."""
    if dry_run:
        return "nothing was written (dry run)"
    if under_way:
        return (
            f"{under_way} was rolled back, the tables before it are committed; "
            "run import_legacy again to finish"
        )
    return "every table is committed; run import_legacy again to finish"


@contextmanager
def _checking_references(writer: RowWriter, specs: list[TableSpec], rows: int) -> Iterator[None]:
    """Every foreign key of a target table and of the ledger, checked at once, at the end.

    Checked inside the table's transaction, a row pointing at nothing stops
    the table by name, and a dry run (which never commits) checks them too.
    The ledger's one key, its run, is this run for every entry written: it
    is checked once for the whole ledger, when the import ends
    (_check_ledger_keys), not after each table.
    """
    model = apps.get_model(specs[0].model)
    try:
        with writer.loading(model, rows), writer.loading(LedgerEntry, rows, check_keys=False):
            yield
    except DatabaseError as error:
        raise ImportFailed(
            f"{' and '.join(spec.table for spec in specs)}: rows point at rows that do not "
            f"exist in the target: {str(error).strip().splitlines()[0]}"
        ) from error


def _check_ledger_keys(writer: RowWriter, using: str) -> None:
    """Every ledger entry's run exists: checked once, after the tables (see
    _checking_references)."""
    try:
        with transaction.atomic(using=using):
            writer.check_keys_left(LedgerEntry)
    except DatabaseError as error:
        raise ImportFailed(
            f"ledger entries point at import runs that do not exist: "
            f"{str(error).strip().splitlines()[0]}"
        ) from error


def _twins(precheck: PrecheckReport, spec: TableSpec) -> dict[Any, Any]:
    """An old table's rows that are exact twins of a new-table row, as precheck matched them."""
    if spec.merge_into is None:
        return {}
    matches = precheck.pair_matches.get(spec.table)
    return matches.duplicates if matches else {}


def _mark(run: ImportRun, using: str, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(run, name, value)
    if "report" in fields:
        # JSONField needs JSON-ready values; the report's datetimes become text.
        run.report = json.loads(json.dumps(fields["report"], cls=DjangoJSONEncoder))
    ImportRun.objects.using(using).filter(pk=run.pk).update(
        **{name: getattr(run, name) for name in fields}
    )
