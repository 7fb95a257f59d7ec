"""What the app's first generation recorded, read for what it meant.

Its clients have `registration_date`, the plain local date the client was
entered (`datetime.now().strftime("%Y-%m-%d")` in db_utils.py); its assessments
a plain `date` and no `created_at`; its trainers no date at all. The step test
always lasted 180 seconds (assessment_scoring.py's `test_duration`), and its
carry score is the mean of two scores, in halves. These converters give the
target what the app would have given; the specs say which column feeds which
field.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from migration.mapping import converters as t
from migration.mapping import prefilters as sql
from migration.mapping.domains import Domain, returns
from migration.mapping.prefilters import vouched

STEP_TEST_SECONDS = 180.0  # the first generation's fixed duration


# Every value reaches the converter: the first generation's files are a studio's few rows.
@returns(Domain("moment"))
@vouched(sql.nothing)
def start_of_local_day(raw: Any) -> datetime:
    """A plain local date as the moment its day began, in LEGACY_TIME_ZONE."""
    moment = datetime.combine(t.plain_date(raw), time(0), t.legacy_time_zone())
    t.required_timestamp(moment.isoformat())  # readable in UTC, as every moment must be
    return moment


@returns(Domain("float", nullable=True, minimum=0, maximum=STEP_TEST_SECONDS))
@vouched(sql.anything)
def step_test_duration(first_heart_rate: Any) -> float | None:
    """180 seconds wherever the step test was taken (its first heart rate recorded)."""
    return None if first_heart_rate is None or first_heart_rate == "" else STEP_TEST_SECONDS


# When the first generation's code was published (db_utils.py at b770dd3): no
# trainer of a first-generation file joined before it.
FIRST_GENERATION_SINCE = "2025-05-20"
TRACES = (("clients", "registration_date"), ("assessments", "date"))


def earliest_traces(source: Any, layout: Any) -> tuple[dict[Any, datetime], datetime]:
    """Each trainer's earliest day in the file (clients entered, assessments taken),
    as the start of that day; and the file's earliest, for a trainer with none."""
    days: dict[Any, str] = {}
    for table, column in TRACES:
        if not (layout.has_column(table, column) and layout.has_column(table, "trainer_id")):
            continue
        for trainer_id, day in source.rows(table, ("trainer_id", column)):
            if not (isinstance(day, str) and t.ISO_DATE.fullmatch(day)):
                continue
            if trainer_id not in days or day < days[trainer_id]:
                days[trainer_id] = day
    starts = {trainer: _start(day) for trainer, day in days.items()}
    starts = {trainer: start for trainer, start in starts.items() if start is not None}
    of_the_file = min(starts.values(), default=start_of_local_day(FIRST_GENERATION_SINCE))
    return starts, of_the_file


def _start(day: str) -> datetime | None:
    try:
        return start_of_local_day(day)
    except t.LegacyValueError:
        return None  # not a real date: precheck reports it, and it is no trace
