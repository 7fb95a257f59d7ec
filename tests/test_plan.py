"""precheck --format markdown: the cutover plan, computed from the file."""

from pathlib import Path

import pytest

from migration.findings import finding
from migration.legacy import open_legacy
from migration.mapping.specs import IMPORT_ORDER
from migration.plan import CHECKLIST, plan_markdown
from migration.precheck.run import run_precheck
from samples.files import write_production_sample
from tests.conftest import run_command
from tests.legacy_files import FIRST_SALTED, LegacyFile

pytestmark = pytest.mark.usefixtures("legacy_db")

SECTIONS = (
    "## Inventory",
    "## Blocking (1)",
    "## What clean_legacy will change",
    "## Migration order",
    "## Field mapping",
    "## Validation checklist",
)
UNIQUE_EMAILS = "Every trainer has a unique e-mail address"
VALID_REFERENCES = (
    "Every client, assessment, package, session and payment points at rows that exist"
)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    path = tmp_path / "legacy.db"
    write_production_sample(output=path)
    return path


def plan_of(path: Path) -> str:
    with open_legacy(path) as source:
        return plan_markdown(run_precheck(source))


def precheck_markdown(path: Path) -> tuple[int, str]:
    """The command's exit code and the plan it printed (its error line apart)."""
    code, output = run_command("precheck", "--source", str(path), "--format", "markdown")
    return code, output.split("\nCommandError: ")[0]


def lines_under(plan: str, heading: str) -> list[str]:
    """The lines of one section: from its heading up to the next heading of its level."""
    lines = plan.splitlines()
    start = lines.index(heading)
    level = heading.split(" ")[0] + " "
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(level)), len(lines))
    return lines[start + 1 : end]


def test_the_plan_of_the_sample_has_every_section_in_order(sample):
    code, plan = precheck_markdown(sample)
    assert code == 1  # the shared e-mail blocks the import
    lines = plan.splitlines()
    assert lines[0] == f"# Cutover plan for `{sample}`"
    positions = [lines.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)
    assert "- Rows: 42 in 9 tables, into 7 target models" in lines
    assert "- Findings: 1 blocking, 0 warnings, 8 info" in lines
    assert lines[-1].startswith("Result: 1 blocking finding(s)")


def test_the_sample_s_checklist_is_ticked_from_its_findings(sample):
    checklist = lines_under(plan_of(sample), "## Validation checklist")
    items = [line for line in checklist if line.startswith("- [")]
    assert len(items) == len(CHECKLIST)
    # The sample's two trainers who share one gmail address leave its item open, named.
    (emails,) = [line for line in items if UNIQUE_EMAILS in line]
    assert emails.startswith(f"- [ ] {UNIQUE_EMAILS}: `trainers.duplicate-email`")
    assert "(2 rows; clean_legacy fixes it)" in emails
    assert f"- [x] {VALID_REFERENCES}" in items
    assert "- [x] Numbers are within their valid ranges" in items


def test_the_cleaned_sample_ticks_the_e_mail_item(sample, tmp_path):
    cleaned = tmp_path / "cleaned.db"
    code, output = run_command("clean_legacy", "--source", str(sample), "--output", str(cleaned))
    assert code == 0, output
    code, plan = precheck_markdown(cleaned)
    assert code == 0
    assert f"- [x] {UNIQUE_EMAILS}" in plan.splitlines()
    assert "## Blocking (0)" in plan.splitlines()
    assert plan.splitlines()[-1] == "Result: nothing blocks an import of this file."


def test_what_clean_will_change_is_each_finding_it_fixes_with_its_rows(sample):
    section = lines_under(plan_of(sample), "## What clean_legacy will change")
    assert (
        "| `trainers.duplicate-email` | trainers | 2 | duplicate e-mail addresses made unique |"
        in section
    )
    assert any(
        line.startswith("| `reference.inferable-trainer` | sessions | 1 |") for line in section
    )
    assert (
        "| `fees.unaudited` | payments | 4 | fee_audit_log rows written for breakdowns the app "
        "recorded without one |" in section
    )
    # What precheck found that clean_legacy does not fix is not listed as a change.
    assert not any("`pairs.merge`" in line for line in section)


def test_the_migration_order_is_the_import_s_with_rows_per_table(sample):
    section = lines_under(plan_of(sample), "## Migration order")
    steps = [line for line in section if line.startswith("| ") and line[2].isdigit()]
    models = list(dict.fromkeys(spec.model for spec in IMPORT_ORDER))
    assert [line.split(" | ")[1] for line in steps] == models
    assert "| 1 | accounts.User | trainers (7) | 7 |" in steps
    assert "| 5 | training.Session | sessions (4) + training_sessions (3) | 7 |" in steps
    assert "| 6 | training.Payment | payments (4) + payment_records (2) | 6 |" in steps


def test_the_field_mapping_names_column_field_and_converter(sample):
    section = lines_under(plan_of(sample), "### trainers → accounts.User")
    assert (
        "| `password_hash` | `accounts.User.password` | `legacy_password` | "
        "set when the row is made, renewed from the file until the app sets its own; read "
        "with salt where the file has "
        "it; a legacy digest wrapped in PBKDF2 when the account is made; the ledger keeps "
        "only a digest |"
    ) in section
    assert "| `username` | `accounts.User.username` | `username` |  |" in section
    payments = lines_under(plan_of(sample), "### payments → training.Payment")
    assert any(
        line.startswith("| `trainer_id` | `training.Payment.trainer_id` | `optional_legacy_id` |")
        and "when empty, the trainer of its package_id or client_id" in line
        for line in payments
    )


def test_a_column_not_in_the_app_goes_only_to_the_ledger_s_copy(legacy_file: LegacyFile):
    legacy_file.small_studio()
    legacy_file.execute("ALTER TABLE clients ADD COLUMN instagram TEXT")
    section = lines_under(plan_of(legacy_file.close()), "### clients → clients.Client")
    assert (
        "| `instagram` | - (the ledger's copy of each row only) | - | "
        "not part of the app's schema |"
    ) in section


def test_a_bad_date_and_a_number_out_of_range_leave_their_items_open(legacy_file: LegacyFile):
    ids = legacy_file.small_studio()
    legacy_file.client(ids["trainer"], age=400)
    legacy_file.execute("UPDATE sessions SET session_date = 'someday'")
    checklist = lines_under(plan_of(legacy_file.close()), "## Validation checklist")
    numbers = next(line for line in checklist if "Numbers are within" in line)
    dates = next(line for line in checklist if "Dates are consistent" in line)
    assert numbers.startswith("- [ ]") and "on clients.age" in numbers
    assert dates.startswith("- [ ]") and "on sessions.session_date" in dates
    assert f"- [x] {UNIQUE_EMAILS}" in checklist


def test_a_finding_without_row_ids_shows_no_and_n_more(sample):
    plan = plan_of(sample)
    # pairs.merge counts colliding ids, normalise.* values: neither names rows.
    merges = [line for line in plan.splitlines() if line.startswith("| `pairs.merge` |")]
    assert len(merges) == 2
    for line in merges:
        assert line.split(" | ")[2] == "-"
    assert "|  and " not in plan


def test_the_plan_ends_with_one_newline(sample):
    plan = plan_of(sample)
    assert plan.endswith(".\n") and not plan.endswith("\n\n")
    code, printed = precheck_markdown(sample)
    assert printed == plan  # what the command prints is the whole plan, newline and all


def test_a_finding_of_the_checklist_s_codes_on_another_kind_of_column_leaves_it_ticked():
    # A text value out of range (a name too long) is not a number out of range.
    numbers = next(item for item in CHECKLIST if "Numbers" in item.text)
    too_long = finding("value.out-of-range", "names", table="trainers", column="name")
    assert not numbers.leaves_open(too_long)
    assert numbers.leaves_open(finding("value.out-of-range", "ages", table="clients", column="age"))


def test_a_first_generation_table_is_mapped_by_its_own_columns(tmp_path):
    legacy = LegacyFile(tmp_path / "first.db", FIRST_SALTED)
    legacy.first_studio()
    section = lines_under(plan_of(legacy.close()), "### assessments → assessments.Assessment")
    mapped = [line.split(" | ")[0].strip("| `") for line in section if line.startswith("| `")]
    assert "step_test_hr1" in mapped and "single_leg_balance_right_open" in mapped
    assert (
        "single_leg_balance_right_eyes_open" not in mapped
    )  # the first generation's name stands in
    assert any(
        line.startswith("| `overhead_squat_compensations` |") and "not in this file" in line
        for line in section
    )
