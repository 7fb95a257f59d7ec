"""A table's load against the ledger: what a re-run does, and a first load that must
look rows up.

Each batch of rows is compared with the ledger, by hash: unchanged rows are
skipped, changed ones updated through the ORM (unless the target row was
edited in Django since, which is a conflict, reported and left alone), new
ones created. References to a renumbered table are mapped to the ids its
rows took.

An old table's row is placed as a first load of the file would place it
(`ids.Numbering`: merged into its twin's target row, or a row of its own),
whatever an earlier run decided: a twin can appear between runs (its new
table's row added, or its match changed), and a row left where an earlier
run put it would then be counted twice, or lost. Such a row is placed anew:
its old entry dropped, and its own target row with it (unless that row was
edited in Django since: a conflict).
"""

from __future__ import annotations

from typing import Any

from migration.load.ids import IdMap
from migration.load.report import Conflict, ImportFailed, OnConflict, some_ids
from migration.load.table import Action, Progress, TableLoad, TableState
from migration.mapping.canonical import target_fingerprint
from migration.mapping.reading import LegacyRow
from migration.mapping.specs import ColumnMap
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
        # A row quarantined by an earlier clean is back in its table: import it afresh,
        # or, if it was imported before it was quarantined, as a row gone and back.
        back = [e for e in ledger.values() if e.action == Action.QUARANTINED]
        if back:
            never_imported = [e.pk for e in back if e.target_id is None]
            LedgerEntry.objects.using(table.using).filter(pk__in=never_imported).delete()
            ledger = {k: e for k, e in ledger.items() if e.pk not in never_imported}
        # A row placed otherwise than the rule places it now goes in as a new row.
        misplaced, conflicting = self._misplaced(rows, ledger)
        if misplaced or conflicting:
            self._unplace([ledger[legacy_id] for legacy_id in misplaced])
            ledger = {k: e for k, e in ledger.items() if k not in misplaced}
            rows = [row for row in rows if row.legacy_id not in conflicting]
        # A row gone from the file (or quarantined) and back is updated, whatever it holds.
        changed = [
            row
            for row in rows
            if row.legacy_id not in ledger
            or ledger[row.legacy_id].source_hash != row.source_hash
            or ledger[row.legacy_id].action in (Action.GONE, Action.QUARANTINED)
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

    def _misplaced(
        self, rows: list[LegacyRow], ledger: dict[int, LedgerEntry]
    ) -> tuple[set[int], set[int]]:
        """Of an old table's rows in the ledger, those placed otherwise than `Numbering`
        places them now, by legacy id: those to place anew, and those whose own target
        row was edited in Django since (conflicts, reported and left as they are)."""
        table = self.table
        if table.spec.merge_into is None or not ledger:
            return set(), set()
        twin_targets = table.ids.numbering().twin_targets
        wrong = [
            entry
            for row in rows
            if (entry := ledger.get(row.legacy_id)) is not None
            and _merged_into(entry) != twin_targets.get(row.legacy_id)
        ]
        # A row of its own that is now a twin: that row goes, unless edited since (and
        # --on-conflict take-legacy settles that: the twin stands; keeping the edit
        # would count the row twice, so keep-target leaves it a conflict).
        own = [entry for entry in wrong if _merged_into(entry) is None]
        current = self._fingerprints([entry.target_id for entry in own])
        conflicting = set()
        for entry in own:
            if current.get(entry.target_id) != entry.target_hash:
                conflict = Conflict(
                    table.spec.table, entry.legacy_id, table.spec.model, entry.target_id
                )
                if table.on_conflict is OnConflict.TAKE_LEGACY and entry.target_id in current:
                    table.result.resolved.append(conflict)
                    continue
                conflicting.add(entry.legacy_id)
                table.result.conflicts.append(conflict)
        return {entry.legacy_id for entry in wrong} - conflicting, conflicting

    def _unplace(self, entries: list[LedgerEntry]) -> None:
        """Misplaced rows' ledger entries dropped, and their own target rows with them."""
        if not entries:
            return
        table = self.table
        own_rows = [entry.target_id for entry in entries if _merged_into(entry) is None]
        which = some_ids(entry.legacy_id for entry in entries)
        table.write(
            lambda: table.model.objects.using(table.using).filter(pk__in=own_rows).delete(), which
        )
        table.write(
            lambda: (
                LedgerEntry.objects.using(table.using)
                .filter(pk__in=[entry.pk for entry in entries])
                .delete()
            ),
            which,
        )

    def _fingerprints(self, target_ids: list[int]) -> dict[int, str]:
        """Each of these target rows' fingerprint as it is now, by id."""
        if not target_ids:
            return {}
        table = self.table
        return {
            values.pop("pk"): target_fingerprint(values)
            for values in table.model.objects.using(table.using)
            .filter(pk__in=target_ids)
            .values("pk", *table.synced_fields)
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
        current = self._fingerprints(
            [entry.target_id for _, entry in pairs if _merged_into(entry) is None]
        )
        updates, entries, renewable = [], [], []
        for row, entry in pairs:
            if _merged_into(entry) is not None:  # into its twin, as the rule still places it
                self._refresh_entry(entry, row, Action.MERGED, "")
                entries.append(entry)
                table.result.merged += 1
                continue
            if current.get(entry.target_id) != entry.target_hash:
                conflict = Conflict(
                    table.spec.table, row.legacy_id, table.spec.model, entry.target_id
                )
                # A target row deleted in Django has no side to keep: always reported.
                if table.on_conflict is OnConflict.REPORT or entry.target_id not in current:
                    table.result.conflicts.append(conflict)
                    continue
                table.result.resolved.append(conflict)
                if table.on_conflict is OnConflict.KEEP_TARGET:
                    # The legacy change let go; the edit stays, which verify calls drift.
                    # A field set once is not the edit's: a password changed in the old
                    # app is still renewed.
                    self._refresh_entry(entry, row, _kept(entry.action), entry.target_hash)
                    entries.append(entry)
                    renewable.append((row, entry.target_id))
                    continue
                # OnConflict.TAKE_LEGACY: written over the edit, as any changed row is.
            updates.append(model(pk=entry.target_id, **self._field_values(row)))
            renewable.append((row, entry.target_id))
            fingerprint = table.output.fingerprint_of(row.values)
            self._refresh_entry(entry, row, Action.UPDATED, fingerprint)
            entries.append(entry)
        rows = [row for row, _ in pairs]
        table.write(lambda: model.objects.using(table.using).bulk_update(updates, synced), rows)
        self._renew(renewable)
        table.write(
            lambda: LedgerEntry.objects.using(table.using).bulk_update(
                entries, LEDGER_FIELDS_UPDATED
            ),
            rows,
        )
        table.result.updated += len(updates)

    def _renew(self, updated: list[tuple[LegacyRow, int]]) -> None:
        """The fields set once that the file still renews (a password changed in the
        old app), where the target holds what the import made."""
        for column in self.table.spec.columns:
            if column.renewed_while is not None and updated:
                self._renew_field(column, dict((target_id, row) for row, target_id in updated))

    def _renew_field(self, column: ColumnMap, rows: dict[int, LegacyRow]) -> None:
        table, name = self.table, column.field
        objects = table.model.objects.using(table.using)
        stored = dict(objects.filter(pk__in=list(rows)).values_list("pk", name))
        renewed = []
        for target_id, row in rows.items():
            if target_id not in stored or not column.renewed_while(
                stored[target_id], row.legacy_id
            ):
                continue
            value = row.values[name]
            if column.stored_as is not None:
                value = column.stored_as(value, row.legacy_id)
            if value != stored[target_id]:
                renewed.append(table.model(pk=target_id, **{name: value}))
        table.write(lambda: objects.bulk_update(renewed, [name]), list(rows.values()))

    def _field_values(self, row: LegacyRow) -> dict[str, Any]:
        return {name: row.values[name] for name in self.table.fields}

    def _refresh_entry(self, entry: LedgerEntry, row: LegacyRow, action: str, target_hash: str):
        entry.action, entry.source_hash, entry.target_hash = action, row.source_hash, target_hash
        entry.raw, entry.run = row.raw, self.table.run


def _kept(action: str) -> str:
    """The action of an entry whose target row is kept as it is: a row back in the file
    (gone or quarantined before) is imported again."""
    return Action.UPDATED if action in (Action.GONE, Action.QUARANTINED) else action


def _merged_into(entry: LedgerEntry) -> int | None:
    """The target row a merged entry went into, its twin's; None for a row of its own."""
    return entry.target_id if entry.action == Action.MERGED else None
