"""A legacy row's canonical form and hash, and a target row's fingerprint: pure, no database."""

import hashlib
import json
import tracemalloc
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from migration.mapping.canonical import (
    CanonicalRows,
    Fingerprinter,
    canonical_json,
    canonical_row,
    fingerprint_form,
    raw_row,
    target_fingerprint,
)
from migration.mapping.reading import RowReader
from migration.mapping.specs import SPECS

COLUMNS = ("id", "name", "notes", "height")


@pytest.mark.parametrize(
    "values",
    [
        (1, "이영희", None, 160.5),
        (2**63 - 1, "", "tab\tand newline\n", 0.1 + 0.2),
        (3, "a NUL \x00 inside", None, -0.0),
        (4, "not UTF-8 \udcff", None, 1e300),
        (5, b"\x00\x01 a BLOB", None, 2),
        (6, "a typed \\u0000 is text, not a NUL", None, None),
        (7, float("inf"), 'quote " and backslash \\', -1),
    ],
)
def test_the_fast_canonical_row_is_the_careful_one(values):
    careful = raw_row(COLUMNS, values)
    row, text = canonical_row(COLUMNS, values)
    assert row == careful
    assert text == canonical_json(careful).encode()
    assert canonical_row(COLUMNS, values, kept=False) == (row, text)  # a worker's way
    # A table's rows, their columns put in order once, come out the same.
    canonical = CanonicalRows(COLUMNS)
    assert canonical(values) == canonical(values, kept=False) == (row, text)


def test_a_row_with_a_blob_or_unstorable_text_is_tagged_in_its_canonical_form():
    _, with_blob = canonical_row(("id", "photo"), (1, b"\x00\x01"))
    _, with_nul = canonical_row(("id", "name"), (1, "Kim\x00"))
    assert with_blob == b'{"id":1,"photo":{"$blob":"AAE="}}'
    assert with_nul == b'{"id":1,"name":{"$text-bytes":"S2ltAA=="}}'


def test_a_rows_canonical_text_takes_the_memory_of_its_length():
    # The importer keeps a batch of rows' texts at a time: orjson's own bytes
    # would each keep the buffer it wrote into (kilobytes for a short row).
    tracemalloc.start()
    try:
        canonical = CanonicalRows(COLUMNS)
        texts = [canonical((i, "이영희", None, 160.5))[1] for i in range(1000)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(texts[0]) < 100
    assert held < 1000 * 200


def test_an_infinity_is_tagged_not_written_as_null():
    # orjson writes inf as null, and JSON has no number for it: it would be lost.
    _, text = canonical_row(("id", "weight"), (1, float("-inf")))
    assert text == b'{"id":1,"weight":{"$float":"-inf"}}'


# What an earlier version stored in the ledger was the standard library's text:
# it must still hash the same, or a re-run would take every row for changed.
STDLIB = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    "values",
    [
        (1, "이영희", None, 160.5),
        (2**63 - 1, "", "tab\tand newline\n\x1f\x7f\u2028", 0.1 + 0.2),
        (-(2**63), 'quote " and backslash \\', "emoji 🏋️", -0.0),
        (4, "a typed \\u0000 is text, not a NUL", None, 60000.0),
    ],
)
def test_canonical_text_is_the_standard_librarys(values):
    assert canonical_row(COLUMNS, values)[1].decode() == STDLIB.encode(
        dict(zip(COLUMNS, values, strict=True))
    )


def test_a_fingerprint_is_the_one_earlier_versions_stored():
    row = {
        "at": datetime(2024, 3, 1, 18, 30, 0, 5, tzinfo=ZoneInfo("Asia/Seoul")),
        "cost": Decimal("300000.00"),
        "day": date(2024, 2, 29),
        "name": "이영희",
        "note": None,
        "sets": 3,
    }
    forms = [1709285400000005, "300000", "2024-02-29", "이영희", None, 3]
    stored = STDLIB.encode(forms).encode()
    assert target_fingerprint(row) == hashlib.blake2b(stored, digest_size=16).hexdigest()
    # The other kinds of value, and a single field.
    row = {
        "at": datetime(2024, 3, 1, 18, 30, 0, 5),  # naive: as its text
        "clock": time(10, 0, 25, 813560),
        "done": True,
        "rate": Decimal("0.0350"),
        "weight": 72.5,
    }
    forms = ["2024-03-01T18:30:00.000005", "10:00:25.813560", True, "0.035", 72.5]
    stored = STDLIB.encode(forms).encode()
    assert target_fingerprint(row) == hashlib.blake2b(stored, digest_size=16).hexdigest()
    stored = STDLIB.encode(["300000"]).encode()
    assert Fingerprinter(["cost"])({"cost": Decimal("300000.00"), "id": 1}) == (
        hashlib.blake2b(stored, digest_size=16).hexdigest()
    )


def test_a_fingerprint_sees_a_json_object_whatever_the_order_of_its_keys():
    # jsonb gives an object's keys back shortest first: the value read back is the same.
    written = {"details": {"rule": "inclusive", "gross_source": "payments.amount", "id": [1]}}
    read_back = {"details": {"id": [1], "rule": "inclusive", "gross_source": "payments.amount"}}
    assert target_fingerprint(written) == target_fingerprint(read_back)
    assert target_fingerprint(written) != target_fingerprint({"details": {"rule": "inclusive"}})


def test_a_fingerprint_sees_an_instant_not_its_time_zone():
    seoul = datetime(2024, 3, 1, 18, 30, 0, 5, tzinfo=ZoneInfo("Asia/Seoul"))
    utc = datetime(2024, 3, 1, 9, 30, 0, 5, tzinfo=UTC)
    assert target_fingerprint({"at": seoul}) == target_fingerprint({"at": utc})
    assert target_fingerprint({"at": seoul}) != target_fingerprint({"at": utc.replace(second=1)})


def test_a_fingerprint_sees_amounts_as_numbers_and_keeps_every_field_apart():
    values = {"cost": Decimal("300000.00"), "day": date(2024, 2, 29), "at": time(10, 0, 25, 813560)}
    same = {"at": time(10, 0, 25, 813560), "day": date(2024, 2, 29), "cost": Decimal(300000)}
    assert target_fingerprint(values) == target_fingerprint(same)
    assert target_fingerprint(values) != target_fingerprint({**values, "cost": Decimal(300001)})
    assert target_fingerprint({"a": "1", "b": None}) != target_fingerprint({"a": None, "b": "1"})


def test_a_fingerprint_writes_each_time_of_day_as_it_is_whatever_it_equals():
    # Equal aware times in two zones: each written with its own offset, however
    # often either is seen (days and times are remembered once written).
    utc = time(10, 0, tzinfo=UTC)
    seoul = time(19, 0, tzinfo=timezone(timedelta(hours=9)))
    assert utc == seoul
    for _ in range(2):
        assert fingerprint_form([utc, seoul]) == b'["10:00:00+00:00","19:00:00+09:00"]'
    naive = [time(10, 0), time(10, 0, 0, 5), date(2024, 2, 29), date(2024, 2, 29)]
    for _ in range(2):
        written = fingerprint_form(naive)
        assert written == b'["10:00:00","10:00:00.000005","2024-02-29","2024-02-29"]'


def test_a_fingerprinter_gives_target_fingerprint_of_just_its_fields():
    row = {
        "id": 7,
        "b": Decimal("1.50"),
        "a": datetime(2024, 1, 1, 9, tzinfo=ZoneInfo("Asia/Seoul")),
    }
    fingerprint = Fingerprinter(("b", "a"))
    assert fingerprint(row) == target_fingerprint({"a": row["a"], "b": row["b"]})
    assert fingerprint(row) == fingerprint({**row, "id": 8})  # fields it does not name are not its
    assert fingerprint(row) != fingerprint({**row, "b": Decimal("1.51")})


class _NoTrainerLookups:
    def trainer_of(self, table, legacy_id):
        raise AssertionError("every row here names its trainer")


def test_a_row_reader_converts_each_column_its_spec_maps_and_gives_missing_ones_their_value():
    # Payments: one column read into two fields; an older file lacks the fee columns.
    spec = SPECS["payments"]
    columns = ("id", "client_id", "package_id", "amount", "payment_method", "payment_date",
               "description", "created_at", "trainer_id", "gross_amount")  # fmt: skip
    values = (7, 3, None, 300000.0, "카드", "2024-02-29", "", "2024-02-29 01:00:25", 2, 300000)
    row = RowReader(spec, columns, _NoTrainerLookups()).read(values)
    expected = {
        c.field: c.convert(values[columns.index(c.column)]) if c.column in columns else c.if_missing
        for c in spec.columns
    }
    assert row.values == expected
    assert row.values["payment_method"] == "card" and row.values["payment_method_text"] == "카드"
    assert row.values["vat_rate"] is None and row.values["gross_amount"] == Decimal(300000)
    assert row.legacy_id == 7 and row.raw == dict(zip(columns, values, strict=True))


def test_a_fingerprint_takes_a_subclass_of_a_type_it_knows_as_that_type():
    class Amount(Decimal):
        pass

    assert target_fingerprint({"cost": Amount("300000.00")}) == target_fingerprint(
        {"cost": Decimal(300000)}
    )
    with pytest.raises(TypeError):  # orjson says which type
        target_fingerprint({"what": object()})
