"""Text the target cannot store (NUL, bytes that are not UTF-8) made storable.

The original bytes go to the change log. The fix runs first: values that
differ only by a NUL are one value once it is removed, and the fixes that
compare values (duplicate e-mails, pair rows) must see them as the target will.
"""

from __future__ import annotations

import sqlite3

from migration.clean.copy import CopyBeingCleaned
from migration.clean.report import TEXT_RULE
from migration.legacy import quote_identifier
from migration.mapping.converters import is_storable, made_storable
from migration.mapping.specs import SPECS


def is_unstorable(raw: bytes | None) -> bool:
    """Text PostgreSQL refuses (read as bytes here): the converters' own test."""
    return raw is not None and not is_storable(raw.decode("utf-8", "surrogateescape"))


def make_text_storable(copy: CopyBeingCleaned) -> None:
    """Every TEXT value of the known tables, scanned in SQLite; only the bad ones reach Python."""
    copy.connection.create_function("clean_unstorable", 1, is_unstorable, deterministic=True)
    for table in SPECS:
        columns = [column for column in copy.columns(table) if column != "id"]
        if not columns:
            continue
        # Read as bytes (CAST ... AS BLOB) so that nothing is decoded on the way.
        as_bytes = [
            f"CASE WHEN typeof({value}) = 'text' THEN CAST({value} AS BLOB) END"
            for value in (f"x.{quote_identifier(c)}" for c in columns)
        ]
        unstorable = " OR ".join(f"clean_unstorable({expression})" for expression in as_bytes)
        name = quote_identifier(table)
        for batch in copy.batches(", ".join(as_bytes), f"{name} x", unstorable):
            log = []
            for row_id, *values in batch:
                for column, raw in zip(columns, values, strict=True):
                    if not is_unstorable(raw):
                        continue
                    fixed = made_storable(raw.decode("utf-8", "surrogateescape"))
                    try:
                        copy.connection.execute(
                            f"UPDATE {name} SET {quote_identifier(column)} = ? WHERE id = ?",
                            (fixed, row_id),
                        )
                    except sqlite3.IntegrityError:
                        # The fixed text is another row's (a username the file keeps
                        # unique): left as it is, for a person; precheck names both.
                        continue
                    log.append((table, row_id, column, raw, fixed, TEXT_RULE))
            copy.log(log)
