"""A legacy table, or a range of its ids, walked beside its ledger entries and target rows.

Two streams in id order, legacy rows read as the importer reads them and
ledger entries (without the ledger's copy of each row), a batch at a time.
A batch whose target rows PostgreSQL's checksum proves to be the expected
rows (checksums.py) is done with; only the target rows of a batch it does
not prove are fetched, and each compared with its expected values as a
whole, and field by field only when they differ, to name the fields.
Nothing is held per row but what the walk found.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from migration.legacy import LegacySource
from migration.mapping.layout import LegacyLayout
from migration.mapping.reading import LegacyRow, row_reader
from migration.mapping.specs import RENUMBERED_TABLES, TableSpec
from migration.rules.references import TrainerLookup
from migration.verify.checksums import TargetChecksum
from migration.verify.fields import same_value
from migration.verify.ledger import WITH_OWN_TARGET, Action, ledger_entries
from migration.verify.report import EXAMPLES
from migration.verify.target_rows import TargetTable

BATCH_SIZE = 2_000
# What the walk reads of each ledger entry: not its copy of the legacy row.
LEDGER_COLUMNS = ("legacy_id", "action", "target_id", "source_hash", "target_hash")


@dataclass
class TableWalk:
    """What a walk over a legacy table, or over a range of its ids, found.

    Plain data, so that a worker process can send it back.
    """

    legacy_rows: int = 0
    added: list[Any] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)
    deleted: list[Any] = field(default_factory=list)
    gone: list[Any] = field(default_factory=list)  # recorded gone by an import
    target_missing: list[Any] = field(default_factory=list)
    drifted: list[Any] = field(default_factory=list)
    compared: int = 0
    mismatches: list[tuple[Any, str, Any, Any]] = field(default_factory=list)
    mismatched_rows: set = field(default_factory=set)
    expected_money: Counter = field(default_factory=Counter)
    merged: dict[Any, Any] = field(default_factory=dict)  # old id -> target id, per the ledger

    def extend(self, part: TableWalk) -> None:
        """Adds the walk over the next range of ids: the same as one walk over both."""
        self.legacy_rows += part.legacy_rows
        for ids in ("added", "changed", "deleted", "gone", "target_missing", "drifted"):
            getattr(self, ids).extend(getattr(part, ids))
        self.compared += part.compared
        self.mismatches = (self.mismatches + part.mismatches)[:EXAMPLES]
        self.mismatched_rows |= part.mismatched_rows
        self.expected_money.update(part.expected_money)  # adds, as Counters do
        self.merged.update(part.merged)


class IdRange(NamedTuple):
    """The legacy ids from `low` up to, not including, `high` (None: no bound).

    `rowids` (first, last) are the legacy rows to read for it: those of a
    table whose ids are its rowids (None: every row).
    """

    low: int | None = None
    high: int | None = None
    rowids: tuple[int, int] | None = None

    def lookups(self) -> dict[str, int]:
        bounds = {"legacy_id__gte": self.low, "legacy_id__lt": self.high}
        return {lookup: bound for lookup, bound in bounds.items() if bound is not None}


EVERY_ID = IdRange()


class TableWalker:
    """Walks a legacy table, or a range of its ids, beside its ledger entries, in id order."""

    def __init__(self, source: LegacySource, layout: LegacyLayout, using: str):
        self.source, self.layout, self.using = source, layout, using
        self.trainers = TrainerLookup(source, layout)

    def walk(self, spec: TableSpec, ids: IdRange = EVERY_ID) -> TableWalk:
        found = TableWalk()
        columns = self.layout.columns[spec.table]
        read = self._reader(spec, columns)
        legacy = (
            read(values)
            for values in self.source.rows(
                spec.table, columns, batch_size=BATCH_SIZE, rowids=ids.rowids
            )
        )
        # What the join needs and no more: the ledger's copy of each row (`raw`)
        # is most of its bytes, and a model instance per row most of its cost.
        entries = (
            ledger_entries(self.using, spec.table)
            .exclude(action=Action.QUARANTINED)
            .filter(**ids.lookups())
            .order_by("legacy_id")
            .values_list(*LEDGER_COLUMNS, named=True)
            .iterator(chunk_size=BATCH_SIZE)
        )
        target = TargetTable(spec, self.using)
        checksum = TargetChecksum(target)
        same: list[tuple[Any, dict[str, Any], Any]] = []  # legacy id, values, ledger entry
        for row, entry in _merge_join(legacy, entries):
            if row is not None:
                found.legacy_rows += 1
            if entry is None or (row is not None and entry.action == Action.GONE):
                found.added.append(row.legacy_id)  # new, or back since an import saw it gone
            elif row is None:
                (found.gone if entry.action == Action.GONE else found.deleted).append(
                    entry.legacy_id
                )
            elif row.source_hash != entry.source_hash:
                found.changed.append(row.legacy_id)
            elif entry.action in WITH_OWN_TARGET:
                same.append((row.legacy_id, row.values, entry))
                if len(same) >= BATCH_SIZE:
                    self._compare(found, spec, target, checksum, same)
                    same = []
            elif entry.action == Action.MERGED:
                found.merged[entry.legacy_id] = entry.target_id
        self._compare(found, spec, target, checksum, same)
        return found

    def _reader(self, spec: TableSpec, columns: tuple[str, ...]) -> Callable[[tuple], LegacyRow]:
        """Reads a row of the table as the importer does, the plan worked out once.

        Of a row, the walk keeps its id and values past the next: its JSON is
        hashed and done with, and needs no copy of its own size."""
        return row_reader(spec, columns, self.trainers, rows_kept=False)

    def _compare(
        self,
        found: TableWalk,
        spec: TableSpec,
        target: TargetTable,
        checksum: TargetChecksum,
        rows: list[tuple[Any, dict[str, Any], Any]],
    ) -> None:
        if not rows:
            return
        references = self._references(spec, [values for _, values, _ in rows])
        expected_rows = [target.expected(values, references) for _, values, _ in rows]
        if checksum.proves(expected_rows, [entry for _, _, entry in rows]):
            # Every row there, as expected and unedited (see checksums.py).
            found.compared += len(rows)
            _add_money(found, target, expected_rows)
            return
        current_rows = target.rows([entry.target_id for _, _, entry in rows])
        present = []  # the expected rows whose target row is there
        for (legacy_id, _, entry), expected in zip(rows, expected_rows, strict=True):
            current = current_rows.get(entry.target_id)
            if current is None:
                found.target_missing.append(legacy_id)
                continue
            present.append(expected)
            if target.fingerprint(current) != entry.target_hash:
                # Edited in Django since: reported as drift, not compared field by field.
                # Its money still counts: totals must match the legacy file to the won.
                found.drifted.append(legacy_id)
                continue
            found.compared += 1
            # Equal tuples are equal field by field, which same_value never
            # finds different; only a row that differs somewhere is looked at
            # field by field, by same_value's own rules.
            if expected != current:
                _compare_fields(found, target.fields, legacy_id, expected, current)
        _add_money(found, target, present)

    def _references(self, spec: TableSpec, rows: list[dict[str, Any]]) -> dict[str, dict[Any, Any]]:
        """Legacy id -> target id, from the ledger, for references to renumbered tables
        (`rows`: legacy rows' values)."""
        maps = {}
        for name, table in spec.reference_fields.items():
            if table in RENUMBERED_TABLES:
                ids = {values[name] for values in rows if values[name] is not None}
                maps[name] = dict(
                    ledger_entries(self.using, table)
                    .filter(legacy_id__in=ids)
                    .values_list("legacy_id", "target_id")
                )
        return maps


def _add_money(found: TableWalk, target: TargetTable, expected_rows: list[tuple]) -> None:
    """The expected rows' amounts added to the walk's totals."""
    for index, name in target.money:
        found.expected_money[name] += sum(
            expected[index] for expected in expected_rows if expected[index] is not None
        )


def _compare_fields(
    found: TableWalk, fields: tuple[str, ...], legacy_id: Any, expected: tuple, current: tuple
) -> None:
    for name, want, got in zip(fields, expected, current, strict=True):
        if not same_value(name, want, got):
            found.mismatched_rows.add(legacy_id)
            if len(found.mismatches) < EXAMPLES:
                found.mismatches.append((legacy_id, name, want, got))


def _merge_join(
    rows: Iterator[LegacyRow], entries: Iterator[Any]
) -> Iterator[tuple[LegacyRow | None, Any]]:
    """Pairs legacy rows and ledger entries by legacy id; both come in id order."""
    row, entry = next(rows, None), next(entries, None)
    while row is not None or entry is not None:
        if entry is None or (row is not None and row.legacy_id < entry.legacy_id):
            yield row, None
            row = next(rows, None)
        elif row is None or entry.legacy_id < row.legacy_id:
            yield None, entry
            entry = next(entries, None)
        else:
            yield row, entry
            row, entry = next(rows, None), next(entries, None)
