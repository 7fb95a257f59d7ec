"""What a particular legacy file holds, against what the importer knows.

A command reads a file's layout once and hands it to whatever needs it;
clean_legacy reads its copy's again after a fix that changes its tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from migration.legacy import LegacySource
from migration.legacy.schema import (
    is_first_generation_table,
    is_tool_table,
    known_columns,
    newest_schema,
)
from migration.legacy.source import ColumnInfo, table_columns, table_kinds
from migration.mapping.specs import SPECS, TableSpec


@dataclass(frozen=True)
class LegacyLayout:
    """The tables of one legacy file, each with the columns it really has.

    A view is one of its tables (its rows are the table's), and a generated
    column one of its columns: each is data, read like any other, never taken
    for absent. They are named here so that precheck can say what they are.
    """

    columns: dict[str, tuple[str, ...]]
    views: frozenset[str] = frozenset()
    generated: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> its columns

    @classmethod
    def read(cls, source: LegacySource) -> LegacyLayout:
        """The layout of the open legacy file."""
        return cls._of(source.table_kinds(), source.columns)

    @classmethod
    def read_sqlite(cls, fetch: Callable[[str], list[tuple]]) -> LegacyLayout:
        """The layout of any SQLite file, read by `fetch(sql)` (clean_legacy's copy)."""
        return cls._of(table_kinds(fetch), partial(table_columns, fetch))

    @classmethod
    def _of(
        cls, kinds: Mapping[str, str], columns_of: Callable[[str], Sequence[ColumnInfo]]
    ) -> LegacyLayout:
        tables = {table: columns_of(table) for table in sorted(kinds)}
        return cls(
            columns={table: tuple(c.name for c in columns) for table, columns in tables.items()},
            views=frozenset(table for table, kind in kinds.items() if kind == "view"),
            generated={
                table: generated
                for table, columns in tables.items()
                if (generated := tuple(c.name for c in columns if c.generated))
            },
        )

    def is_view(self, table: str) -> bool:
        return table in self.views

    def generated_columns(self, table: str) -> tuple[str, ...]:
        return self.generated.get(table, ())

    def has_table(self, table: str) -> bool:
        return table in self.columns

    def has_column(self, table: str, column: str) -> bool:
        return column in self.columns.get(table, ())

    def present_columns(self, spec: TableSpec) -> tuple[str, ...]:
        """The spec's source columns that this file has, in the spec's order."""
        return tuple(c for c in spec.source_columns if self.has_column(spec.table, c))

    @property
    def known_tables(self) -> list[str]:
        return [table for table in SPECS if self.has_table(table)]

    @property
    def unknown_tables(self) -> list[str]:
        return sorted(
            table
            for table in self.columns.keys() - newest_schema().keys()
            if not is_tool_table(table)
        )

    @property
    def tool_tables(self) -> list[str]:
        """Tables clean_legacy wrote into a cleaned copy."""
        return sorted(table for table in self.columns if is_tool_table(table))

    def unknown_columns(self, table: str) -> list[str]:
        known = known_columns(table)
        return [column for column in self.columns.get(table, ()) if column not in known]

    def is_first_generation(self, table: str) -> bool:
        """Whether the table is of the app's first generation's shape (its own columns)."""
        return is_first_generation_table(table, self.columns.get(table, ()))
