"""A file of each generation through the whole cutover, on PostgreSQL: precheck, clean,
precheck of the copy, a dry run, the import, verify, and a re-run that changes nothing.
The first generation's trainers log in with their passwords, never stored as digests."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.db import connection

from accounts.hashers import hmac_sha256_hex, sha256_hex
from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from migration.models import LedgerEntry
from tests.conftest import run_command
from tests.legacy_files import (
    BEFORE_PACKAGES,
    FIRST_SALTED,
    FIRST_UNSALTED,
    NEWEST,
    LegacyFile,
    legacy_sql,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("legacy_db", "fast_wrapping"),
]

ON_POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the cutover is proved on PostgreSQL"
)
PASSWORDS = {"minji": "squat-2025!", "jiho": "비밀번호-벤치프레스"}


def json_of(output: str) -> dict:
    return json.loads(output.split("\nCommandError: ")[0])


def build(path: Path, generation: str) -> LegacyFile:
    """Two trainers with known passwords, two clients, an assessment each."""
    legacy = LegacyFile(path, generation)
    for username, password in PASSWORDS.items():
        if generation in (FIRST_SALTED, FIRST_UNSALTED):
            trainer = legacy.first_trainer(password, username=username)
            client = legacy.first_client(trainer, registration_date=f"2025-05-1{trainer}")
            legacy.first_assessment(client, trainer)
        elif generation == BEFORE_PACKAGES:
            legacy.studio_without_packages(password, username=username)
        else:
            legacy.small_studio()
    return legacy


def cutover(legacy: Path, cleaned: Path) -> dict:
    """Every command of the cutover, each expected to pass; the runs' totals."""
    code, output = run_command("precheck", "--source", str(legacy))
    assert code == 0, output
    assert run_command("clean_legacy", "--source", str(legacy), "--output", str(cleaned))[0] == 0
    code, output = run_command("precheck", "--source", str(cleaned))
    assert code == 0, output
    totals = {}
    for run in ("dry run", "import", "re-run"):
        extra = ["--dry-run"] if run == "dry run" else []
        code, output = run_command(
            "import_legacy", "--source", str(cleaned), "--format", "json", *extra
        )
        assert code == 0, output
        totals[run] = json_of(output)["totals"]
        if run == "import":
            code, output = run_command("verify_import", "--source", str(cleaned))
            assert code == 0, output
    return totals


@ON_POSTGRESQL
@pytest.mark.parametrize("generation", [NEWEST, BEFORE_PACKAGES, FIRST_SALTED, FIRST_UNSALTED])
def test_the_whole_cutover_of_each_generation(tmp_path, generation):
    build(tmp_path / "legacy.db", generation).close()

    totals = cutover(tmp_path / "legacy.db", tmp_path / "cleaned.db")

    rows = totals["import"]["created"]
    assert rows == totals["dry run"]["created"] > 0
    assert (totals["re-run"]["unchanged"], totals["re-run"]["created"]) == (rows, 0)
    assert totals["re-run"]["updated"] == 0
    code, output = run_command("verify_import", "--source", str(tmp_path / "cleaned.db"))
    assert code == 0, output


@ON_POSTGRESQL
@pytest.mark.parametrize("generation", [FIRST_SALTED, FIRST_UNSALTED, BEFORE_PACKAGES])
def test_trainers_log_in_with_their_passwords(tmp_path, generation):
    build(tmp_path / "legacy.db", generation).close()
    cutover(tmp_path / "legacy.db", tmp_path / "cleaned.db")

    for username, password in PASSWORDS.items():
        stored = User.objects.get(username=username).password
        for digest in (sha256_hex(password), *_hmacs(password)):
            assert digest not in stored
        assert authenticate(username=username, password=password + "x") is None
        assert authenticate(username=username, password=password) is not None, username
        assert User.objects.get(username=username).password.startswith("pbkdf2_sha256$")
    # The ledger keeps no digest either, and a trainer's first login is no edit.
    kept = json.dumps([e.raw for e in LedgerEntry.objects.filter(legacy_table="trainers")])
    for password in PASSWORDS.values():
        for digest in (sha256_hex(password), *_hmacs(password)):
            assert digest not in kept
    code, output = run_command("verify_import", "--source", str(tmp_path / "cleaned.db"))
    assert code == 0, output


def _hmacs(password: str) -> list[str]:
    from tests.legacy_files import first_generation_salt

    return [hmac_sha256_hex(password, first_generation_salt(n)) for n in range(1, 5)]


@ON_POSTGRESQL
def test_the_first_generation_lands_where_the_new_app_shows_it(tmp_path):
    legacy = build(tmp_path / "legacy.db", FIRST_SALTED)
    legacy.close()
    cutover(tmp_path / "legacy.db", tmp_path / "cleaned.db")

    minji = User.objects.get(username="minji")
    # Her first client was entered on 2025-05-11, in Seoul.
    assert minji.date_joined == datetime(2025, 5, 10, 15, tzinfo=UTC)
    assert minji.last_login is None
    client = Client.objects.get(trainer=minji)
    assert client.created_at == client.updated_at == datetime(2025, 5, 10, 15, tzinfo=UTC)
    assessment = Assessment.objects.get(client=client)
    assert (
        assessment.harvard_step_test_heart_rate_1,
        assessment.harvard_step_test_heart_rate_2,
        assessment.harvard_step_test_heart_rate_3,
    ) == (120, 104, 92)
    assert assessment.harvard_step_test_fitness_index == pytest.approx(28.481, abs=1e-3)
    assert assessment.harvard_step_test_duration == 180.0
    assert assessment.harvard_step_test_score == 1
    assert assessment.harvard_step_test_notes == "숨이 참"
    assert (assessment.farmer_carry_time, assessment.farmer_carry_score) == (42.0, 2.5)
    assert assessment.single_leg_balance_right_eyes_open == 32.0
    assert assessment.single_leg_balance_left_eyes_closed == 9.0
    assert assessment.created_at == datetime(2025, 5, 13, 15, tzinfo=UTC)
    entry = LedgerEntry.objects.get(legacy_table="assessments", legacy_id=assessment.pk)
    assert entry.raw["step_test_pfi"] == assessment.harvard_step_test_fitness_index


def verify_codes(cleaned: Path) -> tuple[int, list[str]]:
    code, output = run_command("verify_import", "--source", str(cleaned), "--format", "json")
    report = json_of(output)
    return code, [item["code"] for check in report["checks"] for item in check["findings"]]


@ON_POSTGRESQL
def test_verify_tells_a_password_that_wraps_another_digest(tmp_path):
    build(tmp_path / "legacy.db", FIRST_UNSALTED).close()
    cutover(tmp_path / "legacy.db", tmp_path / "cleaned.db")
    minji, jiho = (User.objects.get(username=name) for name in PASSWORDS)
    User.objects.filter(pk=minji.pk).update(password=jiho.password)

    code, found = verify_codes(tmp_path / "cleaned.db")
    assert code == 1
    assert found == ["verify.password-not-carried"]


@ON_POSTGRESQL
def test_a_password_changed_in_the_old_app_since_is_renewed_by_a_re_run(tmp_path):
    build(tmp_path / "legacy.db", FIRST_UNSALTED).close()
    cutover(tmp_path / "legacy.db", tmp_path / "cleaned.db")
    legacy_sql(
        tmp_path / "cleaned.db",
        "UPDATE trainers SET password = ? WHERE username = 'minji'",
        (sha256_hex("a new one"),),
    )
    code, found = verify_codes(tmp_path / "cleaned.db")
    assert "verify.legacy-changed" in found
    assert "verify.password-not-carried" not in found

    code, output = run_command("import_legacy", "--source", str(tmp_path / "cleaned.db"))
    assert code == 0, output
    # Nobody has logged in to the new app: the account takes the new password, wrapped.
    assert verify_codes(tmp_path / "cleaned.db") == (0, [])
    assert User.objects.get(username="minji").password.startswith("pbkdf2_wrapped_sha256$")
    assert authenticate(username="minji", password="a new one") is not None
    assert authenticate(username="minji", password=PASSWORDS["minji"]) is None
    assert verify_codes(tmp_path / "cleaned.db") == (0, [])
