"""Target rows in the import's way, found before anything is written.

Legacy rows keep their ids. A target that already has rows of its own (the
studio made an admin account, or started using the new app) may hold some of
those ids; overwriting them is out of the question, and finding out halfway
through, after some tables have committed, is the wrong time. Old tables of
a pair are left out: their rows always go after the highest id.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.apps import apps

from migration.findings import Finding, finding
from migration.legacy import LegacySource, quote_identifier
from migration.mapping.layout import LegacyLayout
from migration.mapping.specs import IMPORT_ORDER, TableSpec
from migration.models import LedgerEntry

BATCH = 900  # ids per look-up in the legacy file: below SQLite's parameter limit


def taken_ids(source: LegacySource, layout: LegacyLayout, using: str) -> list[Finding]:
    """One finding per legacy table whose ids the target's own rows hold."""
    return [
        item
        for spec in IMPORT_ORDER
        if spec.merge_into is None and layout.has_column(spec.table, "id")
        for item in _taken_in(source, spec, using)
    ]


def _taken_in(source: LegacySource, spec: TableSpec, using: str) -> Iterator[Finding]:
    model = apps.get_model(spec.model)
    from_the_file = LedgerEntry.objects.using(using).filter(
        target_model=spec.model, target_id__isnull=False
    )
    own = list(
        model.objects.using(using)
        .exclude(pk__in=from_the_file.values("target_id"))
        .values_list("pk", flat=True)
        .order_by("pk")
    )
    taken = [
        legacy_id
        for start in range(0, len(own), BATCH)
        for (legacy_id,) in source.query(
            f"SELECT id FROM {quote_identifier(spec.table)} WHERE id IN "
            f"({', '.join(['%s'] * len(own[start : start + BATCH]))}) ORDER BY id",
            own[start : start + BATCH],
        )
    ]
    if taken:
        yield finding(
            "import.id-taken",
            f"{spec.model} already has {len(taken)} row(s) of its own with ids that "
            f"{spec.table} rows keep: {', '.join(str(i) for i in taken[:10])}",
            table=spec.table,
            row_ids=taken,
        )
