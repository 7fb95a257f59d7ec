"""Every imported row valid in the new app: what its forms and admin would refuse.

The app's own validation beyond the database (rules/app_validation.py), on
the target's values: each field's distinct values are judged once (the
database groups them; a chain's million sessions hold a few statuses), and
only a field with a refused value is read for the ids of its imported rows.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from migration.findings import finding
from migration.mapping.specs import target_models
from migration.rules.app_validation import checks_of, value_problem
from migration.verify.ledger import came_from_the_file
from migration.verify.report import CheckOutcome


def valid_in_the_app(using: str) -> CheckOutcome:
    findings, checked = [], 0
    for model in target_models():
        label = model._meta.label
        # Rows kept after their legacy row left the file are the app's to show too.
        rows = model.objects.using(using).filter(came_from_the_file(using, model))
        for field in model._meta.concrete_fields:
            checks = checks_of(field)
            if not checks:
                continue
            checked += 1
            # Judged over every row, which the database groups without the ledger;
            # only a refused value's rows are then narrowed to those imported.
            distinct = (
                model.objects.using(using)
                .values_list(field.attname, flat=True)
                .order_by()
                .distinct()
            )
            # Pairs, not a dict: a JSON value cannot be a key.
            refused: list[tuple[Any, str]] = [
                (value, problem)
                for value in distinct.iterator()
                if (problem := value_problem(field, value, checks)) is not None
            ]
            if not refused:
                continue
            ids = list(
                rows.filter(_holding(field.attname, [value for value, _ in refused]))
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if not ids:
                continue  # held by rows made in the app alone
            example = "" if field.name == "password" else f", e.g. {refused[0][0]!r}"
            findings.append(
                finding(
                    "verify.invalid-in-app",
                    f"{label}.{field.name}: {len(ids):,} imported row(s) the app's own "
                    f"validation refuses: {'; '.join(sorted({why for _, why in refused}))}"
                    f"{example}",
                    table=label,
                    column=field.name,
                    row_ids=ids,
                )
            )
    return CheckOutcome(
        "valid in the app", f"{checked:,} fields checked by the app's validation", tuple(findings)
    )


def _holding(attname: str, values: list[Any]) -> Q:
    held = Q(**{f"{attname}__in": [value for value in values if value is not None]})
    if None in values:
        held |= Q(**{f"{attname}__isnull": True})
    return held
