"""Pure conversions from legacy values to the values the target stores.

Each converter takes one raw value exactly as SQLite returned it and returns
the target value, or raises `LegacyValueError` saying what is wrong with it.
Precheck runs the very same converters over every value, so a file that
precheck passes is a file the importer can read. Each converter that can is
`@prefiltered_by` an SQLite pre-filter (see prefilters.py): only the values
that fail it reach the converter during precheck. Each declares what it
returns (`@returns`, see domains.py), so that the target's rules can be
checked against it (rules/twins.py): a converter refuses what the column it
fills cannot hold.

One module a kind of value: `textual`, `numeric`, `temporal`, `choices`,
`json_values`, `trainers`; `base` holds what they share. The specs and
their readers take the converters from here.
"""

from migration.mapping.converters.base import Converter, LegacyValueError, ValueProblem
from migration.mapping.converters.choices import (
    GENDERS,
    PAYMENT_METHODS,
    fee_method,
    gender,
    payment_method,
    session_status,
)
from migration.mapping.converters.json_values import json_object
from migration.mapping.converters.numeric import (
    INT16_MAX,
    INT32_MAX,
    KNOWN_RATE,
    MAX_WON,
    RATE,
    boolean,
    integer,
    legacy_id,
    optional_legacy_id,
    rate,
    real,
    required_rate,
    won,
)
from migration.mapping.converters.temporal import (
    legacy_timestamp,
    plain_date,
    required_timestamp,
    start_of_local_day,
    step_test_duration,
    time_of_day,
)
from migration.mapping.converters.textual import (
    is_storable,
    made_storable,
    optional_text,
    text,
    verbatim_text,
)
from migration.mapping.converters.trainers import (
    first_name,
    last_name,
    legacy_password,
    mailbox_key,
    split_name,
    username,
)
from migration.mapping.passwords import is_legacy_bcrypt

__all__ = [
    "GENDERS",
    "INT16_MAX",
    "INT32_MAX",
    "KNOWN_RATE",
    "MAX_WON",
    "PAYMENT_METHODS",
    "RATE",
    "Converter",
    "LegacyValueError",
    "ValueProblem",
    "boolean",
    "fee_method",
    "first_name",
    "username",
    "gender",
    "integer",
    "is_legacy_bcrypt",
    "is_storable",
    "made_storable",
    "json_object",
    "last_name",
    "legacy_id",
    "legacy_password",
    "legacy_timestamp",
    "mailbox_key",
    "optional_legacy_id",
    "optional_text",
    "payment_method",
    "plain_date",
    "rate",
    "real",
    "required_rate",
    "required_timestamp",
    "session_status",
    "split_name",
    "start_of_local_day",
    "step_test_duration",
    "text",
    "time_of_day",
    "verbatim_text",
    "won",
]
