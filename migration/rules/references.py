"""The reference rules: a reference leads to a row, and a row naming no trainer gets one.

- A reference is dangling when it names a row (it is neither NULL nor '')
  and the table it points at has no row with that id (or the file has no
  such table).
- A row that names no trainer (NULL or '', or the file lacks the column)
  gets the trainer of the first of its spec's `infer.via` rows (its package,
  then its client) that names a trainer who exists.

Each rule is SQL about a legacy row called `x`, written here once from the
row's spec and the file's layout: precheck counts the rows it finds,
clean_legacy fixes or quarantines them, and the import infers each trainer
with TrainerLookup, which reads the parents' trainers under the same condition.
"""

from __future__ import annotations

from typing import Any

from migration.legacy import LegacySource, quote_identifier
from migration.mapping.layout import LegacyLayout
from migration.mapping.prefilters import nothing
from migration.mapping.specs import ColumnMap, TableSpec
from migration.mapping.traces import earliest_traces


def _of_x(column: str) -> str:
    return f"x.{quote_identifier(column)}"


def dangling(layout: LegacyLayout, table: str, column: str, target: str) -> str:
    """SQL: row `x` of `table` names, in `column`, a row of `target` that is not there."""
    value = _of_x(column)
    names_a_row = f"NOT {nothing(value)}"
    if not layout.has_table(target):
        return names_a_row
    return (
        f"{names_a_row} AND NOT EXISTS "
        f"(SELECT 1 FROM {quote_identifier(target)} p WHERE p.id = {value})"
    )


def inferred_column(spec: TableSpec) -> ColumnMap | None:
    """The column of `spec` whose trainer is inferred when a row names none, if it has one."""
    return next((column for column in spec.columns if column.infer is not None), None)


def existing_trainer(value: str) -> str:
    """SQL: `value` is the id of a trainer in the file (which has a trainers table)."""
    return f"EXISTS (SELECT 1 FROM trainers t WHERE t.id = {value})"


def names_no_trainer(layout: LegacyLayout, spec: TableSpec, column: ColumnMap) -> str:
    """SQL: row `x` names no trainer in `column` (as its converter reads it: no value)."""
    if not layout.has_column(spec.table, column.column):
        return "1"
    return nothing(_of_x(column.column))


def inferred_trainer(layout: LegacyLayout, spec: TableSpec, column: ColumnMap) -> str:
    """SQL: the trainer of row `x`'s first `infer.via` row whose trainer exists; NULL if none."""
    if not layout.has_table("trainers"):
        return "NULL"
    candidates = []
    for via in column.infer.via:
        parent = spec.references[via]
        if not (layout.has_column(spec.table, via) and layout.has_column(parent, "trainer_id")):
            continue
        candidates.append(
            f"(SELECT p.trainer_id FROM {quote_identifier(parent)} p WHERE p.id = {_of_x(via)} "
            f"AND {existing_trainer('p.trainer_id')})"
        )
    if not candidates:
        return "NULL"
    return candidates[0] if len(candidates) == 1 else f"coalesce({', '.join(candidates)})"


class TrainerLookup:
    """Who trains a legacy client or package, for the import's rows that name no trainer
    (and when a trainer the file gives no date for first shows in it).

    inferred_trainer's rule a row at a time: each parent table's rows whose
    trainer exists, read once, when a row first asks; the import tries a
    row's `infer.via` parents in order (mapping/reading.py).
    """

    def __init__(self, source: LegacySource, layout: LegacyLayout):
        self._source, self._layout = source, layout
        self._by_table: dict[str, dict[Any, Any]] = {}
        self._traces: tuple[dict[Any, Any], Any] | None = None

    def earliest_trace(self, trainer_id: Any) -> Any:
        """When a trainer the file gives no date for first shows in it (mapping/traces.py)."""
        if self._traces is None:
            self._traces = earliest_traces(self._source, self._layout)
        by_trainer, of_the_file = self._traces
        return by_trainer.get(trainer_id, of_the_file)

    def trainer_of(self, table: str, legacy_id: Any) -> Any:
        """The trainer of row `legacy_id` of `table`, if it names one that exists."""
        if table not in self._by_table:
            self._by_table[table] = self._load(table)
        return self._by_table[table].get(legacy_id)

    def _load(self, table: str) -> dict[Any, Any]:
        layout = self._layout
        if not (layout.has_column(table, "trainer_id") and layout.has_table("trainers")):
            return {}
        trainer = _of_x("trainer_id")
        return dict(
            self._source.select(table, [_of_x("id"), trainer], where=existing_trainer(trainer))
        )
