"""SQLite's pre-filters pass only values the converters take.

Precheck runs a converter in Python only over the values that fail its
pre-filter, so a pre-filter true for a value its converter rejects would hide
a bad value. The key property, tested over a corpus of the oddest values a
legacy file can hold, stored in columns of every declared type and read back
through the project's own reader: wherever a pre-filter is true, its converter
takes the value.
"""

import math
import random
import sqlite3
from pathlib import Path

import pytest

from migration.legacy import open_legacy, quote_identifier
from migration.mapping import converters as t
from migration.mapping.converters import LegacyValueError
from migration.mapping.prefilters import _exactly, prefilter_of, table_prefilter
from migration.mapping.specs import SPECS
from migration.precheck.run import run_precheck
from tests.legacy_files import LegacyFile

pytestmark = pytest.mark.usefixtures("legacy_db")

# The same raw value lands differently in each: affinities convert numbers and
# numeric text on the way in, collations change what '=' means.
TEXT_COLUMNS = {
    "untyped": "",
    "text": "TEXT",
    "nocase": "TEXT COLLATE NOCASE",
    "rtrim": "TEXT COLLATE RTRIM",
}
COLUMN_TYPES = {
    **TEXT_COLUMNS,
    "integer": "INTEGER",
    "real": "REAL",
    "numeric": "NUMERIC",
    "timestamp": "TIMESTAMP",
}

NUMBERS = [
    0, 1, -1, 2, 5, 150, 151, 300, 301, 2**15 - 1, 2**15, 2**31 - 1, 2**31, -(2**31),
    -(2**31) - 1, 10**15 - 1, 10**15, -(10**15) + 1, -(10**15), 2**53, 2**53 + 1,
    2**63 - 1, -(2**63), 0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 60000.0, 300000.0,
    0.01, math.nextafter(0.01, 0), math.nextafter(0.01, 1), 0.1, math.nextafter(0.1, 1),
    0.035, math.nextafter(0.035, 0), 0.3, 300.0, math.nextafter(300.0, 301), 500.0,
    1e-300, 5e-324, 1e15 - 1, 1e15, 2.0**53, 2.0**53 + 2, 2.0**63, -(2.0**63), 1e308,
    math.inf, -math.inf, math.nan, 1e300 * 10,
]  # fmt: skip

TEXTS = [
    "", " ", "  ", "a", "A", "abc", "~", "\t", "\n", "a\tb", "\x7f", "\x01", "é", "ß",
    "1", "1.0", "0.1", " 1", "1 ", "-0", "0x10", "1e3", "inf", "NaN",
    "x" * 40, "x" * 41, "x" * 50, "x" * 51, "x" * 150, "x" * 151, "x" * 254, "x" * 255,
    "가" * 13, "가" * 14, "가" * 50, "가" * 51, "가" * 150, "가" * 151,
    "컨디션 저조", "PT 패키지 5001", "장도윤", "발뒤꿈치 들림", "뀌", "쀍", "퀌", "힣", "가",
    "ㅋㅋ", "😀", "\ufffd", "\u00a0", "\u200b", "Kim Min", "Kim  Min", " Kim", "Kim ",
    "completed", "Completed", "completed ", " completed", "COMPLETED", "scheduled",
    "cancelled", "canceled", "done", "inclusive", "Inclusive", "inclusive ",
    "male", "Male", " male", "female", "남성", "여성", "남성 ", " 여성", "남자",
    "card", "카드", "현금", "계좌이체", "Package Purchase", "anything typed",
    '{"a": 1}', "[1, 2]", "{", "null",
    # dates
    "2024-02-29", "2023-02-29", "2024-02-30", "2024-04-31", "2024-12-31", "2024-13-01",
    "2024-00-10", "2024-01-00", "0000-01-01", "0001-01-01", "9999-12-31", "-001-01-01",
    "2024-1-1", " 2024-01-01", "2024-01-01 ", "2024/01/01", "20240101", "２０２４-01-01",
    "٢٠٢٤-٠١-٠١", "2024-01-01T", "2460000.5", "now", "2024-01-01Z",
    # times
    "10:00:00", "00:00:00", "23:59:59", "24:00:00", "23:60:00", "23:59:60", "10:00",
    "10", "1000", "100000", "10:00:25.813560", "10:00:25.8135601", "10:00:25.81356",
    "10:00:25.813", "10:00:25.", "10:00:25,813560", "24:00:00.000000", "29:00:00.000000",
    "10:00:00Z", "10:00:00+09:00", "T10:00:00", " 10:00:00", "10:00:00 ", "１０:00:00",
    # moments
    "2024-03-01 09:00:00", "2024-03-01T09:00:00", "2024-03-01 09:00:00.123456",
    "2024-03-01T09:00:00.123456", "2024-03-01 09:00:00.123", "2024-03-01 09:00",
    "2024-03-01 24:00:00", "2024-03-01 23:59:60", "2024-02-29 10:00:00",
    "2023-02-29 10:00:00", "2023-02-29 10:00:00.123456", "0000-01-01 00:00:00",
    "0001-01-01 00:00:00", "9999-12-31 23:59:59", "9999-12-31 23:59:59.999999",
    "-001-01-01 00:00:00", "2024-03-01 09:00:00Z", "2024-03-01 09:00:00+09:00",
    "2024-03-01T18:05:00+01:00", "2024-03-01 09:00:00 ", " 2024-03-01 09:00:00",
    "2024-03-01 9:00:00", "2024-03-01  09:00:00", "2024-03-01t09:00:00",
    "2024-03-01 09:00:00.1234567", "2024-03-01_09:00:00", "2024-03-01 09:00:00.12345a",
    # moments whose UTC time is in year 0 or 10000 (Seoul is +08:27:52 in year 1)
    "0001-01-01 00:00:00.500000", "0001-01-01T00:00:00", "0001-01-01T08:27:51",
    "0001-01-01T08:27:52", "0001-01-01 08:00:00.000000", "0002-01-01T00:00:00",
    "9999-12-31T23:59:59", "9999-12-31 23:59:59.500000", "9998-12-31T23:59:59",
    "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00",
]  # fmt: skip

# SQL for what Python cannot hand to sqlite3 as text: bytes that are not UTF-8,
# text with a NUL, blobs.
SQL_VALUES = [
    "NULL",
    "CAST(x'ff' AS TEXT)",
    "CAST(x'4b696dff4d696e' AS TEXT)",
    "CAST(x'c080' AS TEXT)",
    "CAST(x'80' AS TEXT)",
    "CAST(x'eab0' AS TEXT)",
    "CAST(x'eda080' AS TEXT)",
    "CAST(x'6100' AS TEXT)",
    "CAST(x'00' AS TEXT)",
    "CAST(x'616263006465' AS TEXT)",
    "CAST(x'6100ff' AS TEXT)",
    "CAST(x'00eab080' AS TEXT)",
    "'completed' || char(0)",
    "'2024-01-01' || char(0)",
    "'2024-01-01' || char(0) || 'x'",
    "'10:00:00' || char(0)",
    "'10:00:25.81356' || char(0)",
    "'2024-03-01 09:00:00' || char(0)",
    "'2024-03-01 09:00:00.12345' || char(0)",
    "'2024-03-01 09:00:00' || char(0) || '.123456'",
    "'2024-03-01 09:00:00.123456' || char(0)",
    "'2024-03-01 09:00:00.123456' || char(0) || 'x'",
    "'10:00:25.813560' || char(0)",
    "'10:00:25.813560' || char(0) || 'x'",
    "x''",
    "x'00'",
    "x'31'",
    "x'6d616c65'",
    "CAST('2024-01-01' AS BLOB)",
    "CAST('completed' AS BLOB)",
    "CAST('컨디션' AS BLOB)",
]


def hangul_lookalikes() -> list[bytes]:
    """Bytes SQLite's lenient reader may take for a Hangul syllable, valid or not.

    Every lead byte, followed by 0 to 6 continuation bytes holding the bits of
    a syllable (the reader keeps the last 32 bits of however many there are).
    """
    sequences = []
    for lead in range(0xC0, 0x100):
        for count in range(7):
            for code in (0xAC00, 0xB00C, 0xD7A3, 0xD800):
                tail = [0x80 | (code >> (6 * shift)) & 0x3F for shift in reversed(range(count))]
                sequences.append(bytes([lead, *tail]))
    for prefix in (b"", b"\x80", b"\x80\x80"):
        sequences += [prefix + bytes([0x80 | third, 0xB0, 0x80]) for third in range(0x3F)]
    return sequences


def random_bytes(count: int, seed: int = 7) -> list[bytes]:
    """Short byte strings, heavy in the bytes UTF-8 and SQLite's reader treat specially."""
    rng = random.Random(seed)
    alphabet = [
        0x00, 0x20, 0x41, 0x7E, 0x7F, 0x80, 0x8A, 0x8C, 0x8D, 0x9E, 0xA0, 0xA3, 0xB0,
        0xBF, 0xC0, 0xC1, 0xC2, 0xCA, 0xCD, 0xDF, 0xE0, 0xEA, 0xEB, 0xEC, 0xED, 0xEE,
        0xEF, 0xF0, 0xF4, 0xF5, 0xF8, 0xFC, 0xFE, 0xFF,
    ]  # fmt: skip
    return [bytes(rng.choices(alphabet, k=rng.randint(1, 10))) for _ in range(count)]


def corpus_sql() -> list[tuple[str, tuple, dict[str, str]]]:
    """Each value as (SQL expression, parameters, the columns it goes in)."""
    values = [("?", (value,), COLUMN_TYPES) for value in [*NUMBERS, *TEXTS]]
    values += [(expression, (), COLUMN_TYPES) for expression in SQL_VALUES]
    # Text that is not numeric lands alike in any affinity: only collations matter.
    for sequence in [*hangul_lookalikes(), *random_bytes(2000)]:
        for text in (sequence, b"a" + sequence, sequence + "가".encode(), b"x" * 40 + sequence):
            values.append((f"CAST(x'{text.hex()}' AS TEXT)", (), TEXT_COLUMNS))
    return values


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A legacy-like file: every corpus value in one row, once per column type."""
    path = tmp_path_factory.mktemp("prefilters") / "corpus.db"
    connection = sqlite3.connect(path)
    columns = ", ".join(f"{name} {declared}" for name, declared in COLUMN_TYPES.items())
    connection.execute(f"CREATE TABLE corpus (id INTEGER PRIMARY KEY, {columns})")
    for expression, params, columns in corpus_sql():
        connection.execute(
            f"INSERT INTO corpus ({', '.join(columns)}) "
            f"VALUES ({', '.join(expression for _ in columns)})",
            params * len(columns),
        )
    connection.commit()
    connection.close()
    return path


def converters_under_test() -> dict[str, t.Converter]:
    """Every converter the specs use (each once), and more bounds than they use."""
    named: dict[str, t.Converter] = {}
    for spec in SPECS.values():
        for column in spec.columns:
            if column.convert not in named.values():
                named[f"{spec.table}.{column.column}->{column.field}"] = column.convert
    named |= {
        "text(5)": t.text(5),
        "optional_text(3)": t.optional_text(3),
        "integer(-5, 5)": t.integer(-5, 5),
        "integer(None, None, optional)": t.integer(None, None, required=False),
        "real(-0.5, 0.3)": t.real(-0.5, 0.3),
        "real(None, None)": t.real(None, None),
        "won(None)": t.won(None),
        "won(optional)": t.won(required=False),
        "legacy_timestamp": t.legacy_timestamp,
        "rate": t.rate,
    }
    return named


def test_every_converter_in_the_specs_has_a_prefilter():
    # Not required for correctness (Python then checks every value), but a
    # converter without one makes precheck read every row of its table.
    converters = converters_under_test().items()
    without = [name for name, convert in converters if not prefilter_of(convert)]
    assert without == []


def test_prefilters_pass_only_values_the_converters_take(corpus):
    wrongly_passed = []
    passed_count = 0
    with open_legacy(corpus) as source:
        for column in COLUMN_TYPES:
            values = dict(source.rows("corpus", ("id", column)))
            for name, convert in converters_under_test().items():
                prefilter = prefilter_of(convert)(quote_identifier(column))
                for (row_id,) in source.query(
                    f"SELECT id FROM corpus WHERE ({prefilter}) IS TRUE ORDER BY id"
                ):
                    passed_count += 1
                    try:
                        convert(values[row_id])
                    except LegacyValueError as error:
                        wrongly_passed.append((name, column, values[row_id], error.detail))
    assert wrongly_passed == []
    assert passed_count > 10_000  # the corpus does exercise the pre-filters


# The values the studio's files really hold: they must pass the pre-filters, or
# precheck would hand most rows to Python.
TYPICAL = [
    ("trainers", "id", 1),
    ("sessions", "package_id", 2**63 - 2),  # the largest id a row may take
    ("payments", "package_id", None),
    ("trainers", "date_joined", "2024-03-01 09:00:00"),
    ("trainers", "last_login", "2024-12-08 06:06:55.409450"),
    ("trainers", "locked_until", "2024-03-01T18:05:00"),
    ("trainers", "locked_until", "2024-03-01T18:05:00.123456"),
    ("trainers", "locked_until", ""),
    ("trainers", "first_name", "장도윤"),
    ("trainers", "last_name", "Kim Min Jun"),
    ("trainers", "email", "coach0001@studio-chain.example"),
    ("trainers", "password", "$2b$12$anything"),
    ("clients", "gender", "남성"),
    ("clients", "height", 162.8),
    ("clients", "height", 170),
    ("clients", "phone", ""),
    ("clients", "phone", "010-1234-5678"),
    ("assessments", "date", "2024-02-29"),
    ("assessments", "toe_touch_distance", -18.5),
    ("assessments", "farmer_carry_notes", "발뒤꿈치 들림"),
    ("session_packages", "is_active", 1),
    ("session_packages", "vat_rate", 0.1),
    ("session_packages", "card_fee_rate", 0.035),
    ("session_packages", "fee_calculation_method", "inclusive"),
    ("session_packages", "remaining_credits", -5000),
    ("sessions", "session_time", "10:00:25.813560"),
    ("sessions", "session_time", "10:00:00"),
    ("sessions", "session_time", None),
    ("sessions", "session_cost", 60000.0),
    ("training_sessions", "session_cost", 60000),
    ("sessions", "status", "completed"),
    ("sessions", "notes", "컨디션 저조"),
    ("payments", "payment_method", "계좌이체"),
    ("payments", "payment_method_text", "Package Purchase"),
    ("payments", "description", "PT 패키지 5001"),
    ("fee_audit_log", "vat_rate", 0.1),
    ("fee_audit_log", "calculation_details", None),
]


@pytest.mark.parametrize(("table", "field", "value"), TYPICAL)
def test_the_values_studios_hold_pass_the_prefilters(table, field, value):
    # The newest column of the field (the first generation's stand in for it after).
    convert = next(c.convert for c in SPECS[table].columns if c.field == field)
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE typical (value)")
    connection.execute("INSERT INTO typical VALUES (?)", (value,))
    prefilter = prefilter_of(convert)("value")
    assert connection.execute(f"SELECT ({prefilter}) IS TRUE FROM typical").fetchone() == (1,)


@pytest.mark.parametrize(
    "number", [0.01, 0.1, 0.035, 0.3, -0.5, 162.8, 1e-10, 2.0**-60, 300.0, 7, -(2**63)]
)
def test_bounds_reach_sqlite_as_exactly_the_double_python_compares_with(number):
    connection = sqlite3.connect(":memory:")
    exact = _exactly(number)
    above, below = math.nextafter(number, math.inf), math.nextafter(number, -math.inf)
    assert connection.execute(
        f"SELECT {exact} = ?, {exact} < ?, {exact} > ?", (number, above, below)
    ).fetchone() == (1, 1, 1)


def test_the_table_prefilter_selects_rows_with_a_value_that_fails():
    connection = sqlite3.connect(":memory:")
    connection.execute('CREATE TABLE "odd ""name""" ("a ""b""", c)')
    connection.executemany('INSERT INTO "odd ""name""" VALUES (?, ?)', [(1, 1), (1, "x"), (-1, 1)])
    checks = [('a "b"', prefilter_of(t.legacy_id)), ("c", prefilter_of(t.legacy_id))]
    passes, where = table_prefilter(checks)
    rows = connection.execute(
        f'SELECT rowid, {", ".join(passes)} FROM "odd ""name""" WHERE {where}'
    )
    assert rows.fetchall() == [(2, 1, 0), (3, 0, 1)]


def test_a_check_without_a_prefilter_selects_every_row():
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE odd (a, b)")
    connection.executemany("INSERT INTO odd VALUES (?, ?)", [(1, 1), (2, "x")])
    passes, where = table_prefilter([("a", None), ("b", prefilter_of(t.legacy_id))])
    rows = connection.execute(f"SELECT a, {', '.join(passes)} FROM odd WHERE {where}")
    assert rows.fetchall() == [(1, 0, 1), (2, 0, 0)]


# --- precheck: what fails the pre-filter, Python still judges ------------


def test_values_failing_the_prefilter_are_judged_by_the_converters(legacy_file: LegacyFile):
    ids = legacy_file.small_studio()
    client, package, trainer = ids["client"], ids["package"], ids["trainer"]
    # None of these is in a shape that passes the pre-filter; Python takes the first two.
    fine = [
        legacy_file.session(client, package, trainer, session_time="10:00"),
        legacy_file.session(client, package, trainer, notes="줄\t바꿈 ㅋㅋ"),
    ]
    late = legacy_file.session(client, package, trainer, session_time="25:00")
    odd_date = legacy_file.session(client, package, trainer, session_date="2024-3-5")
    path = legacy_file.close()
    checks = [(c.column, prefilter_of(c.convert)) for c in SPECS["sessions"].columns]
    with sqlite3.connect(path) as connection:
        selected = connection.execute(f"SELECT id FROM sessions WHERE {table_prefilter(checks)[1]}")
        assert [row_id for (row_id,) in selected] == [*fine, late, odd_date]
    connection.close()
    with open_legacy(path) as source:
        report = run_precheck(source)
    values = {(item.code, item.column): item.row_ids for item in report.findings}
    assert {key: row_ids for key, row_ids in values.items() if key[0].startswith("value.")} == {
        ("value.unreadable-value", "session_time"): (late,),
        # A typed date that reads one way only: clean_legacy's to repair (test_typed_dates.py).
        ("value.typed-date", "session_date"): (odd_date,),
    }
