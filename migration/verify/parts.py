"""Every legacy table walked once: a large table in ranges of ids, by worker processes.

Python converts a row at a time, so one process is one core. A table larger
than a worker's share is split into ranges of ids, walked by worker
processes (the pool of `migration.workers`), one per core, while the calling
process runs the checks that need only the target; the ranges' walks add up
to the walk of the whole table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from math import ceil
from typing import NamedTuple

from django.db import connections

from migration.legacy import LegacySource, quote_identifier
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import SPECS, TableSpec
from migration.postgres import without_parallel_workers
from migration.verify.walk import EVERY_ID, IdRange, TableWalk, TableWalker
from migration.workers import can_fork, cores, results_in_workers

# What the walk tells of its progress: the table, its rows walked, its rows in all.
Progress = Callable[[str, int, int], None]

PART_ROWS = 25_000  # fewer rows than this a range, and a worker costs more than it saves
# Each worker is a process of its own (some 80 MB) with a connection of its
# own; past four, the database and this process's own checks set the pace.
MAX_WORKERS = 4


class Part(NamedTuple):
    """A table, or a range of its ids, to walk."""

    spec: TableSpec
    ids: IdRange
    rows: int  # about how many legacy rows


@contextmanager
def walking_tables(
    source: LegacySource,
    layout: LegacyLayout,
    using: str,
    specs: Sequence[TableSpec],
    progress: Progress | None = None,
) -> Iterator[dict[str, TableWalk]]:
    """Every table walked: under way during the `with` block, each table's walk in
    the dict at its end (a table the file lacks, an empty walk). `progress`, if
    given, is told of each table as its parts' walks come in."""
    walks = {spec.table: TableWalk() for spec in specs}
    workers = _worker_count(using)
    parts = TableParts(source, layout).parts(specs, workers)
    in_workers = pays_to_fork(parts, workers)
    # The block's own queries then run beside workers that use every core.
    beside_workers = without_parallel_workers(using) if in_workers else nullcontext()
    walker = TableWalker(source, layout, using)
    with _walks(walker, parts, in_workers, workers) as walked, beside_workers:
        yield walks
        told = _PartsTold(parts, progress)
        for part, walk in zip(told, walked, strict=True):
            walks[part.spec.table].extend(walk)
            told.walked(part, walks[part.spec.table].legacy_rows)


class _PartsTold:
    """The parts in order, each table's progress told as its parts come in: when its
    first is asked for (its clock starts), and as each is walked."""

    def __init__(self, parts: list[Part], progress: Progress | None):
        self.parts, self.progress = parts, progress
        self.left = Counter(part.spec.table for part in parts)
        self.rows = Counter()
        for part in parts:
            self.rows[part.spec.table] += part.rows

    def __iter__(self) -> Iterator[Part]:
        started: set[str] = set()
        for part in self.parts:
            table = part.spec.table
            # An empty table is drawn once, done, when its walk comes in.
            if self.progress and table not in started and self.rows[table]:
                started.add(table)
                self.progress(table, 0, self.rows[table])
            yield part

    def walked(self, part: Part, rows_so_far: int) -> None:
        table = part.spec.table
        self.left[table] -= 1
        if self.progress:
            # A part's rows are an estimate: the table's last part ends it, at what was walked.
            total = rows_so_far if not self.left[table] else max(self.rows[table], rows_so_far + 1)
            self.progress(table, rows_so_far, total)


class TableParts:
    """The parts a file's tables are walked in."""

    def __init__(self, source: LegacySource, layout: LegacyLayout):
        self.source, self.layout = source, layout

    def parts(self, specs: Sequence[TableSpec], workers: int) -> list[Part]:
        """Every table in the file, a table larger than a worker's share in ranges of ids."""
        rows = {
            spec.table: self.source.count(spec.table)
            for spec in specs
            if self.layout.has_table(spec.table)
        }
        share = max(sum(rows.values()) / workers, 1)
        parts = []
        for spec in specs:
            if spec.table in rows:
                table_rows = rows[spec.table]
                wanted = min(workers, ceil(table_rows / share))
                ranges = self.id_ranges(spec, table_rows, wanted)
                parts += [Part(spec, ids, table_rows // len(ranges)) for ids in ranges]
        return parts

    def id_ranges(self, spec: TableSpec, rows: int, wanted: int) -> list[IdRange]:
        """The table's ids in `wanted` ranges, each of PART_ROWS rows or more.

        Only a table whose ids are its rowids is split: a range of ids is then
        a range of rows SQLite reads by itself, and in id order.
        """
        table = spec.table
        count = min(wanted, rows // PART_ROWS)
        if count < 2 or not self._ids_are_rowids(table):
            return [EVERY_ID]
        sql = f"SELECT min(id), max(id) FROM {quote_identifier(table)}"
        first, last = self.source.query(sql)[0]
        step = (last - first) // count + 1
        bounds = [first + step * part for part in range(1, count)]
        # The first and last ranges are open for the ledger, whose entries may
        # have ids no longer in the file.
        return [
            IdRange(low, high, (first if low is None else low, last if high is None else high - 1))
            for low, high in zip([None, *bounds], [*bounds, None], strict=True)
        ]

    def _ids_are_rowids(self, table: str) -> bool:
        rowid = self.source.rowid_name(table)
        if rowid is None or not self.layout.has_column(table, "id"):
            return False
        sql = f"SELECT count(*) FROM {quote_identifier(table)} WHERE {rowid} IS NOT id"
        return self.source.query(sql)[0][0] == 0


def _worker_count(using: str) -> int:
    """How many processes may walk at once: one per core, on PostgreSQL, on Linux.

    Other connections see only what is committed, so verify inside a
    transaction (as in a test) walks in its own process; so does SQLite.
    The workers are forked (see migration/workers.py), which only Linux does safely.
    """
    connection = connections[using]
    if not can_fork() or connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return cores(most=MAX_WORKERS)


def _walks(
    walker: TableWalker, parts: list[Part], in_workers: bool, workers: int
) -> AbstractContextManager[Iterator[TableWalk]]:
    """Each part's walk, in order: by worker processes if `in_workers` (pays_to_fork)."""
    if not in_workers:
        # Here, one part after the other, as the walks are asked for.
        return nullcontext(walker.walk(part.spec, part.ids) for part in parts)
    return _walks_in_workers(walker, parts, workers)


def pays_to_fork(parts: Sequence[Part], workers: int) -> bool:
    """Whether the parts are walked by worker processes: when there are cores for
    them, and rows enough for two workers' worth.

    Not only when a table was split: a file whose rows lie in several tables of
    about the same size (an old table as large as its new one) splits none of
    them, and its tables are walked side by side instead.
    """
    return workers > 1 and len(parts) > 1 and sum(part.rows for part in parts) >= 2 * PART_ROWS


def _walks_in_workers(
    walker: TableWalker, parts: list[Part], workers: int
) -> AbstractContextManager[Iterator[TableWalk]]:
    """Each part's walk, in order, the largest handed out first, by forked workers
    that each start with the walker (see _start_worker)."""
    return results_in_workers(
        _walk_part,
        [(part.spec.table, part.ids) for part in parts],
        sizes=[part.rows for part in parts],
        workers=workers,
        initializer=_start_worker,
        initargs=(walker,),
    )


# --- in a worker process --------------------------------------------------

_worker_walker: TableWalker | None = None


def _start_worker(walker: TableWalker) -> None:
    """In a new worker: the parent's walker, with connections of the worker's own."""
    global _worker_walker
    walker.source.connect()
    _worker_walker = walker


def _walk_part(table: str, ids: IdRange) -> TableWalk:
    """In a worker: walk one part of a table (its connections end with it, idle)."""
    assert _worker_walker is not None, "a part is walked in a started worker"
    return _worker_walker.walk(SPECS[table], ids)
