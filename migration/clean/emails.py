"""Duplicate e-mail addresses made unique: the account created first keeps its address.

The others get a plus-address on the same mailbox (it still reaches its owner
and no stranger), or the address given with --email.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, count
from typing import Any

from migration.clean.copy import CopyBeingCleaned, sqlite_writable
from migration.clean.errors import CleanError
from migration.clean.report import EMAIL_RULE, EmailChange
from migration.legacy import LegacySource
from migration.mapping.canonical import id_order
from migration.mapping.converters import mailbox_key

LOCAL_PART_SAFE = re.compile(r"[^A-Za-z0-9._-]")
MAX_LOCAL_PART = 64
MAX_ADDRESS = 254


@dataclass(frozen=True)
class TrainerAddress:
    trainer_id: Any
    username: Any
    email: Any
    created_at: Any


def trainer_usernames(source: LegacySource) -> frozenset[str]:
    """The usernames an --email may name (none, in a file whose trainers have none)."""
    if "username" not in {column.name for column in source.columns("trainers")}:
        return frozenset()
    return frozenset(name for (name,) in source.query("SELECT username FROM trainers"))


def explicit_addresses(values: Sequence[str], usernames: Collection[str]) -> dict[str, str]:
    """--email USERNAME=ADDRESS values as {username: address}.

    A username may hold "=" itself (an address's domain never does), so the
    value is split after the trainer's username it begins with: the one such
    split, or a refusal saying which usernames it could name.
    """
    emails: dict[str, str] = {}
    for value in values:
        splits = [
            (value[:at].strip(), value[at + 1 :].strip())
            for at, character in enumerate(value)
            if character == "="
        ]
        named = [(username, address) for username, address in splits if username in usernames]
        if not splits or not splits[0][0]:
            raise CleanError(f"--email {value}: write it as USERNAME=ADDRESS", personal=[value])
        if len(named) > 1:
            raise CleanError(
                f"--email {value}: it could name trainer "
                + " or ".join(username for username, _ in named)
                + "; set that address in the new app after the cutover instead",
                personal=[value, *(username for username, _ in named)],
            )
        username, address = named[0] if named else splits[0]
        if username in emails:
            raise CleanError(
                f"--email: {username} is given twice; give one address each", personal=[username]
            )
        local, at, domain = address.rpartition("@")
        if not (at and local and domain) or "=" in domain:
            raise CleanError(
                f"--email {username}={address}: that is not an e-mail address; "
                "write it as USERNAME=ADDRESS",
                personal=[username, address],
            )
        emails[username] = address
    return emails


def fix_duplicate_emails(
    copy: CopyBeingCleaned, explicit: Mapping[str, str]
) -> tuple[EmailChange, ...]:
    if not (copy.has_column("trainers", "email") and copy.has_column("trainers", "username")):
        if explicit:
            raise CleanError("--email: this file's trainers have no username or e-mail column")
        return ()
    created = "created_at" if copy.has_column("trainers", "created_at") else "NULL"
    trainers = [
        TrainerAddress(*row)
        for row in copy.query(f"SELECT id, username, email, {created} FROM trainers ORDER BY id")
    ]
    changes = plan_email_changes(trainers, explicit)
    copy.connection.executemany(
        "UPDATE trainers SET email = CAST(? AS TEXT) WHERE id = ?",
        [(sqlite_writable(change.new_address), change.trainer_id) for change in changes],
    )
    copy.log(
        [
            ("trainers", c.trainer_id, "email", c.old_address, c.new_address, EMAIL_RULE)
            for c in changes
        ]
    )
    return tuple(changes)


def plan_email_changes(
    trainers: Sequence[TrainerAddress], explicit: Mapping[str, str]
) -> list[EmailChange]:
    """Which trainers get which new address, so that no two share one."""
    by_username = {trainer.username: trainer for trainer in trainers}
    for username in explicit:
        if username not in by_username:
            raise CleanError(
                f"--email {username}=...: no trainer has the username {username}; "
                "check the username (precheck lists the trainers sharing an address)",
                personal=[username],
            )
    final = {trainer.trainer_id: trainer.email for trainer in trainers}
    changes = []
    for username, address in explicit.items():
        trainer = by_username[username]
        final[trainer.trainer_id] = address
        if trainer.email != address:
            changes.append(
                EmailChange(trainer.trainer_id, username, trainer.email, address, "explicit")
            )
    explicitly_set = {by_username[username].trainer_id for username in explicit}
    sharing: dict[str, list[TrainerAddress]] = defaultdict(list)
    for trainer in trainers:
        key = mailbox_key(trainer.email)
        if key is not None and trainer.trainer_id not in explicitly_set:
            sharing[key].append(trainer)
    taken = {key for key in map(mailbox_key, final.values()) if key is not None}
    for group in sharing.values():
        # The account created first keeps the address; it is the one its owner knows.
        first, *others = sorted(group, key=_creation_order)
        for trainer in others:
            address = plus_address(trainer.email, trainer.username, trainer.trainer_id, taken)
            taken.add(mailbox_key(address))
            final[trainer.trainer_id] = address
            changes.append(
                EmailChange(
                    trainer.trainer_id, trainer.username, trainer.email, address, "plus-address"
                )
            )
    for username, address in explicit.items():
        trainer_id = by_username[username].trainer_id
        for other in trainers:
            if other.trainer_id != trainer_id and mailbox_key(final[other.trainer_id]) == (
                mailbox_key(address)
            ):
                raise CleanError(
                    f"--email {username}={address}: trainer {other.username} has that address "
                    "too; give one that is nobody else's",
                    personal=[username, address, other.username],
                )
    return sorted(changes, key=lambda change: id_order(change.trainer_id))


def _creation_order(trainer: TrainerAddress) -> tuple:
    created = trainer.created_at
    unknown = created is None or created == ""
    return (unknown, "" if unknown else str(created), id_order(trainer.trainer_id))


def plus_address(address: str, username: Any, trainer_id: Any, taken: set[str]) -> str:
    """`local+username@domain`: the same mailbox, so it reaches its owner and no stranger."""
    local, at, domain = address.strip().rpartition("@")
    if not (at and local and domain):
        raise CleanError(
            f"trainer {username} shares an address that is not an e-mail address, so no "
            f"plus-address can be made from it: give one with --email {username}=ADDRESS",
            personal=[username, address],
        )
    tag = _local_part_tag(username)
    too_long = len(f"{local}+{tag}") > MAX_LOCAL_PART or len(address) + len(tag) > MAX_ADDRESS - 20
    if not tag or too_long:
        tag = str(trainer_id)
    numbered = (f"{tag}-{trainer_id}-{n}" for n in count(2))
    for suffix in chain((tag, f"{tag}-{trainer_id}"), numbered):
        candidate = f"{local}+{suffix}@{domain}"
        if mailbox_key(candidate) not in taken:
            return candidate
    raise AssertionError("unreachable: the candidates never run out")


def _local_part_tag(username: Any) -> str:
    # Only characters every mail system takes in a local part; no leading,
    # trailing or doubled dot (RFC 5322 forbids those).
    tag = LOCAL_PART_SAFE.sub("", str(username or ""))
    return re.sub(r"\.{2,}", ".", tag).strip(".")
