"""Sample files of the earliest generations: their schema, and passwords one can log in with."""

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from accounts.hashers import hmac_sha256_hex, sha256_hex
from migration.legacy.schema import first_generation_schema
from samples.files import SAMPLE_PASSWORDS
from samples.generations import write_generation_sample
from tests.conftest import run_command


def tables(path: Path) -> dict[str, list[str]]:
    with closing(sqlite3.connect(path)) as connection:
        names = [
            n for (n,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        return {
            name: [
                c for (c,) in connection.execute("SELECT name FROM pragma_table_info(?)", (name,))
            ]
            for name in names
        }


def trainers(path: Path) -> list[sqlite3.Row]:
    with closing(sqlite3.connect(path)) as connection:
        connection.row_factory = sqlite3.Row
        return connection.execute("SELECT * FROM trainers").fetchall()


def test_before_packages_has_the_three_tables_in_their_newest_shape(tmp_path):
    path = tmp_path / "before.db"
    summary = write_generation_sample(output=path, generation="before-packages")
    assert summary.row_counts == {"trainers": 7, "clients": 10, "assessments": 7}
    assert "password_hash" in tables(path)["trainers"]


@pytest.mark.parametrize("generation", ["first", "first-unsalted"])
def test_the_first_generation_has_its_own_schema(tmp_path, generation):
    path = tmp_path / "first.db"
    write_generation_sample(output=path, generation=generation)
    expected = {t: [c.name for c in cs] for t, cs in first_generation_schema().items()}
    if generation == "first-unsalted":
        expected["trainers"].remove("salt")
    assert tables(path) == expected


def test_salted_trainers_log_in_with_the_sample_passwords(tmp_path):
    path = tmp_path / "first.db"
    write_generation_sample(output=path, generation="first")
    rows = trainers(path)
    assert {row["username"] for row in rows} == set(SAMPLE_PASSWORDS)
    for row in rows:
        password = SAMPLE_PASSWORDS[row["username"]]
        assert row["password"] == hmac_sha256_hex(password, row["salt"])
    assert len({row["email"] for row in rows}) == len(rows)  # UNIQUE in that generation


def test_unsalted_trainers_have_the_sha256_of_their_passwords(tmp_path):
    path = tmp_path / "first.db"
    write_generation_sample(output=path, generation="first-unsalted")
    for row in trainers(path):
        assert row["password"] == sha256_hex(SAMPLE_PASSWORDS[row["username"]])


def test_command_writes_a_generation(tmp_path):
    path = tmp_path / "first.db"
    code, output = run_command("make_legacy_sample", "--generation", "first", "--output", str(path))
    assert code == 0
    assert "3 tables, 24 rows" in output


def test_command_refuses_a_chain_of_an_older_generation(tmp_path):
    code, output = run_command(
        "make_legacy_sample",
        "--generation",
        "first",
        "--sessions",
        "10",
        "--output",
        str(tmp_path / "x.db"),
    )
    assert code != 0
    assert "--generation" in output
    assert not (tmp_path / "x.db").exists()
