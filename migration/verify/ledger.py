"""The ledger as verify reads it: one legacy table's entries, and which own a target row.

Verify uses the ledger only as the map from legacy row to target row, with
the hashes of both as imported.
"""

from __future__ import annotations

from django.db.models import Exists, Model, OuterRef, QuerySet

from migration.models import LedgerEntry

Action = LedgerEntry.Action
# The actions whose entry names a target row of the legacy row's own.
WITH_OWN_TARGET = (Action.CREATED, Action.UPDATED, Action.UNCHANGED)
# The actions whose entry names a target row that came from the file: its own,
# or one kept after its legacy row left the file (deleted in the old app since,
# or quarantined after its import).
FROM_THE_FILE = (*WITH_OWN_TARGET, Action.GONE, Action.QUARANTINED)


def ledger_entries(using: str, table: str) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.using(using).filter(legacy_table=table)


def came_from_the_file(using: str, model: type[Model]) -> Exists:
    """Whether a row of `model` (the query's own row) came from the legacy file.

    EXISTS, which PostgreSQL runs as one (anti-)join: NOT IN over a chain's
    million ids is a hash the planner may not dare to build.
    """
    entries = LedgerEntry.objects.using(using).filter(
        target_model=model._meta.label, action__in=FROM_THE_FILE, target_id=OuterRef("pk")
    )
    return Exists(entries)
