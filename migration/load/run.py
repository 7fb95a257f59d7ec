"""Import: every legacy row into its target model, table by table, through Django.

`import_legacy(...)` takes the target's import lock, refuses a file that
precheck blocks (or a target whose own rows hold legacy ids), then imports the
tables in `specs.IMPORT_ORDER`, each target table in its own atomic transaction
(an old table merged into its new one's model goes in with it), keeping the
ledger: for every legacy row, where it went, what was done, its hash and the
row itself. A re-run compares each row's hash with the ledger's: unchanged rows
are skipped, changed ones updated (unless the target row was edited in Django
since, which is a conflict, reported and left alone), new ones created.
A dry run is the same run inside one outer transaction, rolled back.

New rows reach the tables through a writer (writers.py: COPY on PostgreSQL,
bulk_create elsewhere); a big table's first import is converted by worker
processes beside it (parallel.py). Updates go through the ORM.

Nothing here prints: results come back as data, and progress goes to a callback.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from functools import partial
from itertools import chain, islice, pairwise
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, transaction
from django.db.models import Model
from django.utils import timezone

from migration.findings import Severity
from migration.legacy import FileWatch, LegacySource
from migration.legacy.layout import LegacyLayout
from migration.legacy.schema import QUARANTINE_TABLE
from migration.load import chunks as parallel
from migration.load.chunks import ChunkConverters, ChunkTask
from migration.load.collisions import taken_ids
from migration.load.ids import ChunkNumbering, IdMap, Numbering, TableIds
from migration.load.report import (
    Conflict,
    ImportBusy,
    ImportFailed,
    ImportRefused,
    ImportReport,
    TableResult,
    some_ids,
)
from migration.load.rows import LEDGER_FIELDS, TableOutput
from migration.load.writers import CopyWriter, RowWriter, writer_for
from migration.mapping.canonical import canonical_bytes, row_hash, target_fingerprint
from migration.mapping.reading import LegacyRow, RowReader, TrainerLookup
from migration.mapping.specs import (
    IMPORT_ORDER,
    TableSpec,
    target_models,
)
from migration.models import ImportRun, LedgerEntry
from migration.postgres import (
    advance_sequences,
    analyzing,
    sequence_in_this_transaction,
    the_only_import,
)
from migration.precheck.run import PrecheckReport, run_precheck
from migration.stops import Interrupted, is_stop
from migration.workers import can_fork

BATCH_SIZE = 5_000
Action = LedgerEntry.Action
Progress = Callable[[str, int, int], None]  # table, rows done, rows in all


# --- reading and converting one table ------------------------------------


def _batches(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


# --- importing one table --------------------------------------------------


class TableImport:
    """One legacy table into its model: one job, one transaction (the caller's)."""

    def __init__(
        self,
        *,
        spec: TableSpec,
        source: LegacySource,
        layout: LegacyLayout,
        run: ImportRun,
        using: str,
        trainers: TrainerLookup,
        id_map: IdMap,
        writer: RowWriter,
        twins: dict[Any, Any],
        row_count: int,
        converters: ChunkConverters | None = None,
        watch: FileWatch | None = None,
    ):
        self.spec, self.source, self.layout = spec, source, layout
        self.run, self.using = run, using
        self.id_map, self.writer, self.converters = id_map, writer, converters
        self.watch = watch
        # For an old table: its rows that are exact twins of a new-table row.
        self.twins = twins
        self.row_count = row_count  # of the legacy table, as precheck counted them
        self.model: type[Model] = apps.get_model(spec.model)
        self.fields = spec.target_fields
        self.synced_fields = spec.synced_fields
        self.reader = RowReader(spec, layout.columns[spec.table], trainers)
        self.result = TableResult(spec.table, spec.model)
        self._chunks: list[tuple[int, int]] | None = None
        self._tasks: list[ChunkTask] | None = None
        # The last numbering planned: where it started (its first id and twins), and
        # each chunk's part.
        self._planned: tuple[tuple[int, dict], list[ChunkNumbering]] | None = None
        # What the target held before this table started: on a first import,
        # neither the ledger nor the table has anything a batch must look up.
        ledger = LedgerEntry.objects.using(using).filter(legacy_table=spec.table)
        self._ledger_was_empty = not ledger.exists()
        self._table_was_empty = not self.model.objects.using(using).exists()
        # A table imported for the first time, pointing at no renumbered table:
        # every row is new, and its id known as it is read (its legacy id, in
        # an empty table; the next after the highest, for an old table merged
        # into its new one). Rows are converted as the writer sends them, and
        # PostgreSQL stores one batch while the next is read, instead of each
        # waiting for the other.
        self._as_read = (
            self._ledger_was_empty
            and (self._table_was_empty or spec.merge_into is not None)
            and not set(spec.reference_fields.values()) & IdMap.REMAPPED
        )
        self.output = TableOutput(spec, run.pk)
        self.ids = TableIds(
            spec=spec,
            source=source,
            layout=layout,
            using=using,
            id_map=id_map,
            twins=twins,
            table_was_empty=self._table_was_empty,
        )

    def run_import(self, progress: Progress | None, then: TableImport | None = None) -> TableResult:
        """Import the table; `then`, the table imported next, may have its first
        chunks converted meanwhile (see _create_in_workers)."""
        started = time.monotonic()
        total = self.row_count
        if progress:
            progress(self.spec.table, 0, total)  # the table starts: its clock starts
        if tasks := self.worker_tasks():
            self._create_in_workers(tasks, progress, total, then)
        else:
            self._import_in_batches(progress, total)
        self._record_quarantined()
        self._check_source_unchanged()
        self.result.gone_from_legacy = self._count_gone()
        self.result.seconds = time.monotonic() - started
        return self.result

    def _import_in_batches(self, progress: Progress | None, total: int) -> None:
        rows = self.source.rows(self.spec.table, self.reader.columns, batch_size=BATCH_SIZE)
        for batch in _batches(rows, BATCH_SIZE):
            if self._as_read:
                self._create_as_read(batch)
            else:
                self._import_batch([self.reader.read(row) for row in batch])
            if progress:
                progress(self.spec.table, self.result.read, total)

    def worker_tasks(self) -> list[ChunkTask]:
        """The chunks worker processes convert, in order: none unless this table is for them.

        Worked out once. For an old table merged into its new one, they are
        numbered from what the target holds, so only once the new table is in.
        """
        if self._tasks is None:
            chunks = self._worker_chunks()
            numbering = self.ids.numbering() if self.spec.merge_into else None
            self._tasks = self._chunk_tasks(chunks, numbering) if chunks else []
        return self._tasks

    def early_tasks(self, before: TableImport) -> list[ChunkTask]:
        """This table's chunk tasks as far as they are known while `before`, the table
        imported just before it, is still being written.

        A table keeping its ids: all of them. An old table, after its new one
        imported for the first time into an empty table (so that each of those
        rows kept its legacy id): numbered as they will be once that one is
        in (ids.TableIds.numbering_ahead). Otherwise none. Tasks started early are only used if they
        turn out to be the table's own (ChunkConverters.convert compares them).
        """
        if not self.spec.merge_into:
            return self.worker_tasks()
        if before.spec.table != self.spec.merge_into or not before.keeps_legacy_ids:
            return []
        if not self._worker_chunks():
            return []
        return self._chunk_tasks(self._worker_chunks(), self.ids.numbering_ahead())

    @property
    def keeps_legacy_ids(self) -> bool:
        """Whether every row goes in under its legacy id: a first import, into an empty
        table, of a table that is not merged into another."""
        return self._as_read and self._table_was_empty and self.spec.merge_into is None

    def _worker_chunks(self) -> list[tuple[int, int]]:
        """The rowid ranges worker processes convert: none unless this table is for them."""
        if self._chunks is None:
            self._chunks = []
            if (
                self.converters is not None
                and self._as_read
                and self.row_count >= parallel.FROM_ROWS
            ):
                self._chunks = self.source.rowid_chunks(self.spec.table, parallel.ROWS_PER_CHUNK)
                self._chunks = self._chunks or []  # None: a table without rowids
        return self._chunks

    def _chunk_tasks(
        self, chunks: list[tuple[int, int]], numbering: Numbering | None
    ) -> list[ChunkTask]:
        """A task for each chunk; for an old table, numbered from `numbering` on."""
        target = self.writer.copy_statement(self.model, self.output.target_fields)
        ledger = self.writer.copy_statement(LedgerEntry, LEDGER_FIELDS)
        # Each chunk's first id and twins; for a table keeping its ids, none.
        numbered = (
            [(None, {})] * len(chunks) if numbering is None else self._plan(chunks, numbering)
        )
        return [
            ChunkTask(self.spec.table, rowids, self.run.pk, target, ledger, *chunk_numbering)
            for rowids, chunk_numbering in zip(chunks, numbered, strict=True)
        ]

    def _plan(self, chunks: list[tuple[int, int]], numbering: Numbering) -> list[ChunkNumbering]:
        """`numbering` planned over the chunks: worked out once for each place it starts."""
        start = (numbering.next_id, numbering.twin_targets)
        if self._planned is None or self._planned[0] != start:
            name = self.spec.table
            ids_in_rowid_order = self.source.rows(name, (self.source.rowid_name(name), "id"))
            self._planned = (start, numbering.plan(chunks, ids_in_rowid_order))
        return self._planned[1]

    def _create_in_workers(
        self,
        tasks: list[ChunkTask],
        progress: Progress | None,
        total: int,
        then: TableImport | None,
    ) -> None:
        """A first import's rows, converted by worker processes, written here in order.

        Once this table's last chunk is handed out, the workers start on the
        next table's first ones, when they can be known already (see
        early_tasks): they would otherwise wait while this table's last chunks
        are written and PostgreSQL builds its indexes and checks its keys.
        """
        target, ledger = tasks[0].target, tasks[0].ledger  # every chunk's
        upcoming = then.early_tasks(before=self) if then is not None else []
        for chunk in self.converters.convert(tasks, then=upcoming):
            which = " to ".join(str(legacy_id) for legacy_id in chunk.legacy_ids)
            if chunk.rows > chunk.merged:
                self._write(partial(self.writer.insert_encoded, target, chunk.target), which)
            self._write(partial(self.writer.insert_encoded, ledger, chunk.ledger), which)
            self.result.read += chunk.rows
            self.result.created += chunk.rows - chunk.merged
            self.result.merged += chunk.merged
            if progress:
                progress(self.spec.table, self.result.read, total)

    def _import_batch(self, rows: list[LegacyRow]) -> None:
        self.result.read += len(rows)
        self._remap_references(rows)
        ledger = self._ledger_entries(rows)
        # A row quarantined by an earlier clean is back in its table: import it afresh.
        back = [e.pk for e in ledger.values() if e.action == Action.QUARANTINED]
        if back:
            LedgerEntry.objects.using(self.using).filter(pk__in=back).delete()
            ledger = {k: e for k, e in ledger.items() if e.action != Action.QUARANTINED}
        changed = [
            row
            for row in rows
            if row.legacy_id not in ledger or ledger[row.legacy_id].source_hash != row.source_hash
        ]
        self.result.unchanged += len(rows) - len(changed)
        new_rows = [row for row in changed if row.legacy_id not in ledger]
        self._create(new_rows)
        self._update([(row, ledger[row.legacy_id]) for row in changed if row.legacy_id in ledger])

    def _ledger_entries(self, rows: list[LegacyRow]) -> dict[int, LedgerEntry]:
        if self._ledger_was_empty:
            return {}
        return {
            entry.legacy_id: entry
            for entry in LedgerEntry.objects.using(self.using).filter(
                legacy_table=self.spec.table, legacy_id__in=[row.legacy_id for row in rows]
            )
        }

    def _remap_references(self, rows: list[LegacyRow]) -> None:
        for name, table in self.spec.reference_fields.items():
            if table not in IdMap.REMAPPED:
                continue
            mapping = self.id_map.target_ids(table, {row.values[name] for row in rows})
            unmapped = [
                row.legacy_id
                for row in rows
                if row.values[name] is not None and row.values[name] not in mapping
            ]
            if unmapped:
                raise ImportFailed(
                    f"{self.spec.table} rows {some_ids(unmapped)} point at {table} rows that were "
                    "not imported: run precheck and clean_legacy on this file"
                )
            for row in rows:
                if row.values[name] is not None:
                    row.values[name] = mapping[row.values[name]]

    # creating

    def _create(self, rows: list[LegacyRow]) -> None:
        if not rows:
            return
        merged: list[tuple[LegacyRow, int]] = []
        if self.spec.merge_into is None:
            created = rows
            target_ids = self.ids.allocate(created)
        else:
            created, target_ids = [], {}
            numbering = self.ids.numbering()
            for row in rows:
                target_id, is_twin = numbering.place(row.legacy_id)
                if is_twin:
                    merged.append((row, target_id))
                else:
                    created.append(row)
                    target_ids[row.legacy_id] = target_id
        values = (self.output.target_row(row, target_ids[row.legacy_id]) for row in created)
        self._write(
            lambda: self.writer.insert(self.model, self.output.target_fields, values), created
        )
        self._write_ledger(created, target_ids, merged)

    def _create_as_read(self, batch: list[tuple]) -> None:
        """A batch of a first import, each row converted as the writer takes it."""
        created: list[LegacyRow] = []
        merged: list[tuple[LegacyRow, int]] = []
        target_ids: dict[int, int] = {}
        # None: each row keeps its legacy id. Its queries run now: none may while COPY does.
        numbering = self.ids.numbering() if self.spec.merge_into is not None else None
        read, target_row = self.reader.read, self.output.target_row

        def values() -> Iterator[tuple]:
            for legacy_values in batch:
                row = read(legacy_values)
                if numbering is None:
                    target_id = row.legacy_id
                else:
                    target_id, is_twin = numbering.place(row.legacy_id)
                    if is_twin:
                        merged.append((row, target_id))  # the row of its twin stands for it
                        continue
                created.append(row)
                target_ids[row.legacy_id] = target_id
                yield target_row(row, target_id)

        self.result.read += len(batch)
        self._write(
            lambda: self.writer.insert(self.model, self.output.target_fields, values()), created
        )
        self._write_ledger(created, target_ids, merged)

    def _write_ledger(
        self,
        created: list[LegacyRow],
        target_ids: dict[int, int],
        merged: list[tuple[LegacyRow, int]] = (),
    ) -> None:
        merged_entries = [
            self.output.ledger_row(row, target_id, Action.MERGED, "") for row, target_id in merged
        ]
        # Fingerprinted as the writer takes them, like the rows themselves.
        created_entries = (
            self.output.created_entry(row, target_ids[row.legacy_id]) for row in created
        )
        self._write(
            lambda: self.writer.insert(
                LedgerEntry, LEDGER_FIELDS, chain(created_entries, merged_entries)
            ),
            [*created, *(row for row, _ in merged)],
        )
        self.result.created += len(created)
        self.result.merged += len(merged)

    # updating

    def _update(self, pairs: list[tuple[LegacyRow, LedgerEntry]]) -> None:
        if not pairs:
            return
        current = {
            values.pop("pk"): target_fingerprint(values)
            for values in self.model.objects.using(self.using)
            .filter(pk__in=[entry.target_id for _, entry in pairs if entry.target_id])
            .values("pk", *self.synced_fields)
        }
        updates, entries = [], []
        for row, entry in pairs:
            if entry.action == Action.MERGED and row.legacy_id in self.twins:
                self._refresh_entry(entry, row, Action.MERGED, "")
                entries.append(entry)
                self.result.merged += 1
                continue
            if entry.action == Action.MERGED or current.get(entry.target_id) != entry.target_hash:
                self.result.conflicts.append(
                    Conflict(self.spec.table, row.legacy_id, self.spec.model, entry.target_id)
                )
                continue
            updates.append(self.model(pk=entry.target_id, **self._field_values(row)))
            self._refresh_entry(entry, row, Action.UPDATED, self.output.fingerprint_of(row.values))
            entries.append(entry)
        self._write(
            lambda: self.model.objects.using(self.using).bulk_update(updates, self.synced_fields),
            [row for row, _ in pairs],
        )
        ledger_fields = ["action", "source_hash", "target_hash", "raw", "run"]
        self._write(
            lambda: LedgerEntry.objects.using(self.using).bulk_update(entries, ledger_fields),
            [row for row, _ in pairs],
        )
        self.result.updated += len(updates)

    def _refresh_entry(self, entry: LedgerEntry, row: LegacyRow, action: str, target_hash: str):
        entry.action, entry.source_hash, entry.target_hash = action, row.source_hash, target_hash
        entry.raw, entry.run = row.raw, self.run

    # quarantined rows and rows gone from the file

    def _record_quarantined(self) -> None:
        """Rows clean_legacy moved aside: in the ledger too, so that every row is accounted for."""
        if not self.layout.has_table(QUARANTINE_TABLE):
            return
        rows = self.source.query(
            f"SELECT source_id, row_json FROM {QUARANTINE_TABLE} "
            "WHERE source_table = %s ORDER BY source_id",
            [self.spec.table],
        )
        if not rows:
            return
        existing = set(
            LedgerEntry.objects.using(self.using)
            .filter(legacy_table=self.spec.table, legacy_id__in=[r[0] for r in rows])
            .values_list("legacy_id", flat=True)
        )
        entries = []
        for legacy_id, row_json in rows:
            raw = json.loads(row_json)
            if legacy_id not in existing:
                row = LegacyRow(legacy_id, raw, row_hash(raw), {}, canonical_bytes(raw))
                entries.append(self.output.ledger_row(row, None, Action.QUARANTINED, ""))
        self.writer.insert(LedgerEntry, LEDGER_FIELDS, entries)
        self.result.quarantined += len(rows)
        self.result.read += len(rows)

    def _check_source_unchanged(self) -> None:
        """Before the table commits: the file it was read from is as precheck saw it."""
        if self.watch is not None and self.watch.changed():
            raise ImportFailed(
                f"{self.spec.table}: the legacy file was written to while it was read "
                "(is the old app still running?), so this table was not imported; stop "
                "the app, then run import_legacy again"
            )

    def _count_gone(self) -> int:
        if self._ledger_was_empty:
            return 0  # every entry of the table is one of the rows just read
        in_ledger = (
            LedgerEntry.objects.using(self.using)
            .filter(legacy_table=self.spec.table)
            .exclude(action=Action.QUARANTINED)
            .count()
        )
        return max(0, in_ledger - (self.result.read - self.result.quarantined))

    # helpers

    def _field_values(self, row: LegacyRow) -> dict[str, Any]:
        return {name: row.values[name] for name in self.fields}

    def _write(self, write: Callable[[], Any], rows: list[LegacyRow] | str) -> None:
        """Run `write`; a database error names the table and `rows` (or says which they are)."""
        try:
            with transaction.atomic(using=self.using):
                write()
        except DatabaseError as error:
            ids = rows if isinstance(rows, str) else some_ids(row.legacy_id for row in rows)
            raise ImportFailed(
                f"could not write {self.spec.table} rows {ids} to {self.spec.model}: "
                f"{str(error).strip().splitlines()[0]}"
            ) from error


# --- the whole import -----------------------------------------------------


def import_legacy(
    *,
    source: LegacySource,
    using: str,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import the legacy file into the target database `using`; see the module docstring."""
    # One import into a target at a time: a second refuses at once, naming the first.
    with the_only_import(using) as alone:
        if not alone:
            raise ImportBusy(_busy_message(using))
        watch = FileWatch(source.path)  # before anything is read
        precheck = run_precheck(source)
        if precheck.blocking:
            raise ImportRefused(
                precheck.blocking,
                f"precheck finds {len(precheck.blocking)} blocking issue(s) in {source.path}: "
                "run clean_legacy (or fix them), then import the result",
            )
        if taken := taken_ids(source, LegacyLayout.read(source), using):
            raise ImportRefused(
                taken,
                "the target already has rows of its own where legacy rows go; nothing was "
                f"written: {taken[0].fix}",
            )
        if not dry_run:
            return _import_tables(source, using, precheck, watch, progress, dry_run=False)
        with transaction.atomic(using=using):
            # The ledger's ids, drawn by COPY, are put back by the rollback too.
            # Safe to hold: only an import takes ledger ids, and this one holds
            # the import lock. The target's sequences are left alone: the import
            # writes every row with its id, never drawing on them, and the app's
            # own inserts must not wait on a dry run.
            sequence_in_this_transaction(using, LedgerEntry)
            report = _import_tables(source, using, precheck, watch, progress, dry_run=True)
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


def _import_tables(
    source: LegacySource,
    using: str,
    precheck: PrecheckReport,
    watch: FileWatch,
    progress: Progress | None,
    *,
    dry_run: bool,
) -> ImportReport:
    layout = LegacyLayout.read(source)
    sha256 = precheck.sha256
    # What precheck warned of is said again in the import's report.
    warnings = [item for item in precheck.findings if item.severity == Severity.WARNING]
    run = ImportRun.objects.using(using).create(
        source_path=str(source.path),
        source_sha256=sha256,
        options={"dry_run": dry_run},
        started_at=timezone.now(),
    )
    report = ImportReport(
        str(source.path), sha256, dry_run, str(run.pk), run.started_at, warnings=warnings
    )
    trainers, id_map, writer = TrainerLookup(source, layout), IdMap(using), writer_for(using)
    # Workers that convert big tables beside the import: only where COPY writes.
    converters = (
        ChunkConverters(source, layout, using)
        if isinstance(writer, CopyWriter) and can_fork()
        else None
    )

    rows_in = {table.table: table.rows for table in precheck.tables}  # counted by precheck

    def table_import(spec: TableSpec) -> TableImport:
        return TableImport(
            spec=spec,
            source=source,
            layout=layout,
            run=run,
            using=using,
            trainers=trainers,
            id_map=id_map,
            writer=writer,
            twins=_twins(precheck, spec),
            row_count=rows_in[spec.table],
            converters=converters,
            watch=watch,
        )

    specs = [spec for spec in IMPORT_ORDER if layout.has_table(spec.table)]
    spec_after = dict(pairwise(specs))
    under_way = ""  # the table whose transaction is open, if one is
    try:
        # The workers end with the tables: stopped where they are if one fails.
        with converters or nullcontext():
            upcoming: TableImport | None = None
            for model_specs in _by_model(specs):
                # One transaction per target table: an old table merged into its new
                # one's model goes in with it, and its keys are checked once for both.
                under_way = model_specs[0].table
                _mark(run, using, stopped_at_table=under_way)
                started = time.monotonic()
                with (
                    transaction.atomic(using=using),
                    _checking_references(
                        writer, model_specs, sum(rows_in[spec.table] for spec in model_specs)
                    ),
                ):
                    for spec in model_specs:
                        this = upcoming or table_import(spec)
                        # The next table, looked at now so that its first chunks may
                        # be converted while this one finishes. Nothing written here
                        # changes what it finds: whether its part of the ledger is
                        # empty, and whether its model is, which only a table keeping
                        # its ids asks, and such a table shares no model with the one
                        # before it.
                        following = spec_after.get(spec)
                        upcoming = table_import(following) if following is not None else None
                        report.tables.append(this.run_import(progress, then=upcoming))
                under_way = ""
                # The model's keys and indexes, put back after its last table, count in its time.
                done = report.tables[-len(model_specs) :]
                done[-1].seconds = time.monotonic() - started - sum(t.seconds for t in done[:-1])
        if dry_run:
            _check_ledger_keys(writer, using)
        else:
            # Statistics gathered beside the ledger's check; the ledger's last,
            # once checked (both take the same lock).
            with analyzing(using, [*target_models(), LedgerEntry]):
                _check_ledger_keys(writer, using)
                report.sequences = advance_sequences(using, target_models())
    except BaseException as error:
        # On the way here the table under way was rolled back, and the workers stopped.
        if is_stop(error):  # Ctrl-C or SIGTERM (see stops.py)
            interrupted = ImportRun.Outcome.INTERRUPTED
            _record_stop(run, using, writer, report, interrupted, "Ctrl-C or SIGTERM")
            raise Interrupted(_left_by_interrupt(under_way, dry_run)) from error
        if isinstance(error, Exception):
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            _record_stop(run, using, writer, report, ImportRun.Outcome.FAILED, first_line)
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


def _by_model(specs: list[TableSpec]) -> list[list[TableSpec]]:
    """The tables in order, those of one target model (a pair's new and old) together."""
    groups: list[list[TableSpec]] = []
    for spec in specs:
        if groups and groups[-1][0].model == spec.model:
            groups[-1].append(spec)
        else:
            groups.append([spec])
    return groups


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
