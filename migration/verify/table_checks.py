"""The checks made of one pass over every legacy table: counts, merges, row balance,
every field, money totals and drift.

The pass (see parts.walking_tables) reads the legacy file afresh beside the ledger;
each check then turns what it found into one outcome.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count

from migration.findings import finding
from migration.legacy import LegacySource
from migration.mapping.layout import LegacyLayout
from migration.mapping.quarantine import quarantined_rows
from migration.mapping.specs import IMPORT_ORDER, PAIRS_BY_TABLE, TableSpec
from migration.models import LedgerEntry
from migration.rules.pairs import match_pair_rows
from migration.verify.fields import shown_value
from migration.verify.ledger import WITH_OWN_TARGET, Action, ledger_entries
from migration.verify.parts import Progress, walking_tables
from migration.verify.report import CheckOutcome
from migration.verify.walk import TableWalk


@dataclass
class TableTally:
    """What the checks know of one legacy table, gathered during the pass."""

    spec: TableSpec
    quarantined_in_file: int = 0
    ledger_actions: Counter = field(default_factory=Counter)
    walk: TableWalk = field(default_factory=TableWalk)
    # An old table's rows that are twins of a new-table row, as the file matches them.
    twins: dict[Any, Any] = field(default_factory=dict)
    bad_merges: list[Any] = field(default_factory=list)
    unmerged_twins: list[Any] = field(default_factory=list)


class TableChecks:
    """Walks each legacy table beside its ledger entries, in id order, once (see
    `walking`); then each check reads its outcome from what the pass found."""

    def __init__(
        self,
        source: LegacySource,
        layout: LegacyLayout,
        using: str,
        progress: Progress | None = None,
    ):
        self.source, self.layout, self.using = source, layout, using
        self.progress = progress
        self.tallies: list[TableTally] = []

    @contextmanager
    def walking(self) -> Iterator[None]:
        """Every table walked: under way during the `with` block, finished at its end."""
        self.tallies = [TableTally(spec) for spec in IMPORT_ORDER]
        walking = walking_tables(self.source, self.layout, self.using, IMPORT_ORDER, self.progress)
        with walking as walks:
            # One pass over the ledger for every table's counts, not a pass each.
            actions = self._ledger_actions()
            for tally in self.tallies:
                tally.ledger_actions = actions.get(tally.spec.table, Counter())
                tally.quarantined_in_file = self._quarantined_in_file(tally.spec.table)
                # Matched here, beside the walk (in workers on a large file).
                tally.twins = self._twins(tally.spec)
            yield
        for tally in self.tallies:
            tally.walk = walks[tally.spec.table]
            if not self.layout.has_table(tally.spec.table):
                entries = ledger_entries(self.using, tally.spec.table)
                tally.walk.deleted = list(
                    entries.exclude(action__in=(Action.QUARANTINED, Action.GONE)).values_list(
                        "legacy_id", flat=True
                    )
                )
                tally.walk.gone = list(
                    entries.filter(action=Action.GONE).values_list("legacy_id", flat=True)
                )
            self._check_merges(tally)

    def _ledger_actions(self) -> dict[str, Counter]:
        """Legacy table -> how many of its ledger entries took each action."""
        actions: dict[str, Counter] = defaultdict(Counter)
        counted = (
            LedgerEntry.objects.using(self.using)
            .values_list("legacy_table", "action")
            .annotate(n=Count("pk"))
            .values_list("legacy_table", "action", "n")
            .order_by()
        )
        for table, action, n in counted:
            actions[table][action] = n
        return actions

    def _twins(self, spec: TableSpec) -> dict[Any, Any]:
        """An old table's twins, matched afresh from the legacy file (one to one)."""
        pair = PAIRS_BY_TABLE.get(spec.table)
        if pair is None or pair.old != spec.table:
            return {}
        matches = match_pair_rows(self.source.query, self.layout, pair)
        return matches.duplicates if matches else {}

    def _quarantined_in_file(self, table: str) -> int:
        return sum(1 for _ in quarantined_rows(self.source, self.layout, table))

    def _check_merges(self, tally: TableTally) -> None:
        """An old table's rows merged exactly where the legacy file's twins say, both ways.

        The twins are matched afresh from the legacy file (one to one), not
        taken from the ledger: a merge the file does not bear out is a lost
        row; a twin that is a target row of its own is one row counted twice.
        """
        merged, twins = tally.walk.merged, tally.twins
        if not (merged or twins):
            return
        pair = PAIRS_BY_TABLE[tally.spec.table]
        twin_targets = dict(
            ledger_entries(self.using, pair.new)
            .filter(legacy_id__in=set(twins.values()))
            .values_list("legacy_id", "target_id")
        )
        for old_id, target_id in merged.items():
            twin = twins.get(old_id)
            if twin is None or twin_targets.get(twin) != target_id:
                tally.bad_merges.append(old_id)
        tally.unmerged_twins = sorted(
            ledger_entries(self.using, pair.old)
            .filter(legacy_id__in=[old_id for old_id in twins if old_id not in merged])
            .filter(action__in=WITH_OWN_TARGET)
            .values_list("legacy_id", flat=True)
        )

    # the outcomes of the pass, one check each

    def legacy_changes(self) -> CheckOutcome:
        findings = []
        for tally in self.tallies:
            table = tally.spec.table
            for code, ids, what in (
                ("verify.legacy-added", tally.walk.added, "added to"),
                ("verify.legacy-changed", tally.walk.changed, "changed in"),
                ("verify.legacy-deleted", tally.walk.deleted, "deleted from"),
            ):
                if ids:
                    findings.append(
                        finding(
                            code,
                            f"{table}: {len(ids):,} row(s) {what} the legacy file since the import",
                            table=table,
                            row_ids=ids,
                        )
                    )
            if tally.walk.gone:
                findings.append(
                    finding(
                        "verify.legacy-gone",
                        f"{table}: {len(tally.walk.gone):,} row(s) gone from the legacy file "
                        "since an import, which recorded them so and kept their target rows",
                        table=table,
                        row_ids=tally.walk.gone,
                    )
                )
        total = sum(
            len(t.walk.added) + len(t.walk.changed) + len(t.walk.deleted) for t in self.tallies
        )
        summary = (
            "no legacy row added, changed or deleted since the import"
            if not total
            else f"{total:,} legacy row(s) differ from what was imported: the delta to import"
        )
        return CheckOutcome("legacy file since the import", summary, tuple(findings))

    def row_balance(self) -> CheckOutcome:
        findings, lines = [], []
        for tally in self.tallies:
            if not (tally.walk.legacy_rows or tally.ledger_actions or tally.quarantined_in_file):
                continue
            in_file = tally.walk.legacy_rows + tally.quarantined_in_file
            gone = tally.ledger_actions[Action.GONE]
            in_ledger = sum(tally.ledger_actions.values()) - gone
            actions = " + ".join(
                f"{tally.ledger_actions[a]:,} {a}"
                for a in Action.values
                if tally.ledger_actions[a] and a != Action.GONE
            )
            kept = f" (and {gone:,} gone from the file, kept in the target)" if gone else ""
            lines.append(f"{tally.spec.table} {in_file:,} = {actions or '0'}{kept}")
            if in_file != in_ledger:
                findings.append(
                    finding(
                        "verify.row-balance",
                        f"{tally.spec.table}: {in_file:,} legacy row(s), {in_ledger:,} in the "
                        f"ledger ({actions or 'none'})",
                        table=tally.spec.table,
                        row_count=abs(in_file - in_ledger),
                    )
                )
        return CheckOutcome("row balance", "; ".join(lines), tuple(findings))

    def fields(self) -> CheckOutcome:
        findings = []
        for tally in self.tallies:
            if tally.walk.target_missing:
                findings.append(
                    finding(
                        "verify.target-missing",
                        f"{tally.spec.table}: {len(tally.walk.target_missing):,} imported row(s) "
                        f"no longer in {tally.spec.model}",
                        table=tally.spec.table,
                        row_ids=tally.walk.target_missing,
                    )
                )
            if tally.bad_merges:
                findings.append(
                    finding(
                        "verify.merge-unfounded",
                        f"{tally.spec.table}: {len(tally.bad_merges):,} row(s) merged into a "
                        f"row that is not their twin in the legacy file",
                        table=tally.spec.table,
                        row_ids=tally.bad_merges,
                    )
                )
            if tally.unmerged_twins:
                findings.append(
                    finding(
                        "verify.twin-not-merged",
                        f"{tally.spec.table}: {len(tally.unmerged_twins):,} row(s) imported as "
                        f"rows of their own, though each is the twin of a "
                        f"{PAIRS_BY_TABLE[tally.spec.table].new} row: counted twice",
                        table=tally.spec.table,
                        row_ids=tally.unmerged_twins,
                    )
                )
            if tally.walk.mismatched_rows:
                shown = "; ".join(
                    f"id {legacy_id} {name}: expected {shown_value(name, want)}, "
                    f"found {shown_value(name, got)}"
                    for legacy_id, name, want, got in tally.walk.mismatches[:5]
                )
                findings.append(
                    finding(
                        "verify.field-mismatch",
                        f"{tally.spec.table}: {len(tally.walk.mismatched_rows):,} row(s) differ "
                        f"from their legacy row: {shown}",
                        table=tally.spec.table,
                        row_ids=sorted(tally.walk.mismatched_rows),
                        details={
                            "differences": [
                                {
                                    "legacy_id": i,
                                    "field": n,
                                    "expected": shown_value(n, w),
                                    "found": shown_value(n, g),
                                }
                                for i, n, w, g in tally.walk.mismatches
                            ]
                        },
                    )
                )
        compared = sum(t.walk.compared for t in self.tallies)
        return CheckOutcome(
            "every field", f"{compared:,} imported row(s) compared field by field", tuple(findings)
        )

    def money_totals(self, held: dict[str, dict[str, Decimal | None]]) -> CheckOutcome:
        """The target's totals (see held_money) against the legacy rows' own."""
        findings, lines = [], []
        for tally in self.tallies:
            found = held.get(tally.spec.table)
            if not found or not tally.ledger_actions:
                continue
            for name, total in found.items():
                expected = tally.walk.expected_money[name]
                total = total or Decimal(0)
                if total != expected:
                    findings.append(
                        finding(
                            "verify.money-total",
                            f"{tally.spec.table}.{name}: the target holds {total:,} won, "
                            f"the legacy file {expected:,}",
                            table=tally.spec.table,
                            column=name,
                        )
                    )
            amount = next(iter(found))
            lines.append(f"{tally.spec.table}.{amount} {found[amount] or 0:,}")
        return CheckOutcome("money totals", "; ".join(lines) + " won", tuple(findings))

    def drift(self) -> CheckOutcome:
        findings = [
            finding(
                "verify.drift",
                f"{t.spec.table}: {len(t.walk.drifted):,} row(s) edited in Django since their "
                "import",
                table=t.spec.table,
                row_ids=t.walk.drifted,
            )
            for t in self.tallies
            if t.walk.drifted
        ]
        drifted = sum(len(t.walk.drifted) for t in self.tallies)
        return CheckOutcome("edits since the import", f"{drifted:,} row(s) edited", tuple(findings))
