"""The checks that read the target alone (and, for passwords, the legacy hashes):
rows not from the file, relations, e-mails, id sequences, passwords, money held.

None needs a legacy row walked, so they run while the tables are walked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db.models import Count, Exists, ForeignKey, OuterRef, Sum
from django.db.models.functions import Lower, Trim

from migration.findings import finding
from migration.legacy import LegacySource
from migration.mapping.fees import BREAKDOWN_FIELDS, rule_disagreement
from migration.mapping.layout import LegacyLayout
from migration.mapping.passwords import (
    PasswordFormat,
    is_made_by_the_import,
    password_format,
    password_problem,
)
from migration.mapping.reading import password_columns, row_reader
from migration.mapping.specs import IMPORT_ORDER, SPECS, target_models
from migration.postgres import on_postgresql, sequence_positions
from migration.rules.references import TrainerLookup
from migration.verify.ledger import WITH_OWN_TARGET, came_from_the_file, ledger_entries
from migration.verify.report import EXAMPLES, CheckOutcome
from migration.verify.target_rows import is_won


def held_money(using: str) -> dict[str, dict[str, Decimal | None]]:
    """Legacy table -> each of its amounts summed over the target rows imported from it."""
    held = {}
    for spec in IMPORT_ORDER:
        model = apps.get_model(spec.model)
        fields = [c.field for c in spec.columns if is_won(model, c.field)]
        if fields:
            ids = ledger_entries(using, spec.table).filter(action__in=WITH_OWN_TARGET)
            held[spec.table] = (
                model.objects.using(using)
                .filter(pk__in=ids.values("target_id"))
                .aggregate(**{name: Sum(name) for name in fields})
            )
    return held


def reverse_counts(using: str) -> CheckOutcome:
    findings, lines = [], []
    for model in target_models():
        label = model._meta.label
        rows = model.objects.using(using)
        present = rows.count()
        lines.append(f"{label} {present:,}")
        extra = rows.filter(~came_from_the_file(using, model)).count()
        if extra > 0:
            findings.append(
                finding(
                    "verify.target-extra",
                    f"{label}: {extra:,} row(s) did not come from the legacy file",
                    row_count=extra,
                )
            )
    return CheckOutcome("target rows", "; ".join(lines), tuple(findings))


# The models whose rows carry a fee breakdown, by the legacy table named for them.
FEE_BREAKDOWN_TABLES = ("session_packages", "payments")


def fee_breakdowns(using: str) -> CheckOutcome:
    """Every package's and payment's breakdown is the fee rule's for its gross
    (mapping/fees.py): VAT + card fee + net is the gross, and each is the rule's.
    Worked out here, not in SQL, so that the rule is written once; a studio
    charges a few prices, so each distinct breakdown is held to it once (the
    database groups them), and only a table with a wrong one is read row by row
    for its ids, as precheck does."""
    findings, lines = [], []
    for table in FEE_BREAKDOWN_TABLES:
        model = apps.get_model(SPECS[table].model)
        label = model._meta.label
        rows = model.objects.using(using).filter(gross_amount__isnull=False)
        lines.append(f"{label} {rows.count():,}")
        wrong = {
            breakdown: problem
            for breakdown in rows.values_list(*BREAKDOWN_FIELDS).order_by().distinct()
            if (problem := rule_disagreement(*breakdown)) is not None
        }
        if wrong:
            ids = [
                pk
                for pk, *breakdown in rows.order_by("pk")
                .values_list("pk", *BREAKDOWN_FIELDS)
                .iterator(chunk_size=2000)
                if tuple(breakdown) in wrong
            ]
            findings.append(
                finding(
                    "verify.fee-breakdown",
                    f"{label}: {len(ids):,} fee breakdown(s) not the fee rule's "
                    f"({'; '.join(sorted(set(wrong.values())))})",
                    table=label,
                    row_ids=ids,
                )
            )
    return CheckOutcome("fee breakdowns", "; ".join(lines) + " checked", tuple(findings))


def relations(using: str) -> CheckOutcome:
    findings, checked = [], 0
    for model in target_models():
        for field_ in model._meta.concrete_fields:
            if not isinstance(field_, ForeignKey):
                continue
            checked += 1
            parent = field_.related_model.objects.using(using).filter(pk=OuterRef(field_.attname))
            dangling = list(
                model.objects.using(using)
                .filter(**{f"{field_.attname}__isnull": False})
                .filter(~Exists(parent))  # an anti-join (see ledger.came_from_the_file)
                .order_by("pk")
                .values_list("pk", flat=True)[:EXAMPLES]
            )
            if dangling:
                findings.append(
                    finding(
                        "verify.dangling-reference",
                        f"{model._meta.label}.{field_.name} points at missing rows",
                        column=field_.name,
                        row_ids=dangling,
                    )
                )
    return CheckOutcome("relations", f"{checked:,} foreign keys checked", tuple(findings))


def unique_emails(using: str) -> CheckOutcome:
    user_model = apps.get_model("accounts.User")
    duplicates = list(
        user_model.objects.using(using)
        .exclude(email="")
        # As precheck: case and surrounding spaces do not make two addresses different.
        .annotate(address=Lower(Trim("email")))
        .values("address")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("address", flat=True)
    )
    findings = [
        finding(
            "verify.duplicate-email",
            "accounts "
            + ", ".join(
                user_model.objects.using(using)
                .annotate(address=Lower(Trim("email")))
                .filter(address=address)
                .values_list("username", flat=True)
            )
            + " share one e-mail address",
            table="accounts.User",
            column="email",
        )
        for address in duplicates
    ]
    return CheckOutcome(
        "e-mails unique", f"{len(duplicates):,} shared address(es)", tuple(findings)
    )


def sequences(using: str) -> CheckOutcome:
    if not on_postgresql(using):
        return CheckOutcome("id sequences", "not applicable: SQLite keeps its own counters")
    positions = sequence_positions(using, target_models())
    findings = [
        finding(
            "verify.sequence-behind",
            f"{label}: the next id would be {position.next_id}, but {position.highest_id} is taken",
        )
        for label, position in positions.items()
        if position.is_behind
    ]
    findings += [
        finding(
            "verify.sequence-full",
            f"{label}: the sequence has handed out its last id, {position.max_id:,}, so the "
            "app cannot add another row",
        )
        for label, position in positions.items()
        if position.is_full and not position.is_behind
    ]
    return CheckOutcome("id sequences", f"{len(positions):,} sequences checked", tuple(findings))


def passwords(source: LegacySource, layout: LegacyLayout, using: str) -> CheckOutcome:
    """Every imported trainer's password is what the legacy hash became (see passwords.py):
    bcrypt carried exactly, a SHA-256 digest wrapped for exactly that digest, an unknown
    hash unusable; or a password the target set since (a login re-hashes).

    A trainer whose row changed since the import is left to the check of legacy
    rows changed since; a re-run renews the password of one whose password the
    import made, so every other must hold the file's."""
    columns = password_columns(layout)
    if columns is None:
        return CheckOutcome("passwords carried", "the file has no password hashes")
    imported = {
        legacy_id: (target_id, source_hash)
        for legacy_id, target_id, source_hash in ledger_entries(using, "trainers")
        .filter(action__in=WITH_OWN_TARGET)
        .values_list("legacy_id", "target_id", "source_hash")
    }
    stored = dict(
        apps.get_model("accounts.User")
        .objects.using(using)
        .filter(pk__in=[target_id for target_id, *_ in imported.values()])
        .values_list("pk", "password")
    )
    formats: Counter[str] = Counter()
    problems: dict[Any, str] = {}
    for legacy_id, source_hash, password_hash, salt in _trainer_hashes(source, layout, columns):
        if legacy_id not in imported:
            continue
        target_id, imported_hash = imported[legacy_id]
        if source_hash != imported_hash:
            formats["changed since"] += 1
            continue
        password = stored.get(target_id, "")
        problem = password_problem(password, password_hash, salt, legacy_id)
        if problem is not None:
            problems[legacy_id] = problem
        elif not is_made_by_the_import(password, legacy_id):
            formats["set in the app since"] += 1  # a login, a reset, an admin's
        else:
            formats[password_format(password_hash, salt)] += 1
    return _password_outcome(len(imported), formats, problems)


def _trainer_hashes(
    source: LegacySource, layout: LegacyLayout, columns: tuple[str, ...]
) -> Iterator[tuple[Any, str, Any, Any]]:
    """Each trainer's legacy id, row hash (as the import made it), password hash and salt."""
    spec = SPECS["trainers"]
    present = layout.present_columns(spec)
    read = row_reader(spec, present, TrainerLookup(source, layout))
    hash_at = present.index(columns[0])
    salt_at = present.index(columns[1]) if len(columns) > 1 else None
    for values in source.rows("trainers", present):
        row = read(values)
        salt = values[salt_at] if salt_at is not None else None
        yield row.legacy_id, row.source_hash, values[hash_at], salt


def _password_outcome(imported: int, formats: Counter[str], problems: dict[Any, str]):
    findings = ()
    if problems:
        findings = (
            finding(
                "verify.password-not-carried",
                f"{len(problems):,} trainer(s): {'; '.join(sorted(set(problems.values())))}",
                table="trainers",
                row_ids=sorted(problems),
            ),
        )
    proved = sum(count for kind, count in formats.items() if isinstance(kind, PasswordFormat))
    shown = ", ".join(f"{count:,} {kind}" for kind, count in sorted(formats.items()))
    return CheckOutcome(
        "passwords carried",
        f"{proved:,} of {imported:,} trainers' passwords proved ({shown or 'none'})",
        findings,
    )
