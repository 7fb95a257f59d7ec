"""What a table's declaration is made of: the types the specs are written in.

A `TableSpec` names the legacy table, the target model, and for each legacy
column the field it fills and the converter that reads it (see converters).
A column may fill more than one field (a trainer's `name` also gives first and
last name; a payment method is normalised and kept verbatim). `references`
names the legacy table a column's ids point at; `infer` says how to find a
trainer the row does not name; `if_missing` is what an older file, which lacks
the column altogether, gets (see legacy/schema.py's generations). A
`TablePair` is the app's old and new table for the same thing.

A field may be declared with several columns, the newest first: the first the
file has fills it (the first generation's `single_leg_balance_right_open`
stands in for the later `single_leg_balance_right_eyes_open`), and with none
the first column's `if_missing` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from migration.mapping import converters as t
from migration.mapping.domains import Domain


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class InferTrainer:
    """A missing trainer id is the trainer of the first of these rows that has one."""

    via: tuple[str, ...]  # reference columns, tried in order: "package_id", "client_id"


@dataclass(frozen=True)
class FromTheFile:
    """What a file without the column gets from what it does hold (see reading.py): from
    its other rows (a trainer's earliest trace), or, given `of_row`, from the row's
    own converted values (an old payment's fee breakdown, by the fee rule)."""

    what: str
    domain: Domain  # for rules/twins.py, as a converter's
    of_row: Callable[[dict[str, Any]], Any] | None = None

    def __repr__(self) -> str:
        return self.what


@dataclass(frozen=True)
class ColumnMap:
    column: str
    field: str
    convert: t.Converter
    references: str | None = None
    infer: InferTrainer | None = None
    if_missing: Any = REQUIRED
    # Columns whose values the converter takes after the column's own (None
    # where the file lacks them): a first-generation password and its salt.
    also: tuple[str, ...] = ()
    # What the converted value becomes when the target row is made, given the
    # row's legacy id: a legacy digest wrapped in PBKDF2, once.
    stored_as: Callable[[Any, Any], Any] | None = None
    # Written when the target row is created, then kept by the target itself
    # (a trainer's logins re-hash the password and move the lock-out state):
    # re-runs do not overwrite it, and changing it is not an edit of the row.
    set_once: bool = False
    # For a field set once: whether a re-run still renews it from the file, given
    # the target's stored value and the row's legacy id (a password the import
    # made, which no login or reset has replaced since).
    renewed_while: Callable[[Any, Any], bool] | None = None
    # Never kept in the ledger's copy of the row, only as a digest.
    secret: bool = False

    @property
    def inputs(self) -> tuple[str, ...]:
        """The columns the converter takes, in order."""
        return (self.column, *self.also)


def col(column: str, convert: t.Converter, *, to: str | None = None, **options: Any) -> ColumnMap:
    return ColumnMap(column=column, field=to or column, convert=convert, **options)


def ref(
    column: str, table: str, *, to: str | None = None, optional: bool = False, **options: Any
) -> ColumnMap:
    """A column of legacy ids pointing at `table`; it fills the foreign key's id field."""
    convert = t.optional_legacy_id if optional else t.legacy_id
    return ColumnMap(
        column=column, field=to or column, convert=convert, references=table, **options
    )


@dataclass(frozen=True)
class TableSpec:
    table: str
    model: str  # "app_label.ModelName"
    columns: tuple[ColumnMap, ...]
    # An old table whose rows join the new table's in the same model: the new
    # table keeps its ids, and colliding old ids are renumbered after the highest.
    merge_into: str | None = None

    @property
    def source_columns(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(name for column in self.columns for name in (column.column, *column.also))
        )

    def columns_in_effect(self, present: tuple[str, ...]) -> tuple[ColumnMap, ...]:
        """The column maps a file with these columns is read by: for each field, the
        first declared whose column it has."""
        filled: set[str] = set()
        in_effect = []
        for column in self.columns:
            if column.column in present and column.field not in filled:
                filled.add(column.field)
                in_effect.append(column)
        return tuple(in_effect)

    def if_missing(self, present: tuple[str, ...]) -> dict[str, Any]:
        """Field -> what it gets in a file with none of its columns (REQUIRED: none)."""
        filled = {column.field for column in self.columns_in_effect(present)}
        missing: dict[str, Any] = {}
        for column in self.columns:
            if column.field not in filled:
                missing.setdefault(column.field, column.if_missing)
        return missing

    @property
    def target_fields(self) -> tuple[str, ...]:
        """Every field the import fills, but the primary key."""
        return tuple(dict.fromkeys(c.field for c in self.columns if c.field != "id"))

    @property
    def synced_fields(self) -> tuple[str, ...]:
        """The fields re-runs keep equal to the legacy row, and edits are noticed in."""
        set_once = {c.field for c in self.columns if c.set_once}
        return tuple(name for name in self.target_fields if name not in set_once)

    @property
    def secret_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.secret)

    @property
    def references(self) -> dict[str, str]:
        """Legacy column -> the legacy table its ids point at."""
        return {c.column: c.references for c in self.columns if c.references}

    @property
    def reference_fields(self) -> dict[str, str]:
        """Target field -> the legacy table whose ids it holds (before any renumbering)."""
        return {c.field: c.references for c in self.columns if c.references}


@dataclass(frozen=True)
class TablePair:
    """The app's old and new table for the same thing; a row on both sides is a duplicate."""

    new: str
    old: str
    natural_key: tuple[str, ...]
    content: tuple[str, ...] = field(default=())  # compared when the natural key matches
    # A column of the natural key whose values the two sides seldom share: only
    # rows with a value of it found on both sides are matched on the whole key.
    narrowed_by: str | None = None

    def __post_init__(self) -> None:
        assert self.narrowed_by is None or self.narrowed_by in self.natural_key, self
