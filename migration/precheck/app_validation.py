"""The values the new app's own validation would refuse, found before any import.

Each column that fills a field the app validates beyond the database
(rules/app_validation.py) is read as its distinct values, each as clean_legacy
leaves it and converted as the import converts it, and judged once: a value
the app refuses blocks (`value.invalid-in-app`), an e-mail address with
spaces around it is clean_legacy's to trim (`value.untrimmed-email`). A value
the converter refuses is check_values' finding, and is not said again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from django.apps import apps

from migration.findings import Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.mapping.canonical import id_order
from migration.mapping.converters import LegacyValueError, made_storable
from migration.mapping.domains import domain_of
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import ColumnMap, TableSpec
from migration.rules.app_validation import (
    address_columns,
    as_clean_leaves_it,
    checks_of,
    trimmed_address,
    value_problem,
)


def check_app_validation(
    source: LegacySource, layout: LegacyLayout, spec: TableSpec
) -> Iterator[Finding]:
    present = layout.present_columns(spec)
    if "id" not in present:
        return  # check_schema reports it
    model = apps.get_model(spec.model)
    for column in spec.columns_in_effect(present):
        field = model._meta.get_field(column.field)
        checks = checks_of(field, domain_of(column.convert))
        addresses = column.column in address_columns(spec)
        if not checks and not addresses:
            continue
        inputs = [c for c in column.inputs if c in present]
        refused: dict[str, list[tuple]] = defaultdict(list)
        untrimmed: list[tuple] = []
        for values in source.query(
            f"SELECT DISTINCT {', '.join(map(quote_identifier, inputs))} "
            f"FROM {quote_identifier(spec.table)}"
        ):
            raw = values[0]
            if addresses and isinstance(raw, str):
                storable = made_storable(raw)
                if trimmed_address(storable) != storable:
                    untrimmed.append(values)
            problem = _problem(spec, column, field, checks, inputs, values)
            if problem is not None:
                refused[problem].append(values)
        for problem, values in refused.items():
            yield _invalid(source, spec, column, inputs, problem, values)
        if untrimmed:
            yield _untrimmed(source, spec, column, inputs, untrimmed)


def _problem(
    spec: TableSpec,
    column: ColumnMap,
    field: Any,
    checks: tuple,
    inputs: list[str],
    values: tuple,
) -> str | None:
    given = dict(zip(inputs, values, strict=True))
    cleaned = [as_clean_leaves_it(spec, name, given.get(name)) for name in column.inputs]
    try:
        value = column.convert(*cleaned)
    except LegacyValueError:
        return None  # check_values' finding, on the file or on its cleaned copy
    return value_problem(field, value, checks)


def _ids(source: LegacySource, table: str, inputs: list[str], values: list[tuple]) -> list[Any]:
    """The ids of the rows holding any of `values`: one pass over the table, however many
    values (a studio may have typed phone numbers into thousands of e-mail fields)."""
    wanted = set(values)
    ids = (row_id for row_id, *held in source.rows(table, ("id", *inputs)) if tuple(held) in wanted)
    return sorted(ids, key=id_order)


def _invalid(
    source: LegacySource,
    spec: TableSpec,
    column: ColumnMap,
    inputs: list[str],
    problem: str,
    values: list[tuple],
) -> Finding:
    ids = _ids(source, spec.table, inputs, values)
    example = "" if column.secret else f", e.g. {values[0][0]!r}"
    return finding(
        "value.invalid-in-app",
        f"{spec.table}.{column.column}: {len(ids):,} row(s) the app's own validation refuses "
        f"for {spec.model}.{column.field}: {problem}{example}",
        table=spec.table,
        column=column.column,
        row_ids=ids,
    )


def _untrimmed(
    source: LegacySource, spec: TableSpec, column: ColumnMap, inputs: list[str], values: list
) -> Finding:
    ids = _ids(source, spec.table, inputs, values)
    return finding(
        "value.untrimmed-email",
        f"{spec.table}.{column.column}: clean_legacy will trim the spaces around "
        f"{len(ids):,} e-mail address(es), which the app refuses, e.g. {values[0][0]!r}",
        table=spec.table,
        column=column.column,
        row_ids=ids,
    )
