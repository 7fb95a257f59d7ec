"""The target models hold every legacy value without loss, and refuse what must not hold."""

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.core import checks
from django.db import IntegrityError, transaction

from accounts.models import User
from clients.models import Client
from sessions.models import FeeAuditLog, Payment, Session, SessionPackage

pytestmark = pytest.mark.django_db

STAMP = datetime(2024, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def trainer():
    return User.objects.create(username="criminal", email="kim@gmail.com", name="Kim Min Jun")


@pytest.fixture
def client_row(trainer):
    return Client.objects.create(
        trainer=trainer, name="Park", age=35, gender="female", height=165.2, weight=58.4
    )


@pytest.fixture
def package(trainer, client_row):
    return SessionPackage.objects.create(
        client=client_row,
        trainer=trainer,
        total_amount=Decimal(300000),
        session_price=Decimal(60000),
        total_sessions=5,
        remaining_credits=Decimal(262227),
        remaining_sessions=5,
        vat_rate=Decimal("0.10"),
        card_fee_rate=Decimal("0.035"),
    )


def refuses(create) -> bool:
    try:
        with transaction.atomic():
            create()
    except IntegrityError:
        return True
    return False


def test_email_is_unique_ignoring_case(trainer):
    assert refuses(lambda: User.objects.create(username="jaesun9090", email="KIM@gmail.com"))


def test_accounts_without_email_may_coexist():
    User.objects.create(username="admin1", email="")
    User.objects.create(username="admin2", email="")
    assert User.objects.filter(email="").count() == 2


def test_rates_and_money_are_exact(package):
    package.refresh_from_db()
    assert package.card_fee_rate == Decimal("0.035")
    assert package.total_amount == Decimal(300000)


def test_negative_money_is_refused(trainer, client_row, package):
    assert refuses(
        lambda: Payment.objects.create(
            client=client_row,
            trainer=trainer,
            amount=Decimal(-1),
            payment_date=date(2024, 3, 1),
        )
    )


def test_remaining_credits_may_be_negative(package):
    # Carried verbatim from the legacy app, whose older rule could leave them so.
    package.remaining_credits = Decimal(-5000)
    package.save()
    package.refresh_from_db()
    assert package.remaining_credits == Decimal(-5000)


def test_session_time_keeps_microseconds(trainer, client_row, package):
    session = Session.objects.create(
        client=client_row,
        trainer=trainer,
        package=package,
        session_date=date(2024, 3, 5),
        session_time=time(10, 0, 25, 813560),
        session_duration=60,
        session_cost=Decimal(60000),
    )
    session.refresh_from_db()
    assert session.session_time == time(10, 0, 25, 813560)


def test_invalid_status_and_choices_are_refused(trainer, client_row, package):
    assert refuses(
        lambda: Session.objects.create(
            client=client_row,
            trainer=trainer,
            package=package,
            session_date=date(2024, 3, 5),
            session_duration=60,
            session_cost=Decimal(60000),
            status="done",
        )
    )
    assert refuses(
        lambda: Client.objects.create(
            trainer=trainer, name="X", age=30, gender="남성", height=170, weight=70
        )
    )


def test_fee_audit_details_are_json(package):
    log = FeeAuditLog.objects.create(
        package=package,
        calculation_type="migration",
        gross_amount=Decimal(300000),
        vat_amount=Decimal(27273),
        card_fee_amount=Decimal(10500),
        net_amount=Decimal(262227),
        vat_rate=Decimal("0.10"),
        card_fee_rate=Decimal("0.035"),
        calculation_details={"rule": "inclusive", "gross": 300000},
    )
    log.refresh_from_db()
    assert log.calculation_details == {"rule": "inclusive", "gross": 300000}


def test_every_target_model_is_in_the_admin():
    for label in ("accounts", "clients", "assessments", "training"):
        for model in apps.get_app_config(label).get_models():
            assert admin.site.is_registered(model), model


def test_every_legacy_column_has_a_home():
    assert [message for message in checks.run_checks() if message.id.startswith("migration.")] == []


def test_the_self_check_notices_an_unmapped_column(monkeypatch):
    from migration import self_checks
    from migration.mapping import specs

    trainers = specs.SPECS["trainers"]
    without_email = specs.TableSpec(
        table="trainers",
        model=trainers.model,
        columns=tuple(c for c in trainers.columns if c.column != "email"),
    )
    monkeypatch.setattr(self_checks, "IMPORT_ORDER", (without_email,))
    errors = self_checks.specs_cover_legacy_schema()
    assert any(e.id == "migration.E003" and "email" in e.msg for e in errors)
