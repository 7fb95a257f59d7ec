"""What verify_import found: one outcome per check, and the report that holds them.

Plain data, rendered by `migration.reports`; a check fails on a blocking
finding, and under --strict on a warning too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from migration.findings import Finding, Severity

EXAMPLES = 20  # differences listed per table


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    summary: str
    findings: tuple[Finding, ...] = ()

    def failures(self, *, strict: bool) -> list[Finding]:
        return [
            item
            for item in self.findings
            if item.severity == Severity.BLOCKING or (strict and item.severity == Severity.WARNING)
        ]

    def to_dict(self, *, strict: bool) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": not self.failures(strict=strict),
            "summary": self.summary,
            "findings": [item.to_dict() for item in self.findings],
        }


@dataclass(frozen=True)
class VerifyReport:
    source: str
    sha256: str
    run_id: str | None
    imported_sha256: str | None
    strict: bool
    checks: tuple[CheckOutcome, ...]

    @property
    def findings(self) -> list[Finding]:
        return [item for check in self.checks for item in check.findings]

    @property
    def failures(self) -> list[Finding]:
        return [item for check in self.checks for item in check.failures(strict=self.strict)]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "sha256": self.sha256,
            "imported_sha256": self.imported_sha256,
            "run_id": self.run_id,
            "strict": self.strict,
            "passed": self.passed,
            "checks": [check.to_dict(strict=self.strict) for check in self.checks],
        }
