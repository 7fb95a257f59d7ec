"""One legacy row read as its spec says: the converted field values, the raw row, its hash.

Pure but for one lookup (who trains a client or a package, for rows that name
no trainer), this is shared by the importer and by verify_import, which must
agree on what a legacy row means while going their own ways about the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .layout import LegacyLayout
from .legacy import LegacySource
from .rows import raw_row, row_hash, without_secrets
from .specs import REQUIRED, ColumnMap, TableSpec


class MissingColumn(Exception):
    """The file lacks a column no generation of the app lacked (precheck blocks such files)."""


@dataclass(frozen=True)
class LegacyRow:
    legacy_id: int
    raw: dict[str, Any]
    source_hash: str
    values: dict[str, Any]  # target field -> converted value (references still legacy ids)

    @classmethod
    def unconverted(cls, spec: TableSpec, raw: dict[str, Any]) -> LegacyRow:
        """A row known only by its raw values (its hash over the real row, secrets and all)."""
        return cls(raw.get("id"), without_secrets(raw, spec.secret_columns), row_hash(raw), {})


class TrainerLookup:
    """Who trains a legacy client or package, for rows that name no trainer."""

    def __init__(self, source: LegacySource, layout: LegacyLayout):
        self._source, self._layout = source, layout
        self._by_table: dict[str, dict[Any, Any]] = {}
        self._trainers: set[Any] | None = None

    def trainer_of(self, table: str, legacy_id: Any) -> Any:
        """The trainer of row `legacy_id` of `table`, if it names one that exists."""
        if table not in self._by_table:
            self._by_table[table] = self._load(table)
        return self._by_table[table].get(legacy_id)

    def _load(self, table: str) -> dict[Any, Any]:
        if not self._layout.has_column(table, "trainer_id"):
            return {}
        trainers = self._existing_trainers()
        return {
            row_id: trainer_id
            for row_id, trainer_id in self._source.rows(table, ("id", "trainer_id"))
            if trainer_id in trainers
        }

    def _existing_trainers(self) -> set[Any]:
        if self._trainers is None:
            self._trainers = (
                {row_id for (row_id,) in self._source.rows("trainers", ("id",))}
                if self._layout.has_table("trainers")
                else set()
            )
        return self._trainers


def convert_row(
    spec: TableSpec,
    columns: tuple[str, ...],
    values: tuple,
    trainers: TrainerLookup,
) -> LegacyRow:
    """One legacy row, read as the spec says: pure but for the trainer lookup."""
    raw = raw_row(columns, values)
    by_column = dict(zip(columns, values, strict=True))
    converted: dict[str, Any] = {}
    for column in spec.columns:
        converted[column.field] = _convert(column, by_column)
    for column in spec.columns:
        if column.infer is not None and converted[column.field] is None:
            converted[column.field] = _infer_trainer(spec, column, converted, trainers)
    kept = without_secrets(raw, spec.secret_columns)
    return LegacyRow(converted["id"], kept, row_hash(raw), converted)


def _convert(column: ColumnMap, by_column: dict[str, Any]) -> Any:
    if column.column not in by_column:
        if column.if_missing is REQUIRED:
            raise MissingColumn(f"the file has no column {column.column}")
        return column.if_missing
    return column.convert(by_column[column.column])


def _infer_trainer(
    spec: TableSpec, column: ColumnMap, converted: dict[str, Any], trainers: TrainerLookup
) -> Any:
    for via in column.infer.via:
        trainer = trainers.trainer_of(spec.references[via], converted.get(via))
        if trainer is not None:
            return trainer
    return None
