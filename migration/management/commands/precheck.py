from django.core.management.base import CommandError

from migration.management.base import EXIT_FINDINGS, ReportCommand
from migration.precheck.run import run_precheck
from migration.progress import terminal_progress
from migration.reports import render_precheck


class Command(ReportCommand):
    help = (
        "Read a legacy file (read-only) and report everything that stands between it and a "
        f"clean import. Exits {EXIT_FINDINGS} when something blocks an import."
    )

    def handle(self, *args, **options):
        with self.legacy_source(options["source"]) as source:
            report = run_precheck(
                source, progress=terminal_progress(self.stderr, options["verbosity"], unit="checks")
            )
        self.write_report(render_precheck(self.shown(report, options), options["format"]), options)
        if report.blocking:
            raise CommandError(
                f"{len(report.blocking)} blocking finding(s) in {report.source}: "
                "fix them (clean_legacy handles most) before importing",
                returncode=EXIT_FINDINGS,
            )
