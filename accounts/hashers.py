"""The legacy app's password hashes, usable as Django passwords.

Bcrypt (every generation since the first weeks): the legacy app stored
`bcrypt.hashpw(password.encode(), gensalt(12))`, with a bcrypt that silently
used only the first 72 bytes of a longer password. Django's own bcrypt hashers
either pre-hash the password (bcrypt_sha256) or, with bcrypt 5, raise on
passwords longer than 72 bytes (bcrypt). `LegacyBCryptPasswordHasher` checks
exactly what the legacy app checked; the bcrypt hash itself is strong and is
carried as it is.

SHA-256 (the first generation): the app stored the hex SHA-256 of the UTF-8
password, unsalted, and a day later the hex HMAC-SHA256 keyed with a random
16-byte salt. Such a digest is fast to guess from, so the target never stores
it: at import it is wrapped in PBKDF2, the way Django's documentation describes
"password upgrading without requiring a login". The stored password is
PBKDF2(legacy digest); a login computes the legacy digest of the password
typed, then PBKDF2 of that.

None of these is ever the preferred hasher: a trainer's first successful login
re-hashes the password with Django's default.
"""

from __future__ import annotations

import hashlib
import hmac

from django.contrib.auth.hashers import BCryptSHA256PasswordHasher, PBKDF2PasswordHasher

BCRYPT_MAX_PASSWORD_BYTES = 72
LEGACY_SALT_HEX_DIGITS = 32  # the first generation's salt: 16 random bytes, as hex
SALT_SEPARATOR = "."  # between the legacy salt and the wrapping's own, in one salt field


class LegacyBCryptPasswordHasher(BCryptSHA256PasswordHasher):
    algorithm = "legacy_bcrypt"
    digest = None

    def encode(self, password: str, salt: bytes) -> str:
        bcrypt = self._load_library()
        secret = password.encode()[:BCRYPT_MAX_PASSWORD_BYTES]
        return f"{self.algorithm}${bcrypt.hashpw(secret, salt).decode('ascii')}"


def sha256_hex(password: str) -> str:
    """The first generation's unsalted digest of a password."""
    return hashlib.sha256(password.encode()).hexdigest()


def hmac_sha256_hex(password: str, legacy_salt: str) -> str:
    """The first generation's salted digest: HMAC-SHA256 keyed with the salt's bytes."""
    return hmac.new(bytes.fromhex(legacy_salt), password.encode(), hashlib.sha256).hexdigest()


def is_legacy_salt(text: object) -> bool:
    if not isinstance(text, str) or len(text) != LEGACY_SALT_HEX_DIGITS:
        return False
    return all(digit in "0123456789abcdefABCDEF" for digit in text)


class WrappedSHA256PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 over the first generation's unsalted SHA-256 hex digest."""

    algorithm = "pbkdf2_wrapped_sha256"

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        return self.wrap(sha256_hex(password), salt, iterations)

    def wrap(self, legacy_digest: str, salt: str, iterations: int | None = None) -> str:
        """The stored password for a legacy digest, without knowing the password."""
        return super().encode(legacy_digest, salt, iterations)


class WrappedHMACSHA256PasswordHasher(PBKDF2PasswordHasher):
    """PBKDF2 over the first generation's salted HMAC-SHA256 hex digest.

    The salt field holds the legacy salt, which a login needs to compute the
    legacy digest, then the wrapping's own: `<legacy salt>.<salt>`.
    """

    algorithm = "pbkdf2_wrapped_hmac_sha256"

    def encode(self, password: str, salt: str, iterations: int | None = None) -> str:
        legacy_salt = legacy_salt_of(salt)
        if not is_legacy_salt(legacy_salt):
            # Never written by the import; a hand-made value checks no password.
            return f"{self.algorithm}$unusable"
        return self.wrap(hmac_sha256_hex(password, legacy_salt), salt, iterations)

    def wrap(self, legacy_digest: str, salt: str, iterations: int | None = None) -> str:
        return super().encode(legacy_digest, salt, iterations)


def legacy_salt_of(salt: str) -> str:
    """The legacy salt inside a wrapped HMAC-SHA256 password's salt field."""
    return salt.partition(SALT_SEPARATOR)[0]
