"""Small legacy files built for one test each.

`LegacyFile` creates a file with the real legacy schema and inserts rows with
sensible defaults, so that a test states only what matters to it. A file built
with the defaults alone is clean: precheck finds nothing blocking in it.
"""

from __future__ import annotations

import itertools
import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from migration.legacy.schema import schema_sql
from samples.files import write_chain_sample, write_production_sample

# A well-formed bcrypt hash (of no password anyone knows): precheck looks at the form only.
BCRYPT_HASH = "$2b$12$" + "abcdefghijklmnopqrstuv" + "0123456789ABCDEFGHIJKLMNOPQRSTU"
UTC_STAMP = "2024-03-01 09:00:00"


class LegacyFile:
    def __init__(self, path: Path):
        self.path = path
        self.connection = sqlite3.connect(path)
        self.connection.executescript(schema_sql())
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
                "name": "Client",
                "age": 35,
                "gender": "여성",
                "height": 165.2,
                "weight": 58.4,
                "email": "",
                "phone": "",
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
