"""The legacy password hashes of every generation, and what the target stores for each.

A hash is known by its shape, whatever the generation that wrote it:

- bcrypt (`$2b$12$...`): strong; carried as it is, for `legacy_bcrypt` to check;
- 64 lowercase hex digits, and no salt: the first generation's unsalted SHA-256;
- 64 lowercase hex digits beside a salt of 32: its salted HMAC-SHA256;
- anything else checks no password the app ever took: the trainer gets an
  unusable password and needs a reset (precheck lists them). It is the
  import's own (a keyed digest of the legacy id), told apart from one an
  admin set in the app.

A SHA-256 digest is fast to guess from, so the target never stores it: it is
wrapped in PBKDF2 (accounts.hashers). Reading a row gives a `LegacyDigest`
(converters.legacy_password), not the wrapping: PBKDF2 costs half a second
at Django's iterations, and precheck, verify and every re-run read every
trainer. `stored_password` wraps
it when the trainer's account is made, once (the password is set once). A
`LegacyDigest` refuses to become text, so nothing can store it bare.

The wrapping's salt is a keyed digest (Django's SECRET_KEY) of the trainer's
legacy id and legacy digest: unique to the trainer, and proof, checked with one
HMAC, that a stored password wraps exactly the digest the file holds. Checking
the PBKDF2 itself would cost half a second per trainer.

A password changed in the old app after the import reaches the target on the
next run while the target still holds one the import made
(`is_made_by_the_import`); one set in the new app since (a login re-hashes
it, a reset or an admin sets it) is the target's own, and stays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth.hashers import (
    UNUSABLE_PASSWORD_PREFIX,
    UNUSABLE_PASSWORD_SUFFIX_LENGTH,
    get_hasher,
    identify_hasher,
    is_password_usable,
)
from django.utils.crypto import salted_hmac

from accounts.hashers import (
    SALT_SEPARATOR,
    LegacyBCryptPasswordHasher,
    WrappedHMACSHA256PasswordHasher,
    WrappedSHA256PasswordHasher,
    is_legacy_salt,
)

LEGACY_BCRYPT = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
LEGACY_BCRYPT_ALGORITHM = LegacyBCryptPasswordHasher.algorithm
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# The wrapping's own salt: as long as the password field leaves room for beside
# the HMAC wrapping's legacy salt (128 characters in all).
WRAP_SALT_LENGTH = {"sha256": 22, "hmac_sha256": 12}
WRAP_KEY_SALT = "migration.passwords.wrap"
UNUSABLE_KEY_SALT = "migration.passwords.unusable"


class PasswordFormat(StrEnum):
    BCRYPT = "bcrypt"
    SHA256 = "sha256"
    HMAC_SHA256 = "hmac_sha256"
    UNKNOWN = "unknown"


WRAPPERS = {
    PasswordFormat.SHA256: WrappedSHA256PasswordHasher,
    PasswordFormat.HMAC_SHA256: WrappedHMACSHA256PasswordHasher,
}


def password_format(password_hash: Any, salt: Any = None) -> PasswordFormat:
    if isinstance(password_hash, str) and LEGACY_BCRYPT.fullmatch(password_hash):
        return PasswordFormat.BCRYPT
    if isinstance(password_hash, str) and SHA256_HEX.fullmatch(password_hash):
        if salt is None or salt == "":
            return PasswordFormat.SHA256
        if is_legacy_salt(salt):
            return PasswordFormat.HMAC_SHA256
    return PasswordFormat.UNKNOWN


def is_legacy_bcrypt(raw: Any) -> bool:
    return password_format(raw) is PasswordFormat.BCRYPT


@dataclass(frozen=True)
class LegacyDigest:
    """A first-generation digest on its way to the target, which wraps it in PBKDF2."""

    format: PasswordFormat
    digest: str
    legacy_salt: str | None = None

    def __str__(self) -> str:
        raise TypeError("a legacy digest is wrapped when its account is made, never stored")

    def __repr__(self) -> str:
        return f"LegacyDigest({self.format}, [secret])"


@dataclass(frozen=True)
class NoUsablePassword:
    """A legacy hash that checks no password, on its way to the target: the account is
    made with the import's own unusable password, keyed by the trainer's legacy id."""

    def __str__(self) -> str:
        raise TypeError("an unusable password is made for its account, never stored as such")


NO_USABLE_PASSWORD = NoUsablePassword()
# What a trainer's password is read as, before its account makes it text (stored_password).
MADE_WITH_THE_ACCOUNT = (LegacyDigest, NoUsablePassword)


def target_password(password_hash: Any, salt: Any = None) -> str | LegacyDigest | NoUsablePassword:
    """What a legacy hash gives the target's password: bcrypt carried, a SHA-256 digest
    still to be wrapped, anything else an unusable password still to be made."""
    kind = password_format(password_hash, salt)
    if kind is PasswordFormat.BCRYPT:
        return f"{LEGACY_BCRYPT_ALGORITHM}${password_hash}"
    if kind in WRAPPERS:
        return LegacyDigest(kind, password_hash, salt or None)
    return NO_USABLE_PASSWORD


def stored_password(value: Any, legacy_id: Any) -> Any:
    """A legacy digest wrapped in PBKDF2 when the account is made (and a hash that
    checks no password made the import's unusable one; else the value as it is)."""
    if isinstance(value, NoUsablePassword):
        return imports_unusable_password(legacy_id)
    if not isinstance(value, LegacyDigest):
        return value
    return WRAPPERS[value.format]().wrap(value.digest, wrap_salt(value, legacy_id))


def imports_unusable_password(legacy_id: Any) -> str:
    """Unusable, as Django's own are ('!' and 40 characters), and the import's alone."""
    tag = salted_hmac(UNUSABLE_KEY_SALT, str(legacy_id), algorithm="sha256").hexdigest()
    return UNUSABLE_PASSWORD_PREFIX + tag[:UNUSABLE_PASSWORD_SUFFIX_LENGTH]


def wrap_salt(value: LegacyDigest, legacy_id: Any) -> str:
    tag = salted_hmac(
        WRAP_KEY_SALT, f"{legacy_id}:{value.format}:{value.digest}", algorithm="sha256"
    ).hexdigest()[: WRAP_SALT_LENGTH[value.format]]
    if value.format is PasswordFormat.HMAC_SHA256:
        return f"{value.legacy_salt}{SALT_SEPARATOR}{tag}"
    return tag


def password_problem(stored: str, password_hash: Any, salt: Any, legacy_id: Any) -> str | None:
    """Why the stored password is not what the legacy hash should have become, if it is not.

    A password in Django's default format was set in the target since (the
    first login re-hashes; a reset sets one), and so was an unusable one that is
    not the import's (an admin disabled it): it is the target's own.
    """
    if is_password_usable(stored) and _algorithm(stored) == _default_algorithm():
        return None
    if not is_password_usable(stored) and stored != imports_unusable_password(legacy_id):
        return None
    expected = target_password(password_hash, salt)
    if isinstance(expected, LegacyDigest):
        hasher = WRAPPERS[expected.format]()
        if _algorithm(stored) != hasher.algorithm:
            return f"a {expected.format} digest, not wrapped as one"
        if hasher.decode(stored)["salt"] != wrap_salt(expected, legacy_id):
            return f"a {expected.format} digest, wrapped for another digest"
        return None
    if isinstance(expected, NoUsablePassword):
        return None if not is_password_usable(stored) else "no usable hash, yet a usable password"
    return None if stored == expected else "a bcrypt hash, not carried exactly"


_MADE_BY_THE_IMPORT = {LEGACY_BCRYPT_ALGORITHM, *(hasher.algorithm for hasher in WRAPPERS.values())}


def is_made_by_the_import(stored: Any, legacy_id: Any) -> bool:
    """Whether the trainer's stored password is one the import made: no login, reset or
    admin has set one since (Django's own hashers, or an unusable one of its own)."""
    if not isinstance(stored, str):
        return False
    if not is_password_usable(stored):
        return stored == imports_unusable_password(legacy_id)
    return _algorithm(stored) in _MADE_BY_THE_IMPORT


def _algorithm(stored: str) -> str | None:
    try:
        return identify_hasher(stored).algorithm
    except ValueError:
        return None


def _default_algorithm() -> str:
    return get_hasher("default").algorithm
