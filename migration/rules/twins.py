"""Every rule the target holds its rows to, and its twin in precheck.

A file precheck passes imports and verifies (the README's promise). So each
rule the target enforces, in the database or in the model, has a twin that
precheck runs first on the legacy file, and `untwinned_rules()` lists every
rule without one (self_checks.py fails `manage.py check` on any):

- a field's own rules (its type, NOT NULL, max_length, choices, the range of
  an integer or a decimal) and a check constraint's condition are twinned by
  the converters: each declares what it can return (its domain, see
  domains.py), precheck runs every value through it, and the rule is checked
  here against the domain of every converter that fills the field (or the
  value a file without the column gets);
- a foreign key's twin is precheck's reference check (`reference.dangling`):
  the column must be declared a reference to the legacy table of the related
  model. A NOT NULL trainer a spec infers is twinned by
  `reference.uninferable-trainer`;
- a primary key's twin is `value.duplicate-id` (every legacy table keeps its
  ids, or, for an old table renumbered after the highest, `pairs.no-room-for-ids`);
- every other unique field or constraint is a `UniqueRule` below, which
  precheck runs: it groups the legacy rows, converted as the import converts
  them, by the value as the target compares it;
- a rule no domain proves is named in NAMED_TWINS, with the finding that twins it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Q

from migration.mapping.converters import mailbox_key
from migration.mapping.domains import Domain, domain_of
from migration.mapping.specs import (
    IMPORT_ORDER,
    REQUIRED,
    SPECS,
    ColumnMap,
    FromTheFile,
    TableSpec,
)


def as_it_is(value: Any) -> Hashable:
    return value


@dataclass(frozen=True)
class UniqueRule:
    """No two target rows share `field`'s value as the target compares it (`key`; a
    key of None is exempt from the rule, as the constraint's condition exempts it)."""

    code: str  # the blocking finding precheck gives (findings.CATALOGUE)
    model: str  # "app_label.ModelName"
    field: str
    key: Callable[[Any], Hashable | None] = as_it_is
    # The UniqueConstraint this is the twin of; None: the field's own unique=True.
    constraint: str | None = None


UNIQUE_RULES: tuple[UniqueRule, ...] = (
    UniqueRule("trainers.duplicate-username", "accounts.User", "username"),
    UniqueRule(
        "trainers.duplicate-email",
        "accounts.User",
        "email",
        key=mailbox_key,  # at least as strict as the constraint's lower(): see mailbox_key
        constraint="accounts_user_email_unique_ci",
    ),
)

# Rules no converter's domain proves, by name: the precheck finding that twins each.
NAMED_TWINS: dict[str, str] = {
    # One entry per legacy table and id: the ids each legacy table keeps.
    "migration_ledger_one_entry_per_row": "value.duplicate-id",
}

# The ledger is written with every legacy row's table and id: its constraints
# are the file's to keep too (its other fields are the import's own).
LEDGER_MODEL = "migration.LedgerEntry"

HOW_TO_TWIN = (
    "give the converter the same rule (migration/mapping/converters/, declared with "
    "@returns), or add the precheck check that enforces it to migration/rules/twins.py"
)


# --- what the target's fields take ----------------------------------------


def _kind_of(field: models.Field) -> str | None:
    """The kind of value (domains.KINDS) a field holds."""
    if isinstance(field, models.ForeignKey):
        return _kind_of(field.target_field)
    kinds: tuple[tuple[type[models.Field], str], ...] = (
        (models.BooleanField, "boolean"),
        (models.DateTimeField, "moment"),  # before DateField, which it derives from
        (models.DateField, "date"),
        (models.TimeField, "time"),
        (models.DecimalField, "decimal"),
        (models.FloatField, "float"),
        (models.JSONField, "json"),
        (models.CharField, "text"),
        (models.TextField, "text"),
        (models.IntegerField, "integer"),
        (models.AutoField, "integer"),
        (models.BigAutoField, "integer"),
        (models.SmallAutoField, "integer"),
    )
    return next((kind for base, kind in kinds if isinstance(field, base)), None)


def integer_range(field: models.Field) -> tuple[int, int]:
    """The values an integer column holds (a foreign key's are its target's)."""
    if isinstance(field, models.ForeignKey):
        return integer_range(field.target_field)
    return BaseDatabaseOperations.integer_field_ranges[field.get_internal_type()]


def _field_rules(field: models.Field, domain: Domain) -> Iterator[str]:
    """What about `domain` breaks one of `field`'s own rules, each said as a problem."""
    kind = _kind_of(field)
    if kind is None:
        yield f"holds {field.get_internal_type()}, which no converter kind is known to fit"
        return
    if domain.kind != kind:
        yield f"holds {kind} values, but its converter makes {domain.kind} values"
        return
    if domain.nullable and not field.null:
        yield "is NOT NULL, but its converter may give None"
    if domain.choices == frozenset():
        return  # None alone: no value for the other rules to judge
    longest = getattr(field, "max_length", None) if kind == "text" else None
    if longest is not None and (domain.max_length is None or domain.max_length > longest):
        taken = "any length" if domain.max_length is None else domain.max_length
        yield f"holds at most {longest} characters, but its converter takes {taken}"
    if field.choices:
        allowed = {value for value, _ in field.flatchoices}
        if domain.choices is None or not domain.choices <= allowed:
            extra = "any value" if domain.choices is None else sorted(domain.choices - allowed)
            yield f"takes only {sorted(allowed)}, but its converter may give {extra}"
    bounds = _bounds(domain)
    taken = "any size" if bounds is None else f"{bounds[0]}..{bounds[1]}"
    if kind == "integer":
        low, high = integer_range(field)
        if bounds is None or not (low <= bounds[0] and bounds[1] <= high):
            yield f"holds integers {low}..{high}, but its converter takes {taken}"
    if kind == "decimal":
        limit = 10 ** (field.max_digits - field.decimal_places)  # no value reaches it
        if bounds is None or not (-limit < bounds[0] and bounds[1] < limit):
            yield f"holds decimals of less than {limit} in size, but its converter takes {taken}"
        if domain.decimal_places is None or domain.decimal_places > field.decimal_places:
            yield (
                f"keeps {field.decimal_places} decimal places (PostgreSQL rounds the rest), "
                f"but its converter gives {domain.decimal_places or 'any number of'}"
            )


def _bounds(domain: Domain) -> tuple[Any, Any] | None:
    """The smallest and the largest value the domain has, if it has both."""
    if domain.choices:
        return min(domain.choices), max(domain.choices)
    if domain.choices is None and None not in (domain.minimum, domain.maximum):
        return domain.minimum, domain.maximum
    return None


# --- how a spec fills each field ------------------------------------------


@dataclass(frozen=True)
class Feed:
    """One way a table's rows give a field its value: a converter, or a constant (the
    value of a file without the column, or the field's default)."""

    spec: TableSpec
    column: ColumnMap | None
    domain: Domain | None  # None: the converter declares none
    what: str  # for messages: "trainers.email", "trainers without last_login"


def _constant(field: models.Field, value: Any) -> Domain:
    if isinstance(value, FromTheFile):
        return value.domain
    kind = _kind_of(field) or "text"
    if value is None:
        return Domain(kind, nullable=True, choices=frozenset())
    return Domain(kind, choices=frozenset({value}), max_length=_length(value))


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, str) else None


def _feeds(model: type[models.Model], field: models.Field) -> Iterator[Feed]:
    label = model._meta.label
    for spec in IMPORT_ORDER:
        if spec.model != label:
            continue
        columns = [c for c in spec.columns if c.field in (field.name, field.attname)]
        for column in columns:
            yield Feed(spec, column, domain_of(column.convert), f"{spec.table}.{column.column}")
            if column.if_missing is not REQUIRED:
                what = f"{spec.table} without {column.column}"
                yield Feed(spec, column, _constant(field, column.if_missing), what)
        if not columns and not field.primary_key:
            yield Feed(spec, None, _default(field), f"{spec.table} (no column: the default)")


def _default(field: models.Field) -> Domain | None:
    if not field.has_default():
        return _constant(field, None)  # what bulk_create and COPY give it: NULL
    if callable(field.default):
        return Domain(_kind_of(field) or "text")  # a value made by the model: its own kind
    return _constant(field, field.default)


# --- the rules, walked ----------------------------------------------------


def untwinned_rules() -> list[str]:
    """Every target rule without a precheck twin, each said as what to add."""
    from django.apps import apps

    from migration.mapping.specs import target_models

    problems: list[str] = list(_stale_twins())
    for model in target_models():
        problems += _untwinned_field_rules(model)
        problems += _untwinned_constraints(model)
    problems += _untwinned_constraints(apps.get_model(LEDGER_MODEL))
    return problems


def _stale_twins() -> Iterator[str]:
    """Twins that name a finding precheck cannot give, or a constraint no model has."""
    from django.apps import apps

    from migration.findings import CATALOGUE

    for name, code in NAMED_TWINS.items():
        if code not in CATALOGUE:
            yield f"the twin of {name!r} is {code!r}, which is not in findings.CATALOGUE"
    for rule in UNIQUE_RULES:
        if rule.code not in CATALOGUE:
            yield (
                f"the UniqueRule of {rule.model}.{rule.field} gives {rule.code!r}, "
                "which is not in findings.CATALOGUE"
            )
        names = {c.name for c in apps.get_model(rule.model)._meta.constraints}
        if rule.constraint is not None and rule.constraint not in names:
            yield (
                f"the UniqueRule of {rule.model}.{rule.field} twins {rule.constraint!r}, "
                "which the model no longer has: remove or rename it in migration/rules/twins.py"
            )


def _untwinned_field_rules(model: type[models.Model]) -> Iterator[str]:
    label = model._meta.label
    unique_fields = {r.field for r in UNIQUE_RULES if r.model == label and not r.constraint}
    for field in model._meta.concrete_fields:
        where = f"{label}.{field.name}"
        if field.unique and not field.primary_key and field.name not in unique_fields:
            yield (
                f"{where} is unique, and precheck has no twin for it: add a UniqueRule for it "
                "to migration/rules/twins.py (and its finding to findings.CATALOGUE)"
            )
        for feed in _feeds(model, field):
            if feed.domain is None:
                yield (
                    f"{where}: the converter of {feed.what} declares no domain: declare "
                    "what it returns with @returns (migration/domains.py)"
                )
                continue
            inferred = feed.column is not None and feed.column.infer is not None
            for problem in _field_rules(field, feed.domain):
                if inferred and problem.startswith("is NOT NULL"):
                    continue  # reference.uninferable-trainer twins it
                yield f"{where} {problem} ({feed.what}): {HOW_TO_TWIN}"
            if isinstance(field, models.ForeignKey) and feed.column is not None:
                yield from _reference_twin(where, field, feed)


def _reference_twin(where: str, field: models.ForeignKey, feed: Feed) -> Iterator[str]:
    related = field.related_model._meta.label
    table = feed.column.references
    if table is None or table not in SPECS or SPECS[table].model != related:
        yield (
            f"{where} is a foreign key to {related}, but {feed.what} is not declared a "
            f"reference to the legacy table of {related}: declare it with specs.ref(), so "
            "that precheck's reference.dangling finds the rows it would refuse"
        )


def _untwinned_constraints(model: type[models.Model]) -> Iterator[str]:
    label = model._meta.label
    twinned = {rule.constraint: rule for rule in UNIQUE_RULES if rule.model == label}
    for together in model._meta.unique_together:
        name = f"unique_together {tuple(together)}"
        if name not in NAMED_TWINS:
            yield (
                f"{label}: {name} has no precheck twin: "
                "name it in migration/rules/twins.py NAMED_TWINS"
            )
    for constraint in model._meta.constraints:
        name = constraint.name
        if name in NAMED_TWINS:
            continue
        if isinstance(constraint, models.UniqueConstraint) and name in twinned:
            yield from _unique_twin_matches(label, constraint, twinned[name])
            continue
        if isinstance(constraint, models.CheckConstraint):
            refused = _refused_by_check(model, constraint)
            if not refused:
                continue
            yield (
                f"{label}: check constraint {name!r} may refuse what precheck lets through "
                f"({'; '.join(refused)}): {HOW_TO_TWIN} (NAMED_TWINS)"
            )
            continue
        yield (
            f"{label}: constraint {name!r} ({type(constraint).__name__}) has no precheck twin: "
            "add a UniqueRule for it (a unique constraint) or name the finding that twins it "
            "in migration/rules/twins.py NAMED_TWINS"
        )


def _unique_twin_matches(
    label: str, constraint: models.UniqueConstraint, rule: UniqueRule
) -> Iterator[str]:
    named = set(constraint.fields)
    for expression in constraint.expressions:
        named |= _field_names(expression)
    if named != {rule.field}:
        yield (
            f"{label}: constraint {constraint.name!r} is over {sorted(named)}, but its "
            f"UniqueRule in migration/rules/twins.py groups by {rule.field!r}: make them the same"
        )


def _field_names(expression: Any) -> set[str]:
    if isinstance(expression, models.F):
        return {expression.name}
    names: set[str] = set()
    for inner in getattr(expression, "get_source_expressions", list)():
        names |= _field_names(inner)
    return names


# --- check constraints, proved from the domains ---------------------------

# SQL's three truth values: a CHECK refuses a row only where its condition is false.
TRUE, FALSE, UNKNOWN = "true", "false", "unknown"


class Unprovable(Exception):
    """A condition this walk cannot judge from domains (an F(), a lookup it does not know)."""


def _refused_by_check(model: type[models.Model], constraint: models.CheckConstraint) -> list[str]:
    """Which tables' converters may give a row the constraint refuses; [] if none may."""
    condition = constraint.condition
    try:
        names = sorted(_condition_fields(condition))
        fields = {name: model._meta.get_field(name) for name in names}
    except (Unprovable, LookupError) as error:
        return [f"its condition cannot be judged from the converters ({error})"]
    refused = []
    label = model._meta.label
    for spec in (spec for spec in IMPORT_ORDER if spec.model == label):
        alternatives = [
            [feed for feed in _feeds(model, fields[name]) if feed.spec is spec] for name in names
        ]
        for feeds in product(*alternatives):
            if any(feed.domain is None for feed in feeds):
                continue  # said for the field itself
            values = {name: feed.domain for name, feed in zip(names, feeds, strict=True)}
            try:
                possible = _possible_truths(condition, values)
            except Unprovable as error:
                refused.append(f"{spec.table}: {error}")
                break
            if FALSE in possible:
                refused.append(", ".join(feed.what for feed in feeds))
    return refused


def _lookup(key: str) -> tuple[str, str]:
    name, _, lookup = key.partition("__")
    return name, lookup or "exact"


def _condition_fields(condition: Q) -> set[str]:
    names = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _condition_fields(child)
        elif isinstance(child, tuple) and len(child) == 2:
            names.add(_lookup(child[0])[0])
        else:
            raise Unprovable(f"{child!r}")
    return names


def _possible_truths(condition: Q, domains: dict[str, Domain]) -> set[str]:
    """The truth values `condition` may take on a row whose fields come from `domains`:
    each domain's values and, if it may give None, NULL."""
    names = sorted(domains)
    possible: set[str] = set()
    for parts in product(*(_parts(domains[name]) for name in names)):
        possible |= _truths(condition, dict(zip(names, parts, strict=True)))
    return possible


def _parts(domain: Domain) -> list[Domain | None]:
    """A domain as its values without None, and None itself (each, if it has any)."""
    parts: list[Domain | None] = [None] if domain.nullable else []
    if domain.choices != frozenset():
        parts.append(domain)
    return parts


def _truths(condition: Q, row: dict[str, Domain | None]) -> set[str]:
    results = None
    for child in condition.children:
        if isinstance(child, Q):
            truths = _truths(child, row)
        else:
            name, lookup = _lookup(child[0])
            truths = _leaf(row[name], lookup, child[1])
        results = truths if results is None else _combine(condition.connector, results, truths)
    results = results or {TRUE}
    if condition.negated:
        results = {_NOT[truth] for truth in results}
    return results


_NOT = {TRUE: FALSE, FALSE: TRUE, UNKNOWN: UNKNOWN}


def _combine(connector: str, left: set[str], right: set[str]) -> set[str]:
    def one(a: str, b: str) -> str:
        if connector == Q.AND:
            return FALSE if FALSE in (a, b) else UNKNOWN if UNKNOWN in (a, b) else TRUE
        return TRUE if TRUE in (a, b) else UNKNOWN if UNKNOWN in (a, b) else FALSE

    if connector not in (Q.AND, Q.OR):
        raise Unprovable(f"connector {connector}")
    return {one(a, b) for a in left for b in right}


def _leaf(part: Domain | None, lookup: str, value: Any) -> set[str]:
    if lookup == "isnull":
        return {TRUE if (part is None) == bool(value) else FALSE}
    if part is None:
        return {UNKNOWN}  # NULL compared with anything
    if isinstance(value, models.expressions.Combinable | Q):
        raise Unprovable(f"a condition on {value!r}")
    tests: dict[str, Callable[[Any], bool]] = {
        "exact": lambda v: v == value,
        "in": lambda v: v in value,
        "gt": lambda v: v > value,
        "gte": lambda v: v >= value,
        "lt": lambda v: v < value,
        "lte": lambda v: v <= value,
    }
    if lookup not in tests:
        raise Unprovable(f"the lookup {lookup!r}")
    test = tests[lookup]
    if part.choices is not None:
        return {TRUE if test(v) else FALSE for v in part.choices}
    if lookup in ("gt", "gte", "lt", "lte"):
        return _over_range(part, lookup, test)
    return {TRUE, FALSE}  # a value among unbounded many: either


def _over_range(part: Domain, lookup: str, test: Callable[[Any], bool]) -> set[str]:
    """A comparison with one value, over the range minimum..maximum.

    `x >= c` holds throughout if it holds at the smallest value, and fails
    throughout if it fails at the largest; `x <= c` the other way round. An
    end without a bound decides nothing.
    """
    rising = lookup in ("gt", "gte")  # once true, true for every larger value
    first, last = (part.minimum, part.maximum) if rising else (part.maximum, part.minimum)
    if first is not None and test(first):
        return {TRUE}
    if last is not None and not test(last):
        return {FALSE}
    return {TRUE, FALSE}
