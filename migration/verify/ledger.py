"""The ledger as verify reads it: one legacy table's entries, and which own a target row.

Verify uses the ledger only as the map from legacy row to target row, with
the hashes of both as imported.
"""

from __future__ import annotations

from django.db.models import QuerySet

from migration.models import LedgerEntry

Action = LedgerEntry.Action
# The actions whose entry names a target row of the legacy row's own.
WITH_OWN_TARGET = (Action.CREATED, Action.UPDATED, Action.UNCHANGED)


def ledger_entries(using: str, table: str) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.using(using).filter(legacy_table=table)
