"""Trainers log in to Django with their legacy passwords, and the lock-out carries over.

Every login here goes through `django.contrib.auth.authenticate()` (once through
the test client), so the settings' hashers and backend are what is under test.
"""

import hashlib
from datetime import timedelta

import bcrypt
import pytest
from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth.hashers import is_password_usable
from django.test import Client
from django.utils import timezone

from accounts import backends
from accounts.models import User
from migration.mapping.converters import legacy_password
from migration.mapping.passwords import stored_password

pytestmark = pytest.mark.django_db

PASSWORD = "Spring2024!"
# 1 ASCII byte + 25 Hangul syllables of 3 bytes each = 76 bytes; the 72-byte cut
# falls inside the 24th syllable, '처' (EC B2 98): the legacy bcrypt halved a character.
PASSPHRASE = "a" + "가나다라마바사아자차카타파하거너더러머버서어저처커"
# '척' is EC B2 99: it differs from '처' only in the 73rd byte, past the cut.
SIBLING = PASSPHRASE[:24] + "척" + PASSPHRASE[25:]


def legacy_hash(password: str, *, rounds: int = 4) -> str:
    """What the legacy app stored (it hashed at cost 12; 4 keeps the suite fast)."""
    return bcrypt.hashpw(password.encode()[:72], bcrypt.gensalt(rounds)).decode("ascii")


def migrated_trainer(legacy_password_hash, *, username="kimminjun", **fields) -> User:
    """A trainer as the importer leaves one: the password is the legacy hash, converted."""
    password = stored_password(legacy_password(legacy_password_hash), 1)
    return User.objects.create(username=username, password=password, **fields)


def log_in(password: str, username: str = "kimminjun") -> User | None:
    return authenticate(username=username, password=password)


def stored(user: User) -> User:
    user.refresh_from_db()
    return user


@pytest.fixture
def trainer() -> User:
    return migrated_trainer(legacy_hash(PASSWORD))


@pytest.fixture
def clock(monkeypatch):
    """A clock the test moves by hand; the backend and User.is_locked() both read it."""

    class Clock:
        now = timezone.now()

        def advance(self, delta: timedelta) -> None:
            self.now += delta

    moved_by_hand = Clock()
    # accounts.backends.timezone is django.utils.timezone, so User.is_locked() sees it too.
    monkeypatch.setattr(backends.timezone, "now", lambda: moved_by_hand.now)
    return moved_by_hand


# --- the legacy password --------------------------------------------------


def test_old_password_logs_in(trainer):
    assert log_in(PASSWORD) == trainer


def test_wrong_password_does_not_log_in(trainer):
    assert log_in("Spring2024?") is None
    assert log_in("") is None


def test_hash_at_the_real_apps_cost_logs_in():
    real_hash = legacy_hash(PASSWORD, rounds=12)
    assert real_hash.startswith("$2b$12$")
    trainer = migrated_trainer(real_hash)

    assert log_in("spring2024!") is None
    assert log_in(PASSWORD) == trainer
    assert stored(trainer).password.startswith("pbkdf2_sha256$")


@pytest.mark.parametrize("prefix", ["$2a$", "$2y$"])
def test_older_bcrypt_prefixes_log_in(prefix):
    # legacy_password accepts these prefixes, so they had better be checkable too.
    hashed = prefix + legacy_hash(PASSWORD)[len(prefix) :]
    trainer = migrated_trainer(hashed)

    assert log_in("not-it") is None
    assert log_in(PASSWORD) == trainer


def test_test_client_logs_in_with_the_old_password(trainer):
    client = Client()

    assert client.login(username="kimminjun", password="Spring2024?") is False
    assert client.login(username="kimminjun", password=PASSWORD) is True
    assert client.session[SESSION_KEY] == str(trainer.pk)


# --- passwords longer than bcrypt's 72 bytes ------------------------------


def test_passphrase_longer_than_72_bytes_logs_in():
    assert len(PASSPHRASE.encode()) == 76
    trainer = migrated_trainer(legacy_hash(PASSPHRASE))

    assert log_in(PASSPHRASE) == trainer


def test_password_sharing_the_first_72_bytes_logs_in_as_in_the_legacy_app():
    # The legacy app's bcrypt silently ignored everything after byte 72, so any
    # password with the same first 72 bytes opened the account. The hasher checks
    # exactly what the legacy app checked, until the first login re-hashes.
    migrated_trainer(legacy_hash(PASSPHRASE))
    assert SIBLING != PASSPHRASE
    assert SIBLING.encode()[:72] == PASSPHRASE.encode()[:72]

    assert log_in(SIBLING) is not None


def test_a_difference_within_the_first_72_bytes_still_counts():
    migrated_trainer(legacy_hash(PASSPHRASE))
    # '저' (EC A0 80) -> '적' (EC A0 81) changes the 70th byte, inside the part bcrypt reads.
    within = PASSPHRASE[:23] + "적" + PASSPHRASE[24:]
    assert within.encode()[:72] != PASSPHRASE.encode()[:72]

    assert log_in(within) is None
    assert log_in(PASSPHRASE[:-1]) is not None  # only the tail beyond byte 72 is dropped


def test_after_the_upgrade_the_whole_passphrase_counts():
    # Django's hasher reads every byte: once the trainer has logged in with the
    # passphrase, a password that only shares its first 72 bytes no longer works.
    trainer = migrated_trainer(legacy_hash(PASSPHRASE))

    assert log_in(PASSPHRASE) == trainer
    assert stored(trainer).password.startswith("pbkdf2_sha256$")
    assert log_in(SIBLING) is None
    assert log_in(PASSPHRASE) == trainer


# --- the upgrade to Django's hasher ---------------------------------------


def test_first_login_upgrades_the_hash_to_djangos_default(trainer):
    legacy_password = trainer.password
    assert legacy_password.startswith("legacy_bcrypt$$2b$04$")

    assert log_in(PASSWORD) == trainer

    upgraded = stored(trainer).password
    assert upgraded.startswith("pbkdf2_sha256$")
    assert legacy_password.removeprefix("legacy_bcrypt$") not in upgraded


def test_old_password_still_works_after_the_upgrade(trainer):
    assert log_in(PASSWORD) == trainer
    upgraded = stored(trainer).password

    assert log_in(PASSWORD) == trainer
    assert log_in("Spring2024?") is None
    # A login with Django's own hash has nothing left to upgrade.
    assert stored(trainer).password == upgraded


def test_failed_login_does_not_upgrade_the_hash(trainer):
    legacy_password = trainer.password

    assert log_in("Spring2024?") is None

    assert stored(trainer).password == legacy_password


# --- hashes of no format the app ever wrote --------------------------------

SALT = "f3a9c1"
SALTED_SHA256 = f"{SALT}${hashlib.sha256((SALT + PASSWORD).encode()).hexdigest()}"


@pytest.mark.parametrize(
    "legacy_password_hash",
    [
        SALTED_SHA256,
        hashlib.sha256(PASSWORD.encode()).hexdigest()[:-1],  # a digest cut short
        legacy_hash(PASSWORD)[:-1],  # a bcrypt hash cut short
        "",
        None,
    ],
    ids=["salt-glued-to-sha256", "truncated-sha256", "truncated-bcrypt", "empty", "null"],
)
def test_a_hash_of_no_known_format_becomes_an_unusable_password(legacy_password_hash):
    trainer = migrated_trainer(legacy_password_hash)

    assert not is_password_usable(stored(trainer).password)
    for attempt in (PASSWORD, legacy_password_hash or "", ""):
        assert log_in(attempt) is None
    if legacy_password_hash:
        assert legacy_password_hash not in stored(trainer).password


def test_the_first_generations_sha256_digest_logs_in_and_is_never_stored(fast_wrapping):
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    trainer = stored(migrated_trainer(digest))

    assert digest not in trainer.password
    assert log_in("Spring2024?") is None
    assert log_in(PASSWORD) == trainer
    assert stored(trainer).password.startswith("pbkdf2_sha256$")


def test_salted_sha256_text_appears_nowhere_in_the_password():
    trainer = stored(migrated_trainer(SALTED_SHA256))
    digest = SALTED_SHA256.split("$")[1]

    assert SALT not in trainer.password
    assert digest not in trainer.password
    assert not trainer.has_usable_password()


# --- the lock-out carried over --------------------------------------------


def test_locked_trainer_cannot_log_in_with_the_right_password():
    locked_until = timezone.now() + timedelta(minutes=3)
    trainer = migrated_trainer(
        legacy_hash(PASSWORD), failed_login_attempts=5, locked_until=locked_until
    )

    assert log_in(PASSWORD) is None
    assert log_in("Spring2024?") is None
    assert log_in(PASSWORD) is None

    trainer = stored(trainer)
    assert trainer.failed_login_attempts == 5  # attempts while locked are not counted
    assert trainer.locked_until == locked_until


def test_trainer_logs_in_once_the_lock_has_passed_and_the_count_resets():
    trainer = migrated_trainer(
        legacy_hash(PASSWORD),
        failed_login_attempts=5,
        locked_until=timezone.now() - timedelta(minutes=1),
    )

    assert log_in(PASSWORD) == trainer
    assert stored(trainer).failed_login_attempts == 0


def test_success_resets_a_partial_count():
    trainer = migrated_trainer(legacy_hash(PASSWORD), failed_login_attempts=3)

    assert log_in(PASSWORD) == trainer
    assert stored(trainer).failed_login_attempts == 0


# --- the policy from then on ----------------------------------------------


def test_five_wrong_passwords_lock_the_account_for_five_minutes(trainer, clock):
    for _ in range(4):
        assert log_in("Spring2024?") is None
    assert stored(trainer).failed_login_attempts == 4
    assert stored(trainer).locked_until is None

    assert log_in("Spring2024?") is None

    trainer = stored(trainer)
    assert trainer.failed_login_attempts == 5
    assert trainer.locked_until == clock.now + timedelta(minutes=5)
    assert log_in(PASSWORD) is None  # the 6th attempt, with the right password


def test_lock_lasts_exactly_the_lockout_duration(trainer, clock):
    for _ in range(5):
        log_in("Spring2024?")

    clock.advance(timedelta(minutes=5) - timedelta(seconds=1))
    assert log_in(PASSWORD) is None

    clock.advance(timedelta(seconds=2))
    assert log_in(PASSWORD) == trainer
    assert stored(trainer).failed_login_attempts == 0


def test_a_success_in_between_restarts_the_count(trainer):
    for _ in range(4):
        log_in("Spring2024?")
    assert log_in(PASSWORD) == trainer
    for _ in range(4):
        log_in("Spring2024?")

    trainer = stored(trainer)
    assert trainer.failed_login_attempts == 4
    assert not trainer.is_locked()
    assert log_in(PASSWORD) == trainer


def test_settings_change_the_policy(trainer, clock, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.LOGIN_LOCKOUT_DURATION = timedelta(minutes=1)

    assert log_in("Spring2024?") is None
    assert stored(trainer).locked_until is None
    assert log_in("Spring2024?") is None

    assert stored(trainer).locked_until == clock.now + timedelta(minutes=1)
    assert log_in(PASSWORD) is None

    clock.advance(timedelta(minutes=1, seconds=1))
    assert log_in(PASSWORD) == trainer


def test_migrated_account_with_four_failures_locks_at_the_next_one(clock):
    trainer = migrated_trainer(legacy_hash(PASSWORD), failed_login_attempts=4)

    assert log_in("Spring2024?") is None

    trainer = stored(trainer)
    assert trainer.failed_login_attempts == 5
    assert trainer.locked_until == clock.now + timedelta(minutes=5)
    assert log_in(PASSWORD) is None


def test_migrated_account_with_four_failures_is_not_locked_yet():
    trainer = migrated_trainer(legacy_hash(PASSWORD), failed_login_attempts=4)

    assert log_in(PASSWORD) == trainer
    assert stored(trainer).failed_login_attempts == 0


# --- who cannot log in at all ---------------------------------------------


def test_unknown_username_returns_none(trainer):
    assert log_in(PASSWORD, username="nobody") is None
    assert log_in(PASSWORD, username="KIMMINJUN") is None
    assert not User.objects.filter(username="nobody").exists()


def test_inactive_trainer_cannot_log_in():
    migrated_trainer(legacy_hash(PASSWORD), is_active=False)

    assert log_in(PASSWORD) is None
