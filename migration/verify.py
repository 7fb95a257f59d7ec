"""verify_import: proof, after cutover, that the target matches the legacy file row by row.

It goes its own way, not the importer's: it reads the legacy file afresh,
reads the target through the ORM, and uses the ledger only as the map from
legacy row to target row, with the hashes of both as imported. It shares with
the importer just what a legacy row means (the specs, through
`conversion.RowReader`) and how a target row is fingerprinted.

A chain's file has a million rows, so each table is one stream in id order:
legacy rows beside ledger entries (without the ledger's copy of each row),
target rows fetched by id range a batch at a time. A row's expected values
are compared with the target's as a whole, and field by field only when they
differ, to name the fields.

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

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from django.apps import apps
from django.contrib.auth.hashers import is_password_usable
from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import Count, DecimalField, Exists, ForeignKey, Model, OuterRef, Sum
from django.db.models.functions import Lower, Trim

from .conversion import LegacyRow, MissingColumn, RowReader, TrainerLookup
from .findings import Finding, Severity, finding
from .layout import LegacyLayout
from .legacy import LegacySource, file_sha256
from .legacy.schema import QUARANTINE_TABLE
from .models import ImportRun, LedgerEntry
from .pairs import match_pair_rows
from .rows import Fingerprinter, raw_row
from .specs import IMPORT_ORDER, PAIRS_BY_TABLE, RENUMBERED_TABLES, TableSpec, target_models
from .transforms import LegacyValueError, is_legacy_bcrypt

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
    tables.run()
    checks = (
        tables.legacy_changes(),
        tables.row_balance(),
        reverse_counts(using),
        tables.fields(),
        tables.money_totals(),
        relations(using),
        unique_emails(using),
        sequences(using),
        passwords(source, layout, using),
        tables.drift(),
    )
    return VerifyReport(str(source.path), sha256, str(run.pk), run.source_sha256, strict, checks)


# --- one pass over every legacy table -------------------------------------


@dataclass
class TableTally:
    spec: TableSpec
    legacy_rows: int = 0
    quarantined_in_file: int = 0
    ledger_actions: Counter = field(default_factory=Counter)
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
    bad_merges: list[Any] = field(default_factory=list)


class TableChecks:
    """Walks each legacy table beside its ledger entries, in id order, once."""

    def __init__(self, source: LegacySource, layout: LegacyLayout, using: str):
        self.source, self.layout, self.using = source, layout, using
        self.trainers = TrainerLookup(source, layout)
        self.tallies: list[TableTally] = []

    def run(self) -> None:
        for spec in IMPORT_ORDER:
            tally = TableTally(spec)
            self.tallies.append(tally)
            tally.ledger_actions = Counter(
                dict(
                    _ledger(self.using, spec.table)
                    .values_list("action")
                    .annotate(n=Count("pk"))
                    .values_list("action", "n")
                )
            )
            tally.quarantined_in_file = self._quarantined_in_file(spec.table)
            if self.layout.has_table(spec.table):
                self._walk(tally)
            else:
                tally.deleted = list(
                    _ledger(self.using, spec.table)
                    .exclude(action=Action.QUARANTINED)
                    .values_list("legacy_id", flat=True)
                )

    def _quarantined_in_file(self, table: str) -> int:
        if not self.layout.has_table(QUARANTINE_TABLE):
            return 0
        sql = f"SELECT count(*) FROM {QUARANTINE_TABLE} WHERE source_table = %s"
        return self.source.query(sql, [table])[0][0]

    def _walk(self, tally: TableTally) -> None:
        spec = tally.spec
        columns = self.layout.columns[spec.table]
        read = self._reader(spec, columns)
        legacy = (
            read(values) for values in self.source.rows(spec.table, columns, batch_size=BATCH_SIZE)
        )
        # What the join needs and no more: the ledger's copy of each row (`raw`)
        # is most of its bytes, and a model instance per row most of its cost.
        entries = (
            _ledger(self.using, spec.table)
            .exclude(action=Action.QUARANTINED)
            .order_by("legacy_id")
            .values_list(*LEDGER_COLUMNS, named=True)
            .iterator(chunk_size=BATCH_SIZE)
        )
        target = TargetTable(spec, self.using)
        same: list[tuple[LegacyRow, Any]] = []
        for row, entry in _merge_join(legacy, entries):
            if row is not None:
                tally.legacy_rows += 1
            if entry is None:
                tally.added.append(row.legacy_id)
            elif row is None:
                tally.deleted.append(entry.legacy_id)
            elif row.source_hash != entry.source_hash:
                tally.changed.append(row.legacy_id)
            elif entry.action in WITH_OWN_TARGET:
                same.append((row, entry))
                if len(same) >= BATCH_SIZE:
                    self._compare(tally, target, same)
                    same = []
            elif entry.action == Action.MERGED:
                tally.merged[entry.legacy_id] = entry.target_id
        self._compare(tally, target, same)
        self._check_merges(tally)

    def _check_merges(self, tally: TableTally) -> None:
        """Each merged old row must still be the exact twin of the new row it went into.

        The twins are matched afresh from the legacy file (one to one), not
        taken from the ledger: a merge the file does not bear out is a lost row.
        """
        if not tally.merged:
            return
        pair = PAIRS_BY_TABLE[tally.spec.table]
        matches = match_pair_rows(self.source.query, self.layout, pair)
        twins = matches.duplicates if matches else {}
        twin_targets = dict(
            _ledger(self.using, pair.new)
            .filter(legacy_id__in=set(twins.values()))
            .values_list("legacy_id", "target_id")
        )
        for old_id, target_id in tally.merged.items():
            twin = twins.get(old_id)
            if twin is None or twin_targets.get(twin) != target_id:
                tally.bad_merges.append(old_id)

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
        self, tally: TableTally, target: TargetTable, pairs: list[tuple[LegacyRow, Any]]
    ) -> None:
        if not pairs:
            return
        found = target.rows([entry.target_id for _, entry in pairs])
        references = self._references(tally.spec, [row for row, _ in pairs])
        for row, entry in pairs:
            current = found.get(entry.target_id)
            if current is None:
                tally.target_missing.append(row.legacy_id)
                continue
            expected = target.expected(row, references)
            for index, name in target.money:
                if expected[index] is not None:
                    tally.expected_money[name] += expected[index]
            if target.fingerprint(current) != entry.target_hash:
                # Edited in Django since: reported as drift, not compared field by field.
                # Its money still counts below: totals must match the legacy file to the won.
                tally.drifted.append(row.legacy_id)
                continue
            tally.compared += 1
            # Equal tuples are equal field by field, which _same_value never
            # finds different; only a row that differs somewhere is looked at
            # field by field, by _same_value's own rules.
            if expected != current:
                self._compare_fields(tally, target.fields, row.legacy_id, expected, current)

    @staticmethod
    def _compare_fields(
        tally: TableTally, fields: tuple[str, ...], legacy_id: Any, expected: tuple, found: tuple
    ) -> None:
        for name, want, got in zip(fields, expected, found, strict=True):
            if not _same_value(name, want, got):
                tally.mismatched_rows.add(legacy_id)
                if len(tally.mismatches) < EXAMPLES:
                    tally.mismatches.append((legacy_id, name, want, got))

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

    # the outcomes of the pass, one check each

    def legacy_changes(self) -> CheckOutcome:
        findings = []
        for tally in self.tallies:
            table = tally.spec.table
            for code, ids, what in (
                ("verify.legacy-added", tally.added, "added to"),
                ("verify.legacy-changed", tally.changed, "changed in"),
                ("verify.legacy-deleted", tally.deleted, "deleted from"),
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
        total = sum(len(t.added) + len(t.changed) + len(t.deleted) for t in self.tallies)
        summary = (
            "no legacy row added, changed or deleted since the import"
            if not total
            else f"{total} legacy row(s) differ from what was imported: the delta to import"
        )
        return CheckOutcome("legacy file since the import", summary, tuple(findings))

    def row_balance(self) -> CheckOutcome:
        findings, lines = [], []
        for tally in self.tallies:
            if not (tally.legacy_rows or tally.ledger_actions or tally.quarantined_in_file):
                continue
            in_file = tally.legacy_rows + tally.quarantined_in_file
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
            if tally.target_missing:
                findings.append(
                    finding(
                        "verify.target-missing",
                        f"{tally.spec.table}: {len(tally.target_missing)} imported row(s) no "
                        f"longer in {tally.spec.model}",
                        table=tally.spec.table,
                        row_ids=tally.target_missing,
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
            if tally.mismatched_rows:
                shown = "; ".join(
                    f"id {legacy_id} {name}: expected {_shown(name, want)}, "
                    f"found {_shown(name, got)}"
                    for legacy_id, name, want, got in tally.mismatches[:5]
                )
                findings.append(
                    finding(
                        "verify.field-mismatch",
                        f"{tally.spec.table}: {len(tally.mismatched_rows)} row(s) differ from "
                        f"their legacy row: {shown}",
                        table=tally.spec.table,
                        row_ids=sorted(tally.mismatched_rows),
                        details={
                            "differences": [
                                {
                                    "legacy_id": i,
                                    "field": n,
                                    "expected": _shown(n, w),
                                    "found": _shown(n, g),
                                }
                                for i, n, w, g in tally.mismatches
                            ]
                        },
                    )
                )
        compared = sum(t.compared for t in self.tallies)
        return CheckOutcome(
            "every field", f"{compared:,} imported row(s) compared field by field", tuple(findings)
        )

    def money_totals(self) -> CheckOutcome:
        findings, lines = [], []
        for tally in self.tallies:
            model = apps.get_model(tally.spec.model)
            fields = [c.field for c in tally.spec.columns if _is_won(model, c.field)]
            if not fields or not tally.ledger_actions:
                continue
            ids = _ledger(self.using, tally.spec.table).filter(action__in=WITH_OWN_TARGET)
            found = (
                model.objects.using(self.using)
                .filter(pk__in=ids.values("target_id"))
                .aggregate(**{name: Sum(name) for name in fields})
            )
            for name in fields:
                expected = tally.expected_money[name]
                total = found[name] or Decimal(0)
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
            amount = fields[0]
            lines.append(f"{tally.spec.table}.{amount} {found[amount] or 0:,}")
        return CheckOutcome("money totals", "; ".join(lines) + " won", tuple(findings))

    def drift(self) -> CheckOutcome:
        findings = [
            finding(
                "verify.drift",
                f"{t.spec.table}: {len(t.drifted)} row(s) edited in Django since their import",
                table=t.spec.table,
                row_ids=t.drifted,
            )
            for t in self.tallies
            if t.drifted
        ]
        drifted = sum(len(t.drifted) for t in self.tallies)
        return CheckOutcome("edits since the import", f"{drifted} row(s) edited", tuple(findings))


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
    connection = connections[using]
    if connection.vendor != "postgresql":
        return CheckOutcome("id sequences", "not applicable: SQLite keeps its own counters")
    findings = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in target_models():
            table, column = model._meta.db_table, model._meta.pk.column
            cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column])
            (sequence,) = cursor.fetchone()
            cursor.execute(
                f"SELECT (SELECT coalesce(max({quote(column)}), 0) FROM {quote(table)}), "
                f"last_value + is_called::int FROM {sequence}"
            )
            highest, next_value = cursor.fetchone()
            if next_value <= highest:
                findings.append(
                    finding(
                        "verify.sequence-behind",
                        f"{model._meta.label}: the next id would be {next_value}, "
                        f"but {highest} is taken",
                    )
                )
    return CheckOutcome(
        "id sequences", f"{len(target_models())} sequences checked", tuple(findings)
    )


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
