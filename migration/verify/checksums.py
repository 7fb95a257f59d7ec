"""verify proves a bucket of rows by a checksum PostgreSQL and the legacy transforms agree on.

A bucket is a batch of the walk's rows (walk.py). Python renders each row's
expected values in the text its fingerprint hashes (canonical.fingerprint_form),
prefixed by its target id; PostgreSQL renders each target row in the same
text, from the columns, and hashes the bucket's rows in target-id order. The
same hash, the same row count and every expected row's fingerprint the
ledger's: each target row is its legacy row's transform, field for field,
and unedited since the import. The bucket is proven without a target row
leaving the database; any other outcome, and the walk compares the bucket row
by row and field by field, as it always did, to name each row and field.

The checksum may fail to prove a bucket that is right (a float the two sides
write differently, as one in exponent form): that costs time only. It must never prove a
bucket that is wrong, so each side's text says exactly one value:
- text is JSON-escaped, as PostgreSQL's to_json escapes it;
- an amount is its number, scale dropped (trim_scale, canonical.decimal_text);
- a moment is microseconds since the epoch, whatever its zone;
- a date and a time are ISO text; a float its shortest exact digits;
- a JSON value is jsonb's text of it (jsonb_text), not the fingerprint's;
- NULL and None are `null`, and nothing else is: a float JSON has no number
  for (orjson writes `null`) is told apart by counting;
- each expected value must be of its field's own type, since the
  fingerprint's text is the same for 300000 as an amount and as the text
  "300000", which a field by field comparison tells apart.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import orjson
from django.db import connections
from django.db.models import Field, Model

from migration.mapping.canonical import digest, fingerprint_forms
from migration.verify.target_rows import TargetTable

_NONE = type(None)

# Each kind of field: the expected value's types it proves, and the SQL that
# renders the column `{c}` as canonical.fingerprint_form renders such a value.
_KINDS: dict[str, tuple[frozenset[type], str]] = {
    "int": (frozenset({int}), "{c}::text"),
    "text": (frozenset({str}), "to_json({c}::text)::text"),
    # PostgreSQL writes a float's shortest exact digits (extra_float_digits 1),
    # as orjson does, but without orjson's '.0' on a whole number; out of the
    # range where both write plain digits, the texts differ (not proven).
    "float": (
        frozenset({float}),
        "CASE WHEN abs({c}) < 1e15 AND {c} = trunc({c}) THEN {c}::text || '.0' ELSE {c}::text END",
    ),
    # NaN equals NaN in PostgreSQL, never in Python: not proven.
    "decimal": (
        frozenset({Decimal}),
        "CASE WHEN {c} IN ('NaN', 'Infinity', '-Infinity') THEN 'x' "
        "ELSE '\"' || trim_scale({c})::text || '\"' END",
    ),
    "datetime": (
        frozenset({datetime}),
        "CASE WHEN isfinite({c}) THEN (extract(epoch FROM {c}) * 1000000)::bigint::text "
        "ELSE 'x' END",
    ),
    # In the ISO DateStyle (see _settings_agree) as date.isoformat() writes it; a date
    # Python has none of (BC, past 9999, infinity) is written as no Python date is.
    "date": (frozenset({date}), "'\"' || {c}::text || '\"'"),
    # time.isoformat() writes the microseconds only when there are some.
    "time": (
        frozenset({time}),
        "'\"' || CASE WHEN to_char({c}, 'US') = '000000' THEN to_char({c}, 'HH24:MI:SS') "
        "ELSE to_char({c}, 'HH24:MI:SS.US') END || '\"'",
    ),
    "bool": (frozenset({bool}), "CASE WHEN {c} THEN 'true' ELSE 'false' END"),
    # jsonb's own text, which Python writes too (jsonb_text): an equal text is an
    # equal value, as json.loads reads it back.
    "json": (
        frozenset({dict, list, str, int, float, bool}),
        # JSON's null is not SQL's NULL (the import writes None as NULL): never proven.
        "CASE WHEN jsonb_typeof({c}) = 'null' THEN 'x' ELSE {c}::text END",
    ),
}

_INTERNAL_KINDS = {
    **dict.fromkeys(
        (
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
        ),
        "int",
    ),
    **dict.fromkeys(("CharField", "TextField", "EmailField", "SlugField"), "text"),
    "FloatField": "float",
    "DecimalField": "decimal",
    "DateTimeField": "datetime",
    "DateField": "date",
    "TimeField": "time",
    "BooleanField": "bool",
    "JSONField": "json",
}


def field_kind(field_: Field) -> str | None:
    """The kind a field's values are rendered as (a reference: its target's), or None."""
    if field_.is_relation:
        field_ = field_.target_field
    return _INTERNAL_KINDS.get(field_.get_internal_type())


def column_text_sql(kind: str, column: str) -> str:
    """SQL rendering the (quoted) column as canonical.fingerprint_form renders its value."""
    return f"CASE WHEN {column} IS NULL THEN 'null' ELSE {_KINDS[kind][1].format(c=column)} END"


class TargetChecksum:
    """The checksums of one target table's buckets, and the expected rows' own."""

    def __init__(self, target: TargetTable):
        self.target, self.using = target, target.using
        model: type[Model] = target.model
        fields = [model._meta.get_field(name) for name in target.fields]
        kinds = [field_kind(field_) for field_ in fields]
        self.usable = None not in kinds and connections[self.using].vendor == "postgresql"
        if not self.usable:
            return
        self._types = tuple(_KINDS[kind][0] | {_NONE} for kind in kinds)
        # Each field's values' one type, in the fingerprint's order (several: object).
        self._column_types = tuple(
            next(iter(_KINDS[kinds[i]][0])) if len(_KINDS[kinds[i]][0]) == 1 else object
            for i in target.name_order
        )
        # orjson writes a float JSON has no number for as null, as it writes None.
        self._count_nulls = "float" in kinds
        # A JSON value's text in the checksum is jsonb's, not the fingerprint's.
        self._json_columns = tuple(
            position for position, i in enumerate(target.name_order) if kinds[i] == "json"
        )
        quote = connections[self.using].ops.quote_name
        in_name_order = sorted(range(len(fields)), key=target.fields.__getitem__)
        row = " || ',' || ".join(
            column_text_sql(kinds[i], quote(fields[i].column)) for i in in_name_order
        )
        pk = quote(model._meta.pk.column)
        rows = (
            f"SELECT count(*), md5(string_agg({pk}::text || '[' || {row} || ']', '' "
            f"ORDER BY {pk})) FROM {quote(model._meta.db_table)} WHERE {pk}"
        )
        self._sql_of_ids = f"{rows} = ANY(%s::bigint[])"
        # A batch's ids nearly always run without a gap: one range of the index
        # scanned, where an array is as many look-ups.
        self._sql_of_range = f"{rows} BETWEEN %s AND %s"
        self._settings_checked = False

    def proves(self, expected: Sequence[tuple], entries: Sequence[Any]) -> bool:
        """Whether the bucket's target rows are exactly the expected rows, none edited since
        the import: entries (the ledger's, with target_id and target_hash) pair with
        expected (in TargetTable.fields' order)."""
        if not (self.usable and expected and self._settings_agree()):
            return False
        try:
            rows = sorted(self._expected_texts(expected, entries))
        except (TypeError, ValueError, ArithmeticError, _NotProven):
            return False
        ids = [target_id for target_id, _ in rows]
        if len(set(ids)) != len(ids):
            return False
        checksum = hashlib.md5(  # noqa: S324 (a checksum of both sides, not a secret)
            b"".join(b"%d%b" % row for row in rows)
        ).hexdigest()
        with connections[self.using].cursor() as cursor:
            if ids[-1] - ids[0] + 1 == len(ids):  # sorted, unique: every id between
                cursor.execute(self._sql_of_range, [ids[0], ids[-1]])
            else:
                cursor.execute(self._sql_of_ids, [ids])
            count, found = cursor.fetchone()
        return count == len(ids) and found == checksum

    def _expected_texts(
        self, expected: Sequence[tuple], entries: Sequence[Any]
    ) -> list[tuple[int, bytes]]:
        columns = list(zip(*expected, strict=True))
        # Each value of its field's own types: a pass in C over each column.
        for column, allowed in zip(columns, self._types, strict=True):
            if not allowed.issuperset(map(type, column)):
                raise _NotProven
        in_order = [
            (columns[i], kind)
            for i, kind in zip(self.target.name_order, self._column_types, strict=True)
        ]
        texts = fingerprint_forms(in_order)
        summed = texts
        if self._json_columns:
            for position in self._json_columns:
                values, kind = in_order[position]
                in_order[position] = (
                    [v if v is None else orjson.Fragment(jsonb_text(v)) for v in values],
                    kind,
                )
            summed = fingerprint_forms(in_order)
        rows = []
        for values, entry, text, row_text in zip(expected, entries, texts, summed, strict=True):
            if self._count_nulls and text.count(b"null") != values.count(None):
                raise _NotProven
            if digest(text) != entry.target_hash or type(entry.target_id) is not int:
                raise _NotProven
            rows.append((entry.target_id, row_text))
        return rows

    def _settings_agree(self) -> bool:
        """PostgreSQL hashes its text as UTF-8, writes floats exactly and dates in ISO form,
        as Python does; and, from version 14 on, gives a moment's epoch as an exact number
        (13's is a float, which loses microseconds far from 1970)."""
        if not self._settings_checked:
            with connections[self.using].cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting('server_encoding'), "
                    "current_setting('extra_float_digits')::int, current_setting('DateStyle'), "
                    "current_setting('server_version_num')::int"
                )
                encoding, float_digits, date_style, version = cursor.fetchone()
            self.usable = (
                encoding == "UTF8"
                and float_digits >= 1
                and date_style.startswith("ISO")
                and version >= 140000
            )
            self._settings_checked = True
        return self.usable


def jsonb_text(value: Any) -> str:
    """A JSON value as PostgreSQL writes it as jsonb: an object's keys shortest first,
    then in byte order, ', ' and ': ' between. A float written in exponent form (which
    jsonb writes in full) or none at all raises _NotProven."""
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return orjson.dumps(value).decode()
    if kind is float:
        text = repr(value)
        if not math.isfinite(value) or "e" in text:
            raise _NotProven
        return text
    if kind is list:
        return "[" + ", ".join(map(jsonb_text, value)) + "]"
    if kind is dict:
        if any(type(key) is not str for key in value):
            raise _NotProven
        keys = sorted(value, key=lambda key: (len(key.encode()), key.encode()))
        return "{" + ", ".join(f"{jsonb_text(k)}: {jsonb_text(value[k])}" for k in keys) + "}"
    raise _NotProven


class _NotProven(Exception):
    """An expected row the checksum cannot speak for: the bucket is compared row by row."""
