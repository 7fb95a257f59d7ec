"""Findings: what a check found, where, and what the operator does about it.

Every finding has a stable code from `CATALOGUE`, which also fixes its severity
and its plain-language fix, so that the same problem reads the same wherever it
is found. Row ids are capped; `row_count` says how many rows there are in all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

ROW_ID_CAP = 20


class Severity(StrEnum):
    BLOCKING = "blocking"
    WARNING = "warning"
    INFO = "info"


SEVERITY_ORDER = (Severity.BLOCKING, Severity.WARNING, Severity.INFO)


@dataclass(frozen=True)
class Kind:
    severity: Severity
    fix: str


CLEAN = "run clean_legacy, which fixes this in a copy and logs every change"
EDIT = "correct these rows in the legacy app (or a copy of the file), then run precheck again"

CATALOGUE: dict[str, Kind] = {
    "file.integrity": Kind(
        Severity.BLOCKING,
        "the file is damaged: restore it from a backup or recover it with sqlite3's .recover",
    ),
    "schema.missing-table": Kind(
        Severity.BLOCKING,
        "this is not a complete legacy file: check that --source is the right one",
    ),
    "schema.missing-column": Kind(
        Severity.BLOCKING,
        "this is not a complete legacy file: check that --source is the right one",
    ),
    "schema.older-generation": Kind(Severity.INFO, "nothing to do: the importer fills these in"),
    "schema.first-generation": Kind(
        Severity.INFO,
        "nothing to do: each column goes where this says, and the ledger's copy of each row "
        "keeps every column whole",
    ),
    "schema.unknown-table": Kind(
        Severity.WARNING, "check whether this table holds anything the studio needs"
    ),
    "schema.unknown-column": Kind(
        Severity.WARNING, "check whether this column holds anything the studio needs"
    ),
    "schema.view": Kind(
        Severity.WARNING,
        "check that the view gives the rows the studio means (a view can leave out or repeat "
        "rows of the tables it reads): they are imported as they are read through it",
    ),
    "schema.generated-column": Kind(
        Severity.INFO, "nothing to do: its values are read and imported like any other column's"
    ),
    "schema.trigger": Kind(
        Severity.WARNING,
        "nothing blocks the import, which only reads the file and never fires it; "
        "clean_legacy drops it from its copy and keeps its SQL in the change log. Someone "
        "added it to the file by hand: find out what it did, as the new app will not do it",
    ),
    "trainers.duplicate-email": Kind(
        Severity.BLOCKING,
        f"{CLEAN} (the first account keeps the address, the others get a plus-address on the "
        "same mailbox), or set one with clean_legacy --email USERNAME=ADDRESS",
    ),
    "trainers.duplicate-username": Kind(
        Severity.BLOCKING,
        "give all but one of these trainers another username in the legacy app or a copy of "
        "the file (the file has lost its rule that usernames differ), then run precheck again",
    ),
    "trainers.unusable-password": Kind(
        Severity.WARNING,
        "these trainers cannot keep their password: send them a password reset after cutover",
    ),
    "trainers.wrapped-digest": Kind(
        Severity.INFO,
        "nothing to do: each digest is wrapped in PBKDF2 at import, never stored bare; the "
        "trainer logs in with the old password, and the first login re-hashes it",
    ),
    "pairs.merge": Kind(Severity.INFO, "nothing to do: the importer merges the two tables"),
    "pairs.duplicate-row": Kind(
        Severity.WARNING,
        "nothing is needed: the importer merges each into its twin (ledger action 'merged'); "
        f"or {CLEAN} (it drops the old table's copy)",
    ),
    "pairs.no-room-for-ids": Kind(
        Severity.BLOCKING,
        "give these rows of the new table lower, unused ids in a copy of the file (and the "
        "rows that point at them the same ids), then run precheck again",
    ),
    "pairs.conflicting-row": Kind(
        Severity.BLOCKING,
        "decide which copy is right and delete the other in the legacy app or a copy of the file",
    ),
    "quarantine.unreadable": Kind(
        Severity.BLOCKING,
        "the copy's quarantine was edited: make the copy again with clean_legacy from the "
        "legacy file",
    ),
    "reference.dangling": Kind(
        Severity.BLOCKING, f"{CLEAN} (it quarantines these rows), or {EDIT}"
    ),
    "reference.inferable-trainer": Kind(
        Severity.INFO, "nothing to do: the trainer of the row's package, else its client, is used"
    ),
    "reference.uninferable-trainer": Kind(
        Severity.BLOCKING, f"{CLEAN} (it quarantines these rows), or {EDIT}"
    ),
    "fees.missing": Kind(
        Severity.WARNING, f"{CLEAN} (it computes the breakdown with the app's own fee rule)"
    ),
    "fees.not-recorded": Kind(
        Severity.INFO,
        "nothing to do: the app's old payments table never had fee columns; clean_legacy "
        "computes each breakdown by the app's fee rule, with its fee_audit_log row (the "
        "import computes it the same way for a file not cleaned, without the audit row)",
    ),
    "fees.unaudited": Kind(
        Severity.INFO,
        "nothing to do before an import; clean_legacy writes each breakdown's fee_audit_log "
        "row, so that every payment and package carries its audit row into the new app",
    ),
    "fees.inconsistent": Kind(
        Severity.BLOCKING,
        "check these amounts with the studio and correct them in a copy of the file: "
        "verify_import holds every breakdown to the app's fee rule (VAT = gross / 11, "
        "card fee = gross x 0.035, net = the rest, each rounded half up)",
    ),
    "normalise.gender": Kind(Severity.INFO, "nothing to do: shown so the mapping can be checked"),
    "normalise.payment-method": Kind(
        Severity.INFO,
        "nothing to do: the text as typed is kept beside the normalised method",
    ),
    "value.wrong-type": Kind(Severity.BLOCKING, EDIT),
    "value.unreadable-value": Kind(Severity.BLOCKING, EDIT),
    "value.out-of-range": Kind(Severity.BLOCKING, EDIT),
    "value.missing-value": Kind(Severity.BLOCKING, EDIT),
    "value.unknown-choice": Kind(Severity.BLOCKING, EDIT),
    "value.duplicate-id": Kind(
        Severity.BLOCKING,
        "the table has lost its primary key (the file was edited by hand): give each of these "
        "rows an id of its own, or delete a copy that is a duplicate, in a copy of the file, "
        "then run precheck again",
    ),
    "value.unstorable-text": Kind(
        Severity.BLOCKING, f"{CLEAN} (it makes the text storable and logs the original bytes)"
    ),
    "value.typed-date": Kind(
        Severity.BLOCKING,
        f"{CLEAN} (it writes each date that reads one way only in ISO form, and logs the "
        "text as typed)",
    ),
    "value.ambiguous-date": Kind(
        Severity.BLOCKING,
        "these dates read two ways (day or month first): decide each with the studio and "
        "write it as YYYY-MM-DD in the legacy app (or a copy of the file), then run precheck "
        "again; clean_legacy never guesses",
    ),
    "value.invalid-in-app": Kind(
        Severity.BLOCKING,
        "the new app's forms and admin validate every field, and would refuse to save these "
        f"rows: {EDIT}",
    ),
    "value.untrimmed-email": Kind(
        Severity.BLOCKING,
        f"{CLEAN} (it trims the spaces around each address, and logs the address as typed)",
    ),
    # import_legacy: is the target ready for the file?
    "import.id-taken": Kind(
        Severity.BLOCKING,
        "the new app already has rows of its own with these ids (an admin account made "
        "before the import, say), and legacy rows keep their ids: import into a database "
        "without them and make them afterwards, or give those rows other ids first",
    ),
    # verify_import: does the target match the legacy file, row by row?
    "verify.not-imported": Kind(
        Severity.BLOCKING, "run import_legacy with this file first, then verify again"
    ),
    "verify.legacy-added": Kind(
        Severity.BLOCKING,
        "the legacy app was used after the import: run import_legacy again before cutover",
    ),
    "verify.legacy-changed": Kind(
        Severity.BLOCKING,
        "the legacy app was used after the import: run import_legacy again before cutover",
    ),
    "verify.legacy-deleted": Kind(
        Severity.BLOCKING,
        "rows were deleted in the legacy app after the import: their target rows are still "
        "there; decide with the studio whether they should go",
    ),
    "verify.row-balance": Kind(
        Severity.BLOCKING,
        "the ledger does not account for every legacy row: run import_legacy again",
    ),
    "verify.target-missing": Kind(
        Severity.BLOCKING,
        "imported rows are gone from the target: restore them, or re-import from the ledger",
    ),
    "verify.legacy-gone": Kind(
        Severity.WARNING,
        "the new app still holds these rows (a trainer's account can still log in): ask the "
        "studio whether they were deleted in the old app on purpose, and if so delete or "
        "deactivate them in the admin",
    ),
    "verify.target-extra": Kind(
        Severity.INFO, "nothing to do if the studio created these rows in the new app"
    ),
    "verify.field-mismatch": Kind(
        Severity.BLOCKING,
        "a target value is not what its legacy row says: investigate, then re-import",
    ),
    "verify.merge-unfounded": Kind(
        Severity.BLOCKING,
        "a legacy row was merged into a row that is not its twin, so it is missing from the "
        "target: investigate, then re-import",
    ),
    "verify.twin-not-merged": Kind(
        Severity.BLOCKING,
        "a legacy row and its twin in the pair's other table are two target rows, so the "
        "session or payment is counted twice: run import_legacy again, which merges them",
    ),
    "verify.money-total": Kind(
        Severity.BLOCKING,
        "the target's money does not add up to the legacy file's: investigate before cutover",
    ),
    "verify.fee-breakdown": Kind(
        Severity.BLOCKING,
        "a payment's or package's VAT, card fee and net are not the app's fee rule's for its "
        "gross: check them with the studio, then correct them in the admin (the rule: VAT = "
        "gross / 11, card fee = gross x 0.035, net = the rest, each rounded half up)",
    ),
    "verify.fee-audit-disagrees": Kind(
        Severity.WARNING,
        "a payment's or package's breakdown is not the one its latest fee_audit_log row "
        "records (an edit since the import is also reported as drift): check both with the "
        "studio, and correct the wrong one in the admin",
    ),
    "verify.dangling-reference": Kind(
        Severity.BLOCKING, "target rows point at rows that do not exist: investigate"
    ),
    "verify.duplicate-email": Kind(
        Severity.BLOCKING, "give each account its own e-mail address in the admin"
    ),
    "verify.invalid-in-app": Kind(
        Severity.BLOCKING,
        "the new app's forms and admin would refuse to save these rows as they are: correct "
        "each value named in the target's database, or in the legacy file (precheck names "
        "them), then import again",
    ),
    "verify.sequence-behind": Kind(
        Severity.BLOCKING,
        "the next insert would collide: run import_legacy again (it moves sequences on)",
    ),
    "verify.sequence-full": Kind(
        Severity.BLOCKING,
        "the app cannot add a row to that table: give its rows lower ids in the app, or "
        "restart the sequence where ids are free",
    ),
    "verify.password-not-carried": Kind(
        Severity.BLOCKING,
        "these trainers cannot log in with their legacy password: investigate (a SHA-256 "
        "digest is proved with the SECRET_KEY the import ran with)",
    ),
    "verify.drift": Kind(
        Severity.WARNING,
        "rows were edited in Django since their import; expected after cutover "
        "(a failure only with --strict)",
    ),
}


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    summary: str
    fix: str
    table: str | None = None
    column: str | None = None
    row_ids: tuple[Any, ...] = ()
    row_count: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": str(self.severity),
            "table": self.table,
            "column": self.column,
            "summary": self.summary,
            "fix": self.fix,
            "row_count": self.row_count,
            "row_ids": list(self.row_ids),
            "row_ids_capped": self.row_count > len(self.row_ids),
            "details": self.details,
        }


def finding(
    code: str,
    summary: str,
    *,
    table: str | None = None,
    column: str | None = None,
    row_ids: Iterable[Any] = (),
    row_count: int | None = None,
    details: dict[str, Any] | None = None,
) -> Finding:
    kind = CATALOGUE[code]
    ids = list(row_ids)
    return Finding(
        code=code,
        severity=kind.severity,
        summary=summary,
        fix=kind.fix,
        table=table,
        column=column,
        row_ids=tuple(ids[:ROW_ID_CAP]),
        row_count=len(ids) if row_count is None else row_count,
        details=details or {},
    )


def by_severity(findings: Iterable[Finding]) -> dict[Severity, list[Finding]]:
    grouped: dict[Severity, list[Finding]] = {severity: [] for severity in SEVERITY_ORDER}
    for item in findings:
        grouped[item.severity].append(item)
    return grouped


def capped_ids(row_ids: tuple[Any, ...], total: int) -> str:
    """Row ids as one line: those given, then how many more `total` holds ("and N more")."""
    ids = ", ".join(str(row_id) for row_id in row_ids)
    more = total - len(row_ids)
    return f"{ids} and {more:,} more" if more > 0 else ids
