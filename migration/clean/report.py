"""What clean_legacy did, as data: the rule codes, each rule's changes, and the whole run.

The command renders a CleanReport (reports.py) and the cutover plan names the
rules it would apply (plan.py); nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from migration.findings import CATALOGUE, Finding
from migration.legacy.schema import CHANGES_TABLE, QUARANTINE_TABLE
from migration.precheck.report import PrecheckReport

# Rule names are the precheck codes each fix makes go away.
TRIGGER_RULE = "schema.trigger"
VIEW_RULE = "schema.view"
GENERATED_RULE = "schema.generated-column"
EMAIL_RULE = "trainers.duplicate-email"
PAIR_RULE = "pairs.duplicate-row"
INFERRED_RULE = "reference.inferable-trainer"
DANGLING_RULE = "reference.dangling"
UNINFERABLE_RULE = "reference.uninferable-trainer"
FEES_RULE = "fees.missing"
AUDIT_RULE = "fees.unaudited"
TEXT_RULE = "value.unstorable-text"
TYPED_DATE_RULE = "value.typed-date"
UNTRIMMED_EMAIL_RULE = "value.untrimmed-email"
CONFLICT_CODE = "pairs.conflicting-row"  # left for a person, never fixed here

# What each rule did, in words for the report.
RULES: dict[str, str] = {
    TRIGGER_RULE: "triggers dropped, so that no fix fires them (their SQL is in the change log)",
    VIEW_RULE: "views made tables of the rows they show (their SQL is in the change log)",
    GENERATED_RULE: (
        "generated columns made plain columns holding the values they show "
        "(the table's SQL is in the change log)"
    ),
    EMAIL_RULE: "duplicate e-mail addresses made unique",
    PAIR_RULE: "old-table copies of rows also in the new table deleted",
    INFERRED_RULE: "missing trainer ids filled in from the package, else the client",
    DANGLING_RULE: "ids pointing at no row: trainer inferred, else the row quarantined",
    FEES_RULE: "fee breakdowns computed with the app's fee rule",
    AUDIT_RULE: "fee_audit_log rows written for breakdowns the app recorded without one",
    TEXT_RULE: "text made storable (the original bytes are in the change log)",
    TYPED_DATE_RULE: (
        "typed dates that read one way only written in ISO form (as typed in the change log)"
    ),
    UNINFERABLE_RULE: "rows naming no trainer, none inferable: quarantined",
    UNTRIMMED_EMAIL_RULE: "spaces around e-mail addresses trimmed (as typed in the change log)",
}


@dataclass(frozen=True)
class RuleSummary:
    """What one rule changed in one table: counted from the copy's change log."""

    rule: str
    table: str
    changes: int
    rows: int
    row_ids: tuple[Any, ...]  # the first ROW_ID_CAP, in id order

    @property
    def description(self) -> str:
        return RULES.get(self.rule, self.rule)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "table": self.table,
            "description": self.description,
            "changes": self.changes,
            "rows": self.rows,
            "row_ids": list(self.row_ids),
            "row_ids_capped": self.rows > len(self.row_ids),
        }


@dataclass(frozen=True)
class EmailChange:
    """A trainer's e-mail address as it was and as the copy has it now."""

    trainer_id: Any
    username: str
    old_address: str
    new_address: str
    how: str  # "plus-address" or "explicit" (--email)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PairConflict:
    """An old-table row with a new-table twin on the natural key but other content."""

    old_table: str
    old_id: Any
    new_table: str
    new_id: Any
    differing: tuple[str, ...]
    code = CONFLICT_CODE

    @property
    def fix(self) -> str:
        return CATALOGUE[self.code].fix

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "differing": list(self.differing),
            "code": self.code,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class QuarantinedRow:
    """One row moved to the quarantine table, and why: an example in the report."""

    row_id: Any
    rule: str
    reason: str


@dataclass(frozen=True)
class QuarantineSummary:
    """How many rows of one table were quarantined, with the first few as examples."""

    table: str
    rows: int
    examples: tuple[QuarantinedRow, ...]  # the first ROW_ID_CAP

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows": self.rows,
            "rows_capped": self.rows > len(self.examples),
            "examples": [row.__dict__ for row in self.examples],
        }


@dataclass(frozen=True)
class CleanReport:
    source: str
    source_sha256: str
    output: str
    output_sha256: str
    cleaned_at: str
    rules: tuple[RuleSummary, ...]
    emails: tuple[EmailChange, ...]
    conflicts: tuple[PairConflict, ...]
    quarantined: tuple[QuarantineSummary, ...]
    total_changes: int
    # Set by with_precheck(): the blocking findings precheck still makes on the
    # copy (None: the copy was not prechecked).
    precheck_blocking: tuple[Finding, ...] | None = field(default=None)

    changes_table = CHANGES_TABLE
    quarantine_table = QUARANTINE_TABLE

    @property
    def total_quarantined(self) -> int:
        return sum(summary.rows for summary in self.quarantined)

    @property
    def needs_person(self) -> bool:
        return bool(self.conflicts or self.precheck_blocking)

    @property
    def other_blocking(self) -> tuple[Finding, ...]:
        """Precheck's blocking findings on the copy, but for the conflicts listed already."""
        return tuple(item for item in self.precheck_blocking or () if item.code != CONFLICT_CODE)

    def with_precheck(self, report: PrecheckReport) -> CleanReport:
        return replace(self, precheck_blocking=tuple(report.blocking))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_sha256": self.source_sha256,
            "output": self.output,
            "output_sha256": self.output_sha256,
            "cleaned_at": self.cleaned_at,
            "change_log": {"file": self.output, "table": CHANGES_TABLE},
            "quarantine": {"file": self.output, "table": QUARANTINE_TABLE},
            "total_changes": self.total_changes,
            "total_quarantined": self.total_quarantined,
            "rules": [summary.to_dict() for summary in self.rules],
            "emails": [change.to_dict() for change in self.emails],
            "conflicts": [conflict.to_dict() for conflict in self.conflicts],
            "quarantined": [summary.to_dict() for summary in self.quarantined],
            "prechecked": self.precheck_blocking is not None,
            "precheck_blocking": [item.to_dict() for item in self.precheck_blocking or ()],
            "needs_person": self.needs_person,
        }
