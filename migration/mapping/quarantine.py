"""The rows clean_legacy moved aside, as the import and verify read them, and what precheck
refuses of them.

A cleaned copy keeps each quarantined row in `_migration_quarantine`: its
table, its id and the row as canonical JSON. The import gives each a ledger
entry (QUARANTINED, no target row), so that every legacy row is accounted
for, and verify counts them in each table's balance. A copy is a file like
any other, and a person may edit it: each rule below is one the ledger holds
its entries to, and precheck refuses the rows that break one, so that the
import never meets them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from migration.legacy import LegacySource, quote_identifier
from migration.legacy.schema import QUARANTINE_TABLE
from migration.mapping.canonical import canonical_bytes
from migration.mapping.converters import LegacyValueError
from migration.mapping.converters.numeric import legacy_id
from migration.mapping.layout import LegacyLayout


@dataclass(frozen=True)
class QuarantinedRow:
    quarantine_id: Any  # the row's id in the quarantine table
    legacy_id: Any  # the id it had in its own table
    raw: Any  # the row, parsed; a dict when sound
    problem: str = ""  # why the ledger cannot take it, in words; "" if it can


def quarantined_rows(
    source: LegacySource, layout: LegacyLayout, table: str
) -> Iterator[QuarantinedRow]:
    """Each row of `table` in the copy's quarantine, in id order, with its problem if any."""
    if not layout.has_table(QUARANTINE_TABLE):
        return
    rows = source.query(
        f"SELECT id, source_id, row_json FROM {QUARANTINE_TABLE} "
        "WHERE source_table = %s ORDER BY source_id, id",
        [table],
    )
    ids = Counter(source_id for _, source_id, _ in rows)
    still_there = _ids_in_table(source, table, list(ids))
    for quarantine_id, source_id, row_json in rows:
        raw, problem = _parsed(row_json)
        try:
            row_id = legacy_id(source_id)
        except LegacyValueError as error:
            row_id, problem = source_id, problem or f"its source_id is not a row id ({error})"
        if not problem and ids[source_id] > 1:
            problem = f"source_id {source_id} is quarantined {ids[source_id]} times"
        if not problem and source_id in still_there:
            problem = f"source_id {source_id} is still a row of the table"
        yield QuarantinedRow(quarantine_id, row_id, raw, problem)


def _parsed(row_json: Any) -> tuple[Any, str]:
    if not isinstance(row_json, str):
        return None, "its row_json is not text"
    try:
        raw = json.loads(row_json, parse_constant=_no_constant)
    except ValueError:
        return None, "its row_json is not JSON"
    if not isinstance(raw, dict):
        return None, "its row_json is not a JSON object"
    try:
        canonical_bytes(raw)
    except orjson.JSONEncodeError:
        return None, "its row_json holds text the ledger cannot keep (a lone surrogate)"
    return raw, ""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # Python's json reads NaN and Infinity


def _ids_in_table(source: LegacySource, table: str, ids: list[Any]) -> set[Any]:
    found: set[Any] = set()
    for start in range(0, len(ids), 500):  # SQLite's cap on a statement's parameters
        batch = ids[start : start + 500]
        marks = ", ".join("%s" for _ in batch)
        found.update(
            row_id
            for (row_id,) in source.query(
                f"SELECT id FROM {quote_identifier(table)} WHERE id IN ({marks})", batch
            )
        )
    return found
