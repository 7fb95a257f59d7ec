"""Rows present on both sides of an old/new table pair.

The app switched tables without moving rows, so a row found on both sides
(same natural key) is one session or payment: a true duplicate when its
content matches too, a conflict for a person when it does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from migration.legacy import quote_identifier
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import TablePair

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

    def value(column: str) -> str:
        # '' and NULL meant the same to the legacy app (and to the converters).
        return f"nullif({quote_identifier(column)}, '')"

    def normalised(table: str) -> str:
        columns = ", ".join(
            f"{value(c)} AS {quote_identifier(c)}" for c in (*pair.natural_key, *content)
        )
        select = f"SELECT id, {columns} FROM {quote_identifier(table)}"
        if pair.narrowed_by is None:
            return select
        # Only a row whose narrowing value the other side has too can match: the
        # rest need not be indexed nor looked up. The values are compared as the
        # whole key compares them (IS: NULL with NULL, 3 with 3.0, '3' not with 3).
        narrowing = value(pair.narrowed_by)
        return (
            f"{select} WHERE {narrowing} IN (SELECT value FROM shared) OR ({narrowing} IS NULL "
            "AND EXISTS (SELECT 1 FROM shared WHERE value IS NULL))"
        )

    def same(columns) -> str:
        return " AND ".join(f"o.{quote_identifier(c)} IS n.{quote_identifier(c)}" for c in columns)

    # SQLite has no hash join: it materialises one side, keys normalised, indexes
    # it (on expressions it would compare every pair of rows), and looks each row
    # of the other side up in it. Indexing the smaller side costs least; CROSS
    # JOIN makes SQLite scan the larger one.
    side = {"o": pair.old, "n": pair.new}
    indexed, scanned = sorted(side, key=lambda alias: _count(query, side[alias]))
    shared = (
        ""
        if pair.narrowed_by is None
        else f"shared(value) AS MATERIALIZED (SELECT {value(pair.narrowed_by)} FROM "
        f"{quote_identifier(pair.old)} INTERSECT SELECT {value(pair.narrowed_by)} FROM "
        f"{quote_identifier(pair.new)}), "
    )
    rows = query(
        f"WITH {shared}{indexed} AS MATERIALIZED ({normalised(side[indexed])}), "
        f"{scanned} AS NOT MATERIALIZED ({normalised(side[scanned])}) "
        f"SELECT o.id, n.id, ({same(content) or '1'}) FROM {scanned} CROSS JOIN {indexed} "
        f"ON {same(pair.natural_key)} ORDER BY o.id, n.id"
    )
    # One to one: a new row is the twin of one old row at most. A second old
    # row identical to an already twinned new row is a row of its own (two
    # sessions of a package on one day, say), neither a duplicate nor a conflict.
    duplicates: dict[Any, Any] = {}
    twinned: set[Any] = set()
    identical_to_a_twin: set[Any] = set()
    conflicts: dict[Any, Any] = {}
    for old_id, new_id, is_same in rows:
        if old_id in duplicates:
            continue
        if is_same and new_id not in twinned:
            duplicates[old_id] = new_id
            twinned.add(new_id)
        elif is_same:
            identical_to_a_twin.add(old_id)
        else:
            conflicts.setdefault(old_id, new_id)
    conflicts = {
        old_id: new_id
        for old_id, new_id in conflicts.items()
        if old_id not in duplicates and old_id not in identical_to_a_twin
    }
    return PairMatches(pair.natural_key, content, duplicates, conflicts)


def _count(query: Query, table: str) -> int:
    return query(f"SELECT count(*) FROM {quote_identifier(table)}")[0][0]
