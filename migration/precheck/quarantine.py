"""The rows a cleaned copy keeps in quarantine, held to what the ledger takes of them
(the rules are mapping/quarantine.py's, which the import reads them by)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from migration.findings import Finding, finding
from migration.legacy import LegacySource
from migration.legacy.schema import QUARANTINE_TABLE
from migration.mapping.layout import LegacyLayout
from migration.mapping.quarantine import quarantined_rows
from migration.precheck.tables import specs_present


def check_quarantine(source: LegacySource, layout: LegacyLayout) -> Iterator[Finding]:
    for spec in specs_present(layout):
        broken: dict[str, list] = defaultdict(list)
        for row in quarantined_rows(source, layout, spec.table):
            if row.problem:
                broken[row.problem].append(row.quarantine_id)
        for problem, ids in broken.items():
            yield finding(
                "quarantine.unreadable",
                f"{len(ids):,} quarantined row(s) of {spec.table}: {problem}",
                table=QUARANTINE_TABLE,
                row_ids=ids,
            )
