"""Where each legacy table goes: one declaration per table.

A `TableSpec` names the legacy table, the target model, and for each legacy
column the field it fills and the converter that reads it (see transforms).
A column may fill more than one field (a trainer's `name` also gives first and
last name; a payment method is normalised and kept verbatim). `references`
names the legacy table a column's ids point at; `infer` says how to find a
trainer the row does not name; `if_missing` is what an older file, which lacks
the column altogether, gets (see legacy/schema.py's generations).

A field may be declared with several columns, the newest first: the first the
file has fills it (the first generation's `single_leg_balance_right_open`
stands in for the later `single_leg_balance_right_eyes_open`), and with none
the first column's `if_missing` does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from migration.mapping import converters as t
from migration.mapping import first_generation as first
from migration.mapping import prefilters as sql
from migration.mapping.domains import Domain, one_of, returns
from migration.mapping.passwords import legacy_password, stored_password
from migration.mapping.prefilters import vouched


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@dataclass(frozen=True)
class InferTrainer:
    """A missing trainer id is the trainer of the first of these rows that has one."""

    via: tuple[str, ...]  # reference columns, tried in order: "package_id", "client_id"


@dataclass(frozen=True)
class FromTheFile:
    """A value a file without the column gets from its other rows (see reading.py)."""

    what: str
    domain: Domain


# A first-generation trainer's date_joined: the day of their first client or
# assessment, else of the file's first; with neither, the first generation's.
EARLIEST_TRACE = FromTheFile(
    "the start of the day of the trainer's earliest client or assessment",
    Domain("moment"),
)


@dataclass(frozen=True)
class ColumnMap:
    column: str
    field: str
    convert: t.Converter
    references: str | None = None
    infer: InferTrainer | None = None
    if_missing: Any = REQUIRED
    # Columns whose values the converter takes after the column's own (None
    # where the file lacks them): a first-generation password and its salt.
    also: tuple[str, ...] = ()
    # What the converted value becomes when the target row is made, given the
    # legacy id: a legacy digest wrapped in PBKDF2, once.
    stored_as: Callable[[Any, Any], Any] | None = None
    # Written when the target row is created, then kept by the target itself
    # (a trainer's logins re-hash the password and move the lock-out state):
    # re-runs do not overwrite it, and changing it is not an edit of the row.
    set_once: bool = False
    # Never kept in the ledger's copy of the row, only as a digest.
    secret: bool = False


def col(column: str, convert: t.Converter, *, to: str | None = None, **options: Any) -> ColumnMap:
    return ColumnMap(column=column, field=to or column, convert=convert, **options)


def ref(
    column: str, table: str, *, to: str | None = None, optional: bool = False, **options: Any
) -> ColumnMap:
    """A column of legacy ids pointing at `table`; it fills the foreign key's id field."""
    convert = t.optional_legacy_id if optional else t.legacy_id
    return ColumnMap(
        column=column, field=to or column, convert=convert, references=table, **options
    )


@dataclass(frozen=True)
class TableSpec:
    table: str
    model: str  # "app_label.ModelName"
    columns: tuple[ColumnMap, ...]
    # An old table whose rows join the new table's in the same model: the new
    # table keeps its ids, and colliding old ids are renumbered after the highest.
    merge_into: str | None = None

    @property
    def source_columns(self) -> tuple[str, ...]:
        return tuple(
            dict.fromkeys(name for column in self.columns for name in (column.column, *column.also))
        )

    def columns_in_effect(self, present: tuple[str, ...]) -> tuple[ColumnMap, ...]:
        """The column maps a file with these columns is read by: for each field, the
        first declared whose column it has."""
        filled: set[str] = set()
        in_effect = []
        for column in self.columns:
            if column.column in present and column.field not in filled:
                filled.add(column.field)
                in_effect.append(column)
        return tuple(in_effect)

    def if_missing(self, present: tuple[str, ...]) -> dict[str, Any]:
        """Field -> what it gets in a file with none of its columns (REQUIRED: none)."""
        filled = {column.field for column in self.columns_in_effect(present)}
        missing: dict[str, Any] = {}
        for column in self.columns:
            if column.field not in filled:
                missing.setdefault(column.field, column.if_missing)
        return missing

    @property
    def target_fields(self) -> tuple[str, ...]:
        """Every field the import fills, but the primary key."""
        return tuple(dict.fromkeys(c.field for c in self.columns if c.field != "id"))

    @property
    def synced_fields(self) -> tuple[str, ...]:
        """The fields re-runs keep equal to the legacy row, and edits are noticed in."""
        set_once = {c.field for c in self.columns if c.set_once}
        return tuple(name for name in self.target_fields if name not in set_once)

    @property
    def secret_columns(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.secret)

    @property
    def references(self) -> dict[str, str]:
        """Legacy column -> the legacy table its ids point at."""
        return {c.column: c.references for c in self.columns if c.references}

    @property
    def reference_fields(self) -> dict[str, str]:
        """Target field -> the legacy table whose ids it holds (before any renumbering)."""
        return {c.field: c.references for c in self.columns if c.references}


@dataclass(frozen=True)
class TablePair:
    """The app's old and new table for the same thing; a row on both sides is a duplicate."""

    new: str
    old: str
    natural_key: tuple[str, ...]
    content: tuple[str, ...] = field(default=())  # compared when the natural key matches


TRAINER_OF_CLIENT = InferTrainer(via=("client_id",))
TRAINER_OF_PACKAGE_OR_CLIENT = InferTrainer(via=("package_id", "client_id"))
AMOUNT = t.won()
OPTIONAL_AMOUNT = t.won(required=False)
COUNT = t.integer(0)
SCORE = t.integer(0, t.INT16_MAX, required=False)
MEASURE = t.real(0)
HEART_RATE = t.integer(0, t.INT16_MAX, required=False)
NOTES = t.optional_text()


NAME_PART_LENGTH = 150  # Django's first_name and last_name


# A name of at most 150 characters has no longer part.
@returns(Domain("text", max_length=NAME_PART_LENGTH))
@vouched(sql.plain_text(NAME_PART_LENGTH))
def first_name(raw: Any) -> str:
    return _name_part(t.split_name(t.text()(raw))[0])


@returns(Domain("text", max_length=NAME_PART_LENGTH))
@vouched(sql.plain_text(NAME_PART_LENGTH))
def last_name(raw: Any) -> str:
    return _name_part(t.split_name(t.text()(raw))[1])


def _name_part(part: str) -> str:
    if len(part) > NAME_PART_LENGTH:
        raise t.LegacyValueError(
            t.ValueProblem.OUT_OF_RANGE,
            f"a name part of {len(part)} characters, at most {NAME_PART_LENGTH} fit",
        )
    return part


@returns(one_of("text", ("inclusive",), nullable=True))
@vouched(sql.or_nothing(sql.one_of_words("inclusive")))
def fee_method(raw: Any) -> str | None:
    if raw is None or raw == "" or raw == "inclusive":
        return raw or None
    raise t.LegacyValueError(t.ValueProblem.UNKNOWN_CHOICE, f"{raw!r} is not 'inclusive'")


@returns(t.RATE)
@vouched(t.KNOWN_RATE)
def required_rate(raw: Any):
    value = t.rate(raw)
    if value is None:
        raise t.LegacyValueError(t.ValueProblem.MISSING, "empty where a rate is required")
    return value


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
        columns += (col("fee_calculation_method", fee_method, if_missing=None),)
    return columns


# A password is made once, when the account is: logins re-hash it. Its hash is
# kept out of the ledger's copy of the row; a first-generation salt is not secret.
PASSWORD = {"also": ("salt",), "stored_as": stored_password, "set_once": True, "secret": True}
# The first generation's clients were entered on their registration_date.
REGISTERED = first.start_of_local_day

TRAINERS = TableSpec(
    table="trainers",
    model="accounts.User",
    columns=(
        col("id", t.legacy_id),
        col("username", t.text(150)),
        col("password_hash", legacy_password, to="password", **PASSWORD),
        col("password", legacy_password, **PASSWORD),
        col("name", t.text()),
        col("name", first_name, to="first_name"),
        col("name", last_name, to="last_name"),
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
        col("step_test_hr1", first.step_test_duration, to="harvard_step_test_duration"),
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
        col("date", first.start_of_local_day, to="created_at"),
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
    columns=(*PAYMENT_COLUMNS, ref("trainer_id", "trainers")),
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
        col("vat_rate", required_rate),
        col("card_fee_rate", required_rate),
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
TABLE_PAIRS: tuple[TablePair, ...] = (
    TablePair(
        new="sessions",
        old="training_sessions",
        natural_key=("client_id", "package_id", "session_date", "session_time"),
        content=("session_duration", "session_cost", "status", "notes"),
    ),
    TablePair(
        new="payments",
        old="payment_records",
        natural_key=("client_id", "package_id", "payment_date", "amount"),
        content=("payment_method", "description"),
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
