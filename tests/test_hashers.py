"""The first generation's SHA-256 digests, wrapped in PBKDF2, check the original password.

The wrapping's iteration count is written into each stored password, so a low
count here proves what the project's count does, faster: a check reads the
count from the hash it checks.
"""

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.hashers import check_password, identify_hasher

from accounts.hashers import (
    WrappedHMACSHA256PasswordHasher,
    WrappedSHA256PasswordHasher,
    hmac_sha256_hex,
    is_legacy_salt,
    legacy_salt_of,
    sha256_hex,
)
from accounts.models import User

PASSWORD = "스쿼트-Spring2024!"
LEGACY_SALT = "8f1c0a6e4b2d97f35a0c1e8d6b4f2a90"
FEW_ITERATIONS = 1000


def wrapped_sha256(password: str = PASSWORD) -> str:
    return WrappedSHA256PasswordHasher().wrap(
        sha256_hex(password), "wrapsalt0123456789abcd", FEW_ITERATIONS
    )


def wrapped_hmac(password: str = PASSWORD, legacy_salt: str = LEGACY_SALT) -> str:
    return WrappedHMACSHA256PasswordHasher().wrap(
        hmac_sha256_hex(password, legacy_salt), f"{legacy_salt}.a1b2c3d4e5f6", FEW_ITERATIONS
    )


def test_the_first_generations_digests_are_as_its_code_made_them():
    # db_utils.py: hashlib.sha256(password.encode()).hexdigest()
    assert sha256_hex("abc") == ("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    # improved_db_utils.py: hmac.new(bytes.fromhex(salt), password.encode(), sha256)
    assert hmac_sha256_hex("The quick brown fox jumps over the lazy dog", "6b6579") == (
        "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )


@pytest.mark.parametrize("stored", [wrapped_sha256(), wrapped_hmac()], ids=["sha256", "hmac"])
def test_a_wrapped_digest_checks_the_original_password(stored):
    assert check_password(PASSWORD, stored)
    assert not check_password(PASSWORD + " ", stored)
    assert not check_password("", stored)


def test_a_wrapped_digest_does_not_check_the_digest_itself():
    # Whoever holds the legacy digest cannot log in with it.
    assert not check_password(sha256_hex(PASSWORD), wrapped_sha256())
    assert not check_password(hmac_sha256_hex(PASSWORD, LEGACY_SALT), wrapped_hmac())


@pytest.mark.parametrize("stored", [wrapped_sha256(), wrapped_hmac()], ids=["sha256", "hmac"])
def test_the_stored_password_holds_no_legacy_digest(stored):
    assert sha256_hex(PASSWORD) not in stored
    assert hmac_sha256_hex(PASSWORD, LEGACY_SALT) not in stored
    assert len(stored) <= User._meta.get_field("password").max_length


def test_the_hmac_wrapping_keeps_the_legacy_salt_a_login_needs():
    hasher = identify_hasher(wrapped_hmac())
    salt = hasher.decode(wrapped_hmac())["salt"]

    assert legacy_salt_of(salt) == LEGACY_SALT
    assert is_legacy_salt(LEGACY_SALT) and not is_legacy_salt("8f1c0a6e")


def test_a_salt_field_without_a_legacy_salt_checks_no_password():
    stored = WrappedHMACSHA256PasswordHasher().wrap("0" * 64, "nolegacysalt", FEW_ITERATIONS)
    assert not check_password(PASSWORD, stored)


@pytest.mark.django_db
@pytest.mark.parametrize("stored", [wrapped_sha256(), wrapped_hmac()], ids=["sha256", "hmac"])
def test_the_first_login_re_hashes_to_djangos_default(stored):
    trainer = User.objects.create(username="jiwoo", password=stored)

    assert authenticate(username="jiwoo", password="wrong password") is None
    trainer.refresh_from_db()
    assert trainer.password == stored  # a failed login upgrades nothing

    assert authenticate(username="jiwoo", password=PASSWORD) == trainer
    trainer.refresh_from_db()
    assert trainer.password.startswith("pbkdf2_sha256$")
    assert authenticate(username="jiwoo", password=PASSWORD) == trainer
