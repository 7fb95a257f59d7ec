"""What precheck found in a legacy file: its tables, its schema generations, the findings.

Plain data the command renders and the import reads; nothing is checked here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from migration.findings import Finding, Severity, by_severity
from migration.legacy.schema import is_tool_table
from migration.mapping.layout import LegacyLayout
from migration.rules.pairs import PairMatches


@dataclass(frozen=True)
class TableInventory:
    table: str
    model: str | None
    rows: int | None
    status: str


@dataclass(frozen=True)
class GenerationStatus:
    name: str
    present: bool
    missing: tuple[str, ...]  # "table" or "table.column"
    when_missing: str


@dataclass(frozen=True)
class PrecheckReport:
    source: str
    size_bytes: int
    sha256: str
    integrity: tuple[str, ...]
    tables: tuple[TableInventory, ...]
    generations: tuple[GenerationStatus, ...]
    findings: tuple[Finding, ...] = field(default=())
    # The rows precheck matched across each old/new table pair (by the old
    # table's name), for the importer, which would otherwise match them again.
    # Not part of the report itself.
    pair_matches: dict[str, PairMatches] = field(default_factory=dict, repr=False, compare=False)
    # The file's layout as precheck read it, for the importer likewise.
    layout: LegacyLayout | None = field(default=None, repr=False, compare=False)
    # How many check jobs ran, and how many were taken as passed from a record of
    # these bytes instead (passed.py).
    checks_run: int = field(default=0, compare=False)
    checks_recalled: int = field(default=0, compare=False)

    @property
    def legacy_tables(self) -> list[TableInventory]:
        """The file's own tables, present ones only: not those clean_legacy added."""
        return [t for t in self.tables if t.rows is not None and not is_tool_table(t.table)]

    @property
    def total_rows(self) -> int:
        return sum(table.rows for table in self.legacy_tables)

    @property
    def blocking(self) -> list[Finding]:
        return by_severity(self.findings)[Severity.BLOCKING]

    @property
    def is_newest_generation(self) -> bool:
        return all(generation.present for generation in self.generations)

    def to_dict(self) -> dict[str, Any]:
        counts = {
            str(severity): len(items) for severity, items in by_severity(self.findings).items()
        }
        return {
            "source": self.source,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "integrity": list(self.integrity),
            "tables": [table.__dict__ for table in self.tables],
            "total_tables": len(self.legacy_tables),
            "total_rows": self.total_rows,
            "generations": [
                {**generation.__dict__, "missing": list(generation.missing)}
                for generation in self.generations
            ],
            "counts": counts,
            "importable": not self.blocking,
            "findings": [item.to_dict() for item in self.findings],
        }
