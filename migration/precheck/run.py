"""Precheck: everything that stands between a legacy file and a clean import.

`run_precheck(source)` reads the file (read-only, streamed) and returns a
`PrecheckReport`: the table inventory, the schema generation, SQLite's own
integrity verdict, and the findings of each check below. Nothing is printed
here; the command renders the report.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from itertools import chain
from typing import Any

from migration.findings import Finding, Severity, by_severity, finding
from migration.legacy import LegacySource, file_sha256, quote_identifier
from migration.legacy.schema import (
    FEE_AMOUNTS,
    is_tool_table,
    optional_tables,
)
from migration.legacy.stored_code import TRIGGER, of_kind, stored_code
from migration.mapping.canonical import id_order
from migration.mapping.converters import (
    GENDERS,
    PAYMENT_METHODS,
    LegacyValueError,
    payment_method,
)
from migration.mapping.layout import LegacyLayout
from migration.mapping.prefilters import prefilter_of, table_prefilter
from migration.mapping.specs import SPECS, TABLE_PAIRS, ColumnMap, TablePair, TableSpec
from migration.precheck.generations import (
    GenerationStatus,
    generation_statuses,
    missing_columns,
    missing_tables,
    password_findings,
)
from migration.rules.pairs import PairMatches, match_pair_rows
from migration.rules.references import (
    dangling,
    inferred_column,
    inferred_trainer,
    names_no_trainer,
)
from migration.rules.twins import UNIQUE_RULES, UniqueRule, integer_range

Check = Callable[[LegacySource, LegacyLayout], Iterator[Finding]]


@dataclass(frozen=True)
class EachTable:
    """A check of one legacy table (its spec the third argument), declared once in
    CHECKS: it runs for each table of SPECS the file has, each table a job of its
    own, so that the largest checks run side by side."""

    check: Callable[..., Iterator[Finding]]
    # Made once per precheck and handed to each table's run (its fourth
    # argument): what each would otherwise read again.
    shared: Callable[[LegacySource, LegacyLayout], Any] | None = None


@dataclass(frozen=True)
class TableInventory:
    table: str
    model: str | None
    rows: int | None
    status: str


@dataclass(frozen=True)
class PrecheckReport:
    source: str
    size_bytes: int
    sha256: str
    integrity: tuple[str, ...]
    tables: tuple[TableInventory, ...]
    generations: tuple[GenerationStatus, ...]
    findings: tuple[Finding, ...] = field(default=())
    # The rows precheck matched across each old/new table pair (by the old
    # table's name), for the importer, which would otherwise match them again.
    # Not part of the report itself.
    pair_matches: dict[str, PairMatches] = field(default_factory=dict, repr=False, compare=False)
    # The file's layout as precheck read it, for the importer likewise.
    layout: LegacyLayout | None = field(default=None, repr=False, compare=False)

    @property
    def legacy_tables(self) -> list[TableInventory]:
        """The file's own tables, present ones only: not those clean_legacy added."""
        return [t for t in self.tables if t.rows is not None and not is_tool_table(t.table)]

    @property
    def total_rows(self) -> int:
        return sum(table.rows for table in self.legacy_tables)

    @property
    def blocking(self) -> list[Finding]:
        return by_severity(self.findings)[Severity.BLOCKING]

    @property
    def is_newest_generation(self) -> bool:
        return all(generation.present for generation in self.generations)

    def to_dict(self) -> dict[str, Any]:
        counts = {
            str(severity): len(items) for severity, items in by_severity(self.findings).items()
        }
        return {
            "source": self.source,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "integrity": list(self.integrity),
            "tables": [table.__dict__ for table in self.tables],
            "total_tables": len(self.legacy_tables),
            "total_rows": self.total_rows,
            "generations": [
                {**generation.__dict__, "missing": list(generation.missing)}
                for generation in self.generations
            ],
            "counts": counts,
            "importable": not self.blocking,
            "findings": [item.to_dict() for item in self.findings],
        }


def run_precheck(
    source: LegacySource, progress: Callable[[str, int, int], None] | None = None
) -> PrecheckReport:
    """The report; `progress`, if given, is told of each check job as it ends."""
    layout = LegacyLayout.read(source)
    pair_matches: dict[str, PairMatches] = {}
    jobs = [source.integrity_check, *_check_jobs(source, layout, pair_matches)]
    with ThreadPoolExecutor(PRECHECK_WORKERS) as pool:
        # The file's hash beside the checks (hashlib lets go of Python's lock too).
        sha256 = pool.submit(file_sha256, source.path)
        running = [pool.submit(_on_own_connection, source, job) for job in jobs]
        if progress:
            progress("checks", 0, len(running))  # the checks start: their clock starts
        for done, _ in enumerate(as_completed(running), start=1):
            if progress:
                progress("checks", done, len(running))
        integrity_messages, *found = (job.result() for job in running)
    integrity = tuple(integrity_messages)
    return PrecheckReport(
        source=str(source.path),
        size_bytes=source.path.stat().st_size,
        sha256=sha256.result(),
        integrity=integrity,
        tables=tuple(_inventory(source, layout)),
        generations=tuple(generation_statuses(layout)),
        findings=(*_integrity_findings(integrity), *chain.from_iterable(found)),
        pair_matches=pair_matches,
        layout=layout,
    )


# SQLite does nearly all of precheck's work, and lets go of Python's lock while
# it does: the checks run side by side (each table's values apart, and each
# table's references, the largest checks), each worker on a read-only
# connection of its own. Their findings keep the order of CHECKS. Two per
# core: a check is now and then in Python or waiting for a page, and
# another's SQLite runs meanwhile (a chain's precheck: 8 s, against 9.7 s
# with one per core).
PRECHECK_WORKERS = max(2, min(8, 2 * (os.cpu_count() or 1)))
# Precheck looks rows up all over the file (every reference, SQLite's own
# integrity check): in SQLite's default 2 MB page cache most lookups go back
# to the operating system. A larger one halves those checks on a chain's file;
# four of 16 MB do as well as two of 32 MB, in the same memory.
PRECHECK_PAGE_CACHE_KIB = 16 * 1024


def _check_jobs(
    source: LegacySource, layout: LegacyLayout, pair_matches: dict[str, PairMatches]
) -> Iterator[Callable[[], list[Finding]]]:
    """Every check of CHECKS as the jobs that run it, in CHECKS' order: a check of
    one table as a job for each table the file has."""
    for check in CHECKS:
        if isinstance(check, EachTable):
            shared = () if check.shared is None else (check.shared(source, layout),)
            for spec in _specs_present(layout):
                yield partial(_findings, check.check, source, layout, spec, *shared)
        elif check is check_table_pairs:  # it hands its matches over: matched once
            yield partial(_findings, check_table_pairs, source, layout, matched=pair_matches)
        else:
            yield partial(_findings, check, source, layout)


def _findings(check: Callable[..., Iterator[Finding]], *args: Any, **kwargs: Any) -> list[Finding]:
    return list(check(*args, **kwargs))


def _on_own_connection(source: LegacySource, job: Callable[[], Any]) -> Any:
    """Run `job` on this thread's own connection to the legacy file, then close it.

    Django gives each thread its own connection of the read-only legacy alias;
    it decodes text as open_legacy's does, and has the larger page cache.
    """
    try:
        source.connect()
        source.query(f"PRAGMA cache_size = -{int(PRECHECK_PAGE_CACHE_KIB)}")
        return job()
    finally:
        source.connection.close()


def _integrity_findings(integrity: tuple[str, ...]) -> Iterator[Finding]:
    if integrity != ("ok",):
        yield finding(
            "file.integrity",
            f"SQLite's integrity check failed: {'; '.join(integrity[:3])}",
            row_count=len(integrity),
        )


def _inventory(source: LegacySource, layout: LegacyLayout) -> Iterator[TableInventory]:
    optional = optional_tables()
    for table, spec in SPECS.items():
        if not layout.has_table(table):
            status = "missing (older generation)" if table in optional else "missing"
            yield TableInventory(table, spec.model, None, status)
            continue
        status = f"merged with {spec.merge_into}" if spec.merge_into else "ok"
        yield _present(source, layout, table, spec.model, status)
    for table in layout.unknown_tables:
        yield _present(source, layout, table, None, "unknown: not imported")
    for table in layout.tool_tables:
        yield _present(source, layout, table, None, "written by clean_legacy")


def _present(
    source: LegacySource, layout: LegacyLayout, table: str, model: str | None, status: str
) -> TableInventory:
    """A table the file has, its status saying what is unusual in how it holds its rows."""
    notes = ["a view"] if layout.is_view(table) else []
    if generated := layout.generated_columns(table):
        notes.append(f"generated: {', '.join(generated)}")
    if notes:
        status = f"{status} ({'; '.join(notes)})"
    return TableInventory(table, model, source.count(table), status)


# --- the checks -----------------------------------------------------------


def check_schema(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    yield from missing_tables(layout)
    for table in layout.known_tables:
        yield from missing_columns(layout, table)
    for table in layout.unknown_tables:
        yield finding(
            "schema.unknown-table",
            f"{'view' if layout.is_view(table) else 'table'} {table} is not part of the legacy "
            f"app's schema: its {source.count(table):,} rows are not imported",
            table=table,
        )
    for table in layout.known_tables:
        unknown = layout.unknown_columns(table)
        generated = layout.generated_columns(table)
        if layout.is_view(table):
            yield finding(
                "schema.view",
                f"{table} is a view, not a table: its {source.count(table):,} rows are read "
                f"through it and imported as the rows of {table}",
                table=table,
            )
        for column in unknown:
            kind = "generated column" if column in generated else "column"
            yield finding(
                "schema.unknown-column",
                f"{kind} {table}.{column} is not part of the legacy app's schema: "
                "it has no field in the target (the ledger's copy of each row keeps it)",
                table=table,
                column=column,
            )
        for column in generated:
            if column not in unknown:
                yield finding(
                    "schema.generated-column",
                    f"column {table}.{column} is generated: SQLite computes its value from "
                    "each row's other columns",
                    table=table,
                    column=column,
                )


def check_triggers(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    """Each trigger in the file: not data, and never fired by the import (which only
    reads), but code someone added by hand, that ran when the legacy app wrote rows."""
    for trigger in of_kind(stored_code(source.query), TRIGGER):
        yield finding(
            "schema.trigger",
            f"trigger {trigger.name} on {trigger.table} is not part of the legacy app's "
            "schema: it ran when the app wrote rows; the import never fires it",
            table=trigger.table,
            details={"trigger": trigger.name, "sql": trigger.sql},
        )


def _specs_present(layout: LegacyLayout) -> list[TableSpec]:
    return [spec for spec in SPECS.values() if layout.has_table(spec.table)]


def check_values(source: LegacySource, layout: LegacyLayout, spec: TableSpec) -> Iterator[Finding]:
    """Every value of the table through the importer's own converter: what fails here
    would fail there.

    SQLite scans the table for the values that fail their converter's pre-filter
    (see mapping/prefilters.py); only those reach Python, on a studio chain's
    file a few.
    """
    present = layout.present_columns(spec)
    if not present:
        return  # check_schema reports every missing column
    position = {column: index for index, column in enumerate(present)}
    # The column maps the import reads this file by (an older column shadowed by
    # the newer one the file has is not read).
    checks = list(spec.columns_in_effect(present))
    id_position = position.get("id")
    # A column read by several converters (a trainer's name fills three fields)
    # has one bad value per row, not one per converter: ids are kept once each.
    failures: dict[tuple[str, str], dict[Any, None]] = defaultdict(dict)
    examples: dict[tuple[str, str], str] = {}
    for row, passed in _rows_failing_prefilter(source, spec.table, present, checks):
        row_id = row[id_position] if id_position is not None else None
        for check, value_passed in zip(checks, passed, strict=True):
            if value_passed:
                continue  # it passed the pre-filter: the converter would take it
            try:
                check.convert(*(row[position[c]] if c in position else None for c in check.inputs))
            except LegacyValueError as error:
                key = (check.column, str(error.problem))
                failures[key][row_id] = None
                examples.setdefault(key, error.detail)
    for (column, problem), row_ids in failures.items():
        yield finding(
            f"value.{problem}",
            f"{spec.table}.{column}: {len(row_ids):,} value(s) the importer cannot take, "
            f"e.g. {examples[column, problem]}",
            table=spec.table,
            column=column,
            row_ids=sorted(row_ids, key=id_order),
        )


def _rows_failing_prefilter(
    source: LegacySource, table: str, columns: tuple[str, ...], checks: list[ColumnMap]
) -> Iterator[tuple[tuple, tuple[bool, ...]]]:
    """Each row holding a value that fails its pre-filter: the row's `columns`, and per
    check whether its value passed."""
    passes, where = table_prefilter([(c.column, prefilter_of(c.convert)) for c in checks])
    selected = [*passes, *(quote_identifier(column) for column in columns)]
    for row in source.select(table, selected, where=where):
        yield row[len(passes) :], tuple(passed == 1 for passed in row[: len(passes)])


def check_duplicate_ids(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    """Every legacy table's ids, one row each: the target keeps them (the ledger one
    entry per table and id), and a table that lost its primary key may repeat one."""
    for spec in _specs_present(layout):
        if not layout.has_column(spec.table, "id") or _id_is_the_key(source, spec.table):
            continue
        # SQLite groups 1 and 1.0 together, as legacy_id reads them; any other
        # type of id is the converter's to refuse.
        repeated = source.query(
            f"SELECT id, count(*) FROM {quote_identifier(spec.table)} "
            "WHERE typeof(id) IN ('integer', 'real') GROUP BY id HAVING count(*) > 1 ORDER BY id"
        )
        if repeated:
            (first, rows), *_ = repeated
            yield finding(
                "value.duplicate-id",
                f"{spec.table}: {len(repeated):,} id(s) held by more than one row "
                f"(id {first}: {rows:,} rows); each row needs an id of its own",
                table=spec.table,
                column="id",
                row_ids=[row_id for row_id, _ in repeated],
                row_count=sum(rows for _, rows in repeated),
            )


def _id_is_the_key(source: LegacySource, table: str) -> bool:
    """Whether the table's primary key is its id alone, which SQLite keeps unique."""
    keys = [column.name for column in source.columns(table) if column.primary_key]
    return keys == ["id"]


def check_unique_values(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    """Each unique rule of the target (twins.UNIQUE_RULES), on the values the import
    would write: the legacy rows converted as it converts them, compared as the
    target compares them. A value the converter refuses is check_values' finding."""
    for rule in UNIQUE_RULES:
        yield from _check_unique_rule(source, layout, rule)


def _check_unique_rule(
    source: LegacySource, layout: LegacyLayout, rule: UniqueRule
) -> Iterator[Finding]:
    for spec in _specs_present(layout):
        column = next((c for c in spec.columns if c.field == rule.field), None)
        if spec.model != rule.model or column is None:
            continue
        if not layout.has_column(spec.table, column.column):
            continue
        # Trainers are named by username, which people know them by; other rows by id.
        named_by = "username" if layout.has_column(spec.table, "username") else "id"
        sharing: dict[Any, list[tuple[Any, Any]]] = defaultdict(list)
        for row_id, name, raw in source.rows(spec.table, ("id", named_by, column.column)):
            try:
                key = rule.key(column.convert(raw))
            except LegacyValueError:
                continue
            if key is not None:
                sharing[key].append((row_id, name))
        what = _SHARED.get(rule.field, f"{rule.field} value")
        for rows in sharing.values():
            if len(rows) < 2:
                continue
            names = ", ".join(str(name) for _, name in rows)
            yield finding(
                rule.code,
                f"{spec.table} {names} share one {what}; the target needs one each",
                table=spec.table,
                column=column.column,
                row_ids=[row_id for row_id, _ in rows],
                details={f"{named_by}s": [name for _, name in rows]},
            )


_SHARED = {"email": "e-mail address", "username": "username"}


def check_passwords(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    yield from password_findings(source, layout)


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
        colliding = source.query(f"SELECT count(*) FROM {old} o JOIN {new} n ON n.id = o.id")[0][0]
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
        if matches.duplicates:
            yield finding(
                "pairs.duplicate-row",
                f"{len(matches.duplicates):,} row(s) of {pair.old} are also in {pair.new} "
                f"(same {', '.join(matches.keys)} and content): they are one row each",
                table=pair.old,
                row_ids=list(matches.duplicates),
                details={"pairs": [list(p) for p in list(matches.duplicates.items())[:20]]},
            )
        if matches.conflicts:
            yield finding(
                "pairs.conflicting-row",
                f"{len(matches.conflicts):,} row(s) of {pair.old} match a {pair.new} row on "
                f"{', '.join(matches.keys)} but differ in {', '.join(matches.content)}",
                table=pair.old,
                row_ids=list(matches.conflicts),
                details={"pairs": [list(p) for p in list(matches.conflicts.items())[:20]]},
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
    largest = integer_range(apps.get_model(SPECS[pair.new].model)._meta.pk)[1]
    if not isinstance(highest, int | float) or highest + numbered <= largest:
        return
    # The new table's rows whose ids leave too little room: the ones to renumber.
    crowding = _ids(
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


def check_references(
    source: LegacySource, layout: LegacyLayout, spec: TableSpec
) -> Iterator[Finding]:
    """Each reference of the table to a row that exists, and a trainer for each row
    that names none, inferred as clean_legacy and the import infer it (rules/references.py)."""
    for column, target in spec.references.items():
        if layout.has_column(spec.table, column):
            yield from _dangling(source, layout, spec.table, column, target)
    yield from _missing_trainers(source, layout, spec)


def _dangling(
    source: LegacySource, layout: LegacyLayout, table: str, column: str, target: str
) -> Iterator[Finding]:
    row_ids = _ids(
        source,
        f"SELECT x.id FROM {quote_identifier(table)} x "
        f"WHERE {dangling(layout, table, column, target)} ORDER BY x.id",
    )
    if row_ids:
        yield finding(
            "reference.dangling",
            f"{table}.{column}: {len(row_ids):,} row(s) point at {target} rows that do not exist",
            table=table,
            column=column,
            row_ids=row_ids,
        )


def _missing_trainers(
    source: LegacySource, layout: LegacyLayout, spec: TableSpec
) -> Iterator[Finding]:
    trainer = inferred_column(spec)
    if trainer is None:
        return
    # SQLite finds the rows that name no trainer, and the trainer each would get.
    inferable, uninferable = [], []
    for row_id, is_inferable in source.select(
        spec.table,
        [quote_identifier("id"), f"{inferred_trainer(layout, spec, trainer)} IS NOT NULL"],
        where=names_no_trainer(layout, spec, trainer),
    ):
        (inferable if is_inferable else uninferable).append(row_id)
    if inferable:
        yield finding(
            "reference.inferable-trainer",
            f"{spec.table}: {len(inferable):,} row(s) name no trainer; "
            f"inferred from {' or '.join(trainer.infer.via)}",
            table=spec.table,
            column=trainer.column,
            row_ids=inferable,
        )
    if uninferable:
        yield finding(
            "reference.uninferable-trainer",
            f"{spec.table}: {len(uninferable):,} row(s) name no trainer, and neither their "
            f"{' nor their '.join(trainer.infer.via)} leads to one",
            table=spec.table,
            column=trainer.column,
            row_ids=uninferable,
        )


def check_fees(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    for table in ("session_packages", "payments"):
        if not layout.has_table(table):
            continue
        name = quote_identifier(table)
        if not all(layout.has_column(table, column) for column in FEE_AMOUNTS):
            missing = _ids(source, f"SELECT id FROM {name} ORDER BY id")
            reason = "the file predates the app's fee migration"
        else:
            missing = _ids(source, f"SELECT id FROM {name} WHERE gross_amount IS NULL ORDER BY id")
            reason = "no breakdown recorded"
            inconsistent = _ids(
                source,
                f"SELECT id FROM {name} WHERE gross_amount IS NOT NULL AND gross_amount != "
                "coalesce(vat_amount, 0) + coalesce(card_fee_amount, 0) "
                "+ coalesce(net_amount, 0) ORDER BY id",
            )
            if inconsistent:
                yield finding(
                    "fees.inconsistent",
                    f"{table}: {len(inconsistent):,} fee breakdown(s) where gross is not "
                    "VAT + card fee + net",
                    table=table,
                    row_ids=inconsistent,
                )
        if missing:
            yield finding(
                "fees.missing",
                f"{table}: {len(missing):,} row(s) without a fee breakdown ({reason}); "
                "the app's fee rule can compute it",
                table=table,
                row_ids=missing,
            )
    if layout.has_table("payment_records"):
        old_rows = _ids(source, "SELECT id FROM payment_records ORDER BY id")
        if old_rows:
            yield finding(
                "fees.not-recorded",
                f"payment_records: {len(old_rows):,} old payment(s) without a fee breakdown",
                table="payment_records",
                row_ids=old_rows,
            )


def _ids(source: LegacySource, sql: str) -> list[Any]:
    return [row_id for (row_id,) in source.query(sql)]


def check_normalised_values(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    yield from _gender_mapping(source, layout)
    yield from _payment_method_mapping(source, layout)


def _gender_mapping(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    if not layout.has_column("clients", "gender"):
        return
    counts = Counter(value for (value,) in source.rows("clients", ("gender",)) if value is not None)
    if not counts:
        return
    mapping = {
        value: GENDERS.get(value.strip().lower(), "not recognised")
        if isinstance(value, str)
        else "not recognised"
        for value in counts
    }
    yield finding(
        "normalise.gender",
        "clients.gender: "
        + ", ".join(f"{value} → {mapping[value]} ({n:,})" for value, n in counts.most_common()),
        table="clients",
        column="gender",
        row_count=counts.total(),
        details={str(v): {"to": mapping[v], "rows": n} for v, n in counts.most_common()},
    )


def _payment_method_mapping(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    tables = [t for t in ("payments", "payment_records") if layout.has_column(t, "payment_method")]
    counts: Counter[str] = Counter()
    for table in tables:
        counts.update(
            value
            for (value,) in source.rows(table, ("payment_method",))
            if isinstance(value, str) and value != ""
        )
    if not counts:
        return
    mapping = {value: payment_method(value) for value in counts}
    unrecognised = [value for value in counts if value.strip().lower() not in PAYMENT_METHODS]
    summary = f"{' and '.join(tables)} payment_method: " + ", ".join(
        f"{value} → {mapping[value]} ({n:,})" for value, n in counts.most_common()
    )
    if unrecognised:
        summary += f"; {len(unrecognised):,} unrecognised text(s) become 'other'"
    yield finding(
        "normalise.payment-method",
        summary,
        column="payment_method",
        row_count=counts.total(),
        details={v: {"to": mapping[v], "rows": n} for v, n in counts.most_common()},
    )


# The checks precheck runs, in the order their findings are listed.
CHECKS: tuple[Check | EachTable, ...] = (
    check_schema,
    check_triggers,
    EachTable(check_values),
    check_duplicate_ids,
    check_unique_values,
    check_passwords,
    check_table_pairs,
    EachTable(check_references),
    check_fees,
    check_normalised_values,
)
