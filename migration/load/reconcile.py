"""A table's load against the ledger: what a re-run does, and a first load that must
look rows up.

Each batch of rows is compared with the ledger, by hash: unchanged rows are
skipped, changed ones updated through the ORM (unless the target row was
edited in Django since, which is a conflict, reported and left alone), new
ones created. References to a renumbered table are mapped to the ids its
rows took.
"""

from __future__ import annotations

from typing import Any

from migration.load.ids import IdMap
from migration.load.report import Conflict, ImportFailed, some_ids
from migration.load.table import Action, Progress, TableLoad, TableState
from migration.mapping.canonical import target_fingerprint
from migration.mapping.reading import LegacyRow
from migration.models import LedgerEntry

LEDGER_FIELDS_UPDATED = ["action", "source_hash", "target_hash", "raw", "run"]


class Reconcile:
    """A table's rows, batch by batch, reconciled with what the ledger says of them."""

    def __init__(self, table: TableState):
        self.table = table

    def write_rows(self, progress: Progress | None, then: TableLoad | None) -> None:
        table = self.table
        for batch in table.batches():
            self._reconcile([table.reader.read(row) for row in batch])
            if progress:
                progress(table.spec.table, table.result.read, table.row_count)

    def _reconcile(self, rows: list[LegacyRow]) -> None:
        table = self.table
        table.result.read += len(rows)
        self._remap_references(rows)
        ledger = self._ledger_entries(rows)
        # A row quarantined by an earlier clean is back in its table: import it afresh.
        back = [e.pk for e in ledger.values() if e.action == Action.QUARANTINED]
        if back:
            LedgerEntry.objects.using(table.using).filter(pk__in=back).delete()
            ledger = {k: e for k, e in ledger.items() if e.action != Action.QUARANTINED}
        changed = [
            row
            for row in rows
            if row.legacy_id not in ledger or ledger[row.legacy_id].source_hash != row.source_hash
        ]
        table.result.unchanged += len(rows) - len(changed)
        new_rows = [row for row in changed if row.legacy_id not in ledger]
        self._create(new_rows)
        self._update([(row, ledger[row.legacy_id]) for row in changed if row.legacy_id in ledger])

    def _ledger_entries(self, rows: list[LegacyRow]) -> dict[int, LedgerEntry]:
        table = self.table
        if table.ledger_was_empty:
            return {}
        return {
            entry.legacy_id: entry
            for entry in LedgerEntry.objects.using(table.using).filter(
                legacy_table=table.spec.table, legacy_id__in=[row.legacy_id for row in rows]
            )
        }

    def _remap_references(self, rows: list[LegacyRow]) -> None:
        table = self.table
        for name, referenced in table.spec.reference_fields.items():
            if referenced not in IdMap.REMAPPED:
                continue
            mapping = table.id_map.target_ids(referenced, {row.values[name] for row in rows})
            unmapped = [
                row.legacy_id
                for row in rows
                if row.values[name] is not None and row.values[name] not in mapping
            ]
            if unmapped:
                raise ImportFailed(
                    f"{table.spec.table} rows {some_ids(unmapped)} point at {referenced} rows "
                    "that were not imported: run precheck and clean_legacy on this file"
                )
            for row in rows:
                if row.values[name] is not None:
                    row.values[name] = mapping[row.values[name]]

    def _create(self, rows: list[LegacyRow]) -> None:
        if not rows:
            return
        table = self.table
        merged: list[tuple[LegacyRow, int]] = []
        if table.spec.merge_into is None:
            created = rows
            target_ids = table.ids.allocate(created)
        else:
            created, target_ids = [], {}
            numbering = table.ids.numbering()
            for row in rows:
                target_id, is_twin = numbering.place(row.legacy_id)
                if is_twin:
                    merged.append((row, target_id))
                else:
                    created.append(row)
                    target_ids[row.legacy_id] = target_id
        values = (table.output.target_row(row, target_ids[row.legacy_id]) for row in created)
        table.write(
            lambda: table.writer.insert(table.model, table.output.target_fields, values), created
        )
        table.write_ledger(created, target_ids, merged)

    def _update(self, pairs: list[tuple[LegacyRow, LedgerEntry]]) -> None:
        if not pairs:
            return
        table, model, synced = self.table, self.table.model, self.table.synced_fields
        current = {
            values.pop("pk"): target_fingerprint(values)
            for values in model.objects.using(table.using)
            .filter(pk__in=[entry.target_id for _, entry in pairs if entry.target_id])
            .values("pk", *synced)
        }
        updates, entries = [], []
        for row, entry in pairs:
            if entry.action == Action.MERGED and row.legacy_id in table.twins:
                self._refresh_entry(entry, row, Action.MERGED, "")
                entries.append(entry)
                table.result.merged += 1
                continue
            if entry.action == Action.MERGED or current.get(entry.target_id) != entry.target_hash:
                table.result.conflicts.append(
                    Conflict(table.spec.table, row.legacy_id, table.spec.model, entry.target_id)
                )
                continue
            updates.append(model(pk=entry.target_id, **self._field_values(row)))
            fingerprint = table.output.fingerprint_of(row.values)
            self._refresh_entry(entry, row, Action.UPDATED, fingerprint)
            entries.append(entry)
        rows = [row for row, _ in pairs]
        table.write(lambda: model.objects.using(table.using).bulk_update(updates, synced), rows)
        table.write(
            lambda: LedgerEntry.objects.using(table.using).bulk_update(
                entries, LEDGER_FIELDS_UPDATED
            ),
            rows,
        )
        table.result.updated += len(updates)

    def _field_values(self, row: LegacyRow) -> dict[str, Any]:
        return {name: row.values[name] for name in self.table.fields}

    def _refresh_entry(self, entry: LedgerEntry, row: LegacyRow, action: str, target_hash: str):
        entry.action, entry.source_hash, entry.target_hash = action, row.source_hash, target_hash
        entry.raw, entry.run = row.raw, self.table.run
