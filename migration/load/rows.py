"""What a legacy row becomes: its target row and its ledger entry, as tuples.

Made in one place for the importer and for the worker processes that convert
a big table beside it (see chunks.py), so that both write the very same rows.
"""

from __future__ import annotations

from uuid import UUID

from django.apps import apps

from migration.mapping.canonical import Fingerprinter, tuple_getter
from migration.mapping.reading import LegacyRow
from migration.mapping.specs import TableSpec
from migration.models import LedgerEntry

Action = LedgerEntry.Action

# The ledger's own id is left to its default (made by the database on COPY).
LEDGER_FIELDS = (
    "legacy_table",
    "legacy_id",
    "target_model",
    "target_id",
    "action",
    "source_hash",
    "target_hash",
    "raw",
    "run_id",
)


class TableOutput:
    """The target and ledger rows of one legacy table's rows, for one import run."""

    def __init__(self, spec: TableSpec, run_id: UUID):
        self.spec, self.run_id = spec, run_id
        self.model = apps.get_model(spec.model)
        # The target's fields, its primary key first, in the order target_row gives them.
        self.target_fields = (self.model._meta.pk.attname, *spec.target_fields)
        self._values_of = tuple_getter(spec.target_fields)
        self.fingerprint_of = Fingerprinter(spec.synced_fields)
        # (index in target_row's tuple, how the value is stored) of the fields
        # whose value becomes another when the row is made (a legacy digest, wrapped).
        stored_as = {c.field: c.stored_as for c in spec.columns if c.stored_as is not None}
        self._made_once = tuple(
            (index, stored_as[name])
            for index, name in enumerate(spec.target_fields, start=1)
            if name in stored_as
        )

    def target_row(self, row: LegacyRow, target_id: int) -> tuple:
        made = (target_id, *self._values_of(row.values))
        if not self._made_once:
            return made
        made = list(made)
        for index, stored_as in self._made_once:
            made[index] = stored_as(made[index], row.legacy_id)
        return tuple(made)

    def created_entry(self, row: LegacyRow, target_id: int) -> tuple:
        return self.ledger_row(row, target_id, Action.CREATED, self.fingerprint_of(row.values))

    def ledger_row(
        self, row: LegacyRow, target_id: int | None, action: str, target_hash: str
    ) -> tuple:
        # In the order of LEDGER_FIELDS.
        return (
            self.spec.table,
            row.legacy_id,
            self.spec.model,
            target_id,
            action,
            row.source_hash,
            target_hash,
            row.raw_json,  # JSON text, as the writers take a JSONTextField's value
            self.run_id,
        )
