"""A big table's rows converted in worker processes while the import writes them.

Converting a legacy row (its values, its canonical JSON and hash, its
fingerprint, its target and ledger rows in COPY's binary format) costs Python
several times what PostgreSQL spends storing it. Done in the import's own
process, the import waits on it, with a core to spare. Worker processes
convert chunks of a table (rowid ranges) ahead, each reading the legacy file
read-only for itself; the import sends each chunk's bytes as they are, in
order, inside the table's transaction, and decides everything else itself,
the ids of an old table's rows included (it plans their numbering, the
workers apply it: see ids.Numbering).

Used for a first load of a big table on PostgreSQL (every row new, its id
known before it is read: see first_load.py); everything else stays
in-process.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import connections

from migration.legacy import LegacySource
from migration.load.ids import Numbering
from migration.load.rows import LEDGER_FIELDS, Action, TableOutput
from migration.load.writers import CopyEncoder, CopyStatement, values_refused_as_data_errors
from migration.mapping.layout import LegacyLayout
from migration.mapping.reading import RowReader
from migration.mapping.specs import SPECS
from migration.models import LedgerEntry
from migration.rules.references import TrainerLookup
from migration.workers import worker_pool, workers_lost_said

ROWS_PER_CHUNK = 10_000
# Below this many rows a table is converted in-process: forking the workers
# (once an import) and handing them chunks cost more than they save.
FROM_ROWS = 20_000
WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class ChunkTask:
    table: str
    rowids: tuple[int, int]  # first, last
    run_id: UUID
    target: CopyStatement
    ledger: CopyStatement
    # For an old table merged into its new one (see ids.Numbering.plan): the
    # id of the chunk's first row that is not a twin, the next rows' after it;
    # and each twin's target row. Otherwise each row keeps its legacy id.
    first_id: int | None = None
    twin_targets: dict[Any, int] = field(default_factory=dict)

    def numbering(self) -> Numbering | None:
        """The chunk's rows' numbering; None: each keeps its legacy id."""
        return None if self.first_id is None else Numbering(self.first_id, self.twin_targets)


@dataclass(frozen=True)
class ConvertedChunk:
    rows: int
    merged: int  # of the rows, twins: a ledger entry each, no target row
    legacy_ids: tuple[Any, ...]  # the first and the last, for messages
    target: bytes  # COPY's binary format
    ledger: bytes


class ChunkConverters:
    """Forked worker processes converting chunks of the open legacy file's tables.

    Started on first use; forked (see workers.py), so each has the import's
    reader, specs and settings, and opens its own connections. A context
    manager: the workers end with the block, killed if it ends in an error.
    """

    def __init__(self, source: LegacySource, layout: LegacyLayout, using: str):
        self.source, self.layout, self.using = source, layout, using
        self._pool: ProcessPoolExecutor | None = None
        self._workers = ExitStack()
        # The next table's first tasks, started before their convert: see convert.
        self._started_early: deque[tuple[ChunkTask, Future]] = deque()

    def __enter__(self) -> ChunkConverters:
        return self

    def __exit__(self, *exception: Any) -> None:
        self._started_early.clear()
        self._pool = None
        self._workers.__exit__(*exception)

    def convert(
        self, tasks: Iterable[ChunkTask], *, then: Sequence[ChunkTask] = ()
    ) -> Iterator[ConvertedChunk]:
        """Each task's chunk, in order, at most two per worker ahead (memory stays flat).

        Once every task is handed out, the first of `then` (one per worker)
        are started too, and the next convert whose tasks begin with them
        takes their chunks instead of converting them again.
        """
        with workers_lost_said():
            pool = self._started()
            early, self._started_early = self._started_early, deque()
            ahead: deque[Future] = deque()
            for task in tasks:
                if early and early[0][0] == task:
                    ahead.append(early.popleft()[1])
                else:
                    ahead.append(pool.submit(_convert, task))
                if len(ahead) >= 2 * WORKERS:
                    yield ahead.popleft().result()
            for _, unwanted in early:
                unwanted.cancel()  # or, already converted, dropped
            self._started_early.extend(
                (task, pool.submit(_convert, task)) for task in then[:WORKERS]
            )
            while ahead:
                yield ahead.popleft().result()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = self._workers.enter_context(
                worker_pool(WORKERS, _start_worker, self.source, self.layout, self.using)
            )
        return self._pool


# --- in a worker process --------------------------------------------------

_worker: _Worker | None = None


def _start_worker(source: LegacySource, layout: LegacyLayout, using: str) -> None:
    global _worker
    _worker = _Worker(source, layout, using)


def _convert(task: ChunkTask) -> ConvertedChunk:
    assert _worker is not None, "a chunk converter runs in a started worker"
    # Here no Django cursor wraps psycopg's errors: they come back as Django's.
    first, last = task.rowids
    with values_refused_as_data_errors(f"{task.table} rows at rowids {first} to {last}"):
        return _worker.convert(task)


class _Worker:
    def __init__(self, source: LegacySource, layout: LegacyLayout, using: str):
        source.connect()
        self.source, self.layout, self.using = source, layout, using
        self.trainers = TrainerLookup(source, layout)
        # Their adapters make the COPY bytes; nothing is ever sent through them.
        target = connections[using]
        self.target_cursor, self.ledger_cursor = target.cursor().cursor, target.cursor().cursor
        self._tables: dict[tuple[str, UUID], tuple] = {}

    def convert(self, task: ChunkTask) -> ConvertedChunk:
        reader, output, target_encoder, ledger_encoder = self._table(task)
        rows, merged, first, last = 0, 0, None, None
        numbering = task.numbering()
        # Each row encoded as it is read, into both tables' bytes at once:
        # a chunk costs its bytes, not its rows.
        with (
            target_encoder.encoding(task.target, self.target_cursor) as target,
            ledger_encoder.encoding(task.ledger, self.ledger_cursor) as ledger,
        ):
            for values in self.source.chunk(task.table, reader.columns, task.rowids):
                row = reader.read(values)
                rows += 1
                if first is None:
                    first = row.legacy_id
                last = row.legacy_id
                if numbering is None:
                    target_id = row.legacy_id
                else:
                    target_id, is_twin = numbering.place(row.legacy_id)
                    if is_twin:
                        ledger.write(output.ledger_row(row, target_id, Action.MERGED, ""))
                        merged += 1
                        continue
                target.write(output.target_row(row, target_id))
                ledger.write(output.created_entry(row, target_id))
        return ConvertedChunk(rows, merged, (first, last) if rows else (), target.data, ledger.data)

    def _table(self, task: ChunkTask) -> tuple:
        key = (task.table, task.run_id)
        if key not in self._tables:
            spec = SPECS[task.table]
            output = TableOutput(spec, task.run_id)
            django_connection = connections[self.using]
            self._tables[key] = (
                RowReader(spec, self.layout.columns[spec.table], self.trainers, rows_kept=False),
                output,
                CopyEncoder(output.model, output.target_fields, django_connection),
                CopyEncoder(LedgerEntry, LEDGER_FIELDS, django_connection),
            )
        return self._tables[key]
