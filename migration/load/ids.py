"""Which target id each legacy row takes.

A row keeps its legacy id wherever it can. Only the tables of an old/new pair
are ever renumbered, and `IdMap` answers for them alone. An old table merged
into its new one is numbered by one rule, `Numbering`, whether its rows are
numbered ahead for worker processes, by a worker, or here as they are read.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import Max

from migration.legacy import LegacySource, quote_identifier
from migration.load.report import ImportFailed, some_ids
from migration.mapping.layout import LegacyLayout
from migration.mapping.reading import LegacyRow
from migration.mapping.specs import PAIRS_BY_TABLE, RENUMBERED_TABLES, TableSpec
from migration.models import LedgerEntry


class IdMap:
    """Legacy id -> target id, for the tables whose rows may be renumbered.

    Only the tables of an old/new pair are ever renumbered (the old side's ids
    collide with the new side's); every other table keeps its legacy ids, and
    asking this map about one of them is a bug that fails loudly.
    """

    REMAPPED = RENUMBERED_TABLES

    def __init__(self, using: str):
        self.using = using

    def target_ids(self, table: str, legacy_ids: Iterable[int]) -> dict[int, int]:
        if table not in self.REMAPPED:
            raise LookupError(f"{table} keeps its legacy ids: it has no id map")
        return dict(
            LedgerEntry.objects.using(self.using)
            .filter(legacy_table=table, legacy_id__in=set(legacy_ids), target_id__isnull=False)
            .values_list("legacy_id", "target_id")
        )


# A chunk's numbering, for a worker: the id its first row that is not a twin
# takes, and the target id of each of its twins, by legacy id.
ChunkNumbering = tuple[int, dict[Any, int]]


@dataclass(slots=True)
class Numbering:
    """How an old table's rows are numbered as they go in after its new one's.

    In rowid order: a row that is an exact twin of a new-table row is merged
    into that row's target row (a ledger entry, no row of its own); every
    other row takes the next id, from `next_id` on. This is the rule's one
    statement: the import plans worker chunks with it (`plan`), a worker
    numbers its chunk with it, and rows read here are numbered with it.
    """

    next_id: int
    twin_targets: dict[Any, int]  # a twin's legacy id -> its new row's target id

    def place(self, legacy_id: Any) -> tuple[int, bool]:
        """The target id of the row read next, and whether it is a twin merged into it."""
        twin_target = self.twin_targets.get(legacy_id)
        if twin_target is not None:
            return twin_target, True
        target_id = self.next_id
        self.next_id += 1
        return target_id, False

    def plan(
        self, chunks: list[tuple[int, int]], rows: Iterable[tuple[int, Any]]
    ) -> list[ChunkNumbering]:
        """What each chunk's worker needs to number its rows as `place` would here, in
        one pass over the table's (rowid, legacy id) in rowid order. Worked out on a
        copy: this numbering is left where it is."""
        numbering = Numbering(self.next_id, self.twin_targets)
        starts = [first for first, _ in chunks]
        first_ids: list[int | None] = [None] * len(chunks)
        merged: list[dict[Any, int]] = [{} for _ in chunks]
        for rowid, legacy_id in rows:
            index = bisect_right(starts, rowid) - 1
            if first_ids[index] is None:
                first_ids[index] = numbering.next_id
            target_id, is_twin = numbering.place(legacy_id)
            if is_twin:
                merged[index][legacy_id] = target_id
        return [
            (numbering.next_id if first_id is None else first_id, twins)
            for first_id, twins in zip(first_ids, merged, strict=True)
        ]


class TableIds:
    """The ids one table's new rows take in the target."""

    def __init__(
        self,
        *,
        spec: TableSpec,
        source: LegacySource,
        layout: LegacyLayout,
        using: str,
        id_map: IdMap,
        twins: dict[Any, Any],
        table_was_empty: bool,
    ):
        self.spec, self.source, self.layout, self.using = spec, source, layout, using
        self.id_map, self.twins = id_map, twins  # twins: an old row's legacy id -> its new row's
        self.model = apps.get_model(spec.model)
        self._table_was_empty = table_was_empty
        self._first_free_id: int | None = None
        self._next_id: int | None = None
        self._numbering: Numbering | None = None

    def allocate(self, rows: list[LegacyRow]) -> dict[int, int]:
        """For a table keeping its ids: legacy ids where they are free; after the highest
        id where they are not.

        A new table's id may be taken by a row an earlier run imported from this
        file (the pair's old table's, or a row renumbered on an earlier run):
        that row keeps it. Taken by anything else, the import stops rather than
        overwrite it. (An old table's rows always go after the highest: see
        `numbering`.)
        """
        taken = set()
        if not self._table_was_empty:
            wanted = [row.legacy_id for row in rows]
            taken = set(
                self.model.objects.using(self.using)
                .filter(pk__in=wanted)
                .values_list("pk", flat=True)
            )
        foreign = taken - self._ids_held_by_this_file(taken)
        if foreign:
            raise ImportFailed(
                f"{self.spec.model} already holds id(s) {some_ids(foreign)} that did not come "
                f"from this legacy file: importing {self.spec.table} would overwrite them"
            )
        return {
            row.legacy_id: self._take_next_id() if row.legacy_id in taken else row.legacy_id
            for row in rows
        }

    def numbering(self) -> Numbering:
        """An old table's numbering, from the first free id and its twins' target rows
        as the target holds them: one for the table, moving on as its rows are placed.
        Its queries run when it is first asked for."""
        if self._numbering is None:
            targets = self.id_map.target_ids(self.spec.merge_into, set(self.twins.values()))
            self._numbering = Numbering(
                self._first_free(), {old: targets[new] for old, new in self.twins.items()}
            )
        return self._numbering

    def numbering_ahead(self) -> Numbering:
        """An old table's numbering as it will be once its new table is in, if each of
        those rows keeps its legacy id: after the highest, each twin merged into the
        row of its new twin's id."""
        return Numbering(self._highest_legacy_id_of_new_table() + 1, dict(self.twins))

    def _ids_held_by_this_file(self, ids: set[int]) -> set[int]:
        """Of these target ids, those an earlier run gave to rows of this legacy file."""
        if not ids:
            return set()
        return set(
            LedgerEntry.objects.using(self.using)
            .filter(target_model=self.spec.model, target_id__in=ids)
            .values_list("target_id", flat=True)
        )

    def _take_next_id(self) -> int:
        if self._next_id is None:
            self._next_id = self._first_free()
        taken, self._next_id = self._next_id, self._next_id + 1
        return taken

    def _first_free(self) -> int:
        """The first id after the highest the target holds or the new table will."""
        if self._first_free_id is None:
            highest_target = self.model.objects.using(self.using).aggregate(top=Max("pk"))["top"]
            highest_new = self._highest_legacy_id_of_new_table()
            self._first_free_id = max(highest_target or 0, highest_new) + 1
        return self._first_free_id

    def _highest_legacy_id_of_new_table(self) -> int:
        # The new table's ids are reserved even before they are imported.
        pair = PAIRS_BY_TABLE.get(self.spec.table)
        if pair is None or not self.layout.has_table(pair.new):
            return 0
        sql = f"SELECT coalesce(max(id), 0) FROM {quote_identifier(pair.new)}"
        return self.source.query(sql)[0][0]
