"""verify_import: proof, after cutover, that the target matches the legacy file row by row.

It goes its own way, not the importer's: it reads the legacy file afresh,
reads the target through the ORM, and uses the ledger only as the map from
legacy row to target row, with the hashes of both as imported. It shares with
the importer just what a legacy row means (the specs, through
`conversion.RowReader`) and how a target row is fingerprinted.

A chain's file has a million rows, so each table is walked as streams in id
order: legacy rows beside ledger entries (without the ledger's copy of each
row), target rows fetched by id range a batch at a time. A row's expected
values are compared with the target's as a whole, and field by field only
when they differ, to name the fields. A large table is walked in ranges of
ids by worker processes, one per core, while this process runs the checks
that need only the target; the ranges' findings add up to one walk's.
Memory stays flat: nothing is held per row but the findings.

The checks, counts first, then relations, then every field:
- the legacy file against the ledger: rows added, changed or deleted since;
- row balance for every legacy table, and the reverse count in the target;
- every imported row's fields equal to the transform of its legacy row;
- money totals per table, to the won;
- relations intact, e-mails unique, sequences past the highest id;
- password hashes carried;
- rows edited in Django since their import (drift).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from math import ceil
from operator import itemgetter
from typing import Any, NamedTuple

from django.apps import apps
from django.contrib.auth.hashers import is_password_usable
from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import Count, DecimalField, Exists, ForeignKey, Model, OuterRef, Sum
from django.db.models.functions import Lower, Trim

from migration.findings import Finding, Severity, finding
from migration.legacy import LegacySource, file_sha256, quote_identifier
from migration.legacy.layout import LegacyLayout
from migration.legacy.schema import QUARANTINE_TABLE
from migration.mapping.canonical import Fingerprinter, raw_row
from migration.mapping.converters import LegacyValueError, is_legacy_bcrypt
from migration.mapping.reading import LegacyRow, MissingColumn, RowReader, TrainerLookup
from migration.mapping.specs import (
    IMPORT_ORDER,
    PAIRS_BY_TABLE,
    RENUMBERED_TABLES,
    SPECS,
    TableSpec,
    target_models,
)
from migration.models import ImportRun, LedgerEntry
from migration.postgres import on_postgresql, sequence_positions
from migration.rules.pairs import match_pair_rows
from migration.workers import can_fork, worker_pool, workers_lost_said

BATCH_SIZE = 2_000
EXAMPLES = 20  # differences listed per table
Action = LedgerEntry.Action
WITH_OWN_TARGET = (Action.CREATED, Action.UPDATED, Action.UNCHANGED)
# What the walk reads of each ledger entry: not its copy of the legacy row.
LEDGER_COLUMNS = ("legacy_id", "action", "target_id", "source_hash", "target_hash")


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    summary: str
    findings: tuple[Finding, ...] = ()

    def failures(self, *, strict: bool) -> list[Finding]:
        return [
            item
            for item in self.findings
            if item.severity == Severity.BLOCKING or (strict and item.severity == Severity.WARNING)
        ]

    def to_dict(self, *, strict: bool) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": not self.failures(strict=strict),
            "summary": self.summary,
            "findings": [item.to_dict() for item in self.findings],
        }


@dataclass(frozen=True)
class VerifyReport:
    source: str
    sha256: str
    run_id: str | None
    imported_sha256: str | None
    strict: bool
    checks: tuple[CheckOutcome, ...]

    @property
    def findings(self) -> list[Finding]:
        return [item for check in self.checks for item in check.findings]

    @property
    def failures(self) -> list[Finding]:
        return [item for check in self.checks for item in check.failures(strict=self.strict)]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "imported_sha256": self.imported_sha256,
            "run_id": self.run_id,
            "strict": self.strict,
            "passed": self.passed,
            "checks": [check.to_dict(strict=self.strict) for check in self.checks],
        }


def verify_import(*, source: LegacySource, using: str, strict: bool = False) -> VerifyReport:
    sha256 = file_sha256(source.path)
    run = (
        ImportRun.objects.using(using)
        .filter(outcome=ImportRun.Outcome.SUCCEEDED)
        .order_by("-started_at")
        .first()
    )
    if run is None:
        check = CheckOutcome(
            "import recorded",
            "no successful import in the target's ledger",
            (finding("verify.not-imported", "the target has no successful import to verify"),),
        )
        return VerifyReport(str(source.path), sha256, None, None, strict, (check,))
    layout = LegacyLayout.read(source)
    tables = TableChecks(source, layout, using)
    with tables.walking():
        # The checks that need no legacy row run while the tables are walked
        # (in worker processes, on a large file): they wait on the database.
        target_rows = reverse_counts(using)
        money = held_money(using)
        linked = relations(using)
        emails = unique_emails(using)
        ids = sequences(using)
        carried = passwords(source, layout, using)
    checks = (
        tables.legacy_changes(),
        tables.row_balance(),
        target_rows,
        tables.fields(),
        tables.money_totals(money),
        linked,
        emails,
        ids,
        carried,
        tables.drift(),
    )
    return VerifyReport(str(source.path), sha256, str(run.pk), run.source_sha256, strict, checks)


# --- one pass over every legacy table -------------------------------------


@dataclass
class TableWalk:
    """What a walk over a legacy table, or over a range of its ids, found.

    Plain data, so that a worker process can send it back.
    """

    legacy_rows: int = 0
    added: list[Any] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)
    deleted: list[Any] = field(default_factory=list)
    target_missing: list[Any] = field(default_factory=list)
    drifted: list[Any] = field(default_factory=list)
    compared: int = 0
    mismatches: list[tuple[Any, str, Any, Any]] = field(default_factory=list)
    mismatched_rows: set = field(default_factory=set)
    expected_money: Counter = field(default_factory=Counter)
    merged: dict[Any, Any] = field(default_factory=dict)  # old id -> target id, per the ledger

    def extend(self, part: TableWalk) -> None:
        """Adds the walk over the next range of ids: the same as one walk over both."""
        self.legacy_rows += part.legacy_rows
        for ids in ("added", "changed", "deleted", "target_missing", "drifted"):
            getattr(self, ids).extend(getattr(part, ids))
        self.compared += part.compared
        self.mismatches = (self.mismatches + part.mismatches)[:EXAMPLES]
        self.mismatched_rows |= part.mismatched_rows
        self.expected_money.update(part.expected_money)  # adds, as Counters do
        self.merged.update(part.merged)


@dataclass
class TableTally:
    spec: TableSpec
    quarantined_in_file: int = 0
    ledger_actions: Counter = field(default_factory=Counter)
    walk: TableWalk = field(default_factory=TableWalk)
    bad_merges: list[Any] = field(default_factory=list)


class IdRange(NamedTuple):
    """The legacy ids from `low` up to, not including, `high` (None: no bound).

    `rowids` (first, last) are the legacy rows to read for it: those of a
    table whose ids are its rowids (None: every row).
    """

    low: int | None = None
    high: int | None = None
    rowids: tuple[int, int] | None = None

    def lookups(self) -> dict[str, int]:
        bounds = {"legacy_id__gte": self.low, "legacy_id__lt": self.high}
        return {lookup: bound for lookup, bound in bounds.items() if bound is not None}


EVERY_ID = IdRange()


class Part(NamedTuple):
    """A table, or a range of its ids, to walk."""

    tally: TableTally
    ids: IdRange
    rows: int  # about how many legacy rows


class TableChecks:
    """Walks each legacy table beside its ledger entries, in id order, once.

    A large table is walked in ranges of ids by worker processes (Python
    converts a row at a time: one process is one core); the ranges' walks
    add up to the walk of the whole table.
    """

    def __init__(self, source: LegacySource, layout: LegacyLayout, using: str):
        self.source, self.layout, self.using = source, layout, using
        self.tallies: list[TableTally] = []

    @contextmanager
    def walking(self) -> Iterator[None]:
        """Every table walked: under way during the `with` block, finished at its end."""
        self.tallies = [TableTally(spec) for spec in IMPORT_ORDER]
        workers = _worker_count(self.using)
        parts = self._parts(workers)
        with self._walks(parts, workers) as walks:
            for tally in self.tallies:
                self._count(tally)
            yield
            for part, walk in zip(parts, walks, strict=True):
                part.tally.walk.extend(walk)
        for tally in self.tallies:
            if not self.layout.has_table(tally.spec.table):
                tally.walk.deleted = list(
                    _ledger(self.using, tally.spec.table)
                    .exclude(action=Action.QUARANTINED)
                    .values_list("legacy_id", flat=True)
                )
            self._check_merges(tally)

    def _parts(self, workers: int) -> list[Part]:
        """Every table in the file, a table larger than a worker's share in ranges of ids."""
        rows = {
            tally.spec.table: self.source.count(tally.spec.table)
            for tally in self.tallies
            if self.layout.has_table(tally.spec.table)
        }
        share = max(sum(rows.values()) / workers, 1)
        parts = []
        for tally in self.tallies:
            if tally.spec.table in rows:
                table_rows = rows[tally.spec.table]
                wanted = min(workers, ceil(table_rows / share))
                ranges = self._id_ranges(tally.spec, table_rows, wanted)
                parts += [Part(tally, ids, table_rows // len(ranges)) for ids in ranges]
        return parts

    def _id_ranges(self, spec: TableSpec, rows: int, wanted: int) -> list[IdRange]:
        """The table's ids in `wanted` ranges, each of PART_ROWS rows or more.

        Only a table whose ids are its rowids is split: a range of ids is then
        a range of rows SQLite reads by itself, and in id order.
        """
        table = spec.table
        count = min(wanted, rows // PART_ROWS)
        if count < 2 or not self._ids_are_rowids(table):
            return [EVERY_ID]
        sql = f"SELECT min(id), max(id) FROM {quote_identifier(table)}"
        first, last = self.source.query(sql)[0]
        step = (last - first) // count + 1
        bounds = [first + step * part for part in range(1, count)]
        # The first and last ranges are open for the ledger, whose entries may
        # have ids no longer in the file.
        return [
            IdRange(low, high, (first if low is None else low, last if high is None else high - 1))
            for low, high in zip([None, *bounds], [*bounds, None], strict=True)
        ]

    def _ids_are_rowids(self, table: str) -> bool:
        rowid = self.source.rowid_name(table)
        if rowid is None or not self.layout.has_column(table, "id"):
            return False
        sql = f"SELECT count(*) FROM {quote_identifier(table)} WHERE {rowid} IS NOT id"
        return self.source.query(sql)[0][0] == 0

    def _walks(
        self, parts: list[Part], workers: int
    ) -> AbstractContextManager[Iterator[TableWalk]]:
        """Each part's walk, in order: by worker processes if any table was split."""
        walker = TableWalker(self.source, self.layout, self.using)
        if all(part.ids == EVERY_ID for part in parts):
            # Here, one part after the other, as the walks are asked for.
            return nullcontext(walker.walk(part.tally.spec, part.ids) for part in parts)
        return _walks_in_workers(walker, parts, workers)

    def _count(self, tally: TableTally) -> None:
        tally.ledger_actions = Counter(
            dict(
                _ledger(self.using, tally.spec.table)
                .values_list("action")
                .annotate(n=Count("pk"))
                .values_list("action", "n")
            )
        )
        tally.quarantined_in_file = self._quarantined_in_file(tally.spec.table)

    def _quarantined_in_file(self, table: str) -> int:
        if not self.layout.has_table(QUARANTINE_TABLE):
            return 0
        sql = f"SELECT count(*) FROM {QUARANTINE_TABLE} WHERE source_table = %s"
        return self.source.query(sql, [table])[0][0]

    def _check_merges(self, tally: TableTally) -> None:
        """Each merged old row must still be the exact twin of the new row it went into.

        The twins are matched afresh from the legacy file (one to one), not
        taken from the ledger: a merge the file does not bear out is a lost row.
        """
        merged = tally.walk.merged
        if not merged:
            return
        pair = PAIRS_BY_TABLE[tally.spec.table]
        matches = match_pair_rows(self.source.query, self.layout, pair)
        twins = matches.duplicates if matches else {}
        twin_targets = dict(
            _ledger(self.using, pair.new)
            .filter(legacy_id__in=set(twins.values()))
            .values_list("legacy_id", "target_id")
        )
        for old_id, target_id in merged.items():
            twin = twins.get(old_id)
            if twin is None or twin_targets.get(twin) != target_id:
                tally.bad_merges.append(old_id)

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
                            f"{table}: {len(ids)} row(s) {what} the legacy file since the import",
                            table=table,
                            row_ids=ids,
                        )
                    )
        total = sum(
            len(t.walk.added) + len(t.walk.changed) + len(t.walk.deleted) for t in self.tallies
        )
        summary = (
            "no legacy row added, changed or deleted since the import"
            if not total
            else f"{total} legacy row(s) differ from what was imported: the delta to import"
        )
        return CheckOutcome("legacy file since the import", summary, tuple(findings))

    def row_balance(self) -> CheckOutcome:
        findings, lines = [], []
        for tally in self.tallies:
            if not (tally.walk.legacy_rows or tally.ledger_actions or tally.quarantined_in_file):
                continue
            in_file = tally.walk.legacy_rows + tally.quarantined_in_file
            in_ledger = sum(tally.ledger_actions.values())
            actions = " + ".join(
                f"{tally.ledger_actions[a]} {a}" for a in Action.values if tally.ledger_actions[a]
            )
            lines.append(f"{tally.spec.table} {in_file} = {actions or '0'}")
            if in_file != in_ledger:
                findings.append(
                    finding(
                        "verify.row-balance",
                        f"{tally.spec.table}: {in_file} legacy row(s), {in_ledger} in the ledger "
                        f"({actions or 'none'})",
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
                        f"{tally.spec.table}: {len(tally.walk.target_missing)} imported row(s) no "
                        f"longer in {tally.spec.model}",
                        table=tally.spec.table,
                        row_ids=tally.walk.target_missing,
                    )
                )
            if tally.bad_merges:
                findings.append(
                    finding(
                        "verify.merge-unfounded",
                        f"{tally.spec.table}: {len(tally.bad_merges)} row(s) merged into a "
                        f"row that is not their twin in the legacy file",
                        table=tally.spec.table,
                        row_ids=tally.bad_merges,
                    )
                )
            if tally.walk.mismatched_rows:
                shown = "; ".join(
                    f"id {legacy_id} {name}: expected {_shown(name, want)}, "
                    f"found {_shown(name, got)}"
                    for legacy_id, name, want, got in tally.walk.mismatches[:5]
                )
                findings.append(
                    finding(
                        "verify.field-mismatch",
                        f"{tally.spec.table}: {len(tally.walk.mismatched_rows)} row(s) differ from "
                        f"their legacy row: {shown}",
                        table=tally.spec.table,
                        row_ids=sorted(tally.walk.mismatched_rows),
                        details={
                            "differences": [
                                {
                                    "legacy_id": i,
                                    "field": n,
                                    "expected": _shown(n, w),
                                    "found": _shown(n, g),
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
                f"{t.spec.table}: {len(t.walk.drifted)} row(s) edited in Django since their import",
                table=t.spec.table,
                row_ids=t.walk.drifted,
            )
            for t in self.tallies
            if t.walk.drifted
        ]
        drifted = sum(len(t.walk.drifted) for t in self.tallies)
        return CheckOutcome("edits since the import", f"{drifted} row(s) edited", tuple(findings))


class TableWalker:
    """Walks a legacy table, or a range of its ids, beside its ledger entries, in id order."""

    def __init__(self, source: LegacySource, layout: LegacyLayout, using: str):
        self.source, self.layout, self.using = source, layout, using
        self.trainers = TrainerLookup(source, layout)

    def walk(self, spec: TableSpec, ids: IdRange = EVERY_ID) -> TableWalk:
        found = TableWalk()
        columns = self.layout.columns[spec.table]
        read = self._reader(spec, columns)
        legacy = (
            read(values)
            for values in self.source.rows(
                spec.table, columns, batch_size=BATCH_SIZE, rowids=ids.rowids
            )
        )
        # What the join needs and no more: the ledger's copy of each row (`raw`)
        # is most of its bytes, and a model instance per row most of its cost.
        entries = (
            _ledger(self.using, spec.table)
            .exclude(action=Action.QUARANTINED)
            .filter(**ids.lookups())
            .order_by("legacy_id")
            .values_list(*LEDGER_COLUMNS, named=True)
            .iterator(chunk_size=BATCH_SIZE)
        )
        target = TargetTable(spec, self.using)
        same: list[tuple[LegacyRow, Any]] = []
        for row, entry in _merge_join(legacy, entries):
            if row is not None:
                found.legacy_rows += 1
            if entry is None:
                found.added.append(row.legacy_id)
            elif row is None:
                found.deleted.append(entry.legacy_id)
            elif row.source_hash != entry.source_hash:
                found.changed.append(row.legacy_id)
            elif entry.action in WITH_OWN_TARGET:
                same.append((row, entry))
                if len(same) >= BATCH_SIZE:
                    self._compare(found, spec, target, same)
                    same = []
            elif entry.action == Action.MERGED:
                found.merged[entry.legacy_id] = entry.target_id
        self._compare(found, spec, target, same)
        return found

    def _reader(self, spec: TableSpec, columns: tuple[str, ...]) -> Callable[[tuple], LegacyRow]:
        """Reads a row of the table as the importer does, the plan worked out once."""

        def unconverted(values: tuple) -> LegacyRow:
            # Changed since the import into a value the importer could not take:
            # its hash tells it from the imported row, which is all this needs.
            return LegacyRow.unconverted(spec, raw_row(columns, values))

        try:
            reader = RowReader(spec, columns, self.trainers)
        except MissingColumn:
            return unconverted

        def read(values: tuple) -> LegacyRow:
            try:
                return reader.read(values)
            except LegacyValueError:
                return unconverted(values)

        return read

    def _compare(
        self,
        found: TableWalk,
        spec: TableSpec,
        target: TargetTable,
        pairs: list[tuple[LegacyRow, Any]],
    ) -> None:
        if not pairs:
            return
        current_rows = target.rows([entry.target_id for _, entry in pairs])
        references = self._references(spec, [row for row, _ in pairs])
        for row, entry in pairs:
            current = current_rows.get(entry.target_id)
            if current is None:
                found.target_missing.append(row.legacy_id)
                continue
            expected = target.expected(row, references)
            for index, name in target.money:
                if expected[index] is not None:
                    found.expected_money[name] += expected[index]
            if target.fingerprint(current) != entry.target_hash:
                # Edited in Django since: reported as drift, not compared field by field.
                # Its money still counts below: totals must match the legacy file to the won.
                found.drifted.append(row.legacy_id)
                continue
            found.compared += 1
            # Equal tuples are equal field by field, which _same_value never
            # finds different; only a row that differs somewhere is looked at
            # field by field, by _same_value's own rules.
            if expected != current:
                _compare_fields(found, target.fields, row.legacy_id, expected, current)

    def _references(self, spec: TableSpec, rows: list[LegacyRow]) -> dict[str, dict[Any, Any]]:
        """Legacy id -> target id, from the ledger, for references to renumbered tables."""
        maps = {}
        for name, table in spec.reference_fields.items():
            if table in RENUMBERED_TABLES:
                ids = {row.values[name] for row in rows if row.values[name] is not None}
                maps[name] = dict(
                    _ledger(self.using, table)
                    .filter(legacy_id__in=ids)
                    .values_list("legacy_id", "target_id")
                )
        return maps


def _compare_fields(
    found: TableWalk, fields: tuple[str, ...], legacy_id: Any, expected: tuple, current: tuple
) -> None:
    for name, want, got in zip(fields, expected, current, strict=True):
        if not _same_value(name, want, got):
            found.mismatched_rows.add(legacy_id)
            if len(found.mismatches) < EXAMPLES:
                found.mismatches.append((legacy_id, name, want, got))


# --- the walk's ranges in worker processes --------------------------------

PART_ROWS = 25_000  # fewer rows than this a range, and a worker costs more than it saves
# Each worker is a process of its own (some 80 MB) with a connection of its
# own; past four, the database and this process's own checks set the pace.
MAX_WORKERS = 4


def _worker_count(using: str) -> int:
    """How many processes may walk at once: one per core, on PostgreSQL, on Linux.

    Other connections see only what is committed, so verify inside a
    transaction (as in a test) walks in its own process; so does SQLite.
    The workers are forked (see forking.py), which only Linux does safely.
    """
    connection = connections[using]
    if not can_fork() or connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    return min(len(os.sched_getaffinity(0)), MAX_WORKERS)


@contextmanager
def _walks_in_workers(
    walker: TableWalker, parts: list[Part], workers: int
) -> Iterator[Iterator[TableWalk]]:
    """Each part's walk, in order, by a pool of forked worker processes (see forking.py).

    The largest parts are handed out first, so that the workers end together.
    After a failure (or Ctrl-C), the workers are stopped where they are.
    """
    with workers_lost_said(), worker_pool(workers, _start_worker, walker) as pool:
        futures = {
            index: pool.submit(_walk_part, parts[index].tally.spec.table, parts[index].ids)
            for index in sorted(range(len(parts)), key=lambda index: -parts[index].rows)
        }
        yield (futures[index].result() for index in range(len(parts)))


_worker_walker: TableWalker | None = None  # a worker process's


def _start_worker(walker: TableWalker) -> None:
    """In a new worker: the parent's walker, with connections of the worker's own."""
    global _worker_walker
    walker.source.connect()
    _worker_walker = walker


def _walk_part(table: str, ids: IdRange) -> TableWalk:
    """In a worker: walk one part of a table (its connections end with it, idle)."""
    return _worker_walker.walk(SPECS[table], ids)


class TargetTable:
    """A target model's rows as tuples of the fields the import keeps in sync.

    The fields are those the importer fingerprints: the fields the target keeps
    itself after the import (a trainer's login state) are proved by the
    passwords check, not compared here.
    """

    def __init__(self, spec: TableSpec, using: str):
        self.model, self.using = apps.get_model(spec.model), using
        self.fields = spec.synced_fields
        self.money = tuple(
            (index, name) for index, name in enumerate(self.fields) if _is_won(self.model, name)
        )
        # References to tables whose rows may be renumbered: the legacy id must be mapped.
        self._renumbered = tuple(
            (index, name)
            for index, name in enumerate(self.fields)
            if spec.reference_fields.get(name) in RENUMBERED_TABLES
        )
        self._values_of = _tuple_getter(self.fields)
        self._fingerprint_of = Fingerprinter(self.fields)

    def rows(self, ids: list[Any]) -> dict[Any, tuple]:
        """The target rows with these ids (those that exist), by id."""
        wanted = [target_id for target_id in ids if target_id is not None]
        if not wanted:
            return {}
        low, high = min(wanted), max(wanted)
        rows = self.model.objects.using(self.using)
        if high - low < 2 * len(wanted):
            # Nearly always so: a batch's ids run in order with few gaps. A range
            # is one index scan, where an IN list sends thousands of parameters.
            rows = rows.filter(pk__gte=low, pk__lte=high)
        else:
            rows = rows.filter(pk__in=wanted)
        with _timestamps_read_in_c(self.using):
            return {values[0]: values[1:] for values in rows.values_list("pk", *self.fields)}

    def expected(self, row: LegacyRow, references: dict[str, dict[Any, Any]]) -> tuple:
        """The values the legacy row should have become, references mapped to target ids."""
        expected = self._values_of(row.values)
        if not self._renumbered:
            return expected
        mapped = list(expected)
        for index, name in self._renumbered:
            if mapped[index] is not None:
                mapped[index] = references[name].get(mapped[index])
        return tuple(mapped)

    def fingerprint(self, values: tuple) -> str:
        """The row's fingerprint as the importer made it (see rows.target_fingerprint)."""
        return self._fingerprint_of(dict(zip(self.fields, values, strict=True)))


@contextmanager
def _timestamps_read_in_c(using: str) -> Iterator[None]:
    """Target timestamps read by psycopg's own loader, where it gives what Django's gives.

    Django reads every timestamptz through a loader of its own, written in
    Python, that puts its time zone on the value; for a million rows that
    is most of the reading. With Django's zone UTC and the session's too,
    psycopg's loader (in C) gives the very same values.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.timezone is not UTC:
        yield
        return
    with connection.execute_wrapper(_read_utc_timestamps_in_c):
        yield


def _read_utc_timestamps_in_c(execute, sql, params, many, context):
    import psycopg  # only on PostgreSQL

    cursor = context["cursor"].cursor
    if cursor.connection.info.parameter_status("TimeZone") == "UTC":
        oid = psycopg.postgres.types["timestamptz"].oid
        loader = psycopg.adapters.get_loader(oid, psycopg.pq.Format.TEXT)
        cursor.adapters.register_loader(oid, loader)
    return execute(sql, params, many, context)


def _tuple_getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple]:
    # itemgetter makes the tuple in C, but gives a bare value for a single name.
    if len(names) > 1:
        return itemgetter(*names)
    return lambda values: tuple(values[name] for name in names)


def _ledger(using: str, table: str):
    return LedgerEntry.objects.using(using).filter(legacy_table=table)


def _merge_join(
    rows: Iterator[LegacyRow], entries: Iterator[Any]
) -> Iterator[tuple[LegacyRow | None, Any]]:
    """Pairs legacy rows and ledger entries by legacy id; both come in id order."""
    row, entry = next(rows, None), next(entries, None)
    while row is not None or entry is not None:
        if entry is None or (row is not None and row.legacy_id < entry.legacy_id):
            yield row, None
            row = next(rows, None)
        elif row is None or entry.legacy_id < row.legacy_id:
            yield None, entry
            entry = next(entries, None)
        else:
            yield row, entry
            row, entry = next(rows, None), next(entries, None)


def _is_won(model: type[Model], name: str) -> bool:
    try:
        field_ = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return isinstance(field_, DecimalField) and field_.decimal_places == 0


def _same_value(name: str, expected: Any, found: Any) -> bool:
    if name == "password":
        # A legacy bcrypt hash is carried exactly; any other hash becomes an
        # unusable password, which is random by design.
        return expected == found if is_password_usable(expected) else not is_password_usable(found)
    if isinstance(expected, datetime) and isinstance(found, datetime):
        return expected.astimezone(UTC) == found.astimezone(UTC)
    return expected == found


def _shown(name: str, value: Any) -> str:
    if name == "password":
        return "usable password" if is_password_usable(value) else "unusable password"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- checks on the target alone -------------------------------------------


def held_money(using: str) -> dict[str, dict[str, Decimal | None]]:
    """Legacy table -> each of its amounts summed over the target rows imported from it."""
    held = {}
    for spec in IMPORT_ORDER:
        model = apps.get_model(spec.model)
        fields = [c.field for c in spec.columns if _is_won(model, c.field)]
        if fields:
            ids = _ledger(using, spec.table).filter(action__in=WITH_OWN_TARGET)
            held[spec.table] = (
                model.objects.using(using)
                .filter(pk__in=ids.values("target_id"))
                .aggregate(**{name: Sum(name) for name in fields})
            )
    return held


def reverse_counts(using: str) -> CheckOutcome:
    findings, lines = [], []
    for model in target_models():
        label = model._meta.label
        imported = LedgerEntry.objects.using(using).filter(
            target_model=label, action__in=WITH_OWN_TARGET, target_id=OuterRef("pk")
        )
        rows = model.objects.using(using)
        present = rows.count()
        lines.append(f"{label} {present}")
        # NOT EXISTS, which PostgreSQL runs as one anti-join: NOT IN over a
        # chain's million ids is a hash the planner may not dare to build.
        extra = rows.filter(~Exists(imported)).count()
        if extra > 0:
            findings.append(
                finding(
                    "verify.target-extra",
                    f"{label}: {extra} row(s) did not come from the legacy file",
                    row_count=extra,
                )
            )
    return CheckOutcome("target rows", "; ".join(lines), tuple(findings))


def relations(using: str) -> CheckOutcome:
    findings, checked = [], 0
    for model in target_models():
        for field_ in model._meta.concrete_fields:
            if not isinstance(field_, ForeignKey):
                continue
            checked += 1
            parent = field_.related_model.objects.using(using).filter(pk=OuterRef(field_.attname))
            dangling = list(
                model.objects.using(using)
                .filter(**{f"{field_.attname}__isnull": False})
                .filter(~Exists(parent))  # an anti-join, as in reverse_counts
                .order_by("pk")
                .values_list("pk", flat=True)[:EXAMPLES]
            )
            if dangling:
                findings.append(
                    finding(
                        "verify.dangling-reference",
                        f"{model._meta.label}.{field_.name} points at missing rows",
                        column=field_.name,
                        row_ids=dangling,
                    )
                )
    return CheckOutcome("relations", f"{checked} foreign keys checked", tuple(findings))


def unique_emails(using: str) -> CheckOutcome:
    user_model = apps.get_model("accounts.User")
    duplicates = list(
        user_model.objects.using(using)
        .exclude(email="")
        # As precheck: case and surrounding spaces do not make two addresses different.
        .annotate(address=Lower(Trim("email")))
        .values("address")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("address", flat=True)
    )
    findings = [
        finding(
            "verify.duplicate-email",
            "accounts "
            + ", ".join(
                user_model.objects.using(using)
                .annotate(address=Lower(Trim("email")))
                .filter(address=address)
                .values_list("username", flat=True)
            )
            + " share one e-mail address",
            table="accounts.User",
            column="email",
        )
        for address in duplicates
    ]
    return CheckOutcome("e-mails unique", f"{len(duplicates)} shared address(es)", tuple(findings))


def sequences(using: str) -> CheckOutcome:
    if not on_postgresql(using):
        return CheckOutcome("id sequences", "not applicable: SQLite keeps its own counters")
    positions = sequence_positions(using, target_models())
    findings = [
        finding(
            "verify.sequence-behind",
            f"{label}: the next id would be {position.next_id}, but {position.highest_id} is taken",
        )
        for label, position in positions.items()
        if position.is_behind
    ]
    return CheckOutcome("id sequences", f"{len(positions)} sequences checked", tuple(findings))


def passwords(source: LegacySource, layout: LegacyLayout, using: str) -> CheckOutcome:
    if not layout.has_column("trainers", "password_hash"):
        return CheckOutcome("passwords carried", "the file has no password hashes")
    legacy_bcrypt = sum(
        1 for (value,) in source.rows("trainers", ("password_hash",)) if is_legacy_bcrypt(value)
    )
    user_model = apps.get_model("accounts.User")
    imported = _ledger(using, "trainers").filter(action__in=WITH_OWN_TARGET)
    usable = sum(
        1
        for password in user_model.objects.using(using)
        .filter(pk__in=imported.values("target_id"))
        .values_list("password", flat=True)
        .iterator()
        if is_password_usable(password)
    )
    findings = []
    if usable != legacy_bcrypt:
        findings.append(
            finding(
                "verify.password-count",
                f"{legacy_bcrypt} trainer(s) had a bcrypt password in the legacy file, "
                f"{usable} imported account(s) have a usable one",
                table="trainers",
            )
        )
    return CheckOutcome(
        "passwords carried",
        f"{usable} usable password(s) for {legacy_bcrypt} legacy bcrypt hash(es)",
        tuple(findings),
    )
