"""The whole cutover on the production-shaped sample, as an operator runs it."""

import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth import authenticate

from accounts.models import User
from assessments.models import Assessment
from clients.models import Client
from migration.mapping.fees import fee_breakdown
from migration.models import LedgerEntry
from samples.files import SAMPLE_PASSWORDS, write_production_sample
from sessions.models import FeeAuditLog, Payment, Session, SessionPackage
from tests.conftest import run_command, sha256_of
from tests.legacy_files import LegacyFile

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
    assert json_of(output)["totals"]["created"] == 53
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
        # clean_legacy computed the two old payments' breakdowns, and audited the
        # four payments' and five packages' that the app recorded without one
        FeeAuditLog: 11,
    }
    assert_every_payment_follows_the_fee_rule()
    assert_old_payments_audited(expected=2)
    assert_each_breakdown_audited()

    code, output = run_command("verify_import", "--source", str(cleaned))
    assert code == 0, output

    code, output = run_command("import_legacy", "--source", str(cleaned), "--format", "json")
    assert code == 0
    totals = json_of(output)["totals"]
    assert (totals["unchanged"], totals["created"], totals["updated"]) == (53, 0, 0)

    for username, password in SAMPLE_PASSWORDS.items():
        assert authenticate(username=username, password=password) is not None, username
    assert sha256_of(legacy) == untouched


def assert_every_payment_follows_the_fee_rule() -> None:
    breakdowns = Payment.objects.values_list(
        "amount", "gross_amount", "vat_amount", "card_fee_amount", "net_amount",
        "vat_rate", "card_fee_rate",
    )  # fmt: skip
    for amount, gross, vat, card_fee, net, vat_rate, card_fee_rate in breakdowns:
        rule = fee_breakdown(amount)
        assert (gross, vat, card_fee, net) == (
            amount,
            rule.vat_amount,
            rule.card_fee_amount,
            rule.net_amount,
        )
        assert (str(vat_rate.normalize()), str(card_fee_rate.normalize())) == ("0.1", "0.035")


def assert_old_payments_audited(*, expected: int) -> None:
    """Each old payment's audit row names it (its legacy id, in the details) and holds
    its breakdown: fee_audit_log.payment_id is the new payments table's."""
    old_payments = dict(
        LedgerEntry.objects.filter(legacy_table="payment_records").values_list(
            "legacy_id", "target_id"
        )
    )
    assert len(old_payments) == expected
    audited = {
        audit.calculation_details["payment_record_id"]: audit
        for audit in FeeAuditLog.objects.filter(payment=None, package=None)
    }
    assert audited.keys() == old_payments.keys()
    for legacy_id, audit in audited.items():
        payment = Payment.objects.get(pk=old_payments[legacy_id])
        assert (audit.gross_amount, audit.vat_amount, audit.card_fee_amount, audit.net_amount) == (
            payment.gross_amount,
            payment.vat_amount,
            payment.card_fee_amount,
            payment.net_amount,
        )
        assert audit.card_fee_rate == Decimal("0.035")


def assert_each_breakdown_audited() -> None:
    """Every payment and package carries one audit row holding its breakdown: named by
    its foreign key, or, for an old payment, by its legacy id in the details."""
    old_payments = dict(
        LedgerEntry.objects.filter(legacy_table="payment_records").values_list(
            "target_id", "legacy_id"
        )
    )
    breakdown = ("gross_amount", "vat_amount", "card_fee_amount", "net_amount")
    for model, key in ((Payment, "payment"), (SessionPackage, "package")):
        for row in model.objects.all():
            if model is Payment and row.pk in old_payments:
                audits = FeeAuditLog.objects.filter(
                    payment=None,
                    package=None,
                    calculation_details__payment_record_id=old_payments[row.pk],
                )
            else:
                audits = FeeAuditLog.objects.filter(**{key: row})
            assert list(audits.values_list(*breakdown)) == [
                tuple(getattr(row, name) for name in breakdown)
            ], (model, row.pk)


def test_a_file_with_old_payments_before_the_fee_migration(legacy_file: LegacyFile, tmp_path):
    """Packages, payments and old payments without a breakdown: after the cutover each
    carries the fee rule's, with its audit row."""
    ids = legacy_file.small_studio()
    client, package, trainer = ids["client"], ids["package"], ids["trainer"]
    legacy_file.payment_record(client, package, trainer, amount=300_000)
    legacy_file.payment_record(client, None, trainer, amount=1_980_000, payment_date="2024-03-01")
    for table, columns in {
        "session_packages": ("fee_calculation_method",),
        "payments": (),
    }.items():
        for column in (*columns, "gross_amount", "vat_amount", "card_fee_amount", "net_amount",
                       "vat_rate", "card_fee_rate"):  # fmt: skip
            legacy_file.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    legacy_file.execute("DROP TABLE fee_audit_log")
    legacy = legacy_file.close()
    cleaned = tmp_path / "cleaned.db"
    assert run_command("clean_legacy", "--source", str(legacy), "--output", str(cleaned))[0] == 0
    code, output = run_command("import_legacy", "--source", str(cleaned))
    assert code == 0, output
    assert Payment.objects.count() == 3
    assert_every_payment_follows_the_fee_rule()
    assert_old_payments_audited(expected=2)
    # The new payment's and the package's audit rows point at them.
    assert FeeAuditLog.objects.filter(payment_id=ids["payment"]).count() == 1
    assert FeeAuditLog.objects.filter(package_id=package).count() == 1
    assert_each_breakdown_audited()
    code, output = run_command("verify_import", "--source", str(cleaned))
    assert code == 0, output
