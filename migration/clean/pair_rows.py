"""Rows on both sides of an old/new table pair: the old-table copy of a true duplicate deleted.

So that a package's gross (the sum of its payments, fees.py) counts a payment
once. Rows that match on the natural key but differ are reported, left for a
person to decide (rules/pairs.py matches them).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from migration.clean.copy import CopyBeingCleaned
from migration.clean.report import PAIR_RULE, PairConflict
from migration.legacy import quote_identifier
from migration.mapping.canonical import canonical_json, raw_row
from migration.mapping.specs import TABLE_PAIRS
from migration.rules.pairs import match_pair_rows


def drop_duplicate_pair_rows(copy: CopyBeingCleaned) -> tuple[PairConflict, ...]:
    """Delete the old-table copy of each true duplicate; report the conflicts."""
    conflicts: list[PairConflict] = []
    for pair in TABLE_PAIRS:
        matches = match_pair_rows(copy.query, copy.layout, pair)
        if matches is None:
            continue
        columns = copy.layout.columns[pair.old]
        selected = ", ".join(quote_identifier(column) for column in columns)
        log = []
        for old_id in matches.duplicates:
            (row,) = copy.query(
                f"SELECT {selected} FROM {quote_identifier(pair.old)} WHERE id = ?", (old_id,)
            )
            log.append((pair.old, old_id, None, canonical_json(raw_row(columns, row)), None))
        copy.connection.executemany(
            f"DELETE FROM {quote_identifier(pair.old)} WHERE id = ?",
            [(old_id,) for old_id in matches.duplicates],
        )
        copy.log([(*change, PAIR_RULE) for change in log])
        for old_id, new_id in matches.conflicts.items():
            differing = _differing(copy, pair.old, old_id, pair.new, new_id, matches.content)
            conflicts.append(PairConflict(pair.old, old_id, pair.new, new_id, differing))
    return tuple(conflicts)


def _differing(
    copy: CopyBeingCleaned, old: str, old_id: Any, new: str, new_id: Any, columns: Sequence[str]
) -> tuple[str, ...]:
    if not columns:
        return ()
    compared = ", ".join(f"o.{quote_identifier(c)} IS NOT n.{quote_identifier(c)}" for c in columns)
    (flags,) = copy.query(
        f"SELECT {compared} FROM {quote_identifier(old)} o, {quote_identifier(new)} n "
        "WHERE o.id = ? AND n.id = ?",
        (old_id, new_id),
    )
    return tuple(column for column, differs in zip(columns, flags, strict=True) if differs)
