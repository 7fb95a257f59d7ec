"""Where each legacy table goes: one declaration per table, in import order.

Each `TableSpec` (its parts are explained in spec_types.py) says what target
model a legacy table fills, and for each of its columns the field and the
converter (see converters). The app's table pairs follow the tables.
"""

from __future__ import annotations

from dataclasses import replace

from migration.mapping import converters as t
from migration.mapping.domains import Domain, domain_of
from migration.mapping.fees import RuleOnAmount
from migration.mapping.passwords import is_made_by_the_import, stored_password

# The declarations' types, which the specs' readers take from here too (REQUIRED among them).
from migration.mapping.spec_types import REQUIRED as REQUIRED
from migration.mapping.spec_types import (
    ColumnMap,
    FromTheFile,
    InferTrainer,
    TablePair,
    TableSpec,
    col,
    ref,
)

TRAINER_OF_CLIENT = InferTrainer(via=("client_id",))
TRAINER_OF_PACKAGE_OR_CLIENT = InferTrainer(via=("package_id", "client_id"))
AMOUNT = t.won()
OPTIONAL_AMOUNT = t.won(required=False)
COUNT = t.integer(0)
SCORE = t.integer(0, t.INT16_MAX, required=False)
MEASURE = t.real(0)
HEART_RATE = t.integer(0, t.INT16_MAX, required=False)
NOTES = t.optional_text()

# A first-generation trainer's date_joined (see traces.py).
EARLIEST_TRACE = FromTheFile(
    "the start of the day of the trainer's earliest client or assessment", Domain("moment")
)
# A password is made once, when the account is: logins re-hash it. Its hash is
# kept out of the ledger's copy of the row; a first-generation salt is not secret.
PASSWORD = {
    "also": ("salt",),
    "stored_as": stored_password,
    "set_once": True,
    "renewed_while": is_made_by_the_import,
    "secret": True,
}
# The first generation's clients were entered on their registration_date.
REGISTERED = t.start_of_local_day


def fee_columns(*, with_method: bool) -> tuple[ColumnMap, ...]:
    # Added by the app's fee migration; an older file has none of them.
    columns = (
        col("gross_amount", OPTIONAL_AMOUNT, if_missing=None),
        col("vat_amount", OPTIONAL_AMOUNT, if_missing=None),
        col("card_fee_amount", OPTIONAL_AMOUNT, if_missing=None),
        col("net_amount", OPTIONAL_AMOUNT, if_missing=None),
        col("vat_rate", t.rate, if_missing=None),
        col("card_fee_rate", t.rate, if_missing=None),
    )
    if with_method:
        columns += (col("fee_calculation_method", t.fee_method, if_missing=None),)
    return columns


def by_the_fee_rule(fee_column: ColumnMap) -> ColumnMap:
    """The fee column as an old payment reads it: payment_records never had fee columns,
    so in a file clean_legacy has not written them into, each is the fee rule's on the
    payment's amount."""
    computed = FromTheFile(
        "the app's fee rule on the payment's amount",
        domain_of(fee_column.convert),
        of_row=RuleOnAmount(fee_column.field),
    )
    return replace(fee_column, if_missing=computed)


TRAINERS = TableSpec(
    table="trainers",
    model="accounts.User",
    columns=(
        col("id", t.legacy_id),
        col("username", t.username),
        col("password_hash", t.legacy_password, to="password", **PASSWORD),
        col("password", t.legacy_password, **PASSWORD),
        col("name", t.text()),
        col("name", t.first_name, to="first_name"),
        col("name", t.last_name, to="last_name"),
        col("email", t.text(254)),
        col("created_at", t.required_timestamp, to="date_joined", if_missing=EARLIEST_TRACE),
        col("last_login", t.legacy_timestamp, if_missing=None, set_once=True),
        col("failed_login_attempts", COUNT, if_missing=0, set_once=True),
        col("locked_until", t.legacy_timestamp, if_missing=None, set_once=True),
    ),
)

CLIENTS = TableSpec(
    table="clients",
    model="clients.Client",
    columns=(
        col("id", t.legacy_id),
        ref("trainer_id", "trainers"),
        col("name", t.text()),
        col("age", t.integer(0, 150)),
        col("gender", t.gender),
        col("height", t.real(0.01, 300, required=True)),
        col("weight", t.real(0.01, 500, required=True)),
        col("email", t.optional_text(254)),
        col("phone", t.optional_text(40)),
        col("created_at", t.required_timestamp),
        col("registration_date", REGISTERED, to="created_at"),
        col("updated_at", t.required_timestamp),
        col("registration_date", REGISTERED, to="updated_at"),
    ),
)

ASSESSMENTS = TableSpec(
    table="assessments",
    model="assessments.Assessment",
    # A field declared twice takes the newest column the file has; the second
    # is the first generation's name for it (see legacy/first_generation.sql).
    columns=(
        col("id", t.legacy_id),
        ref("client_id", "clients"),
        ref("trainer_id", "trainers", optional=True, infer=TRAINER_OF_CLIENT, if_missing=None),
        col("date", t.plain_date),
        col("overhead_squat_score", SCORE),
        col("overhead_squat_notes", NOTES),
        col("overhead_squat_compensations", NOTES, if_missing=None),
        col("push_up_score", SCORE),
        col("push_up_reps", t.integer(0, required=False)),
        col("push_up_notes", NOTES),
        col("push_up_compensations", NOTES, if_missing=None),
        col("single_leg_balance_left_eyes_open", MEASURE),
        col("single_leg_balance_left_open", MEASURE, to="single_leg_balance_left_eyes_open"),
        col("single_leg_balance_right_eyes_open", MEASURE),
        col("single_leg_balance_right_open", MEASURE, to="single_leg_balance_right_eyes_open"),
        col("single_leg_balance_left_eyes_closed", MEASURE),
        col("single_leg_balance_left_closed", MEASURE, to="single_leg_balance_left_eyes_closed"),
        col("single_leg_balance_right_eyes_closed", MEASURE),
        col("single_leg_balance_right_closed", MEASURE, to="single_leg_balance_right_eyes_closed"),
        col("single_leg_balance_notes", NOTES),
        col("toe_touch_score", SCORE),
        # Toe-touch distance is measured from the floor: short of it is negative.
        col("toe_touch_distance", t.real(None)),
        col("toe_touch_notes", NOTES),
        col("toe_touch_compensations", NOTES, if_missing=None),
        col("shoulder_mobility_left", MEASURE),
        col("shoulder_mobility_right", MEASURE),
        col("shoulder_mobility_notes", NOTES),
        col("shoulder_mobility_compensations", NOTES, if_missing=None),
        col("farmer_carry_weight", MEASURE),
        col("farmers_carry_weight", MEASURE, to="farmer_carry_weight"),
        col("farmer_carry_distance", MEASURE),
        col("farmers_carry_distance", MEASURE, to="farmer_carry_distance"),
        col("farmers_carry_time", MEASURE, to="farmer_carry_time", if_missing=None),
        col("farmer_carry_notes", NOTES),
        col("farmers_carry_notes", NOTES, to="farmer_carry_notes"),
        col("farmer_carry_compensations", NOTES, if_missing=None),
        col("harvard_step_test_heart_rate", SCORE, if_missing=None),
        col("harvard_step_test_duration", MEASURE, if_missing=None),
        col("step_test_hr1", t.step_test_duration, to="harvard_step_test_duration"),
        col("harvard_step_test_notes", NOTES),
        col("step_test_notes", NOTES, to="harvard_step_test_notes"),
        col("step_test_hr1", HEART_RATE, to="harvard_step_test_heart_rate_1", if_missing=None),
        col("step_test_hr2", HEART_RATE, to="harvard_step_test_heart_rate_2", if_missing=None),
        col("step_test_hr3", HEART_RATE, to="harvard_step_test_heart_rate_3", if_missing=None),
        col("step_test_pfi", MEASURE, to="harvard_step_test_fitness_index", if_missing=None),
        col("step_test_score", SCORE, to="harvard_step_test_score", if_missing=None),
        col("overall_score", MEASURE),
        col("strength_score", MEASURE),
        col("mobility_score", MEASURE),
        col("balance_score", MEASURE),
        col("cardio_score", MEASURE),
        col("created_at", t.required_timestamp),
        col("date", t.start_of_local_day, to="created_at"),
        col("shoulder_mobility_score", SCORE, if_missing=None),
        col("farmer_carry_score", MEASURE, if_missing=None),
        col("farmers_carry_score", MEASURE, to="farmer_carry_score"),
    ),
)

SESSION_PACKAGES = TableSpec(
    table="session_packages",
    model="training.SessionPackage",
    columns=(
        col("id", t.legacy_id),
        ref("client_id", "clients"),
        ref("trainer_id", "trainers"),
        col("total_amount", AMOUNT),
        col("session_price", AMOUNT),
        col("total_sessions", COUNT),
        # Carried verbatim: an older rule rescaled them, so they may even be negative.
        col("remaining_credits", t.won(minimum=-t.MAX_WON)),
        col("remaining_sessions", t.integer(-t.INT32_MAX - 1)),
        col("package_name", NOTES),
        col("notes", NOTES),
        col("created_at", t.required_timestamp),
        col("updated_at", t.required_timestamp),
        col("is_active", t.boolean),
        *fee_columns(with_method=True),
    ),
)

# The app's new and old tables for sessions and for payments hold the same
# columns; they differ in the trainer (optional on the new side, where it was
# added later) and in money types, which the converters read alike.
SESSION_COLUMNS = (
    col("id", t.legacy_id),
    ref("client_id", "clients"),
    ref("package_id", "session_packages"),
    col("session_date", t.plain_date),
    col("session_time", t.time_of_day),
    col("session_duration", t.integer(1)),
    col("session_cost", AMOUNT),
    col("status", t.session_status),
    col("notes", NOTES),
    col("created_at", t.required_timestamp),
    col("completed_at", t.legacy_timestamp),
)
PAYMENT_COLUMNS = (
    col("id", t.legacy_id),
    ref("client_id", "clients"),
    ref("package_id", "session_packages", optional=True),
    col("amount", AMOUNT),
    col("payment_method", t.payment_method),
    col("payment_method", t.verbatim_text, to="payment_method_text"),
    col("payment_date", t.plain_date),
    col("description", NOTES),
    col("created_at", t.required_timestamp),
)
INFERRED_TRAINER = ref(
    "trainer_id",
    "trainers",
    optional=True,
    infer=TRAINER_OF_PACKAGE_OR_CLIENT,
    if_missing=None,
)

SESSIONS = TableSpec(
    table="sessions",
    model="training.Session",
    columns=(*SESSION_COLUMNS, INFERRED_TRAINER),
)

TRAINING_SESSIONS = TableSpec(
    table="training_sessions",
    model="training.Session",
    merge_into="sessions",
    columns=(*SESSION_COLUMNS, ref("trainer_id", "trainers")),
)

PAYMENTS = TableSpec(
    table="payments",
    model="training.Payment",
    columns=(*PAYMENT_COLUMNS, INFERRED_TRAINER, *fee_columns(with_method=False)),
)

PAYMENT_RECORDS = TableSpec(
    table="payment_records",
    model="training.Payment",
    merge_into="payments",
    columns=(
        *PAYMENT_COLUMNS,
        ref("trainer_id", "trainers"),
        *map(by_the_fee_rule, fee_columns(with_method=False)),
    ),
)

FEE_AUDIT_LOG = TableSpec(
    table="fee_audit_log",
    model="training.FeeAuditLog",
    columns=(
        col("id", t.legacy_id),
        ref("package_id", "session_packages", optional=True),
        ref("payment_id", "payments", optional=True),
        col("calculation_type", t.text(50)),
        col("gross_amount", AMOUNT),
        col("vat_amount", AMOUNT),
        col("card_fee_amount", AMOUNT),
        col("net_amount", AMOUNT),
        col("vat_rate", t.required_rate),
        col("card_fee_rate", t.required_rate),
        col("calculation_details", t.json_object),
        ref("created_by", "trainers", to="created_by_id", optional=True),
        col("created_at", t.required_timestamp),
    ),
)

# Dependency order: every table comes after the tables its rows point at. The
# new table of a pair comes before the old one, so that the new table keeps its
# ids and the old table's colliding ids are renumbered after them.
IMPORT_ORDER: tuple[TableSpec, ...] = (
    TRAINERS,
    CLIENTS,
    ASSESSMENTS,
    SESSION_PACKAGES,
    SESSIONS,
    TRAINING_SESSIONS,
    PAYMENTS,
    PAYMENT_RECORDS,
    FEE_AUDIT_LOG,
)

SPECS: dict[str, TableSpec] = {spec.table: spec for spec in IMPORT_ORDER}

# The app switched tables without moving rows. A row present on both sides
# (same client, package, date, and time or amount) is one session or payment.
# A package was sold before the switch or after it, so few packages have rows
# on both sides: matching narrows to those first.
TABLE_PAIRS: tuple[TablePair, ...] = (
    TablePair(
        new="sessions",
        old="training_sessions",
        natural_key=("client_id", "package_id", "session_date", "session_time"),
        content=("session_duration", "session_cost", "status", "notes"),
        narrowed_by="package_id",
    ),
    TablePair(
        new="payments",
        old="payment_records",
        natural_key=("client_id", "package_id", "payment_date", "amount"),
        content=("payment_method", "description"),
        narrowed_by="package_id",
    ),
)

# Only the tables of a pair may have rows renumbered (the old side's ids collide
# with the new side's); every other table keeps its legacy ids.
PAIRS_BY_TABLE: dict[str, TablePair] = {
    table: pair for pair in TABLE_PAIRS for table in (pair.new, pair.old)
}
RENUMBERED_TABLES = frozenset(PAIRS_BY_TABLE)


def target_models() -> list[type]:
    """The target models, each once, in import order."""
    from django.apps import apps

    return list(dict.fromkeys(apps.get_model(spec.model) for spec in IMPORT_ORDER))


def by_target_model(specs: list[TableSpec]) -> list[list[TableSpec]]:
    """The tables in order, those of one target model (a pair's new and old) together:
    the import's unit of one transaction."""
    groups: list[list[TableSpec]] = []
    for spec in specs:
        if groups and groups[-1][0].model == spec.model:
            groups[-1].append(spec)
        else:
            groups.append([spec])
    return groups
