"""A target field's value against the one its legacy row should have given, and how
either is shown in a finding."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.hashers import is_password_usable


def same_value(name: str, expected: Any, found: Any) -> bool:
    if name == "password":
        # A legacy bcrypt hash is carried exactly; any other hash becomes an
        # unusable password, which is random by design.
        return expected == found if is_password_usable(expected) else not is_password_usable(found)
    if isinstance(expected, datetime) and isinstance(found, datetime):
        return expected.astimezone(UTC) == found.astimezone(UTC)
    return expected == found


def shown_value(name: str, value: Any) -> str:
    if name == "password":
        return "usable password" if is_password_usable(value) else "unusable password"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
