"""What an import hands back: each table's result and the run's report, as data; and
the errors that stop it, each in one line that says what to do next."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from migration.errors import OperatorError
from migration.findings import Finding, capped_ids


class ImportRefused(OperatorError):
    """What was found before the import blocks it (listed); nothing was written."""

    def __init__(self, findings: list[Finding], reason: str):
        super().__init__(reason)
        self.findings = findings


class ImportFailed(OperatorError):
    """A table could not be imported; its transaction was rolled back."""


class ImportBusy(OperatorError):
    """Another import into the same target is running; nothing was read or written."""


def some_ids(ids: Iterable[Any], shown: int = 5) -> str:
    """A few of `ids`, the lowest, for a message: "3, 8 and 41 more"."""
    ids = sorted(ids)
    return capped_ids(tuple(ids[:shown]), len(ids))


@dataclass(frozen=True)
class Conflict:
    """A legacy row that changed since its import, whose target row was edited in Django too."""

    table: str
    legacy_id: int
    target_model: str
    target_id: int


class OnConflict(StrEnum):
    """What a re-run does with a conflict: a legacy row changed since its import whose
    target row was edited in Django too."""

    REPORT = "report"  # both left as they are, and reported (exit 1)
    TAKE_LEGACY = "take-legacy"  # the legacy row written over the Django edit
    KEEP_TARGET = "keep-target"  # the Django edit kept, the legacy change let go (drift)


@dataclass
class TableResult:
    table: str
    model: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    merged: int = 0
    quarantined: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    resolved: list[Conflict] = field(default_factory=list)  # by --on-conflict
    gone_from_legacy: int = 0  # in the ledger, no longer in the file: left in the target
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "model": self.model,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "merged": self.merged,
            "quarantined": self.quarantined,
            "conflicts": [c.__dict__ for c in self.conflicts],
            "resolved": [c.__dict__ for c in self.resolved],
            "gone_from_legacy": self.gone_from_legacy,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows_per_second),
        }


@dataclass
class ImportReport:
    source: str
    sha256: str
    dry_run: bool
    run_id: str
    on_conflict: OnConflict
    started_at: datetime
    finished_at: datetime | None = None
    tables: list[TableResult] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)
    # What precheck warned of is carried over as it is (e.g. trainers whose
    # password could not be kept and who need a reset): said again here.
    warnings: list[Finding] = field(default_factory=list)
    # The checks of the import's precheck taken as passed from a precheck of the
    # same bytes (migration/precheck/passed.py), and how many ran.
    checks_recalled: int = 0
    checks_run: int = 0

    COUNTS = ("read", "created", "updated", "unchanged", "merged", "quarantined")

    def totals(self) -> dict[str, int]:
        totals = {name: sum(getattr(t, name) for t in self.tables) for name in self.COUNTS}
        totals["conflicts"] = sum(len(t.conflicts) for t in self.tables)
        totals["resolved"] = sum(len(t.resolved) for t in self.tables)
        totals["gone_from_legacy"] = sum(t.gone_from_legacy for t in self.tables)
        return totals

    @property
    def conflicts(self) -> list[Conflict]:
        return [conflict for table in self.tables for conflict in table.conflicts]

    @property
    def resolved(self) -> list[Conflict]:
        return [conflict for table in self.tables for conflict in table.resolved]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "on_conflict": str(self.on_conflict),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "tables": [table.to_dict() for table in self.tables],
            "totals": self.totals(),
            "sequences": self.sequences,
            "warnings": [item.to_dict() for item in self.warnings],
            "precheck": {"checks_run": self.checks_run, "checks_recalled": self.checks_recalled},
        }
