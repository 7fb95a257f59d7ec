"""The file's values as the import converts them: each through its converter, the
password hashes, and how the values the target normalises are mapped."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from migration.findings import ROW_ID_CAP, Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.mapping.canonical import id_order
from migration.mapping.converters import (
    GENDERS,
    PAYMENT_METHODS,
    Converter,
    LegacyValueError,
    payment_method,
)
from migration.mapping.layout import LegacyLayout
from migration.mapping.prefilters import prefilter_of, table_prefilter
from migration.mapping.specs import ColumnMap, TableSpec
from migration.mapping.typed_dates import (
    Ambiguous,
    Repair,
    typed_date_columns,
    typed_date_reading,
)
from migration.precheck.generations import password_findings


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
    typed = typed_date_columns(checks)
    id_position = position.get("id")
    # A column read by several converters (a trainer's name fills three fields)
    # has one bad value per row, not one per converter: ids are kept once each.
    failures: dict[tuple[str, str], dict[Any, None]] = defaultdict(dict)
    examples: dict[tuple[str, str], str] = {}
    dates = _TypedDates(spec.table)
    for row, passed in _rows_failing_prefilter(source, spec.table, present, checks):
        row_id = row[id_position] if id_position is not None else None
        for check, value_passed in zip(checks, passed, strict=True):
            if value_passed:
                continue  # it passed the pre-filter: the converter would take it
            try:
                check.convert(*(row[position[c]] if c in position else None for c in check.inputs))
            except LegacyValueError as error:
                raw = row[position[check.column]]
                if check.column in typed and dates.add(check.column, row_id, raw, typed):
                    continue
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
    yield from dates.findings()


class _TypedDates:
    """The typed dates of one table that mapping/typed_dates.py reads: those that
    clean_legacy will repair, and those that read two ways, with their readings."""

    def __init__(self, table: str):
        self.table = table
        # (code, column) -> row id -> the value as typed, and its details
        self.found: dict[tuple[str, str], dict[Any, dict[str, Any]]] = defaultdict(dict)

    def add(
        self, column: str, row_id: Any, raw: Any, typed: dict[str, tuple[Converter, ...]]
    ) -> bool:
        """Whether the value is a typed date (kept here) rather than a bad value."""
        reading = typed_date_reading(raw, typed[column])
        if isinstance(reading, Repair):
            self.found["value.typed-date", column][row_id] = {"value": raw, "reads": reading.text}
        elif isinstance(reading, Ambiguous):
            readings = list(reading.readings)
            self.found["value.ambiguous-date", column][row_id] = {
                "value": raw,
                "readings": readings,
            }
        return reading is not None

    def findings(self) -> Iterator[Finding]:
        for (code, column), values in sorted(self.found.items()):
            ids = sorted(values, key=id_order)
            first = values[ids[0]]
            if code == "value.typed-date":
                said = (
                    f"clean_legacy will repair {len(ids):,} typed date(s) that read one way "
                    f"only, e.g. {first['value']!r} → {first['reads']}"
                )
            else:
                said = (
                    f"{len(ids):,} typed date(s) a person must decide, e.g. "
                    f"{first['value']!r} reads as {' or '.join(first['readings'])}"
                )
            yield finding(
                code,
                f"{self.table}.{column}: {said}",
                table=self.table,
                column=column,
                row_ids=ids,
                details={str(i): values[i] for i in ids[:ROW_ID_CAP]},
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


def check_passwords(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    yield from password_findings(source, layout)


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
