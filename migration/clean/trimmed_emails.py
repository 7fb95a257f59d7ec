"""E-mail addresses with spaces around them, trimmed: they read one way only.

The app's validation refuses `"kim@example.com "` (its forms could not save
the row), and the spaces make no other mailbox. Which columns hold addresses
and what trimming leaves is rules/app_validation.py's, which precheck judges
by. It runs before duplicate e-mails are made unique (emails.py), so that the
address the first account keeps is the trimmed one. The address as typed goes
to the change log.
"""

from __future__ import annotations

import sqlite3

from migration.clean.copy import CopyBeingCleaned, sqlite_writable
from migration.clean.report import UNTRIMMED_EMAIL_RULE
from migration.legacy import quote_identifier
from migration.mapping.specs import SPECS
from migration.rules.app_validation import address_columns, trimmed_address


def _is_untrimmed(value: str | None) -> bool:
    return value is not None and trimmed_address(value) != value


def trim_emails(copy: CopyBeingCleaned) -> None:
    copy.connection.create_function("clean_untrimmed", 1, _is_untrimmed, deterministic=True)
    for table, spec in SPECS.items():
        name = quote_identifier(table)
        for column in address_columns(spec):
            if not copy.has_column(table, column):
                continue
            value = f"x.{quote_identifier(column)}"
            where = f"typeof({value}) = 'text' AND clean_untrimmed({value})"
            for batch in copy.batches(value, f"{name} x", where):
                log = []
                for row_id, address in batch:
                    trimmed = trimmed_address(address)
                    try:
                        copy.connection.execute(
                            f"UPDATE {name} SET {quote_identifier(column)} = CAST(? AS TEXT) "
                            "WHERE id = ?",
                            (sqlite_writable(trimmed), row_id),
                        )
                    except sqlite3.IntegrityError:
                        # Another row has the trimmed address (a first-generation file
                        # keeps them unique): the duplicate step gives one of them a
                        # plus-address, and the run after it trims this one.
                        continue
                    log.append((table, row_id, column, address, trimmed, UNTRIMMED_EMAIL_RULE))
                copy.log(log)
