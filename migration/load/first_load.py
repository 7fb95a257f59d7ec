"""A table's first load: every row new, its id known as it is read.

Nothing of the table is in the ledger, so no row is looked up: each is
converted as the writer sends it, and PostgreSQL stores one batch while the
next is read, instead of each waiting for the other. A big table on
PostgreSQL is converted by worker processes (chunks.py) in rowid chunks,
which this process writes in order; an old table merged into its new one is
numbered by `ids.Numbering` either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

from migration.load import chunks
from migration.load.chunks import ChunkConverters, ChunkTask
from migration.load.ids import ChunkNumbering, Numbering
from migration.load.rows import LEDGER_FIELDS
from migration.load.table import Progress, TableLoad, TableState
from migration.mapping.reading import LegacyRow
from migration.models import LedgerEntry


class FirstLoad:
    """A table imported for the first time: by worker processes if it is big enough
    and they are there (`converters`), else in-process, as read."""

    def __init__(self, table: TableState, converters: ChunkConverters | None):
        self.table, self.converters = table, converters
        self._chunks: list[tuple[int, int]] | None = None
        self._tasks: list[ChunkTask] | None = None
        # The last numbering planned: where it started (its first id and twins), and
        # each chunk's part.
        self._planned: tuple[tuple[int, dict], list[ChunkNumbering]] | None = None

    @property
    def keeps_legacy_ids(self) -> bool:
        """Whether every row goes in under its legacy id: into an empty table, of a
        table that is not merged into another."""
        return self.table.table_was_empty and self.table.spec.merge_into is None

    def write_rows(self, progress: Progress | None, then: TableLoad | None) -> None:
        if tasks := self.worker_tasks():
            self._create_in_workers(tasks, progress, then)
            return
        table = self.table
        for batch in table.batches():
            self._create_as_read(batch)
            if progress:
                progress(table.spec.table, table.result.read, table.row_count)

    # in worker processes

    def worker_tasks(self) -> list[ChunkTask]:
        """The chunks worker processes convert, in order: none unless this table is for them.

        Worked out once. For an old table merged into its new one, they are
        numbered from what the target holds, so only once the new table is in.
        """
        if self._tasks is None:
            ranges = self._worker_chunks()
            numbering = self.table.ids.numbering() if self.table.spec.merge_into else None
            self._tasks = self._chunk_tasks(ranges, numbering) if ranges else []
        return self._tasks

    def early_tasks(self, before: FirstLoad) -> list[ChunkTask]:
        """This table's chunk tasks as far as they are known while `before`, the table
        imported just before it, is still being written.

        A table keeping its ids: all of them. An old table, after its new one
        imported for the first time into an empty table (so that each of those
        rows kept its legacy id): numbered as they will be once that one is
        in (ids.TableIds.numbering_ahead). Otherwise none. Tasks started early
        are only used if they turn out to be the table's own
        (ChunkConverters.convert compares them).
        """
        spec = self.table.spec
        if not spec.merge_into:
            return self.worker_tasks()
        if before.table.spec.table != spec.merge_into or not before.keeps_legacy_ids:
            return []
        if not self._worker_chunks():
            return []
        return self._chunk_tasks(self._worker_chunks(), self.table.ids.numbering_ahead())

    def _worker_chunks(self) -> list[tuple[int, int]]:
        """The rowid ranges worker processes convert: none unless this table is for them."""
        if self._chunks is None:
            self._chunks = []
            table = self.table
            if self.converters is not None and table.row_count >= chunks.FROM_ROWS:
                ranges = table.source.rowid_chunks(table.spec.table, chunks.ROWS_PER_CHUNK)
                self._chunks = ranges or []  # None: a table without rowids
        return self._chunks

    def _chunk_tasks(
        self, ranges: list[tuple[int, int]], numbering: Numbering | None
    ) -> list[ChunkTask]:
        """A task for each chunk; for an old table, numbered from `numbering` on."""
        table = self.table
        target = table.writer.copy_statement(table.model, table.output.target_fields)
        ledger = table.writer.copy_statement(LedgerEntry, LEDGER_FIELDS)
        # Each chunk's first id and twins; for a table keeping its ids, none.
        numbered = (
            [(None, {})] * len(ranges) if numbering is None else self._plan(ranges, numbering)
        )
        return [
            ChunkTask(table.spec.table, rowids, table.run.pk, target, ledger, *chunk_numbering)
            for rowids, chunk_numbering in zip(ranges, numbered, strict=True)
        ]

    def _plan(self, ranges: list[tuple[int, int]], numbering: Numbering) -> list[ChunkNumbering]:
        """`numbering` planned over the chunks: worked out once for each place it starts."""
        start = (numbering.next_id, numbering.twin_targets)
        if self._planned is None or self._planned[0] != start:
            source, name = self.table.source, self.table.spec.table
            ids_in_rowid_order = source.rows(name, (source.rowid_name(name), "id"))
            self._planned = (start, numbering.plan(ranges, ids_in_rowid_order))
        return self._planned[1]

    def _create_in_workers(
        self, tasks: list[ChunkTask], progress: Progress | None, then: TableLoad | None
    ) -> None:
        """The rows, converted by worker processes, written here in order.

        Once this table's last chunk is handed out, the workers start on the
        next table's first ones, when they can be known already (see
        early_tasks): they would otherwise wait while this table's last chunks
        are written and PostgreSQL builds its indexes and checks its keys.
        Only a first load's chunks can be: a reconciled table is read here.
        """
        table, result = self.table, self.table.result
        target, ledger = tasks[0].target, tasks[0].ledger  # every chunk's
        upcoming = then.early_tasks(before=self) if isinstance(then, FirstLoad) else []
        for chunk in self.converters.convert(tasks, then=upcoming):
            which = " to ".join(str(legacy_id) for legacy_id in chunk.legacy_ids)
            if chunk.rows > chunk.merged:
                table.write(partial(table.writer.insert_encoded, target, chunk.target), which)
            table.write(partial(table.writer.insert_encoded, ledger, chunk.ledger), which)
            result.read += chunk.rows
            result.created += chunk.rows - chunk.merged
            result.merged += chunk.merged
            if progress:
                progress(table.spec.table, result.read, table.row_count)

    # in this process

    def _create_as_read(self, batch: list[tuple]) -> None:
        """A batch of rows, each converted as the writer takes it."""
        table = self.table
        created: list[LegacyRow] = []
        merged: list[tuple[LegacyRow, int]] = []
        target_ids: dict[int, int] = {}
        # None: each row keeps its legacy id. Its queries run now: none may while COPY does.
        numbering = table.ids.numbering() if table.spec.merge_into is not None else None
        read, target_row = table.reader.read, table.output.target_row

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

        table.result.read += len(batch)
        table.write(
            lambda: table.writer.insert(table.model, table.output.target_fields, values()),
            created,
        )
        table.write_ledger(created, target_ids, merged)
