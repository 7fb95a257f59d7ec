"""Dates and moments a person typed that read one way only, rewritten as ISO text.

Which values those are is mapping/typed_dates.py's rule, the one precheck
counts by: `2025/06/08`, `2025.6.8`, `20250608`. The text as typed goes to the
change log; a value with more than one reading (`03/04/2025`) is left as it is,
for the person precheck names it to.
"""

from __future__ import annotations

from migration.clean.copy import CopyBeingCleaned
from migration.clean.report import TYPED_DATE_RULE
from migration.legacy import quote_identifier
from migration.mapping.prefilters import prefilter_of
from migration.mapping.specs import SPECS
from migration.mapping.typed_dates import Repair, typed_date_columns, typed_date_reading


def read_typed_dates(copy: CopyBeingCleaned) -> None:
    """Every date and moment column the specs read, scanned in SQLite for the values
    their converters' pre-filters do not pass; only those reach Python."""
    for table, spec in SPECS.items():
        if not copy.has_table(table):
            continue
        in_effect = spec.columns_in_effect(copy.columns(table))
        name = quote_identifier(table)
        for column, converters in typed_date_columns(in_effect).items():
            value = f"x.{quote_identifier(column)}"
            prefilters = [prefilter_of(convert) for convert in converters]
            # A value every pre-filter passes is one every converter takes already.
            passing = [f"coalesce({prefilter(value)}, 0)" for prefilter in prefilters if prefilter]
            where = f"NOT ({' AND '.join(passing)})" if len(passing) == len(prefilters) else "1"
            for batch in copy.batches(value, f"{name} x", where):
                log = []
                for row_id, raw in batch:
                    reading = typed_date_reading(raw, converters)
                    if isinstance(reading, Repair):
                        log.append((table, row_id, column, raw, reading.text, TYPED_DATE_RULE))
                copy.connection.executemany(
                    f"UPDATE {name} SET {quote_identifier(column)} = ? WHERE id = ?",
                    [(fixed, row_id) for _, row_id, _, _, fixed, _ in log],
                )
                copy.log(log)
