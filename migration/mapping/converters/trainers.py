"""Converters of a trainer's account: password hash, name parts, e-mail as a mailbox."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser

from migration.mapping import prefilters
from migration.mapping.converters.base import LegacyValueError, ValueProblem
from migration.mapping.converters.textual import text
from migration.mapping.domains import Domain, returns
from migration.mapping.passwords import LegacyDigest, target_password
from migration.mapping.prefilters import prefiltered_by

# The dot above an i (or j), when a combining mark of its own: see mailbox_key.
_DOT_ABOVE_AN_I = re.compile("([ij][\u0300-\u036f]*?)\u0307")


def mailbox_key(address: Any) -> str | None:
    """An e-mail address as a mailbox: case and surrounding spaces make no other one.

    The twin of the target's rule (accounts_user_email_unique_ci: lower(email)
    unique, but for ''), and so at least as strict: two addresses lower() makes
    equal must have one key. lower() is the database's, in its locale, so the
    key is coarser than each: Unicode's caseless match (casefold, between
    canonical decompositions), with the Turkish and Lithuanian i's made one
    (glibc lowers 'İ' to 'i', ICU to 'i' and a combining dot; Turkish lowers
    'I' to 'ı'). Spaces around it make no other mailbox either, so an address
    of spaces alone has a key of its own: '' (only '' itself has none).
    """
    if not isinstance(address, str) or address == "":
        return None
    decomposed = unicodedata.normalize("NFD", address.strip())
    folded = unicodedata.normalize("NFD", decomposed.casefold()).replace("ı", "i")
    return _DOT_ABOVE_AN_I.sub(r"\1", folded)


# The password field's length: the longest stored form, a wrapped HMAC-SHA256
# digest, takes 125 characters at Django's seven-digit iteration counts.
STORED_PASSWORD_LENGTH = 128


# Any value is taken (one that checks no password becomes unusable): precheck's
# password check lists the trainers who need a reset.
@returns(Domain("text", max_length=STORED_PASSWORD_LENGTH))
@prefiltered_by(prefilters.anything)
def legacy_password(password_hash: Any, salt: Any = None) -> str | LegacyDigest:
    """What a legacy hash gives the target's password, with the first generation's salt
    if the file has one (see mapping/passwords.py)."""
    return target_password(password_hash, salt)


USERNAME_LENGTH = 150  # Django's username
_REQUIRED_TEXT = text()


# Printable ASCII and Hangul syllables, all the pre-filter passes, are their own
# NFKC form: the length it checks is the normalised one's.
@returns(Domain("text", max_length=USERNAME_LENGTH))
@prefiltered_by(prefilters.plain_text(USERNAME_LENGTH))
def username(raw: Any) -> str:
    """A username as the new app keeps it: NFKC-normalised, as Django's user model does
    on every full_clean() and its login form to what a trainer types, so that one who
    typed 'ｋim' in the old app logs in as 'kim' (and two that normalise alike collide
    before the import, not in the admin)."""
    normalised = AbstractBaseUser.normalize_username(_REQUIRED_TEXT(raw))
    if len(normalised) > USERNAME_LENGTH:
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE,
            f"{len(normalised)} characters once normalised, at most {USERNAME_LENGTH} fit",
        )
    return normalised


def split_name(name: str) -> tuple[str, str]:
    """First word, and the rest; a name with no space is all first name."""
    first, _, rest = name.strip().partition(" ")
    return first, rest.strip()


NAME_PART_LENGTH = 150  # Django's first_name and last_name


# A name of at most 150 characters has no longer part.
@returns(Domain("text", max_length=NAME_PART_LENGTH))
@prefiltered_by(prefilters.plain_text(NAME_PART_LENGTH))
def first_name(raw: Any) -> str:
    return _name_part(split_name(text()(raw))[0])


@returns(Domain("text", max_length=NAME_PART_LENGTH))
@prefiltered_by(prefilters.plain_text(NAME_PART_LENGTH))
def last_name(raw: Any) -> str:
    return _name_part(split_name(text()(raw))[1])


def _name_part(part: str) -> str:
    if len(part) > NAME_PART_LENGTH:
        raise LegacyValueError(
            ValueProblem.OUT_OF_RANGE,
            f"a name part of {len(part)} characters, at most {NAME_PART_LENGTH} fit",
        )
    return part
