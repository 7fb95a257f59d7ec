"""When a trainer the file gives no date for first shows in it.

The app's first generation kept no date for a trainer. Its `date_joined` is the
start of the day of the trainer's earliest client (`registration_date`) or
assessment (`date`); a trainer with neither gets the file's earliest such day,
and a file with none the day the first generation's code was published.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from migration.legacy import LegacySource
from migration.mapping import converters as t
from migration.mapping.layout import LegacyLayout

# db_utils.py at b770dd3: no trainer of a first-generation file joined before it.
FIRST_GENERATION_SINCE = "2025-05-20"
TRACES = (("clients", "registration_date"), ("assessments", "date"))


def earliest_traces(
    source: LegacySource, layout: LegacyLayout
) -> tuple[dict[Any, datetime], datetime]:
    """Each trainer's earliest day in the file, as the start of that day; and the file's."""
    starts: dict[Any, datetime] = {}
    for table, column in TRACES:
        if not (layout.has_column(table, column) and layout.has_column(table, "trainer_id")):
            continue
        for trainer_id, day in source.rows(table, ("trainer_id", column)):
            start = _start(day)
            if start is not None and (trainer_id not in starts or start < starts[trainer_id]):
                starts[trainer_id] = start
    of_the_file = min(starts.values(), default=t.start_of_local_day(FIRST_GENERATION_SINCE))
    return starts, of_the_file


def _start(day: Any) -> datetime | None:
    try:
        return t.start_of_local_day(day)
    except t.LegacyValueError:
        return None  # not a real date: precheck reports it, and it is no trace
