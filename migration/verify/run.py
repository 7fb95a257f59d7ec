"""verify_import: proof, after cutover, that the target matches the legacy file row by row.

It goes its own way, not the importer's: it reads the legacy file afresh,
proves the target's rows a batch at a time by checksums PostgreSQL computes
(checksums.py), reads through the ORM only the rows of a batch they do not
prove, and uses the ledger only as the map from legacy row to target row,
with the hashes of both as imported. It shares with the importer just what a
legacy row means (the specs, through `mapping.reading.RowReader`) and how a
target row is fingerprinted.

Each legacy table is walked once (walk.py), a large one in ranges of ids by
worker processes (parts.py), while this process runs the checks that need
only the target (target_checks.py); the checks of the walk are in
table_checks.py. Memory stays flat: nothing is held per row but the findings.

The checks, counts first, then relations, then every field:
- the legacy file against the ledger: rows added, changed or deleted since;
- row balance for every legacy table, and the reverse count in the target;
- every imported row's fields equal to the transform of its legacy row;
- money totals per table, to the won;
- every payment's and package's fee breakdown the fee rule's, and the one
  its latest fee_audit_log row records;
- relations intact, e-mails unique, sequences past the highest id;
- every imported row valid in the app (its forms' and admin's validation);
- password hashes carried;
- rows edited in Django since their import (drift).
"""

from __future__ import annotations

from migration.findings import finding
from migration.legacy import LegacySource, file_sha256
from migration.mapping.layout import LegacyLayout
from migration.models import ImportRun
from migration.verify.app_validation import valid_in_the_app
from migration.verify.fee_audits import fee_audits
from migration.verify.parts import Progress
from migration.verify.report import CheckOutcome, VerifyReport
from migration.verify.table_checks import TableChecks
from migration.verify.target_checks import (
    fee_breakdowns,
    held_money,
    passwords,
    relations,
    reverse_counts,
    sequences,
    unique_emails,
)


def verify_import(
    *, source: LegacySource, using: str, strict: bool = False, progress: Progress | None = None
) -> VerifyReport:
    """The report; `progress`, if given, is told of each table's walk, a part at a time."""
    sha256 = file_sha256(source.path)
    run = (
        ImportRun.objects.using(using)
        .filter(outcome=ImportRun.Outcome.SUCCEEDED)
        .order_by("-started_at")
        .first()
    )
    if run is None:
        check = CheckOutcome(
            "import recorded",
            "no successful import in the target's ledger",
            (finding("verify.not-imported", "the target has no successful import to verify"),),
        )
        return VerifyReport(str(source.path), sha256, None, None, strict, (check,))
    layout = LegacyLayout.read(source)
    tables = TableChecks(source, layout, using, progress)
    with tables.walking():
        # The checks that need no legacy row run while the tables are walked
        # (in worker processes, on a large file): they wait on the database.
        target_rows = reverse_counts(using)
        money = held_money(using)
        fees = fee_breakdowns(using)
        audits = fee_audits(using)
        linked = relations(using)
        emails = unique_emails(using)
        valid = valid_in_the_app(using)
        ids = sequences(using)
        carried = passwords(source, layout, using)
    checks = (
        tables.legacy_changes(),
        tables.row_balance(),
        target_rows,
        tables.fields(),
        tables.money_totals(money),
        fees,
        audits,
        linked,
        emails,
        valid,
        ids,
        carried,
        tables.drift(),
    )
    return VerifyReport(str(source.path), sha256, str(run.pk), run.source_sha256, strict, checks)
