"""Sample files of the app's earliest generations, from the production sample's rows.

`write_generation_sample(output=..., generation=...)` writes the production
sample's trainers, clients and assessments as a file of that generation held
them, so that an operator can try the cutover on one and log in after it with
the sample's passwords (`SAMPLE_PASSWORDS`):

- "before packages": the newest shape of the three tables, and no other table;
- "first": the first generation, its passwords HMAC-SHA256 with a salt each;
- "first-unsalted": its first days, passwords unsalted SHA-256.

The first generation's e-mail addresses were UNIQUE: there jaesun9090 has one
of his own. Its step test is given three heart rates and the index and score
its scoring computed from them (assessment_scoring.py at b770dd3).
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

from accounts.hashers import hmac_sha256_hex, sha256_hex
from migration.legacy.schema import PACKAGE_TABLES, first_generation_sql, schema_sql
from samples.files import (
    ASSESSMENT_RECORDS,
    CLIENT_COLUMNS,
    CLIENT_ROWS,
    SAMPLE_PASSWORDS,
    TRAINER_ROWS,
    SampleSummary,
    TableRows,
    insert_rows,
    production_assessments,
    production_clients,
    production_trainers,
    table_columns,
    write_atomically,
)

GENERATION_SAMPLES = ("newest", "before-packages", "first", "first-unsalted")
# The first generation's names for the columns the later app renamed.
FIRST_NAMES = {
    "single_leg_balance_left_eyes_open": "single_leg_balance_left_open",
    "single_leg_balance_right_eyes_open": "single_leg_balance_right_open",
    "single_leg_balance_left_eyes_closed": "single_leg_balance_left_closed",
    "single_leg_balance_right_eyes_closed": "single_leg_balance_right_closed",
    "farmer_carry_weight": "farmers_carry_weight",
    "farmer_carry_distance": "farmers_carry_distance",
    "farmer_carry_notes": "farmers_carry_notes",
    "farmer_carry_score": "farmers_carry_score",
    "harvard_step_test_notes": "step_test_notes",
}
SEOUL = timedelta(hours=9)  # the studio's offset: Asia/Seoul keeps no summer time


def write_generation_sample(
    *, output: Path, generation: str, overwrite: bool = False
) -> SampleSummary:
    if generation not in GENERATION_SAMPLES[1:]:
        raise ValueError(f"no sample generation {generation!r}: one of {GENERATION_SAMPLES}")
    if generation == "before-packages":
        ddl, fill = _without_later_tables(schema_sql()), _fill_before_packages
    else:
        ddl = first_generation_sql()
        if generation == "first-unsalted":
            ddl += "\nALTER TABLE trainers DROP COLUMN salt;\n"
        fill = _fill_first_generation
    return write_atomically(output=Path(output), overwrite=overwrite, fill=fill, ddl=ddl)


def _without_later_tables(ddl: str) -> str:
    return ddl + "".join(f"\nDROP TABLE {table};" for table in PACKAGE_TABLES)


def _fill_before_packages(connection: sqlite3.Connection) -> None:
    for table in (production_trainers(), production_clients()):
        insert_rows(connection, table)
    insert_rows(connection, production_assessments(table_columns(connection, "assessments")))


def _fill_first_generation(connection: sqlite3.Connection) -> None:
    salted = "salt" in table_columns(connection, "trainers")
    insert_rows(connection, _first_trainers(salted))
    insert_rows(connection, _first_clients())
    insert_rows(connection, _first_assessments())


def _first_trainers(salted: bool) -> TableRows:
    rows = []
    for id_, username, name, email, *_ in TRAINER_ROWS:
        password = SAMPLE_PASSWORDS[username]
        if username == "jaesun9090":
            email = "jaesun9090@example.com"
        if salted:
            salt = hashlib.sha256(f"sample salt {username}".encode()).hexdigest()[:32]
            rows.append((id_, username, hmac_sha256_hex(password, salt), salt, name, email))
        else:
            rows.append((id_, username, sha256_hex(password), name, email))
    columns = ("id", "username", "password", *(("salt",) if salted else ()), "name", "email")
    return TableRows("trainers", columns, tuple(rows))


def _first_clients() -> TableRows:
    kept = CLIENT_COLUMNS[:-2]  # all but created_at and updated_at
    rows = tuple(
        (*row[: len(kept)], "", "", _local_day(row[CLIENT_COLUMNS.index("created_at")]))
        for row in CLIENT_ROWS
    )
    return TableRows("clients", (*kept, "email", "phone", "registration_date"), rows)


def _local_day(utc_stamp: str) -> str:
    return (datetime.fromisoformat(utc_stamp) + SEOUL).date().isoformat()


def _first_assessments() -> TableRows:
    records = []
    for record in ASSESSMENT_RECORDS:
        first = {FIRST_NAMES.get(k, k): v for k, v in record.items() if _kept(k)}
        heart_rate = record.get("harvard_step_test_heart_rate") or 150
        hr1, hr2, hr3 = heart_rate, heart_rate - 14, heart_rate - 25
        pfi = 100 * 180 / (2 * (hr1 + hr2 + hr3))
        first |= {"step_test_hr1": hr1, "step_test_hr2": hr2, "step_test_hr3": hr3}
        first |= {"step_test_pfi": pfi, "step_test_score": _step_score(pfi)}
        first |= {"farmers_carry_time": 45.0, "farmers_carry_score": 2.5}
        records.append(first)
    columns = tuple(dict.fromkeys(k for record in records for k in record))
    rows = tuple(tuple(record.get(c) for c in columns) for record in records)
    return TableRows("assessments", columns, rows)


def _kept(column: str) -> bool:
    # What the first generation had no column for.
    return not (
        column.endswith("_compensations")
        or column in ("created_at", "harvard_step_test_heart_rate", "harvard_step_test_duration")
    )


def _step_score(pfi: float) -> int:
    return 4 if pfi >= 90 else 3 if pfi >= 80 else 2 if pfi >= 65 else 1
