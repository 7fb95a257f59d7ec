"""One legacy row read as its spec says: the converted field values, the raw row, its hash.

Pure but for one lookup (who trains a client or a package, for rows that name
no trainer), this is shared by the importer and by verify_import, which must
agree on what a legacy row means while going their own ways about the rest.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from migration.mapping.canonical import (
    CanonicalRows,
    canonical_bytes,
    dict_maker,
    digest,
    row_hash,
    without_secrets,
)
from migration.mapping.specs import REQUIRED, ColumnMap, TableSpec


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
        """A row known only by its raw values (its hash over the real row, secrets and all)."""
        kept = without_secrets(raw, spec.secret_columns)
        return cls(raw.get("id"), kept, row_hash(raw), {}, canonical_bytes(kept))


class TrainerOf(Protocol):
    """Who trains a legacy client or package (rules/references.py's TrainerLookup)."""

    def trainer_of(self, table: str, legacy_id: Any) -> Any: ...


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
        for column in spec.columns:
            if column.column not in position and column.if_missing is REQUIRED:
                raise MissingColumn(f"the file has no column {column.column}")
        # (field, position, converter) of the columns the file has; what an
        # older file's missing columns give, once.
        self._convert = dict_maker(
            [(c.field, position[c.column], c.convert) for c in spec.columns if c.column in position]
        )
        self._missing = {c.field: c.if_missing for c in spec.columns if c.column not in position}
        self._inferred = tuple(c for c in spec.columns if c.infer is not None)
        self._secret_columns = spec.secret_columns

    def read(self, values: tuple) -> LegacyRow:
        converted = self._convert(values)
        if self._missing:
            converted.update(self._missing)
        for column in self._inferred:
            if converted[column.field] is None:
                converted[column.field] = _infer_trainer(
                    self.spec, column, converted, self._trainers
                )
        raw, text = self._canonical(values, kept=self._rows_kept)
        source_hash = digest(text)
        if self._secret_columns:
            raw = without_secrets(raw, self._secret_columns)
            text = canonical_bytes(raw)
        return LegacyRow(converted["id"], raw, source_hash, converted, text)


def _infer_trainer(
    spec: TableSpec, column: ColumnMap, converted: dict[str, Any], trainers: TrainerOf
) -> Any:
    for via in column.infer.via:
        trainer = trainers.trainer_of(spec.references[via], converted.get(via))
        if trainer is not None:
            return trainer
    return None
