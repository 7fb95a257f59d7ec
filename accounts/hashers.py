"""The legacy app's bcrypt hashes, usable as Django passwords.

The legacy app stored `bcrypt.hashpw(password.encode(), gensalt(12))`, with a
bcrypt that silently used only the first 72 bytes of a longer password. Django's
own bcrypt hashers either pre-hash the password (bcrypt_sha256) or, with bcrypt
5, raise on passwords longer than 72 bytes (bcrypt). This hasher checks exactly
what the legacy app checked. It is never the preferred hasher: a trainer's first
successful login re-hashes the password with Django's default.
"""

from django.contrib.auth.hashers import BCryptSHA256PasswordHasher

BCRYPT_MAX_PASSWORD_BYTES = 72


class LegacyBCryptPasswordHasher(BCryptSHA256PasswordHasher):
    algorithm = "legacy_bcrypt"
    digest = None

    def encode(self, password: str, salt: bytes) -> str:
        bcrypt = self._load_library()
        secret = password.encode()[:BCRYPT_MAX_PASSWORD_BYTES]
        return f"{self.algorithm}${bcrypt.hashpw(secret, salt).decode('ascii')}"
