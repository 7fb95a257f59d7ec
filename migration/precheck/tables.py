"""What several checks read alike: the declared tables a file has, the ids a query selects."""

from __future__ import annotations

from typing import Any

from migration.legacy import LegacySource
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import SPECS, TableSpec


def specs_present(layout: LegacyLayout) -> list[TableSpec]:
    return [spec for spec in SPECS.values() if layout.has_table(spec.table)]


def ids_selected(source: LegacySource, sql: str) -> list[Any]:
    return [row_id for (row_id,) in source.query(sql)]
