"""The whole cutover on the production-shaped sample, as an operator runs it."""

import json
from pathlib import Path

import pytest
from django.contrib.auth import authenticate

from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from samples.files import SAMPLE_PASSWORDS, write_production_sample
from sessions.models import FeeAuditLog, Payment, Session, SessionPackage
from tests.conftest import run_command, sha256_of

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("legacy_db", "write_path"),
]


def json_of(output: str) -> dict:
    return json.loads(output.split("\nCommandError: ")[0])


def test_precheck_clean_import_verify(tmp_path: Path):
    legacy = tmp_path / "fitness_assessment.db"
    cleaned = tmp_path / "cleaned.db"
    write_production_sample(output=legacy)
    untouched = sha256_of(legacy)

    code, output = run_command("precheck", "--source", str(legacy), "--format", "json")
    assert code == 1
    report = json_of(output)
    assert (report["total_tables"], report["total_rows"]) == (9, 42)
    assert [f["code"] for f in report["findings"] if f["severity"] == "blocking"] == [
        "trainers.duplicate-email"
    ]

    assert run_command("clean_legacy", "--source", str(legacy), "--output", str(cleaned))[0] == 0
    code, output = run_command("precheck", "--source", str(cleaned), "--format", "json")
    assert code == 0, output
    assert json_of(output)["importable"] is True

    code, output = run_command("import_legacy", "--source", str(cleaned), "--format", "json")
    assert code == 0, output
    assert json_of(output)["totals"]["created"] == 42
    assert {
        model: model.objects.count()
        for model in (User, Client, Assessment, SessionPackage, Session, Payment, FeeAuditLog)
    } == {
        User: 7,
        Client: 10,
        Assessment: 7,
        SessionPackage: 5,
        Session: 7,
        Payment: 6,
        # clean_legacy computed no breakdown (the sample's packages and payments have theirs)
        FeeAuditLog: 0,
    }

    code, output = run_command("verify_import", "--source", str(cleaned))
    assert code == 0, output

    code, output = run_command("import_legacy", "--source", str(cleaned), "--format", "json")
    assert code == 0
    totals = json_of(output)["totals"]
    assert (totals["unchanged"], totals["created"], totals["updated"]) == (42, 0, 0)

    for username, password in SAMPLE_PASSWORDS.items():
        assert authenticate(username=username, password=password) is not None, username
    assert sha256_of(legacy) == untouched
