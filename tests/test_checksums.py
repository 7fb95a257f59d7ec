"""A batch's checksum: the text Python writes of an expected row is the text PostgreSQL
writes of the target row, value for value, and proves nothing that is not so."""

from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.db.models import JSONField, Value

from migration.mapping.canonical import fingerprint_form, fingerprint_forms
from migration.mapping.specs import SPECS
from migration.verify.checksums import TargetChecksum
from migration.verify.target_rows import TargetTable
from sessions.models import FeeAuditLog, SessionPackage
from tests.conftest import run_command
from tests.legacy_files import write_importable_sample

SEOUL = ZoneInfo("Asia/Seoul")
INF, NAN = float("inf"), float("nan")

# --- the Python side: the fingerprint's text, pure ---


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, b"null"),
        (True, b"true"),
        (0, b"0"),
        (-7, b"-7"),
        ("", b'""'),
        ('it\'s "quoted" \\ \n\t\x01', b'"it\'s \\"quoted\\" \\\\ \\n\\t\\u0001"'),
        ("한글", '"한글"'.encode()),
        (170.0, b"170.0"),
        (0.1, b"0.1"),
        (Decimal("300000.00"), b'"300000"'),
        (Decimal("0.0350"), b'"0.035"'),
        (Decimal("-5"), b'"-5"'),
        (datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC), b"1000005"),
        (datetime(1970, 1, 1, 9, 0, 1, 5, tzinfo=SEOUL), b"1000005"),  # the same instant
        (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), b"-1"),
        (datetime(2024, 1, 9, 10, 0), b'"2024-01-09T10:00:00"'),  # naive: no instant
        (date(2024, 2, 29), b'"2024-02-29"'),
        (time(10, 0), b'"10:00:00"'),
        (time(10, 0, 25, 813560), b'"10:00:25.813560"'),
        ({}, b"{}"),
    ],
)
def test_the_python_side_writes_each_value_as_the_fingerprint_does(value, text):
    assert fingerprint_form((value,)) == b"[" + text + b"]"


def test_a_batch_s_texts_written_a_column_at_a_time_are_each_row_s_own():
    rows = [
        (1, "a", 1.5, Decimal("0.0350"), datetime(2024, 1, 9, 10, tzinfo=SEOUL), date(2024, 1, 9),
         time(10, 0, 25, 813560), True, {"a": [1, None]}),
        (None, None, None, None, None, None, None, None, None),
        (-3, "한\n", 0.0, Decimal("300000.00"), datetime(1969, 1, 1, tzinfo=UTC), date(1, 1, 1),
         time(0, 0), False, "text"),
    ]  # fmt: skip
    kinds = (int, str, float, Decimal, datetime, date, time, bool, object)
    columns = [(values, kind) for values, kind in zip(zip(*rows, strict=True), kinds, strict=True)]
    assert fingerprint_forms(columns) == [fingerprint_form(row) for row in rows]


# --- the PostgreSQL side agrees, value for value ---


@pytest.fixture
def imported(tmp_path: Path, legacy_db, write_path) -> Path:
    path = write_importable_sample(tmp_path / "legacy.db")
    assert run_command("import_legacy", "--source", str(path))[0] == 0
    return path


def proven(table: str, pk: int, stored: dict, expected: dict | None = None, **entry) -> bool:
    """Whether the checksum proves the target row, its fields `stored`, to be the expected
    row (`stored`, or as `expected` says), fingerprinted as the ledger would have it."""
    spec = SPECS[table]
    target = TargetTable(spec, "default")
    if stored:
        apps.get_model(spec.model).objects.filter(pk=pk).update(**stored)
    current = target.rows([pk])[pk]
    wanted = {**stored, **(expected or {})}
    values = tuple(
        wanted.get(name, value) for name, value in zip(target.fields, current, strict=True)
    )
    ledger = {"target_id": pk, "target_hash": target.fingerprint(values), **entry}
    return TargetChecksum(target).proves([values], [SimpleNamespace(**ledger)])


PK = {"clients": 3, "assessments": 1, "sessions": 1, "session_packages": 1}

EDGE_VALUES = [
    ("clients", {"name": ""}),
    ("clients", {"name": 'it\'s "quoted" \\ back\nslash\ttab\x01\x1f\x7f'}),
    ("clients", {"name": "한글 이름 😀 \u2028 \ufeff"}),
    ("clients", {"email": None, "phone": ""}),
    ("clients", {"age": 0}),
    ("clients", {"height": 170.0, "weight": 72.5}),
    ("clients", {"height": 0.1, "weight": 0.0001}),
    ("assessments", {"toe_touch_distance": -1.5, "overall_score": 123456789.125}),
    ("assessments", {"toe_touch_distance": None, "overall_score": 1e-4}),
    ("clients", {"created_at": datetime(2024, 1, 9, 1, 2, 3, 456789, tzinfo=UTC)}),
    ("clients", {"created_at": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)}),
    ("clients", {"created_at": datetime(1, 1, 2, tzinfo=UTC)}),
    ("clients", {"created_at": datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)}),
    ("sessions", {"session_date": date(2024, 2, 29)}),
    ("sessions", {"session_date": date(1, 1, 1)}),
    ("sessions", {"session_date": date(9999, 12, 31)}),
    ("sessions", {"session_time": None, "completed_at": None, "notes": None}),
    ("sessions", {"session_time": time(0, 0)}),
    ("sessions", {"session_time": time(10, 0, 25, 813560)}),
    ("sessions", {"session_time": time(12, 0, 0, 500000)}),
    ("sessions", {"session_time": time(23, 59, 59, 999999)}),
    ("sessions", {"session_cost": Decimal("0")}),
    ("session_packages", {"is_active": True, "vat_rate": Decimal("0.1000")}),
    ("session_packages", {"is_active": False, "card_fee_rate": Decimal("0.0001")}),
    ("session_packages", {"total_amount": Decimal("9999999999"), "vat_rate": None}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("table", "stored"), EDGE_VALUES)
def test_postgresql_writes_each_target_value_as_python_writes_it(imported, table, stored):
    assert proven(table, PK[table], stored)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("table", "stored", "expected"),
    [
        # Each as the transform may give it, equal to the value read back.
        ("clients", {"created_at": datetime(2024, 1, 9, 1, 2, 3, tzinfo=UTC)},
         {"created_at": datetime(2024, 1, 9, 10, 2, 3, tzinfo=SEOUL)}),
        ("session_packages", {"card_fee_rate": Decimal("0.0350")},
         {"card_fee_rate": Decimal("0.035")}),
        ("session_packages", {"total_amount": Decimal("300000")},
         {"total_amount": Decimal("300000.00")}),
    ],
)  # fmt: skip
def test_an_equal_value_written_another_way_is_proven(imported, table, stored, expected):
    assert proven(table, PK[table], stored, expected)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("table", "stored", "expected"),
    [
        ("clients", {"name": "a"}, {"name": "b"}),
        ("clients", {"email": ""}, {"email": None}),
        ("clients", {"age": 30}, {"age": 31}),
        ("clients", {"height": 170.0}, {"height": 170.00000000000003}),
        ("clients", {"created_at": datetime(2024, 1, 9, 1, 2, 3, tzinfo=UTC)},
         {"created_at": datetime(2024, 1, 9, 1, 2, 3, 1, tzinfo=UTC)}),
        ("sessions", {"session_date": date(2024, 2, 29)}, {"session_date": date(2024, 3, 1)}),
        ("sessions", {"session_time": time(10, 0)}, {"session_time": time(10, 0, 0, 1)}),
        ("sessions", {"session_time": None}, {"session_time": time(0, 0)}),
        ("sessions", {"session_cost": Decimal("60000")}, {"session_cost": Decimal("60001")}),
        ("session_packages", {"is_active": True}, {"is_active": False}),
        ("session_packages", {"vat_rate": Decimal("0.1")}, {"vat_rate": Decimal("0.01")}),
        # Values of another type whose fingerprint is the same: the fields differ.
        ("session_packages", {"total_amount": Decimal("300000")}, {"total_amount": "300000"}),
        ("sessions", {"session_date": date(2024, 2, 29)},
         {"session_date": datetime(2024, 2, 29, tzinfo=UTC)}),
        ("clients", {"age": 1}, {"age": True}),
    ],
)  # fmt: skip
def test_a_value_that_differs_is_never_proven(imported, table, stored, expected):
    assert not proven(table, PK[table], stored, expected)


@pytest.mark.django_db
def test_a_float_json_has_no_number_for_is_not_proven_against_null(imported):
    # orjson writes an infinity as null, as it writes None.
    assert not proven("assessments", 1, {"toe_touch_distance": None}, {"toe_touch_distance": INF})
    assert not proven("assessments", 1, {"toe_touch_distance": None}, {"toe_touch_distance": NAN})


@pytest.mark.django_db
def test_a_row_edited_since_the_import_is_not_proven(imported):
    assert proven("clients", 3, {"name": "a"})
    assert not proven("clients", 3, {"name": "a"}, target_hash="0" * 32)


@pytest.mark.django_db
def test_a_missing_target_row_is_not_proven(imported):
    target = TargetTable(SPECS["clients"], "default")
    values = target.rows([3])[3]
    entries = [
        SimpleNamespace(target_id=target_id, target_hash=target.fingerprint(values))
        for target_id in (3, 10**9)
    ]
    assert not TargetChecksum(target).proves([values, values], entries)


def fee_log(details) -> int:
    package = SessionPackage.objects.get(pk=1)
    return FeeAuditLog.objects.create(
        package=package,
        calculation_type="package",
        gross_amount=Decimal("300000"),
        vat_amount=Decimal("27273"),
        card_fee_amount=Decimal("10500"),
        net_amount=Decimal("262227"),
        vat_rate=Decimal("0.1"),
        card_fee_rate=Decimal("0.035"),
        calculation_details=details,
        created_at=datetime(2024, 1, 9, tzinfo=UTC),
    ).pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    "details",
    [
        None, {}, [], "text", 1, 1.5, 100.0, True, ["a"],
        {"rule": "VAT 10/110", "gross_source": "payments.amount", "written_by": "clean_legacy"},
        {"b": [1, {"c": None, "ab": False}], "aa": -0.25, "한": "\"quoted\"\n", "z": {}},
    ],
)  # fmt: skip
def test_a_json_value_is_proven_as_postgresql_writes_it(imported, details):
    pk = fee_log(details)
    assert proven("fee_audit_log", pk, {})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("stored", "expected"),
    [({"a": 1}, {"a": 2}), ([], {}), (1, 1.5), ("1", 1), ({"a": [1]}, {"a": [1, 1]}),
     ({"a": 1.0}, {"a": float("inf")})],
)  # fmt: skip
def test_a_json_value_that_differs_is_never_proven(imported, stored, expected):
    pk = fee_log(stored)
    assert not proven("fee_audit_log", pk, {}, {"calculation_details": expected})


@pytest.mark.django_db
def test_json_null_is_never_proven_as_sql_null(imported):
    # Django reads both as None; the column holds one or the other.
    pk = fee_log(None)
    FeeAuditLog.objects.filter(pk=pk).update(calculation_details=Value(None, JSONField()))
    assert not FeeAuditLog.objects.filter(pk=pk, calculation_details__isnull=True).exists()
    assert not proven("fee_audit_log", pk, {})


@pytest.mark.django_db
@pytest.mark.parametrize("ids", [[3, 4, 5], [3, 5, 9]])
def test_a_batch_is_proven_whether_its_ids_run_without_a_gap_or_not(imported, ids):
    target = TargetTable(SPECS["clients"], "default")
    rows = target.rows(ids)
    entries = [
        SimpleNamespace(target_id=pk, target_hash=target.fingerprint(rows[pk])) for pk in ids
    ]
    assert TargetChecksum(target).proves([rows[pk] for pk in ids], entries)
    wrong = [*[rows[pk] for pk in ids[:-1]], rows[ids[0]]]  # the last row's values swapped
    wrong_entries = [
        *entries[:-1],
        SimpleNamespace(target_id=ids[-1], target_hash=entries[0].target_hash),
    ]
    assert not TargetChecksum(target).proves(wrong, wrong_entries)
