"""The cutover plan: precheck's report of a file, as the Markdown document an operator
hands to the studio.

It reads like the studio's own migration plan, but every part of it is computed:
the summary and inventory and the findings from the report; what clean_legacy
will change from the findings whose codes its rules fix; the migration order
and the field mapping from the table declarations (mapping/specs.py), grouped
as the import groups them; the validation checklist from the findings, each
item ticked only when no finding of its codes (CHECKLIST) was made. Nothing
here reads the file or the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from migration.clean.report import RULES as CLEAN_RULES
from migration.findings import Finding, Severity, by_severity
from migration.legacy.schema import first_generation_columns, first_generation_schema
from migration.mapping.domains import domain_of
from migration.mapping.specs import IMPORT_ORDER, SPECS, TableSpec, by_target_model
from migration.precheck.report import PrecheckReport
from migration.rendering import (
    HEADINGS,
    generation_line,
    human_size,
    markdown_cell,
    precheck_verdict,
    rows_cell,
)

SEVERITY_INTROS = {
    Severity.BLOCKING: "The critical issues: each stops the import until it is fixed.",
    Severity.WARNING: "Nothing here stops the import; each is worth a look before cutover.",
    Severity.INFO: "What the import does on its own, shown so that it can be checked.",
}
DATES = frozenset({"date", "time", "moment"})
NUMBERS = frozenset({"integer", "decimal", "float"})
# A value the import cannot take, found by precheck's run of its converters.
VALUE_CODES = (
    "value.wrong-type",
    "value.unreadable-value",
    "value.out-of-range",
    "value.missing-value",
)


@dataclass(frozen=True)
class ChecklistItem:
    """An item of the plan's checklist: ticked when precheck made no finding of
    `codes` (on a column whose values are of one of `kinds`, when given)."""

    text: str
    codes: tuple[str, ...]
    kinds: frozenset[str] | None = None

    def leaves_open(self, item: Finding) -> bool:
        if item.code not in self.codes:
            return False
        return self.kinds is None or _kind_of(item.table, item.column) in self.kinds


# The studio's validation checklist, each item with the findings that leave it open.
CHECKLIST: tuple[ChecklistItem, ...] = (
    ChecklistItem("Every trainer has a unique e-mail address", ("trainers.duplicate-email",)),
    ChecklistItem(
        "Every client, assessment, package, session and payment points at rows that exist",
        ("reference.dangling", "reference.uninferable-trainer"),
    ),
    ChecklistItem("Dates are consistent: every date and time reads as one", VALUE_CODES, DATES),
    ChecklistItem("Numbers are within their valid ranges", VALUE_CODES, NUMBERS),
    ChecklistItem(
        "Every row is one the new app's forms and admin can save",
        ("value.invalid-in-app", "value.untrimmed-email"),
    ),
)


def _kind_of(table: str | None, column: str | None) -> str | None:
    """The kind of value the import reads from a legacy column (per its converter)."""
    spec = SPECS.get(table or "")
    for mapped in spec.columns if spec else ():
        if mapped.column == column and (domain := domain_of(mapped.convert)):
            return domain.kind
    return None


def plan_markdown(report: PrecheckReport) -> str:
    """The whole plan, ending with its verdict on an import and a newline."""
    return "\n".join(_plan_lines(report)) + "\n"


def _plan_lines(report: PrecheckReport) -> Iterator[str]:
    for section in (_summary, _findings, _cleaning, _migration_order, _field_mapping, _checklist):
        yield from section(report)
        yield ""
    yield precheck_verdict(report)


def _table(header: Iterable[str], align: str, rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    yield "| " + " | ".join(header) + " |"
    yield align
    for row in rows:
        yield "| " + " | ".join(str(cell) for cell in row) + " |"


# --- the sections ---------------------------------------------------------------


def _summary(report: PrecheckReport) -> Iterator[str]:
    counts = {severity: len(items) for severity, items in by_severity(report.findings).items()}
    yield f"# Cutover plan for `{report.source}`"
    yield ""
    yield f"- File: {human_size(report.size_bytes)}, sha256 `{report.sha256}`"
    yield f"- Integrity: {'ok' if report.integrity == ('ok',) else 'FAILED'}"
    yield f"- Schema: {generation_line(report)}"
    yield (
        f"- Rows: {report.total_rows:,} in {len(report.legacy_tables):,} tables, "
        f"into {len(_steps(report)):,} target models"
    )
    yield (
        f"- Findings: {counts[Severity.BLOCKING]:,} blocking, "
        f"{counts[Severity.WARNING]:,} warnings, {counts[Severity.INFO]:,} info"
    )
    yield ""
    yield "## Inventory"
    yield ""
    yield from _table(
        ("table", "target model", "rows", "status"),
        "|---|---|---:|---|",
        (
            (t.table, t.model or "-", "-" if t.rows is None else f"{t.rows:,}", t.status)
            for t in report.tables
        ),
    )
    yield f"| **total** | | **{report.total_rows:,}** | |"


def _findings(report: PrecheckReport) -> Iterator[str]:
    for severity, items in by_severity(report.findings).items():
        if not items and severity != Severity.BLOCKING:
            continue
        if severity != Severity.BLOCKING:
            yield ""
        yield f"## {HEADINGS[severity]} ({len(items):,})"
        yield ""
        if not items:
            yield "No critical issues: nothing stops the import."
            continue
        yield SEVERITY_INTROS[severity]
        yield ""
        yield from _table(
            ("code", "finding", "rows", "fix"),
            "|---|---|---|---|",
            (
                (
                    f"`{item.code}`",
                    markdown_cell(item.summary),
                    rows_cell(item.row_ids, item.row_count),
                    markdown_cell(item.fix),
                )
                for item in items
            ),
        )


def _cleaning(report: PrecheckReport) -> Iterator[str]:
    fixed = [item for item in report.findings if item.code in CLEAN_RULES]
    yield "## What clean_legacy will change"
    yield ""
    if not fixed:
        yield "Nothing: the file needs none of clean_legacy's fixes."
    else:
        yield (
            "In a copy of the file, each change logged in the copy with its old value; "
            "the rows are those precheck found."
        )
        yield ""
        yield from _table(
            ("rule", "table", "rows", "change"),
            "|---|---|---:|---|",
            (
                (
                    f"`{item.code}`",
                    item.table or "-",
                    f"{item.row_count:,}" if item.row_count else "-",
                    markdown_cell(CLEAN_RULES[item.code]),
                )
                for item in fixed
            ),
        )
    left = [item for item in report.blocking if item.code not in CLEAN_RULES]
    if left:
        yield ""
        yield (
            f"Left for a person ({len(left):,}), which clean_legacy does not fix: "
            + ", ".join(f"`{item.code}`" for item in left)
            + " (see Blocking)."
        )


def _steps(report: PrecheckReport) -> list[list[TableSpec]]:
    """The tables the import will read, in its order and grouped as it groups them:
    one transaction per target model."""
    present = {t.table for t in report.tables if t.rows is not None}
    return by_target_model([spec for spec in IMPORT_ORDER if spec.table in present])


def _migration_order(report: PrecheckReport) -> Iterator[str]:
    rows = {t.table: t.rows or 0 for t in report.tables}
    yield "## Migration order"
    yield ""
    yield (
        "One transaction per target model, each after the models its rows point at; "
        "an old table merges into its new one's model, its colliding ids numbered after "
        "the highest."
    )
    yield ""
    yield from _table(
        ("step", "target model", "legacy tables", "rows"),
        "|---:|---|---|---:|",
        (
            (
                step,
                specs[0].model,
                " + ".join(f"{spec.table} ({rows[spec.table]:,})" for spec in specs),
                f"{sum(rows[spec.table] for spec in specs):,}",
            )
            for step, specs in enumerate(_steps(report), start=1)
        ),
    )


def _field_mapping(report: PrecheckReport) -> Iterator[str]:
    present = {t.table for t in report.tables if t.rows is not None}
    unknown = _columns_of(report, "schema.unknown-column")
    missing = _columns_of(report, "schema.older-generation")
    first = {item.table for item in report.findings if item.code == "schema.first-generation"}
    yield "## Field mapping"
    for spec in IMPORT_ORDER:
        yield ""
        yield f"### {spec.table} → {spec.model}"
        yield ""
        if spec.table not in present:
            yield "Not in this file: nothing to import."
            continue
        columns, absent = _read_by(spec, first_generation=spec.table in first)
        notes = _column_notes(spec, [*missing.get(spec.table, ()), *absent])
        yield from _table(
            ("legacy column", "target field", "converter", "notes"),
            "|---|---|---|---|",
            (
                (
                    f"`{c.column}`",
                    f"`{spec.model}.{c.field}`",
                    f"`{_converter_name(c.convert)}`",
                    markdown_cell("; ".join(notes(c))),
                )
                for c in columns
            ),
        )
        for column in unknown.get(spec.table, ()):
            yield (
                f"| `{markdown_cell(column)}` | - (the ledger's copy of each row only) | - | "
                "not part of the app's schema |"
            )


def _read_by(spec: TableSpec, *, first_generation: bool) -> tuple[list[Any], list[str]]:
    """The column maps a table of its generation's shape is read by, and the columns it
    lacks: of the newest shape, every map but the first generation's own columns; of
    the first generation's, for each field the first map whose column it has, else
    the first declared."""
    own = first_generation_columns(spec.table)
    if not first_generation:
        return [column for column in spec.columns if column.column not in own], []
    present = tuple(column.name for column in first_generation_schema().get(spec.table, ()))
    in_effect = spec.columns_in_effect(present)
    filled = {column.field for column in in_effect}
    shown, fields = [], set()
    for column in spec.columns:
        if column in in_effect or (column.field not in filled and column.field not in fields):
            shown.append(column)
            fields.add(column.field)
    return shown, [column.column for column in shown if column.column not in present]


def _columns_of(report: PrecheckReport, code: str) -> dict[str, list[str]]:
    """The columns, by table, that the report's findings of `code` name."""
    columns: dict[str, list[str]] = {}
    for item in report.findings:
        if item.code == code and item.table and item.column:
            columns.setdefault(item.table, []).append(item.column)
    return columns


def _column_notes(spec: TableSpec, missing: Iterable[str]) -> Callable[[Any], list[str]]:
    absent = set(missing)

    def notes(column: Any) -> list[str]:
        said = []
        if column.references:
            said.append(f"ids of {column.references}")
        if column.infer is not None:
            said.append(f"when empty, the trainer of its {' or '.join(column.infer.via)}")
        if column.set_once and column.renewed_while is not None:
            said.append(
                "set when the row is made, renewed from the file until the app sets its own"
            )
        elif column.set_once:
            said.append("set when the row is made, then kept by the app")
        if column.also:
            said.append(f"read with {', '.join(column.also)} where the file has it")
        if column.stored_as is not None and column.stored_as.__doc__:
            made = column.stored_as.__doc__.strip().splitlines()[0].split(" (")[0].rstrip(".")
            said.append(made[:1].lower() + made[1:])
        if column.secret:
            said.append("the ledger keeps only a digest")
        if column.column in absent:
            said.append(f"not in this file: {column.if_missing!r}")
        return said

    return notes


def _converter_name(convert: Any) -> str:
    """A converter by the name it is declared with (a configured one, its maker's)."""
    name = getattr(convert, "__qualname__", type(convert).__name__)
    return name.split(".<locals>")[0]


def _checklist(report: PrecheckReport) -> Iterator[str]:
    yield "## Validation checklist"
    yield ""
    for item in CHECKLIST:
        open_by = [found for found in report.findings if item.leaves_open(found)]
        if not open_by:
            yield f"- [x] {item.text}"
            continue
        yield f"- [ ] {item.text}: " + ", ".join(_open_by(found) for found in open_by)


def _open_by(found: Finding) -> str:
    where = f" on {found.table}.{found.column}" if found.column else ""
    fixed = "; clean_legacy fixes it" if found.code in CLEAN_RULES else ""
    return f"`{found.code}`{where} ({found.row_count:,} rows{fixed})"
