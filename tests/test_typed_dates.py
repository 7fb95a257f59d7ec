"""Typed dates: which read one way only, repaired and logged by clean_legacy, and which
precheck leaves for a person with both readings."""

from datetime import datetime, time

import pytest

from migration.clean.report import TYPED_DATE_RULE
from migration.mapping import converters as t
from migration.mapping.converters.temporal import legacy_time_zone
from migration.mapping.specs import SPECS
from migration.mapping.typed_dates import (
    DATE,
    MOMENT,
    Ambiguous,
    Repair,
    typed_date_columns,
    typed_date_reading,
    typed_shape_of,
)
from tests.conftest import run_command
from tests.test_clean import clean, logged, precheck, query

DATES = (t.plain_date,)
MOMENTS = (t.legacy_timestamp,)


# --- the rule, without a database -------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["2025/06/08", "2025.06.08", "2025-6-8", "2025/6/8", "2025.6.08", "20250608", 20250608],
)
def test_a_year_first_or_compact_date_reads_one_way(typed):
    assert typed_date_reading(typed, DATES) == Repair("2025-06-08")


@pytest.mark.parametrize(
    ("typed", "iso"),
    [
        ("2025/06/08 10:00:05", "2025-06-08T10:00:05"),
        ("2025.6.8 9:05", "2025-06-08T09:05:00"),
        ("2025-6-8T10:00:05.25", "2025-06-08T10:00:05.250000"),
        ("20250608 18:30", "2025-06-08T18:30:00"),
    ],
)
def test_a_typed_moment_keeps_its_time_and_stays_local_time(typed, iso):
    assert typed_date_reading(typed, MOMENTS) == Repair(iso)
    # Not SQLite's shape, so the converter reads it as the studio's local time.
    moment = t.legacy_timestamp(iso)
    assert moment.tzinfo is legacy_time_zone()
    assert moment.date().isoformat() == "2025-06-08"


def test_a_year_last_date_is_never_guessed_and_gives_both_readings():
    assert typed_date_reading("03/04/2025", DATES) == Ambiguous(("2025-03-04", "2025-04-03"))
    assert typed_date_reading("03.04.2025 10:00", MOMENTS) == Ambiguous(
        ("2025-03-04T10:00:00", "2025-04-03T10:00:00")
    )
    # One reading is no date: still a person's to confirm, with the one that is.
    assert typed_date_reading("13/04/2025", DATES) == Ambiguous(("2025-04-13",))


@pytest.mark.parametrize(
    ("typed", "converters"),
    [
        ("2025/13/04", DATES),  # no month 13: dateutil is not let to swap it for the day
        ("2025/02/30", DATES),
        ("2025/06/08 10:00", DATES),  # a time where a date belongs
        ("2025/06/08", MOMENTS),  # a moment's time of day is not made up
        ("2025/06-08", DATES),
        ("8 June 2025", DATES),
        ("٢٠٢٥/٠٦/٠٨", DATES),  # digits of another script: the converters take ASCII only
        (20251399, DATES),
        (3.5, DATES),
        ("13/13/2025", DATES),
        ("0001/01/01", (t.plain_date, t.start_of_local_day)),  # one of its converters refuses
    ],
)
def test_what_is_no_typed_date_is_left_to_the_converters_findings(typed, converters):
    assert typed_date_reading(typed, converters) is None


def test_every_date_and_timestamp_converter_reads_typed_values():
    temporal = [t.plain_date, t.start_of_local_day, t.legacy_timestamp, t.required_timestamp]
    assert [typed_shape_of(convert) for convert in temporal] == [DATE, DATE, MOMENT, MOMENT]
    assert typed_shape_of(t.time_of_day) is None
    found = {
        (table, column)
        for table, spec in SPECS.items()
        for column in typed_date_columns(spec.columns)
    }
    assert {
        ("sessions", "session_date"),
        ("payments", "payment_date"),
        ("payment_records", "payment_date"),
        ("assessments", "date"),
        ("clients", "created_at"),
        ("clients", "registration_date"),
        ("trainers", "last_login"),
    } <= found
    assert ("sessions", "session_time") not in found
    for table, spec in SPECS.items():
        for column in spec.columns:
            kind = getattr(column.convert, "domain", None)
            if kind is not None and kind.kind in ("date", "moment"):
                assert (table, column.column) in found


# --- through precheck and clean_legacy ---------------------------------------


@pytest.fixture
def typed_studio(legacy_file):
    """A small studio whose dates were typed: every repairable shape, and one
    ambiguous date."""
    ids = legacy_file.small_studio()
    ids["typed_session"] = legacy_file.session(
        ids["client"], ids["package"], ids["trainer"], session_date="2025/06/08"
    )
    ids["dotted_payment"] = legacy_file.payment(
        ids["client"], ids["package"], ids["trainer"], payment_date="2025.6.8", amount=1.0
    )
    ids["compact_payment"] = legacy_file.payment(
        ids["client"], ids["package"], ids["trainer"], payment_date="20250608", amount=2.0
    )
    ids["dashed_record"] = legacy_file.payment_record(
        ids["client"], ids["package"], ids["trainer"], payment_date="2025-6-8"
    )
    ids["typed_client"] = legacy_file.client(ids["trainer"], updated_at="2025/06/08 9:05")
    ids["ambiguous"] = legacy_file.assessment(ids["client"], ids["trainer"], date="03/04/2025")
    return ids


def codes(report):
    return [item.code for item in report.findings]


@pytest.mark.usefixtures("legacy_db")
def test_precheck_counts_what_clean_will_repair_and_names_the_ambiguous(legacy_file, typed_studio):
    ids = typed_studio
    report = precheck(legacy_file.close())
    repairs = {item.table: item for item in report.findings if item.code == "value.typed-date"}
    assert set(repairs) == {"sessions", "payments", "payment_records", "clients"}
    assert repairs["payments"].row_count == 2
    assert "clean_legacy will repair 2 typed date(s)" in repairs["payments"].summary
    assert repairs["clients"].column == "updated_at"
    assert repairs["sessions"].details == {
        str(ids["typed_session"]): {"value": "2025/06/08", "reads": "2025-06-08"}
    }
    (ambiguous,) = [item for item in report.findings if item.code == "value.ambiguous-date"]
    assert (ambiguous.table, ambiguous.column, ambiguous.row_ids) == (
        "assessments",
        "date",
        (ids["ambiguous"],),
    )
    assert ambiguous.details == {
        str(ids["ambiguous"]): {"value": "03/04/2025", "readings": ["2025-03-04", "2025-04-03"]}
    }
    assert "2025-03-04 or 2025-04-03" in ambiguous.summary
    # Each typed value is said once, as a typed date, not also as an unreadable one.
    assert "value.unreadable-value" not in codes(report)
    assert "value.wrong-type" not in codes(report)


@pytest.mark.usefixtures("legacy_db")
def test_clean_repairs_each_typed_shape_logs_it_and_leaves_the_ambiguous(legacy_file, typed_studio):
    ids = typed_studio
    report, output = clean(legacy_file.close())
    assert sorted(logged(output, TYPED_DATE_RULE)) == sorted(
        [
            (
                "sessions",
                ids["typed_session"],
                "session_date",
                "2025/06/08",
                "2025-06-08",
                TYPED_DATE_RULE,
            ),
            (
                "payments",
                ids["dotted_payment"],
                "payment_date",
                "2025.6.8",
                "2025-06-08",
                TYPED_DATE_RULE,
            ),
            # A DATE column (numeric affinity) holds a compact date as an integer.
            (
                "payments",
                ids["compact_payment"],
                "payment_date",
                20250608,
                "2025-06-08",
                TYPED_DATE_RULE,
            ),
            (
                "payment_records",
                ids["dashed_record"],
                "payment_date",
                "2025-6-8",
                "2025-06-08",
                TYPED_DATE_RULE,
            ),
            (
                "clients",
                ids["typed_client"],
                "updated_at",
                "2025/06/08 9:05",
                "2025-06-08T09:05:00",
                TYPED_DATE_RULE,
            ),
        ]
    )
    assert query(
        output,
        "SELECT payment_date FROM payments WHERE id IN (?, ?)",
        (ids["dotted_payment"], ids["compact_payment"]),
    ) == [("2025-06-08",), ("2025-06-08",)]
    assert {(s.rule, s.table): s.changes for s in report.rules if s.rule == TYPED_DATE_RULE} == {
        (TYPED_DATE_RULE, "sessions"): 1,
        (TYPED_DATE_RULE, "payments"): 2,
        (TYPED_DATE_RULE, "payment_records"): 1,
        (TYPED_DATE_RULE, "clients"): 1,
    }
    # Never guessed: the ambiguous date is as typed, and precheck still names it.
    assert query(output, "SELECT date FROM assessments WHERE id = ?", (ids["ambiguous"],)) == [
        ("03/04/2025",)
    ]
    after = precheck(output)
    assert "value.typed-date" not in codes(after)
    assert [item.code for item in after.blocking] == ["value.ambiguous-date"]
    # Cleaning the cleaned copy repairs nothing more.
    _, again = clean(output, output.with_name("again.db"))
    assert logged(again, TYPED_DATE_RULE) == logged(output, TYPED_DATE_RULE)


@pytest.mark.usefixtures("legacy_db")
def test_a_typed_moment_after_cleaning_is_the_local_time_typed(legacy_file, typed_studio):
    _, output = clean(legacy_file.close())
    ((updated_at,),) = query(
        output, "SELECT updated_at FROM clients WHERE id = ?", (typed_studio["typed_client"],)
    )
    moment = t.required_timestamp(updated_at)
    assert moment == datetime(2025, 6, 8, 9, 5, tzinfo=legacy_time_zone())
    assert moment.timetz().replace(tzinfo=None) == time(9, 5)


@pytest.mark.usefixtures("legacy_db")
def test_the_commands_say_what_clean_repairs_and_what_a_person_decides(
    legacy_file, typed_studio, tmp_path
):
    source = legacy_file.close()
    code, plan = run_command("precheck", "--source", str(source), "--format", "markdown")
    assert code == 1
    assert "typed dates that read one way only written in ISO form" in plan
    assert "'03/04/2025' reads as 2025-03-04 or 2025-04-03" in plan
    cleaned = tmp_path / "cleaned.db"
    code, output = run_command("clean_legacy", "--source", str(source), "--output", str(cleaned))
    assert "typed dates that read one way only" in output
    assert "value.ambiguous-date" in output  # what precheck still blocks on the copy


@pytest.mark.usefixtures("legacy_db")
def test_rows_are_matched_across_a_pair_on_their_repaired_dates(legacy_file):
    ids = legacy_file.small_studio()
    # The old table's copy of the studio's payment (2024-03-01), its date typed.
    twin = legacy_file.payment_record(
        ids["client"],
        ids["package"],
        ids["trainer"],
        payment_date="2024/3/1",
        payment_method="카드",
    )
    _, output = clean(legacy_file.close())
    assert ("payment_records", twin, "payment_date", "2024/3/1", "2024-03-01", TYPED_DATE_RULE) in (
        logged(output, TYPED_DATE_RULE)
    )
    assert [row[1] for row in logged(output, "pairs.duplicate-row")] == [twin]
    assert query(output, "SELECT count(*) FROM payment_records") == [(0,)]
