"""The precheck run: which checks run (CHECKS), and running them side by side.

`run_precheck(source)` reads the file (read-only, streamed) and returns a
`PrecheckReport`: the table inventory, the schema generation, SQLite's own
integrity verdict, and the findings of each check of CHECKS, each check a job
on a connection of its own. Nothing is printed here; the command renders the
report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Any

from migration.findings import Finding, Severity, finding
from migration.legacy import LegacySource, file_sha256
from migration.mapping.layout import LegacyLayout
from migration.precheck import passed
from migration.precheck.app_validation import check_app_validation
from migration.precheck.fees import check_fees
from migration.precheck.generations import generation_statuses
from migration.precheck.pairs import check_table_pairs
from migration.precheck.quarantine import check_quarantine
from migration.precheck.references import check_references
from migration.precheck.report import PrecheckReport
from migration.precheck.schema import check_schema, check_triggers, table_inventory
from migration.precheck.tables import specs_present
from migration.precheck.uniqueness import check_duplicate_ids, check_unique_values
from migration.precheck.values import check_normalised_values, check_passwords, check_values
from migration.rules.pairs import PairMatches

Check = Callable[[LegacySource, LegacyLayout], Iterator[Finding]]


@dataclass(frozen=True)
class EachTable:
    """A check of one legacy table (its spec the third argument), declared once in
    CHECKS: it runs for each table of SPECS the file has, each table a job of its
    own, so that the largest checks run side by side."""

    check: Callable[..., Iterator[Finding]]
    # Made once per precheck and handed to each table's run (its fourth
    # argument): what each would otherwise read again.
    shared: Callable[[LegacySource, LegacyLayout], Any] | None = None


# The checks precheck runs, in the order their findings are listed.
CHECKS: tuple[Check | EachTable, ...] = (
    check_schema,
    check_triggers,
    EachTable(check_values),
    check_duplicate_ids,
    check_unique_values,
    EachTable(check_app_validation),
    check_passwords,
    check_table_pairs,
    EachTable(check_references),
    check_fees,
    check_normalised_values,
    check_quarantine,
)


# SQLite's own integrity check, a job beside those of CHECKS, by this name.
INTEGRITY = "integrity_check"
# What runs whatever a record says: it hands its matches to the import.
ALWAYS_RUN = frozenset({check_table_pairs.__name__})


def run_precheck(
    source: LegacySource,
    progress: Callable[[str, int, int], None] | None = None,
    *,
    recall_passed: bool = False,
) -> PrecheckReport:
    """The report; `progress`, if given, is told of each check job as it ends.

    A check passes when it finds nothing that blocks an import or warns of
    something; it may still say something for information. With `recall_passed`
    (the import's precheck), the checks that passed a precheck by this tool of
    these very bytes are taken as passed, not run again (see passed.py), and add
    no finding: what they said for information, the import has no use for.
    Either way, the checks that pass are recorded.
    """
    layout = LegacyLayout.read(source)
    pair_matches: dict[str, PairMatches] = {}
    jobs = dict(_named_jobs(source, layout, pair_matches))
    sha256 = contents_sha256 = recalled = None
    if recall_passed:  # the file's hash first, to know what to run
        sha256 = file_sha256(source.path)
        contents_sha256 = passed.sha256_of_contents(source, sha256)
        recalled = passed.recall(contents_sha256)
    skipped = recalled.jobs - ALWAYS_RUN if recalled else frozenset()
    with ThreadPoolExecutor(PRECHECK_WORKERS) as pool:
        # Otherwise the file's hash beside the checks (hashlib lets go of Python's lock too).
        hashing = None if sha256 else pool.submit(file_sha256, source.path)
        running = {
            name: pool.submit(_on_own_connection, source, job)
            for name, job in jobs.items()
            if name not in skipped
        }
        if progress:
            progress("checks", 0, len(running))  # the checks start: their clock starts
        for done, _ in enumerate(as_completed(running.values()), start=1):
            if progress:
                progress("checks", done, len(running))
        results = {name: job.result() for name, job in running.items()}
        sha256 = sha256 or hashing.result()
    integrity = tuple(results.pop(INTEGRITY, ["ok"]))  # not run: a record says "ok"
    found = {name: results.get(name, []) for name in jobs if name != INTEGRITY}
    passing = {name for name, findings in found.items() if _passes(findings)}
    if integrity == ("ok",):
        passing.add(INTEGRITY)
    if not recalled or passing != recalled.jobs:
        contents_sha256 = contents_sha256 or passed.sha256_of_contents(source, sha256)
        passed.remember(contents_sha256, passing, source=source)
    return PrecheckReport(
        source=str(source.path),
        size_bytes=source.path.stat().st_size,
        sha256=sha256,
        integrity=integrity,
        tables=tuple(table_inventory(source, layout)),
        generations=tuple(generation_statuses(layout)),
        findings=(*_integrity_findings(integrity), *chain.from_iterable(found.values())),
        pair_matches=pair_matches,
        layout=layout,
        checks_run=len(running),
        checks_recalled=len(skipped),
    )


# SQLite does nearly all of precheck's work, and lets go of Python's lock while
# it does: the checks run side by side (each table's values apart, and each
# table's references, the largest checks), each worker on a read-only
# connection of its own. Their findings keep the order of CHECKS. Two per
# core, because a check is now and then in Python or waiting for a page, and
# another's SQLite runs meanwhile (measured in docs/performance.md).
PRECHECK_WORKERS = max(2, min(8, 2 * (os.cpu_count() or 1)))
# Precheck looks rows up all over the file (every reference, SQLite's own
# integrity check), and in SQLite's default page cache most lookups go back to
# the operating system. The size is each connection's share of one budget:
# more workers with smaller caches do as well as fewer with larger ones, in
# the same memory (measured in docs/performance.md).
PRECHECK_PAGE_CACHE_KIB = 16 * 1024


def _check_jobs(
    source: LegacySource, layout: LegacyLayout, pair_matches: dict[str, PairMatches]
) -> Iterator[tuple[str, Callable[[], list[Finding]]]]:
    """Every check of CHECKS as the jobs that run it, by name, in CHECKS' order: a check
    of one table as a job for each table the file has ("check_values[sessions]")."""
    for check in CHECKS:
        if isinstance(check, EachTable):
            shared = () if check.shared is None else (check.shared(source, layout),)
            for spec in specs_present(layout):
                yield (
                    f"{_name_of(check)}[{spec.table}]",
                    partial(_findings, check.check, source, layout, spec, *shared),
                )
        elif check is check_table_pairs:  # it hands its matches over: matched once
            yield (
                _name_of(check),
                partial(_findings, check_table_pairs, source, layout, matched=pair_matches),
            )
        else:
            yield _name_of(check), partial(_findings, check, source, layout)


def _named_jobs(
    source: LegacySource, layout: LegacyLayout, pair_matches: dict[str, PairMatches]
) -> Iterator[tuple[str, Callable[[], Any]]]:
    """SQLite's integrity check and the jobs of CHECKS, each by the name a record of
    passed checks knows it by (each its own: see self_checks.py)."""
    yield INTEGRITY, source.integrity_check
    yield from _check_jobs(source, layout, pair_matches)


def names_of_checks() -> list[str]:
    """The name of each check of CHECKS, as its jobs are named."""
    return [_name_of(check) for check in CHECKS]


def _name_of(check: Check | EachTable) -> str:
    """A check's name: its jobs' (a table's job adds "[table]")."""
    return (check.check if isinstance(check, EachTable) else check).__name__


def _passes(findings: list[Finding]) -> bool:
    return all(item.severity == Severity.INFO for item in findings)


def _findings(check: Callable[..., Iterator[Finding]], *args: Any, **kwargs: Any) -> list[Finding]:
    return list(check(*args, **kwargs))


def _on_own_connection(source: LegacySource, job: Callable[[], Any]) -> Any:
    """Run `job` on this thread's own connection to the legacy file, then close it.

    Django gives each thread its own connection of the read-only legacy alias;
    it decodes text as open_legacy's does, and has the larger page cache.
    """
    try:
        source.connect()
        source.query(f"PRAGMA cache_size = -{int(PRECHECK_PAGE_CACHE_KIB)}")
        return job()
    finally:
        source.connection.close()


def _integrity_findings(integrity: tuple[str, ...]) -> Iterator[Finding]:
    if integrity != ("ok",):
        yield finding(
            "file.integrity",
            f"SQLite's integrity check failed: {'; '.join(integrity[:3])}",
            row_count=len(integrity),
        )
