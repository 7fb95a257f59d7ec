"""A legacy row as data that survives anything: canonical JSON, and its hash.

The ledger keeps every legacy row verbatim (unknown columns included), the
cleaner keeps quarantined rows the same way, and a row's hash tells a re-run or
a verification whether the row changed since. One canonical form serves all
three: JSON with sorted keys, floats in their shortest exact form, BLOBs, text
that is not UTF-8 and infinities tagged so that they come back exactly.

orjson writes it, not the standard library: every row an import reads is
serialised, and orjson is the faster by far. It writes the same text (but for
a float's exponent: 1e16, not 1e+16).
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any

import orjson
from django.utils.crypto import salted_hmac

from migration.mapping.converters import is_storable

BLOB_TAG = "$blob"
SECRET_KEY_SALT = "migration.ledger.secret"
SECRET_TAG = "$secret-digest"  # a secret (a password hash) kept only as a digest
SURROGATE_TAG = "$text-bytes"  # text PostgreSQL cannot store (NUL, not UTF-8), as its bytes
FLOAT_TAG = "$float"  # a REAL JSON has no number for: inf or -inf (SQLite keeps no NaN)


def _jsonable(value: Any) -> Any:
    """The raw value, or a tagged stand-in where JSON or PostgreSQL cannot hold it."""
    if isinstance(value, bytes):
        return {BLOB_TAG: base64.b64encode(value).decode("ascii")}
    if isinstance(value, str) and not is_storable(value):
        # PostgreSQL's jsonb refuses NUL as it refuses lone surrogates: keep the bytes.
        raw = value.encode("utf-8", "surrogateescape")
        return {SURROGATE_TAG: base64.b64encode(raw).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return {FLOAT_TAG: repr(value)}
    return value


def tuple_getter(keys: Sequence[Any]) -> Callable[[Any], tuple]:
    """The items at these keys (or positions), as a tuple in their order: itemgetter,
    done in C, but a tuple even of one key."""
    get = itemgetter(*keys)
    return get if len(keys) > 1 else lambda items: (get(items),)


def id_order(value: Any) -> tuple[int, Any]:
    """Sort key for legacy ids, which a damaged file may hold as text: numbers first."""
    return (0, value) if isinstance(value, int) else (1, str(value))


def raw_row(columns: Iterable[str], values: Iterable[Any]) -> dict[str, Any]:
    """A legacy row as a JSON-safe dict, every column kept."""
    return {column: _jsonable(value) for column, value in zip(columns, values, strict=True)}


def canonical_row(
    columns: Iterable[str], values: Sequence[Any], *, kept: bool = True
) -> tuple[dict[str, Any], bytes]:
    """A legacy row as a JSON-safe dict and its canonical JSON, UTF-8 encoded: raw_row's, faster.

    Nearly every row holds only numbers and storable text, which JSON takes as
    they are; the rare row with a BLOB, unstorable text or an infinity takes
    raw_row's way (orjson refuses a BLOB and a lone surrogate, escapes a NUL as
    \\u0000, and would write an infinity as null). Both ways give the same
    text for the same row. UTF-8 bytes: they are hashed and sent to the
    ledger as they are, never decoded and encoded again. A text not `kept`
    past the row (written out at once, as a worker does) is not trimmed.
    """
    row = dict(zip(columns, values, strict=True))
    # One pass in C over the values' hashes (SQLite gives only hashable ones).
    if _INFINITIES.isdisjoint(values):
        try:
            data = _canonical(row)
        except orjson.JSONEncodeError:
            pass
        else:
            # orjson escapes with a backslash: text without one holds no NUL.
            # The byte as an int, a memchr: `bytes in data` first tries its
            # operand as an int, failing at the cost of an exception each row.
            if _BACKSLASH not in data or b"\\u0000" not in data:
                return row, _trimmed(data) if kept else data
    row = raw_row(columns, values)
    return row, canonical_bytes(row)


_INFINITIES = frozenset((math.inf, -math.inf))
_BACKSLASH = ord("\\")


class CanonicalRows:
    """canonical_row for the rows of one table, its columns put in order once.

    Each row's dict is written out in its keys' canonical order, so orjson
    need not sort them: the order is the same for every row of the table, and
    sorting it again for each would be a good part of the row's cost. Rows
    that take raw_row's way take canonical_row's.
    """

    def __init__(self, columns: Sequence[str]):
        self.columns = tuple(columns)
        in_order = sorted(range(len(self.columns)), key=self.columns.__getitem__)
        self._as_dict = dict_maker([(self.columns[i], i, None) for i in in_order])

    def __call__(self, values: Sequence[Any], *, kept: bool = True) -> tuple[dict[str, Any], bytes]:
        if _INFINITIES.isdisjoint(values):
            row = self._as_dict(values)
            try:
                data = orjson.dumps(row)  # its keys in order already
            except orjson.JSONEncodeError:
                pass
            else:
                if _BACKSLASH not in data or b"\\u0000" not in data:  # as in canonical_row
                    return row, _trimmed(data) if kept else data
        return canonical_row(self.columns, values, kept=kept)


def dict_maker(
    items: Sequence[tuple[str, int | tuple[int | None, ...], Callable[..., Any] | None]],
) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """A function of a row's values giving the dict of these items (key, position, convert):

        {key: convert(values[position]) if convert else values[position] for ...}

    A converter given several positions takes each value (None for a position
    that is None: a column the file lacks).

    written out as one dict display, the loop unrolled (as namedtuple and
    dataclasses write their methods): it runs for every row an import reads,
    and a loop's own steps would be a good part of converting the row.
    """
    converters = {f"convert_{n}": convert for n, (_, _, convert) in enumerate(items) if convert}
    entries = ", ".join(
        f"{key!r}: convert_{n}({_arguments(position)})"
        if convert
        else f"{key!r}: values[{int(position)}]"
        for n, (key, position, convert) in enumerate(items)
    )
    # The converters are the function's defaults: local names, the fastest to reach.
    parameters = ", ".join(["values", *(f"{name}={name}" for name in converters)])
    namespace: dict[str, Any] = {}
    exec(f"def make({parameters}):\n    return {{{entries}}}\n", converters, namespace)
    return namespace["make"]


def _arguments(position: int | tuple[int | None, ...]) -> str:
    if isinstance(position, int):
        return f"values[{int(position)}]"
    return ", ".join("None" if p is None else f"values[{int(p)}]" for p in position)


def without_secrets(row: dict[str, Any], secret_columns: Iterable[str]) -> dict[str, Any]:
    """The row as the ledger keeps it, and as its hash is made: each secret replaced by
    a keyed digest of it.

    A legacy password hash goes into the trainer's account when the row is
    created; kept in the ledger too, it would outlive the re-hash at first
    login, a crackable copy in every backup. The digest still tells whether it
    changed. It is keyed (Django's SECRET_KEY), as a plain digest of a fast
    legacy digest (the first generation's SHA-256) would be one more fast hash
    of the password to guess from; for the same reason the row's hash is made
    over this row, not the one read.
    """
    kept = dict(row)
    for column in secret_columns:
        if kept.get(column) is not None:
            kept[column] = {SECRET_TAG: secret_digest(_canonical({"value": kept[column]}))}
    return kept


def secret_digest(data: bytes) -> str:
    return salted_hmac(SECRET_KEY_SALT, data, algorithm="sha256").hexdigest()[:32]


def canonical_json(data: Mapping[str, Any]) -> str:
    return _canonical(data).decode()


def canonical_bytes(data: Mapping[str, Any]) -> bytes:
    """canonical_json's text, UTF-8 encoded, to be kept."""
    return _trimmed(_canonical(data))


def _canonical(data: Mapping[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)


def _trimmed(written: bytes) -> bytes:
    """The text in a copy of its own size.

    orjson's bytes keep the whole buffer it wrote into, many times the size of
    a row's text; a row's text is kept, a batch of them at a time, and would
    hold every one of those buffers.
    """
    return bytes(memoryview(written))


# Equal amounts give one text, however written; a chain's amounts are a few
# prices and their fees, each a fingerprint's worth of work saved many times.
@lru_cache(maxsize=4096)
def decimal_text(value: Decimal) -> str:
    """'300000' for 300000 and 300000.00 alike, '0.035' for 0.0350: the number, not its scale."""
    if value == value.to_integral_value():
        return str(int(value))
    return str(value.normalize())


def _fingerprint_form(value: Any) -> Any:
    """The canonical form of a target value JSON has no type for (orjson's default)."""
    try:
        return _FINGERPRINT_FORMS[type(value)](value)
    except KeyError:
        pass
    for kind, form in _FINGERPRINT_FORMS.items():  # a subclass of one of them
        if isinstance(value, kind):
            return form(value)
    raise TypeError(f"no canonical form for {type(value).__name__}")


# orjson writes the values JSON has a type for itself (numbers, text, None,
# booleans), and hands the others to _fingerprint_form: a date, time or amount,
# and a datetime, which it would otherwise write itself. A JSON object's keys
# are sorted: PostgreSQL's jsonb gives them back in an order of its own.
_FINGERPRINT_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_SORT_KEYS


# Change detection, not security: BLAKE2b is fast and 128 bits never collide by
# chance. Each hash starts from a copy of this one: made anew, a hasher parses
# its keyword arguments, a quarter of hashing a row.
_BLAKE2B_128 = hashlib.blake2b(digest_size=16)


def digest(text: str | bytes) -> str:
    """The hash of a canonical text (or of its UTF-8 bytes, as orjson writes them)."""
    hasher = _BLAKE2B_128.copy()
    hasher.update(text.encode("utf-8") if isinstance(text, str) else text)
    return hasher.hexdigest()


def row_hash(row: Mapping[str, Any]) -> str:
    return digest(_canonical(row))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _instant(moment: datetime) -> int | str:
    """An aware moment as microseconds since the epoch: one instant, one number, whatever
    its time zone (the importer writes Seoul times, the database gives back UTC)."""
    if moment.tzinfo is None:
        return moment.isoformat()
    return (moment - _EPOCH) // _MICROSECOND


# A chain's days and times of day repeat over millions of rows, and isoformat()
# costs ten times a look-up in a bounded cache (as decimal_text uses).
@lru_cache(maxsize=4096)
def _naive_time_text(value: time) -> str:
    return value.isoformat()


def _time_text(value: time) -> str:
    # Equal aware times in two zones are written differently: not one text for both.
    return _naive_time_text(value) if value.tzinfo is None else value.isoformat()


# The canonical form of each target value JSON has no type for, by exact type:
# one dict look-up a value.
_FINGERPRINT_FORMS = {
    datetime: _instant,
    date: lru_cache(maxsize=4096)(date.isoformat),
    time: _time_text,
    Decimal: decimal_text,
}


def target_fingerprint(values: Mapping[str, Any]) -> str:
    """The hash of a target row's imported field values, to notice edits made in Django later.

    Times are compared as instants and amounts as numbers, so a value read back
    from the database hashes like the value that was written.
    """
    return Fingerprinter(values)(values)


class Fingerprinter:
    """target_fingerprint of a fixed set of fields, taken from a larger mapping.

    The importer fingerprints a million rows: the fields are named and sorted
    once, and a row's canonical form is the list of their values in that
    order (the names, the same for every row, add nothing).
    """

    def __init__(self, fields: Iterable[str]):
        self._values_of = tuple_getter(sorted(fields))

    def __call__(self, values: Mapping[str, Any]) -> str:
        return digest(fingerprint_form(self._values_of(values)))


def fingerprint_form(values: Sequence[Any]) -> bytes:
    """The text a fingerprint hashes: the fields' values in their names' order, as a JSON
    array (UTF-8). Verify's range checksums are made of it too (verify/checksums.py)."""
    return orjson.dumps(values, default=_fingerprint_form, option=_FINGERPRINT_OPTIONS)


def fingerprint_forms(columns: Sequence[tuple[Sequence[Any], type]]) -> list[bytes]:
    """fingerprint_form of each of a batch's rows, given as columns in their names' order,
    each with the type its values have (or None; `object`: several, each a type JSON has).

    The same text, made faster: each column's values are put in their canonical
    form in one pass, and orjson then writes each row without calling back.
    """
    formed = []
    for values, kind in columns:
        form = _FINGERPRINT_FORMS.get(kind)
        formed.append(values if form is None else [v if v is None else form(v) for v in values])
    return [orjson.dumps(row, option=_FINGERPRINT_OPTIONS) for row in zip(*formed, strict=True)]
