"""Each package's and payment's breakdown as its latest fee_audit_log row records it.

clean_legacy gives every breakdown an audit row (rules/fee_audits.py), so in a
target imported from its copy each package and payment carries one. A
breakdown unlike its latest audit row is a warning (a failure under
--strict): the file may hold it so, and an edit of either since the import is
drift already. One without an audit row is counted: a file imported without
clean_legacy has none (precheck reported them, fees.unaudited).

A package's and a new payment's audit rows name them by foreign key: one
query per model finds each row's latest (through the key's index) and returns
only the rows that disagree with it. An old payment's name it by its legacy
id in their details, which no index reaches: those audit rows are read once,
in the order of that id, newest first, and each id's latest is held against
its payment, found through the ledger, a batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.apps import apps
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.fields.json import KT

from migration.findings import finding
from migration.mapping.specs import SPECS
from migration.rules.fee_audits import FEE_AUDIT_TABLE, OLD_PAYMENT_KEY
from migration.verify.ledger import WITH_OWN_TARGET, ledger_entries
from migration.verify.report import CheckOutcome

AMOUNTS = ("gross_amount", "vat_amount", "card_fee_amount", "net_amount")
BATCH_SIZE = 2_000


def fee_audits(using: str) -> CheckOutcome:
    findings, lines = [], []
    for table, key in (("session_packages", "package"), ("payments", "payment")):
        model = apps.get_model(SPECS[table].model)
        label = model._meta.label
        audited, wrong = _audited_by_key(model, key, using)
        if table == "payments":
            old_audited, old_wrong = _old_payments_audited(model, using)
            audited, wrong = audited + old_audited, sorted(wrong + old_wrong)
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


def _audited_by_key(model: Any, key: str, using: str) -> tuple[int, list[Any]]:
    """How many rows an audit row names by foreign key, and those unlike the latest."""
    latest = _audits(using).filter(**{key: OuterRef("pk")}).order_by("-pk")
    rows = (
        model.objects.using(using)
        .annotate(audit_id=Subquery(latest.values("pk")[:1]))
        .filter(audit_id__isnull=False)
        .annotate(
            **{
                f"audit_{name}": Subquery(
                    _audits(using).filter(pk=OuterRef("audit_id")).values(name)[:1]
                )
                for name in AMOUNTS
            }
        )
    )
    agrees = Q(*(Q(**{name: F(f"audit_{name}")}) for name in AMOUNTS))
    counted = rows.aggregate(audited=Count("pk"), wrong=Count("pk", filter=~agrees))
    if not counted["wrong"]:
        return counted["audited"], []
    return counted["audited"], list(rows.exclude(agrees).values_list("pk", flat=True))


def _old_payments_audited(model: Any, using: str) -> tuple[int, list[Any]]:
    """How many old payments their details' audit rows name, and those unlike the latest."""
    audited, wrong = 0, []
    for batch in _batches(_latest_old_payment_audits(using)):
        targets = dict(
            ledger_entries(using, "payment_records")
            .filter(action__in=WITH_OWN_TARGET, legacy_id__in=list(batch))
            .values_list("legacy_id", "target_id")
        )
        held = {
            pk: tuple(amounts)
            for pk, *amounts in model.objects.using(using)
            .filter(pk__in=list(targets.values()))
            .values_list("pk", *AMOUNTS)
        }
        for legacy_id, target_id in targets.items():
            if target_id in held:
                audited += 1
                if held[target_id] != batch[legacy_id]:
                    wrong.append(target_id)
    return audited, wrong


def _latest_old_payment_audits(using: str) -> Iterator[tuple[int, tuple]]:
    """(old payment's legacy id, its latest audit row's amounts), for each it names."""
    named = (
        _audits(using)
        .filter(payment=None, package=None)
        .annotate(names=KT(f"calculation_details__{OLD_PAYMENT_KEY}"))
        .filter(names__regex=r"^[1-9][0-9]{0,17}$")  # one text per id: no leading zero
        .order_by("names", "-pk")
        .values_list("names", *AMOUNTS)
        .iterator(chunk_size=BATCH_SIZE)
    )
    last = None
    for names, *amounts in named:
        if names != last:  # the newest of this old payment's audit rows
            last = names
            yield int(names), tuple(amounts)


def _batches(pairs: Iterator[tuple[int, tuple]]) -> Iterator[dict[int, tuple]]:
    batch: dict[int, tuple] = {}
    for legacy_id, amounts in pairs:
        batch[legacy_id] = amounts
        if len(batch) >= BATCH_SIZE:
            yield batch
            batch = {}
    if batch:
        yield batch
