"""Small legacy files built for one test each.

`LegacyFile` creates a file with the real legacy schema and inserts rows with
sensible defaults, so that a test states only what matters to it. A file built
with the defaults alone is clean: precheck finds nothing blocking in it.

`generation` picks the schema: the newest; "before packages" (trainers,
clients and assessments only); or the first generation, salted or unsalted,
whose rows take its own column names (`first_trainer`, `first_client`,
`first_assessment`) and whose trainers get digests of known passwords.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import bcrypt

from accounts.hashers import hmac_sha256_hex, sha256_hex
from migration.legacy.schema import first_generation_sql, newest_schema, schema_sql
from samples.files import write_chain_sample, write_production_sample

# A well-formed bcrypt hash (of no password anyone knows): precheck looks at the form only.
BCRYPT_HASH = "$2b$12$" + "abcdefghijklmnopqrstuv" + "0123456789ABCDEFGHIJKLMNOPQRSTU"
UTC_STAMP = "2024-03-01 09:00:00"

NEWEST = "newest"
BEFORE_PACKAGES = "before packages"
FIRST_SALTED = "first generation"
FIRST_UNSALTED = "first generation, unsalted"
GENERATION_NAMES = (NEWEST, BEFORE_PACKAGES, FIRST_SALTED, FIRST_UNSALTED)
WITHOUT_PACKAGES = {"trainers", "clients", "assessments"}


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash as the app made them, at cost 4 (the app's 12 is slow in tests)."""
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(4)).decode("ascii")


def first_generation_salt(n: int) -> str:
    """A salt as the app made them (16 bytes, as hex): fixed here, so files repeat."""
    return hashlib.sha256(f"salt {n}".encode()).hexdigest()[:32]


# A client's values in every generation (the first kept no created_at, but a
# registration_date).
CLIENT = {
    "name": "Client",
    "age": 35,
    "gender": "여성",
    "height": 165.2,
    "weight": 58.4,
    "email": "",
    "phone": "",
}


class LegacyFile:
    def __init__(self, path: Path, generation: str = NEWEST):
        if generation not in GENERATION_NAMES:
            raise ValueError(f"no generation {generation!r}: one of {GENERATION_NAMES}")
        self.path, self.generation = path, generation
        self.connection = sqlite3.connect(path)
        if generation in (FIRST_SALTED, FIRST_UNSALTED):
            self.connection.executescript(first_generation_sql())
        else:
            self.connection.executescript(schema_sql())
        if generation == BEFORE_PACKAGES:
            for table in newest_schema().keys() - WITHOUT_PACKAGES:
                self.connection.execute(f'DROP TABLE "{table}"')
        if generation == FIRST_UNSALTED:
            self.connection.execute("ALTER TABLE trainers DROP COLUMN salt")
        self.connection.commit()
        self._numbers = itertools.count(1)

    def execute(self, sql: str, params: tuple = ()) -> None:
        self.connection.execute(sql, params)
        self.connection.commit()

    def insert(self, table: str, **values: Any) -> int:
        columns = ", ".join(f'"{column}"' for column in values)
        marks = ", ".join("?" for _ in values)
        cursor = self.connection.execute(
            f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', tuple(values.values())
        )
        self.connection.commit()
        return cursor.lastrowid

    def without_keys(self, table: str) -> None:
        """The table as a hand-edited file may hold it: its columns and defaults, rows
        and name as they were, but no primary key and no UNIQUE, so that its ids and
        usernames may repeat."""
        (sql,) = self.connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        loose = (
            sql.replace(f"CREATE TABLE {table} ", f'CREATE TABLE "{table}_loose" ', 1)
            .replace(" PRIMARY KEY AUTOINCREMENT", "")
            .replace(" UNIQUE", "")
        )
        self.connection.executescript(
            f'{loose}; INSERT INTO "{table}_loose" SELECT * FROM "{table}"; '
            f'DROP TABLE "{table}"; ALTER TABLE "{table}_loose" RENAME TO "{table}";'
        )
        self.connection.commit()

    def close(self) -> Path:
        self.connection.close()
        return self.path

    def reopen(self) -> LegacyFile:
        """The closed file open again, to add rows as the legacy app would between imports."""
        self.connection = sqlite3.connect(self.path)
        return self

    # --- how a file may hold its rows ---

    def use_wal(self) -> None:
        """From here on the file is in WAL mode, its writes kept in the -wal (no checkpoints)."""
        self.connection.execute("PRAGMA journal_mode = WAL")
        self.connection.execute("PRAGMA wal_autocheckpoint = 0")

    def copy_as_killed(self, destination: Path, *, shm: bool = True) -> Path:
        """The file with its -wal (and -shm), copied while the connection is still open:
        what the legacy app leaves when it is killed."""
        for suffix in ("", "-wal", *(["-shm"] if shm else [])):
            shutil.copyfile(f"{self.path}{suffix}", f"{destination}{suffix}")
        return destination

    def as_view(self, table: str) -> str:
        """`table` made a view of the same rows, kept in a table renamed `<table>_data`
        (as a studio owner might, so that the app still works)."""
        kept = f"{table}_data"
        self.execute(f'ALTER TABLE "{table}" RENAME TO "{kept}"')
        self.execute(f'CREATE VIEW "{table}" AS SELECT * FROM "{kept}"')
        return kept

    def make_generated(self, table: str, column: str, expression: str) -> None:
        """`table` rebuilt with `column` generated (STORED) from `expression`, rows kept."""
        ((sql,),) = self.connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchall()
        declared = re.search(rf"\n\s*{column} (\w+)", sql)
        generated = f"{column} {declared.group(1)} GENERATED ALWAYS AS ({expression}) STORED"
        rebuilt = sql.replace(declared.group(0).strip(), generated, 1)
        columns = [
            f'"{name}"'
            for (name,) in self.connection.execute(
                "SELECT name FROM pragma_table_info(?) WHERE name != ?", (table, column)
            )
        ]
        self.connection.executescript(
            f"BEGIN; {rebuilt.replace(table, f'{table}_rebuilt', 1)}; "
            f'INSERT INTO "{table}_rebuilt" ({", ".join(columns)}) '
            f'SELECT {", ".join(columns)} FROM "{table}"; DROP TABLE "{table}"; '
            f'ALTER TABLE "{table}_rebuilt" RENAME TO "{table}"; COMMIT;'
        )

    # --- one row of each table, with defaults a clean file would have ---

    def trainer(self, **values: Any) -> int:
        n = next(self._numbers)
        return self.insert(
            "trainers",
            **{
                "username": f"trainer{n}",
                "password_hash": BCRYPT_HASH,
                "name": f"Trainer {n}",
                "email": f"trainer{n}@example.com",
                "created_at": UTC_STAMP,
                **values,
            },
        )

    def client(self, trainer_id: int, **values: Any) -> int:
        return self.insert(
            "clients",
            **{
                "trainer_id": trainer_id,
                **CLIENT,
                "created_at": UTC_STAMP,
                "updated_at": UTC_STAMP,
                **values,
            },
        )

    def package(self, client_id: int, trainer_id: int, **values: Any) -> int:
        return self.insert(
            "session_packages",
            **{
                "client_id": client_id,
                "trainer_id": trainer_id,
                "total_amount": 300000,
                "session_price": 60000,
                "total_sessions": 5,
                "remaining_credits": 262227,
                "remaining_sessions": 5,
                "created_at": UTC_STAMP,
                "updated_at": UTC_STAMP,
                "is_active": 1,
                "gross_amount": 300000,
                "vat_amount": 27273,
                "card_fee_amount": 10500,
                "net_amount": 262227,
                "vat_rate": 0.10,
                "card_fee_rate": 0.035,
                "fee_calculation_method": "inclusive",
                **values,
            },
        )

    def session(self, client_id: int, package_id: int, trainer_id: int | None, **values) -> int:
        return self.insert(
            "sessions",
            **{
                "client_id": client_id,
                "package_id": package_id,
                "trainer_id": trainer_id,
                "session_date": "2024-03-05",
                "session_time": "10:00:25.813560",
                "session_duration": 60,
                "session_cost": 60000.0,
                "status": "completed",
                "created_at": UTC_STAMP,
                "completed_at": UTC_STAMP,
                **values,
            },
        )

    def training_session(self, client_id: int, package_id: int, trainer_id: int, **values) -> int:
        return self.insert(
            "training_sessions",
            **{
                "client_id": client_id,
                "package_id": package_id,
                "trainer_id": trainer_id,
                "session_date": "2024-02-05",
                "session_time": None,
                "session_duration": 60,
                "session_cost": 60000,
                "status": "completed",
                "created_at": UTC_STAMP,
                **values,
            },
        )

    def payment(self, client_id: int, package_id: int | None, trainer_id: int | None, **values):
        return self.insert(
            "payments",
            **{
                "client_id": client_id,
                "package_id": package_id,
                "trainer_id": trainer_id,
                "amount": 300000.0,
                "payment_method": "카드",
                "payment_date": "2024-03-01",
                "created_at": UTC_STAMP,
                "gross_amount": 300000,
                "vat_amount": 27273,
                "card_fee_amount": 10500,
                "net_amount": 262227,
                "vat_rate": 0.10,
                "card_fee_rate": 0.035,
                **values,
            },
        )

    def payment_record(self, client_id: int, package_id: int | None, trainer_id: int, **values):
        return self.insert(
            "payment_records",
            **{
                "client_id": client_id,
                "package_id": package_id,
                "trainer_id": trainer_id,
                "amount": 300000,
                "payment_method": "현금",
                "payment_date": "2024-02-01",
                "created_at": UTC_STAMP,
                **values,
            },
        )

    def assessment(self, client_id: int, trainer_id: int, **values: Any) -> int:
        return self.insert(
            "assessments",
            **{
                "client_id": client_id,
                "trainer_id": trainer_id,
                "date": "2024-03-02",
                "overhead_squat_score": 2,
                "single_leg_balance_left_eyes_open": 12.37,
                "overall_score": 71.5,
                "created_at": UTC_STAMP,
                **values,
            },
        )

    def fee_audit(self, package_id: int | None, **values: Any) -> int:
        return self.insert(
            "fee_audit_log",
            **{
                "package_id": package_id,
                "calculation_type": "package",
                "gross_amount": 300000,
                "vat_amount": 27273,
                "card_fee_amount": 10500,
                "net_amount": 262227,
                "vat_rate": 0.1,
                "card_fee_rate": 0.035,
                "calculation_details": '{"rule": "inclusive"}',
                "created_at": UTC_STAMP,
                **values,
            },
        )

    # --- the first generation's rows, by its own column names ---

    def first_trainer(self, password: str, **values: Any) -> int:
        """A trainer whose password is `password`, hashed as the generation did."""
        n = next(self._numbers)
        if self.generation == FIRST_SALTED:
            salt = values.pop("salt", first_generation_salt(n))
            values = {"password": hmac_sha256_hex(password, salt), "salt": salt, **values}
        else:
            values = {"password": sha256_hex(password), **values}
        return self.insert(
            "trainers",
            **{
                "username": f"trainer{n}",
                "name": f"Trainer {n}",
                "email": f"trainer{n}@example.com",
                **values,
            },
        )

    def first_client(self, trainer_id: int, **values: Any) -> int:
        return self.insert(
            "clients",
            **{"trainer_id": trainer_id, **CLIENT, "registration_date": "2025-05-12", **values},
        )

    def first_assessment(self, client_id: int, trainer_id: int, **values: Any) -> int:
        """An assessment as the first generation's scoring filled it in (every test taken)."""
        hr1, hr2, hr3 = 120, 104, 92
        return self.insert(
            "assessments",
            **{
                "client_id": client_id,
                "trainer_id": trainer_id,
                "date": "2025-05-14",
                "overhead_squat_score": 2,
                "push_up_score": 3,
                "push_up_reps": 24,
                "single_leg_balance_right_open": 32,
                "single_leg_balance_left_open": 28,
                "single_leg_balance_right_closed": 11,
                "single_leg_balance_left_closed": 9,
                "toe_touch_score": 2,
                "toe_touch_distance": -4.5,
                "shoulder_mobility_right": 8.0,
                "shoulder_mobility_left": 11.5,
                "shoulder_mobility_score": 2,
                "farmers_carry_weight": 24.0,
                "farmers_carry_distance": 25.0,
                "farmers_carry_time": 42.0,
                "farmers_carry_score": 2.5,  # (distance score 3 + time score 2) / 2
                "step_test_hr1": hr1,
                "step_test_hr2": hr2,
                "step_test_hr3": hr3,
                "step_test_pfi": 100 * 180 / (2 * (hr1 + hr2 + hr3)),
                "step_test_score": 1,
                "step_test_notes": "숨이 참",
                "overall_score": 52.3333333333333,
                "strength_score": 68.75,
                "mobility_score": 45.8333333333333,
                "balance_score": 49.1666666666667,
                "cardio_score": 20.0,
                **values,
            },
        )

    def first_studio(self, password: str = "first-gen-2025!") -> dict[str, int]:
        """One trainer with a known password, a client and an assessment."""
        trainer = self.first_trainer(password)
        client = self.first_client(trainer)
        return {
            "trainer": trainer,
            "client": client,
            "assessment": self.first_assessment(client, trainer),
        }

    def studio_without_packages(
        self, password: str = "before-packages-2025!", **trainer: Any
    ) -> dict[str, int]:
        """A trainer with a known (bcrypt) password, a client and an assessment."""
        trainer = self.trainer(password_hash=bcrypt_hash(password), **trainer)
        client = self.client(trainer)
        return {
            "trainer": trainer,
            "client": client,
            "assessment": self.assessment(client, trainer),
        }

    def small_studio(self) -> dict[str, int]:
        """One of each row, all consistent: the base most tests start from."""
        trainer = self.trainer()
        client = self.client(trainer)
        package = self.package(client, trainer)
        return {
            "trainer": trainer,
            "client": client,
            "package": package,
            "assessment": self.assessment(client, trainer),
            "session": self.session(client, package, trainer),
            "payment": self.payment(client, package, trainer),
        }

    def audited_studio(self) -> dict[str, int]:
        """small_studio with an audit row for its package's and payment's breakdowns, as
        clean_legacy leaves them: a file that needs nothing."""
        ids = self.small_studio()
        self.fee_audit(ids["package"])
        self.fee_audit(None, payment_id=ids["payment"], calculation_type="payment")
        return ids


def legacy_sql(path: Path, sql: str, params: tuple = ()) -> None:
    """Change a legacy file as the legacy app would have, e.g. between two imports."""
    with closing(sqlite3.connect(path)) as legacy:
        legacy.execute(sql, params)
        legacy.commit()


def write_importable_sample(path: Path) -> Path:
    """The production sample with its duplicate e-mail fixed by hand (clean_legacy's job)."""
    write_production_sample(output=path)
    legacy_sql(
        path,
        "UPDATE trainers SET email = 'jaesun.kim+jaesun9090@gmail.com' "
        "WHERE username = 'jaesun9090'",
    )
    return path


def write_importable_chain(path: Path, sessions: int) -> Path:
    """A studio chain's file whose sessions all name their trainer (as clean_legacy infers)."""
    write_chain_sample(output=path, sessions=sessions)
    legacy_sql(
        path,
        "UPDATE sessions SET trainer_id = (SELECT trainer_id FROM session_packages p "
        "WHERE p.id = sessions.package_id) WHERE trainer_id IS NULL",
    )
    return path
