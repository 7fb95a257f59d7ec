"""Each package's and payment's breakdown as its latest fee_audit_log row records it.

clean_legacy gives every breakdown an audit row (rules/fee_audits.py), so in a
target imported from its copy each package and payment carries one. A
breakdown unlike its latest audit row is a warning (a failure under
--strict): the file may hold it so, and an edit of either since the import is
drift already. One without an audit row is counted: a file imported without
clean_legacy has none (precheck reported them, fees.unaudited).

The database does the work: one query per model finds the latest audit row
of every row and returns only the rows that disagree with it. A package's and
a new payment's audit rows name them by foreign key; an old payment's name it
in their details by its legacy id, mapped to the target row through the ledger.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models import CharField, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from migration.findings import finding
from migration.mapping.specs import SPECS
from migration.models import LedgerEntry
from migration.rules.fee_audits import FEE_AUDIT_TABLE, OLD_PAYMENT_KEY
from migration.verify.ledger import WITH_OWN_TARGET
from migration.verify.report import CheckOutcome

AMOUNTS = ("gross_amount", "vat_amount", "card_fee_amount", "net_amount")


def fee_audits(using: str) -> CheckOutcome:
    findings, lines = [], []
    for table, latest in (
        ("session_packages", _latest_of_package),
        ("payments", _latest_of_payment),
    ):
        model = apps.get_model(SPECS[table].model)
        label = model._meta.label
        rows = (
            model.objects.using(using)
            .annotate(audit_id=latest(using))
            .filter(audit_id__isnull=False)
            .annotate(**{f"audit_{name}": _audited(using, name) for name in AMOUNTS})
        )
        audited = rows.count()
        agrees = Q(*(Q(**{name: F(f"audit_{name}")}) for name in AMOUNTS))
        wrong = list(rows.exclude(agrees).order_by("pk").values_list("pk", flat=True))
        unaudited = model.objects.using(using).count() - audited
        lines.append(f"{label} {audited:,} audited, {unaudited:,} without an audit row")
        if wrong:
            findings.append(
                finding(
                    "verify.fee-audit-disagrees",
                    f"{label}: {len(wrong):,} breakdown(s) not the one their latest "
                    "fee_audit_log row records",
                    table=label,
                    row_ids=wrong,
                )
            )
    return CheckOutcome("fee audit rows", "; ".join(lines), tuple(findings))


def _audits(using: str) -> QuerySet:
    return apps.get_model(SPECS[FEE_AUDIT_TABLE].model).objects.using(using)


def _newest(audits: QuerySet) -> Subquery:
    return Subquery(audits.order_by("-pk").values("pk")[:1])


def _latest_of_package(using: str) -> Subquery:
    return _newest(_audits(using).filter(package=OuterRef("pk")))


def _latest_of_payment(using: str) -> Coalesce:
    by_key = _newest(_audits(using).filter(payment=OuterRef("pk")))
    legacy_id = (
        LedgerEntry.objects.using(using)
        .filter(
            legacy_table="payment_records",
            action__in=WITH_OWN_TARGET,
            target_id=OuterRef(OuterRef("pk")),
        )
        .values("legacy_id")[:1]
    )
    # Compared as text, as both databases can: the details key holds the id as a number.
    by_details = _newest(
        _audits(using)
        .filter(payment=None, package=None)
        .annotate(names=Cast(KT(f"calculation_details__{OLD_PAYMENT_KEY}"), CharField()))
        .filter(names=Cast(Subquery(legacy_id), CharField()))
    )
    return Coalesce(by_key, by_details)


def _audited(using: str, name: str) -> Subquery:
    return Subquery(_audits(using).filter(pk=OuterRef("audit_id")).values(name)[:1])
