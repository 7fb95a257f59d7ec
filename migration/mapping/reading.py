"""One legacy row read as its spec says: the converted field values, the raw row, its hash.

Pure but for one lookup (who trains a client or a package, for rows that name
no trainer), this is shared by the importer and by verify_import, which must
agree on what a legacy row means while going their own ways about the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from migration.mapping.canonical import (
    CanonicalRows,
    canonical_bytes,
    dict_maker,
    digest,
    raw_row,
    row_hash,
    without_secrets,
)
from migration.mapping.converters import LegacyValueError
from migration.mapping.specs import REQUIRED, SPECS, ColumnMap, FromTheFile, TableSpec

if TYPE_CHECKING:
    from migration.mapping.layout import LegacyLayout


class MissingColumn(Exception):
    """The file lacks a column no generation of the app lacked (precheck blocks such files)."""


class LegacyRow(NamedTuple):
    """A legacy row read (a NamedTuple: a million are made, and it is the cheapest)."""

    legacy_id: int
    raw: dict[str, Any]
    source_hash: str
    values: dict[str, Any]  # target field -> converted value (references still legacy ids)
    raw_json: bytes = b""  # `raw` as canonical JSON (UTF-8): what the ledger stores, made once

    @classmethod
    def unconverted(cls, spec: TableSpec, raw: dict[str, Any]) -> LegacyRow:
        """A row known only by its raw values (its hash over the row as the ledger keeps it)."""
        kept = without_secrets(raw, spec.secret_columns)
        return cls(raw.get("id"), kept, row_hash(kept), {}, canonical_bytes(kept))


def password_columns(layout: LegacyLayout) -> tuple[str, ...] | None:
    """The trainers' columns their passwords are read from: the hash, and its salt if any."""
    spec = SPECS["trainers"]
    present = layout.present_columns(spec)
    for column in spec.columns_in_effect(present):
        if column.field == "password":
            return (column.column, *(name for name in column.also if name in present))
    return None


class TrainerOf(Protocol):
    """Who trains a legacy client or package, and when a trainer first shows in the file
    (rules/references.py's TrainerLookup)."""

    def trainer_of(self, table: str, legacy_id: Any) -> Any: ...

    def earliest_trace(self, trainer_id: Any) -> Any:
        """When a trainer the file gives no date for first shows in it (mapping/traces.py)."""
        ...


class RowReader:
    """Reads the rows of one legacy table as its spec says, the plan worked out once.

    A chain's file has a million sessions: finding each column's position and
    converter per row would cost as much as converting. Pure but for the
    trainer lookup.
    """

    def __init__(
        self,
        spec: TableSpec,
        columns: tuple[str, ...],
        trainers: TrainerOf,
        *,
        rows_kept: bool = True,
    ):
        # rows_kept=False: each row is done with before the next is read (a
        # worker encodes it at once), so its JSON needs no copy of its own size.
        self.spec, self.columns, self._trainers = spec, columns, trainers
        self._rows_kept = rows_kept
        self._canonical = CanonicalRows(columns)
        position = {column: index for index, column in enumerate(columns)}
        missing = spec.if_missing(columns)
        for field_name, if_missing in missing.items():
            if if_missing is REQUIRED:
                raise MissingColumn(f"the file has no column for {spec.table}'s {field_name}")
        # (field, positions, converter) of the columns the file has; what an
        # older file's missing columns give, once.
        self._convert = dict_maker(
            [(c.field, _positions(c, position), c.convert) for c in spec.columns_in_effect(columns)]
        )
        self._missing = {f: v for f, v in missing.items() if not isinstance(v, FromTheFile)}
        from_the_file = {f: v for f, v in missing.items() if isinstance(v, FromTheFile)}
        self._from_the_file = tuple(f for f, v in from_the_file.items() if v.of_row is None)
        # Computed from the row's own values, once the columns it has are converted.
        self._of_row = tuple((f, v.of_row) for f, v in from_the_file.items() if v.of_row)
        self._inferred = tuple(c for c in spec.columns if c.infer is not None)
        self._secret_columns = spec.secret_columns

    def read(self, values: tuple) -> LegacyRow:
        converted = self._convert(values)
        if self._missing:
            converted.update(self._missing)
        for field_name in self._from_the_file:
            converted[field_name] = self._trainers.earliest_trace(converted["id"])
        for field_name, of_row in self._of_row:
            converted[field_name] = of_row(converted)
        for column in self._inferred:
            if converted[column.field] is None:
                converted[column.field] = _infer_trainer(
                    self.spec, column, converted, self._trainers
                )
        raw, text = self._canonical(values, kept=self._rows_kept)
        if self._secret_columns:
            raw = without_secrets(raw, self._secret_columns)
            text = canonical_bytes(raw)
        return LegacyRow(converted["id"], raw, digest(text), converted, text)


def _positions(column: ColumnMap, position: dict[str, int]) -> int | tuple[int | None, ...]:
    if not column.also:
        return position[column.column]
    return (position[column.column], *(position.get(name) for name in column.also))


def _infer_trainer(
    spec: TableSpec, column: ColumnMap, converted: dict[str, Any], trainers: TrainerOf
) -> Any:
    for via in column.infer.via:
        trainer = trainers.trainer_of(spec.references[via], converted.get(via))
        if trainer is not None:
            return trainer
    return None


def row_reader(
    spec: TableSpec, columns: tuple[str, ...], trainers: TrainerOf, *, rows_kept: bool = True
) -> Callable[[tuple], LegacyRow]:
    """Reads a row as the importer does; a row it could not take (changed since the
    import into a value the importer refuses) only by its raw values, which is all a
    comparison with the ledger needs: its hash tells it from the imported row."""

    def unconverted(values: tuple) -> LegacyRow:
        return LegacyRow.unconverted(spec, raw_row(columns, values))

    try:
        reader = RowReader(spec, columns, trainers, rows_kept=rows_kept)
    except MissingColumn:
        return unconverted

    def read(values: tuple) -> LegacyRow:
        try:
            return reader.read(values)
        except LegacyValueError:
            return unconverted(values)

    return read
