"""One legacy table's import: what both of its paths share, and which path it takes.

A table goes in one of two ways, chosen once, before it is read, by
`is_first_load`: a first load, every row new (first_load.py), or a
reconciling load against the ledger (reconcile.py). `import_table` runs
either, then what every table ends with: the rows clean_legacy quarantined
put in the ledger, the file checked unchanged, the rows gone from it counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from itertools import chain, islice
from typing import Any, Protocol

from django.db import DatabaseError, transaction
from django.db.models import Model

from migration.legacy import FileWatch, LegacySource
from migration.load.ids import IdMap, TableIds
from migration.load.report import ImportFailed, OnConflict, TableResult, some_ids
from migration.load.rows import LEDGER_FIELDS, TableOutput
from migration.load.writers import RowWriter
from migration.mapping.canonical import canonical_bytes, row_hash
from migration.mapping.layout import LegacyLayout
from migration.mapping.quarantine import quarantined_rows
from migration.mapping.reading import LegacyRow, RowReader
from migration.mapping.specs import TableSpec
from migration.models import ImportRun, LedgerEntry
from migration.rules.references import TrainerLookup

BATCH_SIZE = 5_000
Action = LedgerEntry.Action
Progress = Callable[[str, int, int], None]  # table, rows done, rows in all


class TableState:
    """One legacy table into its model, in the caller's transaction: what it reads,
    where it writes, what the target held before it, and its result so far."""

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
        watch: FileWatch | None = None,
        on_conflict: OnConflict = OnConflict.REPORT,
    ):
        self.spec, self.source, self.layout = spec, source, layout
        self.run, self.using, self.writer, self.watch = run, using, writer, watch
        self.on_conflict = on_conflict
        self.id_map = id_map
        # For an old table: its rows that are exact twins of a new-table row.
        self.twins = twins
        self.row_count = row_count  # of the legacy table, as precheck counted them
        self.output = TableOutput(spec, run.pk)
        self.model: type[Model] = self.output.model
        self.fields, self.synced_fields = spec.target_fields, spec.synced_fields
        self.reader = RowReader(spec, layout.columns[spec.table], trainers)
        self.result = TableResult(spec.table, spec.model)
        # What the target held before this table started: on a first import,
        # neither the ledger nor the table has anything a batch must look up.
        ledger = LedgerEntry.objects.using(using).filter(legacy_table=spec.table)
        self.ledger_was_empty = not ledger.exists()
        self.table_was_empty = not self.model.objects.using(using).exists()
        self.ids = TableIds(
            spec=spec,
            source=source,
            layout=layout,
            using=using,
            id_map=id_map,
            twins=twins,
            table_was_empty=self.table_was_empty,
        )

    def batches(self) -> Iterator[list[tuple]]:
        """The table's rows as the reader takes them, BATCH_SIZE at a time."""
        rows = iter(self.source.rows(self.spec.table, self.reader.columns, batch_size=BATCH_SIZE))
        while batch := list(islice(rows, BATCH_SIZE)):
            yield batch

    def write(self, write: Callable[[], Any], rows: list[LegacyRow] | str) -> None:
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

    def write_ledger(
        self,
        created: list[LegacyRow],
        target_ids: dict[int, int],
        merged: list[tuple[LegacyRow, int]] = (),
    ) -> None:
        """The ledger entries of rows created, and of twins merged into a target row."""
        merged_entries = [
            self.output.ledger_row(row, target_id, Action.MERGED, "") for row, target_id in merged
        ]
        # Fingerprinted as the writer takes them, like the rows themselves.
        created_entries = (
            self.output.created_entry(row, target_ids[row.legacy_id]) for row in created
        )
        self.write(
            lambda: self.writer.insert(
                LedgerEntry, LEDGER_FIELDS, chain(created_entries, merged_entries)
            ),
            [*created, *(row for row, _ in merged)],
        )
        self.result.created += len(created)
        self.result.merged += len(merged)

    def record_quarantined(self) -> None:
        """Rows clean_legacy moved aside: in the ledger too, so that every row is accounted for."""
        rows = list(quarantined_rows(self.source, self.layout, self.spec.table))
        if not rows:
            return
        for row in rows:
            if row.problem:  # precheck refuses these: reached only if it and this disagree
                raise ImportFailed(
                    f"{self.spec.table}: quarantined row {row.quarantine_id}: {row.problem}; "
                    "run precheck on the file"
                )
        entries = LedgerEntry.objects.using(self.using).filter(
            legacy_table=self.spec.table, legacy_id__in=[row.legacy_id for row in rows]
        )
        # A row imported before a clean quarantined it: its target row is kept.
        self.write(
            lambda: entries.exclude(action=Action.QUARANTINED).update(
                action=Action.QUARANTINED, run=self.run
            ),
            some_ids(row.legacy_id for row in rows),
        )
        existing = set(entries.values_list("legacy_id", flat=True))
        entries = [
            self.output.ledger_row(
                LegacyRow(row.legacy_id, row.raw, row_hash(row.raw), {}, canonical_bytes(row.raw)),
                None,
                Action.QUARANTINED,
                "",
            )
            for row in rows
            if row.legacy_id not in existing
        ]
        self.writer.insert(LedgerEntry, LEDGER_FIELDS, entries)
        self.result.quarantined += len(rows)
        self.result.read += len(rows)

    def check_source_unchanged(self) -> None:
        """Before the table commits: the file it was read from is as precheck saw it."""
        if self.watch is not None and self.watch.changed():
            raise ImportFailed(
                f"{self.spec.table}: the legacy file was written to while it was read "
                "(is the old app still running?), so this table was not imported; stop "
                "the app, then run import_legacy again"
            )

    def record_gone(self) -> int:
        """Rows in the ledger no longer in the file (deleted in the old app, or cleaned
        out of a copy) recorded gone, their own target rows kept; how many are gone now.

        A twin merged into its new row has none of its own: its entry goes, and the
        row, should it come back, is placed afresh."""
        if self.ledger_was_empty:
            return 0  # every entry of the table is one of the rows just read
        entries = LedgerEntry.objects.using(self.using).filter(legacy_table=self.spec.table)
        set_aside = (Action.QUARANTINED, Action.GONE)
        present = entries.exclude(action__in=set_aside)
        # Every row read has its entry by now: any more are of rows gone since. A row
        # back in the file whose entry stays set aside (a conflict) is read, yet its
        # entry is not present.
        held_back = entries.filter(
            action__in=set_aside,
            legacy_id__in=[conflict.legacy_id for conflict in self.result.conflicts],
        ).count()
        if present.count() > self.result.read - self.result.quarantined - held_back:
            in_file = {row_id for (row_id,) in self.source.rows(self.spec.table, ("id",))}
            own_rows, twins = [], []
            for pk, legacy_id, action in present.values_list("pk", "legacy_id", "action").iterator(
                chunk_size=BATCH_SIZE
            ):
                if legacy_id not in in_file:
                    (twins if action == Action.MERGED else own_rows).append(pk)
            for start in range(0, max(len(own_rows), len(twins)), BATCH_SIZE):
                own_chunk = entries.filter(pk__in=own_rows[start : start + BATCH_SIZE])
                twin_chunk = entries.filter(pk__in=twins[start : start + BATCH_SIZE])
                self.write(partial(own_chunk.update, action=Action.GONE), "gone from the file")
                self.write(twin_chunk.delete, "gone from the file")
        return entries.filter(action=Action.GONE).count()


def is_first_load(table: TableState) -> bool:
    """Whether every row of the table is new, and its id known as it is read.

    So for a table imported for the first time (nothing of it in the ledger),
    pointing at no renumbered table, whose rows keep their legacy ids (its
    model empty) or, for an old table merged into its new one, go after the
    highest. Its rows are then converted as the writer sends them, by worker
    processes for a big one; any other is reconciled against the ledger.
    """
    return (
        table.ledger_was_empty
        and (table.table_was_empty or table.spec.merge_into is not None)
        and not set(table.spec.reference_fields.values()) & IdMap.REMAPPED
    )


class TableLoad(Protocol):
    """A path a table's rows take into the target: a first load, or a reconciling one."""

    table: TableState

    def write_rows(self, progress: Progress | None, then: TableLoad | None) -> None:
        """Every row of the table, read and written; `then`, the table imported next,
        may have its first rows converted meanwhile."""


def import_table(load: TableLoad, progress: Progress | None, then: TableLoad | None) -> TableResult:
    """The table's rows along `load`'s path, then what every table ends with."""
    table = load.table
    started = time.monotonic()
    if progress:
        progress(table.spec.table, 0, table.row_count)  # the table starts: its clock starts
    load.write_rows(progress, then)
    table.record_quarantined()
    table.check_source_unchanged()
    table.result.gone_from_legacy = table.record_gone()
    table.result.seconds = time.monotonic() - started
    return table.result
