"""The converter of JSON text: only values that come back unchanged wherever they go."""

from __future__ import annotations

import json
from typing import Any

from migration.mapping import prefilters
from migration.mapping.converters.base import LegacyValueError, ValueProblem, wrong_type
from migration.mapping.converters.textual import is_storable, storable_text
from migration.mapping.domains import Domain, returns
from migration.mapping.prefilters import prefiltered_by

# A JSON value passes through PostgreSQL's JSON parser, which takes no NaN or
# Infinity and no string holding NUL or half a surrogate pair; through Python's
# json, both ways (the import writes it, verify_import reads it back); and
# through orjson, which fingerprints it and takes 64-bit integers only, and
# 254 levels of nesting with the row around it. And PostgreSQL keeps a JSON
# number as numeric, which gives a float written with an exponent back as an
# integer: 1e+23 comes back as 100000000000000000000000, not as the float.
# json_object takes only what comes through all of them unchanged.
MAX_JSON_DEPTH = 200
JSON_INTEGERS = (-(2**63), 2**64 - 1)
JSON_FLOAT_LIMIT = 1e16  # from here on, repr() writes a float with an exponent


def _json_constant(name: str) -> Any:
    raise LegacyValueError(ValueProblem.UNREADABLE, f"not valid JSON ({name} is not a number)")


def _json_integer(digits: str) -> int:
    low, high = JSON_INTEGERS
    # Told by its length first: int() refuses more than 4,300 digits itself.
    if len(digits) > len(str(low)) or not low <= (value := int(digits)) <= high:
        shown = digits if len(digits) <= 30 else f"an integer of {len(digits)} digits"
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE, f"JSON holds {shown}, beyond the 64 bits the import takes"
        )
    return value


def _json_float(digits: str) -> float:
    value = float(digits)
    if not abs(value) < JSON_FLOAT_LIMIT:
        shown = digits if len(digits) <= 30 else f"a number of {len(digits)} characters"
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE,
            f"JSON holds {shown}, which the target would not give back as the same number",
        )
    return value


def _check_json_value(value: Any) -> None:
    """Every string in `value` storable, and no container nested past MAX_JSON_DEPTH
    (walked without recursion: a value may be deeper than Python's stack)."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if not is_storable(item):
                raise LegacyValueError(
                    ValueProblem.OUT_OF_RANGE,
                    "JSON holds a string with NUL or half a surrogate pair, which "
                    "PostgreSQL's JSON cannot hold",
                )
        elif isinstance(item, dict | list):
            if depth == MAX_JSON_DEPTH:
                raise _too_deep()
            items = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((inner, depth + 1) for inner in items)


def _too_deep() -> LegacyValueError:
    return LegacyValueError(
        ValueProblem.OUT_OF_RANGE, f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
    )


@returns(Domain("json", nullable=True))
@prefiltered_by(prefilters.nothing)  # SQLite's JSON is not Python's: only Python judges JSON text
def json_object(raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise wrong_type(raw, "JSON text")
    try:
        value = json.loads(
            storable_text(raw),
            parse_constant=_json_constant,
            parse_int=_json_integer,
            parse_float=_json_float,
        )
    except json.JSONDecodeError as error:
        raise LegacyValueError(ValueProblem.UNREADABLE, f"not valid JSON ({error.msg})") from None
    except RecursionError:
        raise _too_deep() from None  # deeper than Python's stack, so deeper than the limit
    _check_json_value(value)
    return value
