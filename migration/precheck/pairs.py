"""Each old/new table pair the file has: their merge, the rows on both sides, and the
room the old table's renumbered rows need."""

from __future__ import annotations

from collections.abc import Iterator

from migration.findings import Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import SPECS, TABLE_PAIRS, TablePair
from migration.precheck.tables import ids_selected
from migration.rules.pairs import PairMatches, match_pair_rows
from migration.rules.twins import integer_range


def check_table_pairs(
    source: LegacySource,
    layout: LegacyLayout,
    *,
    matched: dict[str, PairMatches] | None = None,
) -> Iterator[Finding]:
    """Each pair's merge, and its rows on both sides; `matched`, if given, gets the matches."""
    for pair in TABLE_PAIRS:
        if not (layout.has_table(pair.new) and layout.has_table(pair.old)):
            continue
        new, old = quote_identifier(pair.new), quote_identifier(pair.old)
        # Read in rowid order (NOT INDEXED), the old table's ids meet the new table's
        # in order too; SQLite would rather read them from a smaller index, in that
        # index's order, and look each id up somewhere else in the new table.
        colliding = source.query(
            f"SELECT count(*) FROM {old} o NOT INDEXED JOIN {new} n ON n.id = o.id"
        )[0][0]
        yield finding(
            "pairs.merge",
            f"{pair.old} ({source.count(pair.old):,} rows) and {pair.new} "
            f"({source.count(pair.new):,} rows) merge into {SPECS[pair.new].model}; "
            f"{colliding:,} id(s) collide: {pair.old}'s rows get ids after the highest",
            table=pair.old,
            row_count=colliding,
            details={"colliding_ids": colliding},
        )
        matches = match_pair_rows(source.query, layout, pair)
        yield from _room_for_renumbered_ids(source, pair, matches)
        if matches is None:
            continue
        if matched is not None:
            matched[pair.old] = matches
        yield from _matched_rows(pair, matches)


def _matched_rows(pair: TablePair, matches: PairMatches) -> Iterator[Finding]:
    """The old table's rows that match a new table's row: twins, or in conflict."""
    keys = ", ".join(matches.keys)
    for code, old_to_new, what in (
        (
            "pairs.duplicate-row",
            matches.duplicates,
            f"are also in {pair.new} (same {keys} and content): they are one row each",
        ),
        (
            "pairs.conflicting-row",
            matches.conflicts,
            f"match a {pair.new} row on {keys} but differ in {', '.join(matches.content)}",
        ),
    ):
        if old_to_new:
            yield finding(
                code,
                f"{len(old_to_new):,} row(s) of {pair.old} {what}",
                table=pair.old,
                row_ids=list(old_to_new),
                details={"pairs": [list(p) for p in list(old_to_new.items())[:20]]},
            )


def _room_for_renumbered_ids(
    source: LegacySource, pair: TablePair, matches: PairMatches | None
) -> Iterator[Finding]:
    """The old table's rows, numbered after the new table's highest id (but its rows'
    twins, merged into them), within the ids the target's key holds."""
    from django.apps import apps

    new = quote_identifier(pair.new)
    # As the importer finds it; an id that is not a number is check_values' to refuse.
    ((highest,),) = source.query(f"SELECT max(id) FROM {new}")
    numbered = source.count(pair.old) - (len(matches.duplicates) if matches else 0)
    # The key's last id is left to its sequence, as for every legacy id (numeric.MAX_ID).
    largest = integer_range(apps.get_model(SPECS[pair.new].model)._meta.pk)[1] - 1
    if not isinstance(highest, int | float) or highest + numbered <= largest:
        return
    # The new table's rows whose ids leave too little room: the ones to renumber.
    crowding = ids_selected(
        source,
        f"SELECT id FROM {new} WHERE typeof(id) IN ('integer', 'real') "
        f"AND id > {int(largest - numbered)} ORDER BY id",
    )
    yield finding(
        "pairs.no-room-for-ids",
        f"{pair.old}'s {numbered:,} row(s) get ids after {pair.new}'s highest, {int(highest)}, "
        f"and the target's ids end at {largest}: {len(crowding):,} row(s) of {pair.new} "
        "have ids too high to leave room",
        table=pair.new,
        column="id",
        row_ids=crowding,
        details={"highest_id": int(highest), "renumbered_rows": numbered, "largest_id": largest},
    )
