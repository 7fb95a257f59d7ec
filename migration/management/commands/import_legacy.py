from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError

from migration.importer import (
    ImportBusy,
    ImportFailed,
    ImportRefused,
    import_legacy,
)
from migration.management.base import EXIT_FINDINGS, ReportCommand
from migration.progress import TerminalProgress
from migration.redaction import redact_finding, redact_text
from migration.reports import render_import


class Command(ReportCommand):
    help = (
        "Import a legacy file into the target database through the ORM, one atomic "
        "transaction per target table, keeping a ledger that makes re-runs safe."
    )
    formats = ("text", "json")

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Run the whole import and roll it back: the database is unchanged afterwards.",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='Nominates the database to import into. Defaults to the "default" database.',
        )

    def handle(self, *args, **options):
        with self.legacy_source(options["source"]) as source:
            try:
                report = import_legacy(
                    source=source,
                    using=options["database"],
                    dry_run=options["dry_run"],
                    progress=self.progress_printer(options["verbosity"]),
                )
            except ImportBusy as busy:
                raise CommandError(str(busy), returncode=EXIT_FINDINGS) from busy
            except ImportRefused as refused:
                for item in refused.findings:
                    shown = redact_finding(item) if options["redact"] else item
                    self.stderr.write(f"  [{shown.code}] {shown.summary}")
                raise CommandError(str(refused), returncode=EXIT_FINDINGS) from refused
            except (ImportFailed, DatabaseError) as error:
                # The first line only: a database's later lines may quote row data.
                reason = str(error).strip().splitlines()[0]
                if options["redact"]:
                    reason = redact_text(reason)
                after = (
                    "Nothing was written (dry run)"
                    if options["dry_run"]
                    else "Tables before it are committed; run import_legacy again to finish"
                )
                raise CommandError(f"import stopped: {reason}. {after}") from error
        self.write_report(render_import(self.shown(report, options), options["format"]), options)
        if report.conflicts:
            raise CommandError(
                f"{len(report.conflicts)} conflict(s): rows edited in Django since their import "
                "were not overwritten (listed in the report)",
                returncode=EXIT_FINDINGS,
            )

    def progress_printer(self, verbosity: int):
        # Drawn only on a terminal, so that piped output and CI logs stay clean.
        if verbosity < 1 or not self.stderr.isatty():
            return None

        def write(text: str) -> None:
            self.stderr.write(text, ending="")
            self.stderr.flush()

        return TerminalProgress(write)
