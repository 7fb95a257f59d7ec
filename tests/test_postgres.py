"""The PostgreSQL helper: the import and verify read a sequence's position one way."""

from pathlib import Path

import pytest
from django.db import connection

from migration.mapping.specs import target_models
from migration.postgres import advance_sequences, sequence_positions
from migration.verify.target_checks import sequences
from tests.conftest import run_command
from tests.legacy_files import write_importable_sample
from tests.test_import import sequence_position, set_sequence

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("legacy_db"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's sequences"),
]


@pytest.fixture
def imported(tmp_path: Path) -> None:
    path = write_importable_sample(tmp_path / "legacy.db")
    code, output = run_command("import_legacy", "--source", str(path))
    assert code == 0, output


def highest_id(model) -> int:
    return max(model.objects.values_list("pk", flat=True), default=0)


# Where a sequence may stand beside its table's highest id h: (last_value, is_called),
# and whether its next id is then taken (for a table holding rows).
STATES = {
    "fresh": (lambda h: (1, False), True),
    "behind": (lambda h: (max(h - 1, 1), True), True),
    "h next, never called": (lambda h: (max(h, 1), False), True),
    "at h": (lambda h: (max(h, 1), True), False),
    "ahead, never called": (lambda h: (h + 5, False), False),
    "ahead": (lambda h: (h + 5, True), False),
}


@pytest.mark.parametrize("state", STATES)
def test_verify_calls_behind_what_the_import_moves_on_and_nothing_after(imported, state):
    models = target_models()
    position_of, taken = STATES[state]
    for model in models:
        set_sequence(model, *position_of(highest_id(model)))
    before = {model._meta.label: sequence_position(model) for model in models}
    positions = sequence_positions("default", models)
    assert set(positions) == set(before)  # every model the import moves on, verify reads
    for model in models:
        label = model._meta.label
        last_value, is_called = before[label]
        # As PostgreSQL's nextval would hand out the next id: the one position, read right.
        assert positions[label].next_id == last_value + is_called, label
        assert positions[label].highest_id == highest_id(model), label
    behind = {label for label, position in positions.items() if position.is_behind}
    holding_rows = {model._meta.label for model in models if highest_id(model)}
    assert behind == (holding_rows if taken else set())
    assert {item.summary.split(":")[0] for item in sequences("default").findings} == behind

    advanced = advance_sequences("default", models)

    after = sequence_positions("default", models)
    assert advanced == {label: position.last_id for label, position in after.items()}
    assert not [label for label, position in after.items() if position.is_behind]
    assert sequences("default").findings == ()
    for label, position in after.items():
        # Moved on where behind, never back anywhere.
        assert position.next_id >= positions[label].next_id, label
        if label in behind:
            assert position.next_id == position.highest_id + 1, label


@pytest.mark.parametrize(("last_id", "full"), [(2**63 - 2, False), (2**63 - 1, True)])
def test_verify_names_a_sequence_that_has_handed_out_its_last_id(imported, last_id, full):
    from sessions.models import Session

    before = sequence_position(Session)
    set_sequence(Session, last_id)
    try:
        position = sequence_positions("default", [Session])["training.Session"]
        findings = sequences("default").findings
    finally:  # sequences outlive a test's rows: the next test's import would find it full
        set_sequence(Session, *before)
    assert (position.max_id, position.is_full) == (2**63 - 1, full)
    assert [item.code for item in findings] == (["verify.sequence-full"] if full else [])
    if full:
        assert findings[0].summary.startswith(
            "training.Session: the sequence has handed out its last id, 9,223,372,036,854,775,807"
        )
