"""The ids and values the target keeps unique: one row an id, one row a unique value."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from migration.findings import Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.mapping.converters import LegacyValueError
from migration.mapping.layout import LegacyLayout
from migration.precheck.tables import specs_present
from migration.rules.app_validation import as_clean_leaves_it
from migration.rules.twins import UNIQUE_RULES, UniqueRule


def check_duplicate_ids(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    """Every legacy table's ids, one row each: the target keeps them (the ledger one
    entry per table and id), and a table that lost its primary key may repeat one."""
    for spec in specs_present(layout):
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
    for spec in specs_present(layout):
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
                # As clean_legacy leaves the value: unstorable text is check_values'
                # finding, which clean fixes, and two values it makes one are twins.
                key = rule.key(column.convert(as_clean_leaves_it(spec, column.column, raw)))
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
