"""Rows present on both sides of an old/new table pair.

The app switched tables without moving rows, so a row found on both sides
(same natural key) is one session or payment: a true duplicate when its
content matches too, a conflict for a person when it does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .layout import LegacyLayout
from .legacy import quote_identifier
from .specs import TablePair

Query = Callable[[str], list[tuple]]


@dataclass(frozen=True)
class PairMatches:
    keys: tuple[str, ...]
    content: tuple[str, ...]
    duplicates: dict[Any, Any]  # old id -> the new id of its exact twin
    conflicts: dict[Any, Any]  # old id -> a new id with the same key but other content


def match_pair_rows(query: Query, layout: LegacyLayout, pair: TablePair) -> PairMatches | None:
    """Match the pair's rows, or None when the file lacks a side or a key column."""
    if not (layout.has_table(pair.new) and layout.has_table(pair.old)):
        return None

    def on_both_sides(column: str) -> bool:
        return layout.has_column(pair.new, column) and layout.has_column(pair.old, column)

    if not all(on_both_sides(column) for column in pair.natural_key):
        return None
    content = tuple(column for column in pair.content if on_both_sides(column))

    def same(columns) -> str:
        return " AND ".join(f"o.{quote_identifier(c)} IS n.{quote_identifier(c)}" for c in columns)

    rows = query(
        f"SELECT o.id, n.id, ({same(content) or '1'}) "
        f"FROM {quote_identifier(pair.old)} o JOIN {quote_identifier(pair.new)} n "
        f"ON {same(pair.natural_key)} ORDER BY o.id, n.id"
    )
    # An old row may match several new ones: it is one duplicate (of its first
    # exact twin), and a conflict only if it matches none of them exactly.
    duplicates: dict[Any, Any] = {}
    conflicts: dict[Any, Any] = {}
    for old_id, new_id, is_same in rows:
        if is_same and old_id not in duplicates:
            duplicates[old_id] = new_id
            conflicts.pop(old_id, None)
        elif not is_same and old_id not in duplicates:
            conflicts.setdefault(old_id, new_id)
    return PairMatches(pair.natural_key, content, duplicates, conflicts)
