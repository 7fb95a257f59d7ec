"""Legacy hashes of every generation: what the target stores, and how verify knows it."""

import pytest
from django.contrib.auth.hashers import (
    PBKDF2PasswordHasher,
    check_password,
    is_password_usable,
    make_password,
)

from accounts.hashers import WrappedSHA256PasswordHasher, hmac_sha256_hex, sha256_hex
from migration.mapping.converters import legacy_password
from migration.mapping.passwords import (
    LegacyDigest,
    PasswordFormat,
    password_format,
    password_problem,
    stored_password,
)
from tests.legacy_files import bcrypt_hash

PASSWORD = "first-gen-2025!"
SALT = "00112233445566778899aabbccddeeff"
SHA256 = sha256_hex(PASSWORD)
HMAC = hmac_sha256_hex(PASSWORD, SALT)
BCRYPT = bcrypt_hash(PASSWORD)


# Each case named, not identified by its values: a bcrypt hash is salted afresh
# each run, and every process collecting the suite must see the same tests.
@pytest.mark.parametrize(
    ("password_hash", "salt", "expected"),
    [
        pytest.param(BCRYPT, None, PasswordFormat.BCRYPT, id="bcrypt"),
        pytest.param(BCRYPT, SALT, PasswordFormat.BCRYPT, id="bcrypt-beside-a-salt"),
        pytest.param(SHA256, None, PasswordFormat.SHA256, id="sha256"),
        pytest.param(SHA256, "", PasswordFormat.SHA256, id="sha256-empty-salt"),
        pytest.param(HMAC, SALT, PasswordFormat.HMAC_SHA256, id="hmac-sha256"),
        # a salt the app never made
        pytest.param(HMAC, "0011", PasswordFormat.UNKNOWN, id="hmac-sha256-short-salt"),
        # hexdigest() is lower case
        pytest.param(SHA256.upper(), None, PasswordFormat.UNKNOWN, id="sha256-upper-case"),
        pytest.param(SHA256[:-1], None, PasswordFormat.UNKNOWN, id="sha256-short"),
        pytest.param(f"f3a9c1${SHA256}", None, PasswordFormat.UNKNOWN, id="sha256-prefixed"),
        pytest.param("", None, PasswordFormat.UNKNOWN, id="empty"),
        pytest.param(None, None, PasswordFormat.UNKNOWN, id="null"),
        pytest.param(12345, None, PasswordFormat.UNKNOWN, id="integer"),
    ],
)
def test_a_hash_is_known_by_its_shape(password_hash, salt, expected):
    assert password_format(password_hash, salt) is expected


def test_reading_gives_a_digest_that_refuses_to_be_stored_as_text():
    value = legacy_password(SHA256)

    assert isinstance(value, LegacyDigest)
    with pytest.raises(TypeError):
        str(value)
    assert SHA256 not in repr(value)


def test_bcrypt_is_carried_and_an_unknown_hash_is_unusable():
    assert legacy_password(BCRYPT) == f"legacy_bcrypt${BCRYPT}"
    assert not is_password_usable(stored_password(legacy_password("not a hash"), 1))


def test_the_wrapping_runs_at_djangos_own_iterations():
    assert WrappedSHA256PasswordHasher.iterations == PBKDF2PasswordHasher.iterations


@pytest.mark.parametrize(("password_hash", "salt"), [(SHA256, None), (HMAC, SALT)])
def test_the_stored_password_wraps_the_digest_and_checks_the_password(
    fast_wrapping, password_hash, salt
):
    stored = stored_password(legacy_password(password_hash, salt), 7)

    assert password_hash not in stored
    assert check_password(PASSWORD, stored)
    assert not check_password(password_hash, stored)
    assert password_problem(stored, password_hash, salt, 7) is None


def test_the_wrapping_salt_differs_between_trainers_of_one_password(fast_wrapping):
    first, second = (stored_password(legacy_password(SHA256), n) for n in (1, 2))
    assert first != second


@pytest.mark.parametrize(("password_hash", "salt"), [(SHA256, None), (HMAC, SALT)])
def test_verify_tells_a_wrapping_of_another_digest(fast_wrapping, password_hash, salt):
    stored = stored_password(legacy_password(password_hash, salt), 7)
    other = sha256_hex("another") if salt is None else hmac_sha256_hex("another", SALT)

    assert password_problem(stored, other, salt, 7) == (
        f"a {password_format(password_hash, salt)} digest, wrapped for another digest"
    )
    assert password_problem(stored, password_hash, salt, 8) is not None  # another trainer's


def test_verify_takes_a_password_set_in_the_target_since(fast_wrapping):
    re_hashed = PBKDF2PasswordHasher().encode(PASSWORD, "somesalt", 1000)
    assert password_problem(re_hashed, SHA256, None, 7) is None
    assert password_problem(re_hashed, "unknown", None, 7) is None


def test_verify_tells_a_hash_not_carried():
    carried = legacy_password(BCRYPT)
    assert password_problem(carried, BCRYPT, None, 1) is None
    assert password_problem(carried, bcrypt_hash("other"), None, 1) is not None
    unusable = stored_password(legacy_password("x"), 1)
    assert password_problem(unusable, "x", None, 1) is None
    assert password_problem(unusable, BCRYPT, None, 1) == "a bcrypt hash, not carried exactly"
    # Unusable, but not the import's: set in the app since, the target's own.
    assert password_problem(make_password(None), BCRYPT, None, 1) is None
    assert password_problem(carried, "x", None, 1) == "no usable hash, yet a usable password"
    assert password_problem(carried, SHA256, None, 1) == "a sha256 digest, not wrapped as one"
