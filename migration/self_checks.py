"""The migration's checks on itself, run by Django's system checks.

Every table and column of the legacy schema, the newest and the first
generation's, must be mapped by a spec, and every mapped field must exist on
its model: a column added to schema.sql without a home, or a renamed model
field, fails `manage.py check` (and so every command) loudly instead of
losing data quietly. And every rule a target model enforces must have its
twin in precheck (twins.py): a constraint added to a model without one fails
the same way, instead of a file precheck passed failing the import. And every
validator and model-level clean() must be one the app's validation rule knows
(rules/app_validation.py), instead of imported rows the app cannot save.
And every check of precheck has a name of its own, which a record of passed
checks knows it by; and LEGACY_TIME_ZONE is a zone the machine knows.
"""

from django.apps import apps
from django.core import checks

from migration.legacy.schema import known_columns, newest_schema
from migration.mapping.specs import IMPORT_ORDER, SPECS


def _field_names(model) -> set[str]:
    names = set()
    for field in model._meta.concrete_fields:
        names.update({field.name, field.attname})
    return names


@checks.register()
def specs_cover_legacy_schema(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    schema = newest_schema()
    for table in schema.keys() - SPECS.keys():
        errors.append(checks.Error(f"legacy table {table!r} has no spec", id="migration.E001"))
    for table in SPECS.keys() - schema.keys():
        errors.append(
            checks.Error(f"spec for {table!r}: no such legacy table", id="migration.E002")
        )
    for spec in IMPORT_ORDER:
        known = known_columns(spec.table)
        unmapped = known - set(spec.source_columns)
        if unmapped:
            errors.append(
                checks.Error(
                    f"legacy {spec.table}: columns without a home: {', '.join(sorted(unmapped))}",
                    id="migration.E003",
                )
            )
        for column in spec.source_columns:
            if column not in known:
                errors.append(
                    checks.Error(
                        f"spec for {spec.table}: no legacy column {column!r}", id="migration.E004"
                    )
                )
        try:
            model = apps.get_model(spec.model)
        except LookupError:
            errors.append(checks.Error(f"{spec.table}: no model {spec.model}", id="migration.E005"))
            continue
        fields = _field_names(model)
        for column in spec.columns:
            if column.field not in fields:
                errors.append(
                    checks.Error(
                        f"{spec.table}.{column.column}: {spec.model} has no field {column.field!r}",
                        id="migration.E006",
                    )
                )
        for reference, table in spec.references.items():
            if table not in SPECS:
                errors.append(
                    checks.Error(
                        f"{spec.table}.{reference} points at unmapped table {table!r}",
                        id="migration.E007",
                    )
                )
    return errors


@checks.register()
def target_rules_have_precheck_twins(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every rule the target holds its rows to is enforced by precheck first (twins.py):
    a rule added to a model without one fails here, saying what to add."""
    from migration.rules.twins import untwinned_rules

    return [checks.Error(problem, id="migration.E010") for problem in untwinned_rules()]


@checks.register()
def app_validation_rule_knows_the_models(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every validator and model-level clean() of a target model is one the app's
    validation rule knows (rules/app_validation.py), so that precheck blocks and
    verify_import names the rows the app would refuse."""
    from migration.rules.app_validation import unknown_rules

    return [checks.Error(problem, id="migration.E011") for problem in unknown_rules()]


@checks.register()
def precheck_jobs_have_names_of_their_own(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Each check of precheck has a name no other has (SQLite's integrity check's
    included): a record of passed checks knows a check by its name alone, so two of one
    name would let a record vouch for a check that never ran (precheck/passed.py)."""
    from migration.precheck.run import INTEGRITY, names_of_checks

    names = [INTEGRITY, *names_of_checks()]
    return [
        checks.Error(f"two checks of precheck are named {name}: rename one", id="migration.E012")
        for name in sorted({name for name in names if names.count(name) > 1})
    ]


@checks.register()
def legacy_time_zone_is_known(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """LEGACY_TIME_ZONE names a zone this machine has rules for: the converters read every
    local timestamp in it, so an unknown one would pass precheck's checks (which
    read timestamps in SQLite) and fail the import at its first."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from django.conf import settings

    try:
        ZoneInfo(settings.LEGACY_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return [
            checks.Error(
                f"LEGACY_TIME_ZONE {settings.LEGACY_TIME_ZONE!r} is no time zone this machine "
                "knows: set it to the studio's zone, such as 'Asia/Seoul'",
                id="migration.E013",
            )
        ]
    return []
