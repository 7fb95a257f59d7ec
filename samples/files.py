"""Sample legacy files: the production file's shape, and a studio chain's size.

Both are written with the legacy DDL (`schema_sql()`), so they have the real
schema exactly, and with the values the legacy app really stored (see the
legacy README, "Values as they really are"). Names and e-mails are invented.

`write_production_sample` mirrors the 42-row production file row for row:
its quirks are all here (client ids from 3, colliding ids between the old and
new session/payment tables, the duplicate gmail address of `criminal` and
`jaesun9090`, REAL money next to INTEGER money, both kinds of timestamp in
`trainers.last_login`, a past lock, a NULL `sessions.trainer_id`).

Its trainers log in with these passwords (also in `SAMPLE_PASSWORDS`):

    id  username      password
    1   minji.park    squat2024!
    2   criminal      Criminal#8808
    3   hyunwoo_lee   deadlift-200kg
    4   seoyeon.choi  오늘도 힘차게 스쿼트 백 개 하고 단백질 쉐이크 마시러 가자 화이팅
    5   jaesun9090    jaesun9090pt
    6   dohyun88      Dohyun1988!!
    7   yuna.kang     pilates&core7

seoyeon.choi's passphrase is 91 bytes in UTF-8; like the legacy bcrypt, the
hash covers only its first 72 bytes.

`write_chain_sample` writes a studio chain of any size, scaled by its number
of sessions, in one of two shapes (`CHAIN_SHAPES`: the old tables a tenth
full, or half full with little text); every trainer there has the password
`CHAIN_PASSWORD`.

Both refuse to replace an existing file unless `overwrite=True`, and build the
file beside its destination, renaming it into place only once it is complete.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import secrets
import sqlite3
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from itertools import repeat
from operator import add
from pathlib import Path

import bcrypt

from migration.legacy.schema import schema_sql

Row = tuple[object, ...]


@dataclass(frozen=True)
class SampleSummary:
    """What a sample writer wrote: the file, and how many rows each table got."""

    path: Path
    row_counts: dict[str, int]

    @property
    def total_rows(self) -> int:
        return sum(self.row_counts.values())


# --- The legacy app's rules the samples must obey --------------------------------------

VAT_RATE = Decimal("0.10")
CARD_FEE_RATE = Decimal("0.035")
ONE_WON = Decimal(1)
BCRYPT_COST = 12
BCRYPT_MAX_PASSWORD_BYTES = 72
BCRYPT_BASE64 = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
)


@cache
def legacy_fee_breakdown(gross: int) -> tuple[int, int, int, int]:
    """(gross, VAT, card fee, net) in whole won, by the legacy app's fee rule.

    Kept here rather than imported from the importer's fee module so that the
    sample is an independent witness: a slip in the importer's rule shows up
    as a disagreement with the sample instead of being copied into it.
    """
    amount = Decimal(gross)
    vat = (amount * VAT_RATE / (1 + VAT_RATE)).quantize(ONE_WON, rounding=ROUND_HALF_UP)
    card_fee = (amount * CARD_FEE_RATE).quantize(ONE_WON, rounding=ROUND_HALF_UP)
    return gross, int(vat), int(card_fee), int(amount - vat - card_fee)


def package_fee_columns(gross: int) -> Row:
    """gross_amount .. fee_calculation_method of `session_packages`."""
    return (*legacy_fee_breakdown(gross), float(VAT_RATE), float(CARD_FEE_RATE), "inclusive")


def payment_fee_columns(gross: int) -> Row:
    """gross_amount .. card_fee_rate of `payments` (the table has no method column)."""
    return (*legacy_fee_breakdown(gross), float(VAT_RATE), float(CARD_FEE_RATE))


PACKAGE_FEE_COLUMNS = (
    "gross_amount",
    "vat_amount",
    "card_fee_amount",
    "net_amount",
    "vat_rate",
    "card_fee_rate",
    "fee_calculation_method",
)
PAYMENT_FEE_COLUMNS = PACKAGE_FEE_COLUMNS[:-1]


def fixed_bcrypt_salt(seed: str) -> bytes:
    # The app used a random salt (bcrypt.gensalt(12)); a salt derived from the
    # seed keeps the sample byte-for-byte reproducible. Encoding 16 bytes in
    # bcrypt's base64 gives the canonical 22 salt characters.
    raw = hashlib.sha256(f"legacy-sample:{seed}".encode()).digest()[:16]
    encoded = base64.b64encode(raw).decode("ascii")[:22].translate(BCRYPT_BASE64)
    return f"$2b${BCRYPT_COST:02d}${encoded}".encode("ascii")


@cache
def legacy_password_hash(password: str, *, salt_seed: str) -> str:
    # The app's bcrypt silently used the first 72 bytes of a longer password;
    # bcrypt 5 refuses longer input, so the truncation is done here by hand.
    # Cached because cost 12 takes about a quarter of a second per hash.
    secret = password.encode("utf-8")[:BCRYPT_MAX_PASSWORD_BYTES]
    return bcrypt.hashpw(secret, fixed_bcrypt_salt(salt_seed)).decode("ascii")


# --- The production sample: literal rows, in the production file's shape -------------

SAMPLE_PASSWORDS: dict[str, str] = {
    "minji.park": "squat2024!",
    "criminal": "Criminal#8808",
    "hyunwoo_lee": "deadlift-200kg",
    "seoyeon.choi": "오늘도 힘차게 스쿼트 백 개 하고 단백질 쉐이크 마시러 가자 화이팅",
    "jaesun9090": "jaesun9090pt",
    "dohyun88": "Dohyun1988!!",
    "yuna.kang": "pilates&core7",
}

# created_at: SQLite, UTC. last_login: with a fraction it was written by Python
# (local time), without one by SQLite (UTC). dohyun88's lock has expired, so
# every sample trainer can log in.
TRAINER_COLUMNS = (
    "id", "username", "name", "email", "created_at", "last_login",
    "failed_login_attempts", "locked_until",
)  # fmt: skip
TRAINER_ROWS: tuple[Row, ...] = (
    (1, "minji.park", "박민지", "minji.park@example.com", "2024-01-15 02:11:32",
     "2025-03-14 09:12:44.518230", 0, None),
    (2, "criminal", "김재선", "jaesun.kim@gmail.com", "2024-02-03 10:21:07",
     "2024-11-02 13:40:09", 0, None),
    (3, "hyunwoo_lee", "이현우", "hyunwoo.lee@example.com", "2024-03-22 07:05:40",
     "2025-02-27 23:15:02", 0, None),
    (4, "seoyeon.choi", "최서연", "seoyeon.choi@example.com", "2024-04-09 11:58:21",
     "2025-03-12 18:47:03.090417", 0, None),
    (5, "jaesun9090", "김재선", "jaesun.kim@gmail.com", "2024-06-18 04:47:33",
     "2025-03-10 21:03:55.104872", 0, None),
    (6, "dohyun88", "정도현", "dohyun.jung@example.com", "2024-08-30 03:27:14",
     "2025-02-20 08:30:15", 2, "2025-03-02T14:05:11.204311"),
    (7, "yuna.kang", "강유나", "yuna.kang@example.com", "2025-01-06 05:44:50",
     None, 0, None),
)  # fmt: skip
# The hashes are not literal data: they are computed from SAMPLE_PASSWORDS.
TRAINER_COLUMNS_WITH_HASH = (*TRAINER_COLUMNS[:2], "password_hash", *TRAINER_COLUMNS[2:])

# Ids start at 3: the production file's clients 1 and 2 were deleted. Their
# email and phone are '' in every row (`production_clients`).
CLIENT_COLUMNS = (
    "id", "trainer_id", "name", "age", "gender", "height", "weight", "created_at", "updated_at",
)  # fmt: skip
CLIENT_ROWS: tuple[Row, ...] = (
    (3, 1, "이서준", 34, "남성", 176.4, 78.2, "2024-01-22 05:13:09", "2024-04-24 06:40:12"),
    (4, 2, "박지우", 28, "여성", 162.3, 54.7, "2024-02-10 09:02:51", "2024-02-10 09:02:51"),
    (5, 3, "정하은", 41, "여성", 158.9, 61.35, "2024-03-25 01:44:18", "2024-03-25 01:44:18"),
    (6, 4, "최민준", 52, "남성", 171.0, 84.6, "2024-04-12 08:19:37", "2024-04-12 08:19:37"),
    (7, 1, "강예린", 25, "여성", 165.2, 52.1, "2024-04-15 03:31:05", "2024-04-15 03:31:05"),
    (8, 2, "윤도윤", 38, "남성", 181.7, 92.3, "2024-05-03 10:55:46", "2024-06-01 02:12:09"),
    (9, 4, "임수아", 46, "여성", 160.5, 58.9, "2024-05-28 06:07:23", "2024-05-28 06:07:23"),
    (10, 5, "한지호", 31, "남성", 174.8, 70.45, "2024-09-12 04:26:58", "2024-09-12 04:26:58"),
    (11, 6, "오서연", 29, "여성", 167.1, 55.8, "2024-10-07 07:38:14", "2024-10-07 07:38:14"),
    (12, 7, "신우진", 63, "남성", 168.3, 73.9, "2025-01-20 02:50:31", "2025-01-20 02:50:31"),
)  # fmt: skip

# Scores 1-3 per test; balance in seconds, distances in cm, carry in kg and m;
# category scores out of 100. The two later scores are NULL on the assessments
# made before the app added them.
ASSESSMENT_RECORDS: tuple[dict[str, object], ...] = (
    dict(
        id=1, client_id=3, trainer_id=1, date="2024-01-25",
        overhead_squat_score=2, overhead_squat_notes="무릎이 안쪽으로 모임",
        overhead_squat_compensations="무릎 내회전, 상체 전방 기울기",
        push_up_score=2, push_up_reps=18, push_up_notes="", push_up_compensations="허리 처짐",
        single_leg_balance_left_eyes_open=12.37, single_leg_balance_right_eyes_open=15.02,
        single_leg_balance_left_eyes_closed=3.41, single_leg_balance_right_eyes_closed=4.18,
        single_leg_balance_notes="왼발 흔들림",
        toe_touch_score=1, toe_touch_distance=-6.5, toe_touch_notes="햄스트링 단축",
        toe_touch_compensations="",
        shoulder_mobility_left=14.5, shoulder_mobility_right=11.0,
        shoulder_mobility_notes="", shoulder_mobility_compensations="",
        farmer_carry_weight=24.0, farmer_carry_distance=40.0, farmer_carry_notes="",
        farmer_carry_compensations="",
        harvard_step_test_heart_rate=142, harvard_step_test_duration=180.0,
        harvard_step_test_notes="",
        overall_score=61.5, strength_score=66.7, mobility_score=50.0, balance_score=58.3,
        cardio_score=71.0, created_at="2024-01-25 02:33:48",
    ),
    dict(
        id=2, client_id=4, trainer_id=2, date="2024-02-14",
        overhead_squat_score=3, overhead_squat_notes="", overhead_squat_compensations="",
        push_up_score=1, push_up_reps=4, push_up_notes="무릎 대고 실시",
        push_up_compensations="견갑 익상",
        single_leg_balance_left_eyes_open=30.0, single_leg_balance_right_eyes_open=27.84,
        single_leg_balance_left_eyes_closed=8.62, single_leg_balance_right_eyes_closed=6.05,
        single_leg_balance_notes="",
        toe_touch_score=3, toe_touch_distance=8.0, toe_touch_notes="유연성 좋음",
        toe_touch_compensations="",
        shoulder_mobility_left=4.0, shoulder_mobility_right=5.5,
        farmer_carry_weight=12.0, farmer_carry_distance=40.0,
        farmer_carry_notes="악력 부족으로 중간에 내려놓음", farmer_carry_compensations="",
        harvard_step_test_heart_rate=156, harvard_step_test_duration=164.2,
        harvard_step_test_notes="160초 이후 속도 저하",
        overall_score=70.2, strength_score=44.4, mobility_score=91.7, balance_score=83.3,
        cardio_score=61.5, created_at="2024-02-14 11:05:27",
    ),
    dict(
        id=3, client_id=5, trainer_id=3, date="2024-03-28",
        overhead_squat_score=2, overhead_squat_notes="발뒤꿈치 들림",
        overhead_squat_compensations="발뒤꿈치 들림",
        push_up_score=1, push_up_reps=2, push_up_notes="", push_up_compensations="",
        single_leg_balance_left_eyes_open=9.13, single_leg_balance_right_eyes_open=11.76,
        single_leg_balance_left_eyes_closed=2.2, single_leg_balance_right_eyes_closed=2.95,
        single_leg_balance_notes="",
        toe_touch_score=2, toe_touch_distance=0.0, toe_touch_notes="", toe_touch_compensations="",
        shoulder_mobility_left=9.5, shoulder_mobility_right=16.0,
        shoulder_mobility_notes="오른쪽 어깨 통증 호소", shoulder_mobility_compensations="",
        farmer_carry_weight=10.0, farmer_carry_distance=30.0, farmer_carry_notes="",
        farmer_carry_compensations="",
        harvard_step_test_heart_rate=168, harvard_step_test_duration=120.0,
        harvard_step_test_notes="중단",
        overall_score=47.9, strength_score=38.9, mobility_score=58.3, balance_score=41.7,
        cardio_score=52.0, created_at="2024-03-28 05:49:10",
    ),
    dict(
        id=4, client_id=6, trainer_id=4, date="2024-04-16",
        overhead_squat_score=1, overhead_squat_notes="깊이 부족, 팔이 앞으로 떨어짐",
        overhead_squat_compensations="팔 앞으로 떨어짐, 요추 과신전",
        push_up_score=2, push_up_reps=11, push_up_notes="", push_up_compensations="",
        single_leg_balance_left_eyes_open=7.48, single_leg_balance_right_eyes_open=6.9,
        single_leg_balance_left_eyes_closed=1.83, single_leg_balance_right_eyes_closed=2.07,
        single_leg_balance_notes="양쪽 모두 불안정",
        toe_touch_score=1, toe_touch_distance=-12.0, toe_touch_notes="",
        toe_touch_compensations="무릎 굽힘",
        shoulder_mobility_left=21.0, shoulder_mobility_right=18.5,
        shoulder_mobility_notes="", shoulder_mobility_compensations="",
        farmer_carry_weight=32.0, farmer_carry_distance=40.0, farmer_carry_notes="",
        farmer_carry_compensations="몸통 기울어짐",
        harvard_step_test_heart_rate=151, harvard_step_test_duration=180.0,
        harvard_step_test_notes="",
        overall_score=52.6, strength_score=61.1, mobility_score=33.3, balance_score=33.3,
        cardio_score=63.8, created_at="2024-04-16 07:12:55",
        shoulder_mobility_score=1, farmer_carry_score=2,
    ),
    dict(
        id=5, client_id=3, trainer_id=1, date="2024-04-24",
        overhead_squat_score=2, overhead_squat_notes="1월보다 무릎 정렬 개선",
        overhead_squat_compensations="상체 전방 기울기",
        push_up_score=3, push_up_reps=26, push_up_notes="", push_up_compensations="",
        single_leg_balance_left_eyes_open=21.55, single_leg_balance_right_eyes_open=24.1,
        single_leg_balance_left_eyes_closed=5.36, single_leg_balance_right_eyes_closed=6.72,
        single_leg_balance_notes="",
        toe_touch_score=2, toe_touch_distance=-1.5, toe_touch_notes="", toe_touch_compensations="",
        shoulder_mobility_left=12.0, shoulder_mobility_right=10.5,
        shoulder_mobility_notes="", shoulder_mobility_compensations="",
        farmer_carry_weight=28.0, farmer_carry_distance=40.0, farmer_carry_notes="",
        farmer_carry_compensations="",
        harvard_step_test_heart_rate=134, harvard_step_test_duration=180.0,
        harvard_step_test_notes="",
        overall_score=72.4, strength_score=83.3, mobility_score=58.3, balance_score=66.7,
        cardio_score=78.5, created_at="2024-04-24 06:40:12",
        shoulder_mobility_score=2, farmer_carry_score=3,
    ),
    dict(
        id=6, client_id=8, trainer_id=2, date="2024-06-01",
        overhead_squat_score=2, overhead_squat_notes="", overhead_squat_compensations="",
        push_up_score=3, push_up_reps=35, push_up_notes="", push_up_compensations="",
        single_leg_balance_left_eyes_open=18.02, single_leg_balance_right_eyes_open=16.44,
        single_leg_balance_left_eyes_closed=4.9, single_leg_balance_right_eyes_closed=3.77,
        single_leg_balance_notes="",
        toe_touch_score=2, toe_touch_distance=-3.0, toe_touch_notes="", toe_touch_compensations="",
        shoulder_mobility_left=8.0, shoulder_mobility_right=9.0,
        shoulder_mobility_notes="", shoulder_mobility_compensations="",
        farmer_carry_weight=40.0, farmer_carry_distance=40.0, farmer_carry_notes="",
        farmer_carry_compensations="",
        harvard_step_test_heart_rate=128, harvard_step_test_duration=180.0,
        harvard_step_test_notes="회복 빠름",
        overall_score=78.1, strength_score=94.4, mobility_score=66.7, balance_score=58.3,
        cardio_score=85.2, created_at="2024-06-01 02:12:09",
        shoulder_mobility_score=3, farmer_carry_score=3,
    ),
    dict(
        id=7, client_id=10, trainer_id=5, date="2024-09-20",
        overhead_squat_score=3, overhead_squat_notes="", overhead_squat_compensations="",
        push_up_score=2, push_up_reps=21, push_up_notes="", push_up_compensations="",
        single_leg_balance_left_eyes_open=25.7, single_leg_balance_right_eyes_open=30.0,
        single_leg_balance_left_eyes_closed=7.15, single_leg_balance_right_eyes_closed=9.8,
        single_leg_balance_notes="",
        toe_touch_score=3, toe_touch_distance=5.5, toe_touch_notes="", toe_touch_compensations="",
        shoulder_mobility_left=6.5, shoulder_mobility_right=7.0,
        shoulder_mobility_notes="", shoulder_mobility_compensations="",
        farmer_carry_weight=32.0, farmer_carry_distance=40.0, farmer_carry_notes="",
        farmer_carry_compensations="",
        harvard_step_test_heart_rate=139, harvard_step_test_duration=180.0,
        harvard_step_test_notes="",
        overall_score=84.0, strength_score=72.2, mobility_score=100.0, balance_score=91.7,
        cardio_score=74.1, created_at="2024-09-20 09:58:36",
        shoulder_mobility_score=3, farmer_carry_score=2,
    ),
)  # fmt: skip

# Packages 1-2 predate the switch to the new tables, 3-5 follow it. Their fee
# columns are added from their payments (`production_packages`): package 3 was
# topped up, 1,980,000 + 300,000 = 2,280,000. total_sessions is net / price on
# the older packages (1-2) and gross / price on the newer ones, as the app left it.
PACKAGE_COLUMNS = (
    "id", "client_id", "trainer_id", "total_amount", "session_price", "total_sessions",
    "remaining_credits", "remaining_sessions", "package_name", "notes",
    "created_at", "updated_at", "is_active",
)  # fmt: skip
PACKAGE_ROWS: tuple[Row, ...] = (
    (1, 3, 1, 300_000, 60_000, 4, 142_227, 2, "PT 5회", "첫 상담 후 등록",
     "2024-04-20 06:02:11", "2024-04-30 01:58:40", 1),
    (2, 4, 2, 600_000, 50_000, 10, 472_009, 9, "PT 10회", None,
     "2024-05-11 08:30:42", "2024-05-14 11:20:05", 1),
    (3, 10, 5, 2_280_000, 60_000, 38, 1_835_590, 35, "PT 30회 + 5회 추가", "12월 5회 추가 결제",
     "2024-09-14 03:12:55", "2024-12-03 05:20:44", 1),
    (4, 11, 6, 600_000, 60_000, 10, 524_455, 10, "PT 10회", "",
     "2024-10-09 07:41:30", "2024-10-15 09:02:17", 1),
    (5, 12, 7, 300_000, 60_000, 5, 262_227, 5, "PT 5회", "회원 요청으로 일시 중지",
     "2025-01-21 02:55:09", "2025-02-04 06:31:48", 0),
)  # fmt: skip

# The old tables: packages 1-2 only, INTEGER money, no fee columns.
TRAINING_SESSION_COLUMNS = (
    "id", "client_id", "trainer_id", "package_id", "session_date", "session_time",
    "session_duration", "session_cost", "status", "notes", "created_at", "completed_at",
)  # fmt: skip
TRAINING_SESSION_ROWS: tuple[Row, ...] = (
    (1, 3, 1, 1, "2024-04-23", "10:00:25.813560", 60, 60_000, "completed", "하체 위주",
     "2024-04-20 06:05:37", "2024-04-23 02:05:31"),
    (2, 3, 1, 1, "2024-04-30", "10:02:11.402917", 60, 60_000, "completed", None,
     "2024-04-23 02:06:02", "2024-04-30 01:58:40"),
    (3, 4, 2, 2, "2024-05-14", None, 60, 50_000, "completed", "",
     "2024-05-11 08:33:19", "2024-05-14 11:20:05"),
)  # fmt: skip

PAYMENT_RECORD_COLUMNS = (
    "id", "client_id", "trainer_id", "package_id", "amount", "payment_method", "payment_date",
    "description", "created_at",
)  # fmt: skip
PAYMENT_RECORD_ROWS: tuple[Row, ...] = (
    (1, 3, 1, 1, 300_000, "현금", "2024-04-20", "PT 5회 결제", "2024-04-20 06:02:11"),
    (2, 4, 2, 2, 600_000, "card", "2024-05-11", "PT 10회 결제", "2024-05-11 08:30:42"),
)  # fmt: skip

# The new tables: packages 3-5 only, REAL money, ids restarting at 1. Session 2
# has no trainer (the column may be NULL); its package's trainer is 5.
SESSION_COLUMNS = (
    "id", "client_id", "package_id", "session_date", "session_time", "session_duration",
    "session_cost", "status", "notes", "created_at", "completed_at", "trainer_id",
)  # fmt: skip
SESSION_ROWS: tuple[Row, ...] = (
    (1, 10, 3, "2024-09-17", "10:00:25.813560", 60, 60_000.0, "completed", "상체 루틴",
     "2024-09-14 03:15:20", "2024-09-17 02:04:48", 5),
    (2, 10, 3, "2024-09-24", None, 60, 60_000.0, "completed", None,
     "2024-09-17 02:05:13", "2024-09-24 01:59:02", None),
    (3, 11, 4, "2024-10-15", "18:30:40.227104", 60, 60_000.0, "cancelled", "회원 사정으로 취소",
     "2024-10-09 07:45:51", None, 6),
    (4, 10, 3, "2025-03-18", "19:00:12.004501", 60, 60_000.0, "scheduled", "",
     "2025-03-12 10:22:37", None, 5),
)  # fmt: skip

# Fee columns are added from the amount (`production_payments`).
PAYMENT_COLUMNS = (
    "id", "client_id", "package_id", "amount", "payment_method", "description", "payment_date",
    "created_at", "trainer_id",
)  # fmt: skip
PAYMENT_ROWS: tuple[Row, ...] = (
    (1, 10, 3, 1_980_000.0, "Package Purchase", "PT 30회", "2024-09-14", "2024-09-14 03:12:55", 5),
    (2, 11, 4, 600_000.0, "계좌이체", "PT 10회", "2024-10-09", "2024-10-09 07:41:30", 6),
    (3, 10, 3, 300_000.0, "카드", "5회 추가 결제", "2024-12-03", "2024-12-03 05:20:44", 5),
    (4, 12, 5, 300_000.0, "card", "PT 5회", "2025-01-21", "2025-01-21 02:55:09", 7),
)  # fmt: skip


@dataclass(frozen=True)
class TableRows:
    table: str
    columns: tuple[str, ...]
    rows: Iterable[Row]


def production_trainers() -> TableRows:
    rows = tuple(
        (id_, username, legacy_password_hash(SAMPLE_PASSWORDS[username], salt_seed=username), *rest)
        for id_, username, *rest in TRAINER_ROWS
    )
    return TableRows("trainers", TRAINER_COLUMNS_WITH_HASH, rows)


def production_clients() -> TableRows:
    rows = tuple((*row, "", "") for row in CLIENT_ROWS)
    return TableRows("clients", (*CLIENT_COLUMNS, "email", "phone"), rows)


def rows_from_records(
    records: Sequence[Mapping[str, object]], columns: Sequence[str]
) -> tuple[Row, ...]:
    """Records as rows of `columns`; a column a record leaves out is NULL."""
    for record in records:
        unknown = set(record) - set(columns)
        # A misspelt key would otherwise vanish into a NULL without a trace.
        assert not unknown, f"record {record.get('id')} has unknown columns {sorted(unknown)}"
    return tuple(tuple(record.get(column) for column in columns) for record in records)


def production_assessments(columns: Sequence[str]) -> TableRows:
    return TableRows("assessments", tuple(columns), rows_from_records(ASSESSMENT_RECORDS, columns))


def production_package_gross() -> dict[int, int]:
    """Each package's gross amount: the sum of its payments, old and new."""
    gross: Counter[int] = Counter()
    for _, _, _, package_id, amount, *_ in PAYMENT_RECORD_ROWS:
        gross[package_id] += amount
    for _, _, package_id, amount, *_ in PAYMENT_ROWS:
        gross[package_id] += int(amount)
    return dict(gross)


def production_packages() -> TableRows:
    gross = production_package_gross()
    rows = tuple((*row, *package_fee_columns(gross[row[0]])) for row in PACKAGE_ROWS)
    return TableRows("session_packages", (*PACKAGE_COLUMNS, *PACKAGE_FEE_COLUMNS), rows)


def production_payments() -> TableRows:
    rows = tuple((*row, *payment_fee_columns(int(row[3]))) for row in PAYMENT_ROWS)
    return TableRows("payments", (*PAYMENT_COLUMNS, *PAYMENT_FEE_COLUMNS), rows)


def production_tables(connection: sqlite3.Connection) -> list[TableRows]:
    return [
        production_trainers(),
        production_clients(),
        production_assessments(table_columns(connection, "assessments")),
        production_packages(),
        TableRows("training_sessions", TRAINING_SESSION_COLUMNS, TRAINING_SESSION_ROWS),
        TableRows("payment_records", PAYMENT_RECORD_COLUMNS, PAYMENT_RECORD_ROWS),
        TableRows("sessions", SESSION_COLUMNS, SESSION_ROWS),
        production_payments(),
        TableRows("fee_audit_log", (), ()),  # the app never wrote a row to it
    ]


def fill_production(connection: sqlite3.Connection) -> None:
    tables = production_tables(connection)
    # Every legacy table is declared, even the empty one, so that a table added
    # to the DDL cannot be left out of the sample unnoticed.
    declared = {table.table for table in tables}
    assert declared == set(legacy_tables(connection)), f"undeclared tables: {declared}"
    for table in tables:
        insert_rows(connection, table)


def write_production_sample(*, output: Path, overwrite: bool = False) -> SampleSummary:
    """Write a file with the production file's shape: 9 tables, 42 rows."""
    return write_atomically(output=Path(output), overwrite=overwrite, fill=fill_production)


# --- The chain sample: generated, scaled by its number of sessions --------------------

CHAIN_PASSWORD = "chain-studio-2024!"
CHAIN_SEED = 20240901

# Per 1,000,000 sessions (sessions + training_sessions); see ChainCounts.
CHAIN_SCALE = 1_000_000
TRAINERS_PER_SCALE = 1_000
CLIENTS_PER_SCALE = 50_000
ASSESSMENTS_PER_SCALE = 100_000
PACKAGES_PER_SCALE = 50_000
PAYMENTS_PER_SCALE = 250_000

# The chain's calendar, in days from CHAIN_START. Old tables were written up to
# the switch, new ones after it; TODAY is the file's date (later sessions are
# still scheduled). Trainers open the chain, clients join after them.
CHAIN_START = date(2021, 3, 1)
TRAINERS_UNTIL = 60
CLIENTS_UNTIL = 1_380
OLD_PACKAGES_UNTIL = 420
SWITCH_DAY = 480
NEW_PACKAGES_UNTIL = 1_370
LATER_SCORES_FROM = 700  # the app's ALTER TABLE adding the two later scores
TODAY = 1_420
OLD_SESSION_SPREAD = 60  # days after its package's purchase; keeps old rows before the switch
NEW_SESSION_SPREAD = 90
CALENDAR_DAYS = NEW_PACKAGES_UNTIL + NEW_SESSION_SPREAD + 1

SURNAMES = ("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신")
GIVEN_NAMES = (
    "민준", "서준", "도윤", "예준", "시우", "하준", "지호", "주원", "지우", "서연",
    "서윤", "지민", "하은", "수아", "지유", "채원", "예린", "유나", "현우", "도현",
)  # fmt: skip
PACKAGE_SIZES = (10, 10, 20, 20, 30)  # sessions bought with a package
TOP_UP_SIZES = (5, 5, 10)
SESSION_PRICES = (50_000, 55_000, 60_000, 60_000, 66_000, 70_000, 80_000)
PURCHASE_METHODS = ("Package Purchase", "Package Purchase", "card", "카드", "계좌이체")
TOP_UP_METHODS = ("카드", "card", "현금", "계좌이체", "카드")
SESSION_NOTES = (None, None, None, "", "", "하체 위주", "상체 루틴", "스트레칭", "컨디션 저조")
ASSESSMENT_NOTES = ("", "", "", "무릎이 안쪽으로 모임", "허리 처짐", "왼발 흔들림", "햄스트링 단축")
COMPENSATIONS = ("", "", "", "무릎 내회전", "상체 전방 기울기", "발뒤꿈치 들림", "요추 과신전")
ASSESSMENT_PROFILES = 500  # distinct sets of measures the assessments draw from


@dataclass(frozen=True)
class ChainShape:
    """How a chain's rows are spread over the old and new tables, and how much text they carry.

    `standard` is the file the benchmark has always written: a tenth of the
    packages, sessions and payments in the old tables. `old-half` is a chain
    that kept the old tables longer: half of the packages and sessions and a
    fifth of the payments there, and notes and descriptions left empty."""

    name: str
    old_package_share: int  # one package in this many was sold before the switch
    old_session_share: int
    old_payment_share: int
    session_notes: tuple[str | None, ...]
    assessment_notes: tuple[str, ...]
    compensations: tuple[str, ...]
    purchase_description: str  # formatted with the package's id
    top_up_description: str


CHAIN_SHAPES = {
    shape.name: shape
    for shape in (
        ChainShape(
            name="standard",
            old_package_share=10,
            old_session_share=10,
            old_payment_share=10,
            session_notes=SESSION_NOTES,
            assessment_notes=ASSESSMENT_NOTES,
            compensations=COMPENSATIONS,
            purchase_description="PT 패키지 {}",
            top_up_description="추가 결제",
        ),
        ChainShape(
            name="old-half",
            old_package_share=2,
            old_session_share=2,
            old_payment_share=5,
            session_notes=(None, None, None, "", ""),
            assessment_notes=("",),
            compensations=("",),
            purchase_description="",
            top_up_description="",
        ),
    )
}


@dataclass(frozen=True)
class ChainCounts:
    """Row counts of a chain file; the old tables get their share only when a
    package can be spared for them, since no package is used on both sides."""

    trainers: int
    clients: int
    assessments: int
    packages: int
    old_packages: int
    sessions: int
    training_sessions: int
    payments: int
    payment_records: int

    @classmethod
    def for_sessions(
        cls, total_sessions: int, shape: ChainShape = CHAIN_SHAPES["standard"]
    ) -> ChainCounts:
        def scaled(per_scale: int) -> int:
            return round(total_sessions * per_scale / CHAIN_SCALE)

        packages = max(1, scaled(PACKAGES_PER_SCALE))
        old_packages = min(max(1, packages // shape.old_package_share), packages - 1)
        training_sessions = total_sessions // shape.old_session_share if old_packages else 0
        # Every package is bought with a payment, so there are at least as many.
        all_payments = max(packages, scaled(PAYMENTS_PER_SCALE))
        payment_records = (
            max(old_packages, all_payments // shape.old_payment_share) if old_packages else 0
        )
        counts = cls(
            trainers=max(1, scaled(TRAINERS_PER_SCALE)),
            clients=max(1, scaled(CLIENTS_PER_SCALE)),
            assessments=scaled(ASSESSMENTS_PER_SCALE),
            packages=packages,
            old_packages=old_packages,
            sessions=total_sessions - training_sessions,
            training_sessions=training_sessions,
            payments=all_payments - payment_records,
            payment_records=payment_records,
        )
        assert counts.payments >= packages - old_packages, counts
        return counts


@dataclass(frozen=True)
class ChainPackage:
    id: int
    client_id: int
    trainer_id: int
    day: int
    session_price: int
    is_old: bool


@dataclass(frozen=True)
class ChainPayment:
    package: ChainPackage
    amount: int
    day: int
    method: str
    description: str


class DayText:
    """Calendar days as the legacy text: dates, and SQLite's UTC timestamps."""

    def __init__(self, rng: random.Random) -> None:
        self.dates = [
            (CHAIN_START + timedelta(days=day)).isoformat() for day in range(CALENDAR_DAYS)
        ]
        # Studio hours in Seoul are 00:00-14:00 UTC. A session is booked in the
        # first half of a day and completed in the second, so that one booked
        # for the same day is never completed before it was booked.
        self.utc_clocks = self.clocks(rng, 0, 14)
        self.booking_clocks = self.clocks(rng, 0, 7)
        self.completion_clocks = self.clocks(rng, 7, 14)
        # Written by Python's datetime.now().time(): local, with microseconds.
        self.local_times = [
            f"{rng.randrange(6, 23):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
            f".{rng.randrange(1_000_000):06d}"
            for _ in range(4_096)
        ]
        self.rng = rng

    @staticmethod
    def clocks(rng: random.Random, first_hour: int, until_hour: int) -> list[str]:
        return [
            f"{rng.randrange(first_hour, until_hour):02d}:{rng.randrange(60):02d}"
            f":{rng.randrange(60):02d}"
            for _ in range(4_096)
        ]

    def timestamp(self, day: int) -> str:
        """A CURRENT_TIMESTAMP value of that day (UTC, no fraction)."""
        return f"{self.dates[day]} {self.rng.choice(self.utc_clocks)}"

    def local_now(self, day: int) -> str:
        """A datetime.now() value of that day (local, with a fraction)."""
        return f"{self.dates[day]} {self.rng.choice(self.local_times)}"


def sorted_days(rng: random.Random, count: int, first: int, until: int) -> list[int]:
    # Sorted so that ids follow creation order, as AUTOINCREMENT ids do.
    return sorted(rng.randrange(first, until) for _ in range(count))


def chain_trainer_rows(rng: random.Random, days: DayText, trainer_days: list[int]) -> list[Row]:
    password_hash = legacy_password_hash(CHAIN_PASSWORD, salt_seed="chain")
    rows = []
    for index, day in enumerate(trainer_days, start=1):
        username = f"coach{index:04d}"
        login_day = rng.randrange(TODAY - 60, TODAY)
        last_login = rng.choice(
            (days.local_now(login_day), days.timestamp(login_day), days.local_now(login_day), None)
        )
        failed_attempts = rng.choice((0, 0, 0, 0, 0, 0, 1, 2))
        # A lock of 5 minutes, long expired: every chain trainer can log in.
        locked_until = (
            days.local_now(login_day - 1).replace(" ", "T") if failed_attempts == 2 else None
        )
        rows.append(
            (index, username, password_hash, rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES),
             f"{username}@studio-chain.example", days.timestamp(day), last_login,
             failed_attempts, locked_until)
        )  # fmt: skip
    return rows


CHAIN_CLIENT_COLUMNS = (*CLIENT_COLUMNS[:7], "email", "phone", *CLIENT_COLUMNS[7:])


def chain_client_rows(
    rng: random.Random, days: DayText, client_days: list[int], trainers: int
) -> tuple[list[Row], list[int]]:
    """Client rows (ids from 3, as in production) and each client's trainer by index."""
    rows, client_trainers = [], []
    for index, day in enumerate(client_days):
        trainer_id = rng.randrange(1, trainers + 1)
        is_male = rng.random() < 0.45
        height = round(rng.gauss(174.0 if is_male else 161.0, 6.0), 1)
        weight = round(rng.gauss(75.0 if is_male else 56.0, 9.0), 1)
        empty_text = rng.choice(("", None))  # the app stored '' as often as NULL
        created_at = days.timestamp(day)
        rows.append(
            (index + 3, trainer_id, rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES),
             rng.randrange(18, 76), "남성" if is_male else "여성", height, max(weight, 38.0),
             empty_text, empty_text, created_at, created_at)
        )  # fmt: skip
        client_trainers.append(trainer_id)
    return rows, client_trainers


def random_assessment_profile(rng: random.Random, shape: ChainShape) -> dict[str, object]:
    """The measures of one assessment (everything but who, when and the later scores)."""
    notes, compensations = shape.assessment_notes, shape.compensations
    scores = [rng.randint(1, 3) for _ in range(4)]

    def seconds(high: float) -> float:
        return round(rng.uniform(1.0, high), 2)

    def out_of_100(score: int) -> float:
        return round(min(100.0, max(0.0, score * 30.0 + rng.uniform(-15.0, 15.0))), 1)

    return dict(
        overhead_squat_score=scores[0], overhead_squat_notes=rng.choice(notes),
        overhead_squat_compensations=rng.choice(compensations),
        push_up_score=scores[1], push_up_reps=rng.randrange(0, 45),
        push_up_notes=rng.choice(notes), push_up_compensations=rng.choice(compensations),
        single_leg_balance_left_eyes_open=seconds(30.0),
        single_leg_balance_right_eyes_open=seconds(30.0),
        single_leg_balance_left_eyes_closed=seconds(10.0),
        single_leg_balance_right_eyes_closed=seconds(10.0),
        single_leg_balance_notes=rng.choice(notes),
        toe_touch_score=scores[2], toe_touch_distance=round(rng.uniform(-20.0, 15.0) * 2) / 2,
        toe_touch_notes=rng.choice(notes), toe_touch_compensations="",
        shoulder_mobility_left=round(rng.uniform(2.0, 25.0) * 2) / 2,
        shoulder_mobility_right=round(rng.uniform(2.0, 25.0) * 2) / 2,
        shoulder_mobility_notes="", shoulder_mobility_compensations="",
        farmer_carry_weight=float(rng.choice((10, 12, 16, 20, 24, 28, 32, 40))),
        farmer_carry_distance=float(rng.choice((20, 30, 40, 40))),
        farmer_carry_notes="", farmer_carry_compensations=rng.choice(compensations),
        harvard_step_test_heart_rate=rng.randrange(110, 180),
        # Most finish the 3 minutes; the rest stop early.
        harvard_step_test_duration=rng.choice((180.0, 180.0, round(rng.uniform(60, 179), 1))),
        harvard_step_test_notes="",
        overall_score=out_of_100(round(sum(scores) / 4)), strength_score=out_of_100(scores[1]),
        mobility_score=out_of_100(scores[2]), balance_score=out_of_100(scores[0]),
        cardio_score=out_of_100(scores[3]),
    )  # fmt: skip


def chain_assessment_rows(
    rng: random.Random, days: DayText, counts: ChainCounts, client_days: list[int],
    client_trainers: list[int], shape: ChainShape,
) -> TableRows:  # fmt: skip
    profiles = [random_assessment_profile(rng, shape) for _ in range(ASSESSMENT_PROFILES)]
    measure_columns = tuple(profiles[0])
    profile_rows = [tuple(profile.values()) for profile in profiles]
    rows = []
    for assessment_id in range(1, counts.assessments + 1):
        client_index = rng.randrange(counts.clients)
        day = rng.randrange(client_days[client_index], TODAY)
        later_scores = (
            (rng.randint(1, 3), rng.randint(1, 3)) if day >= LATER_SCORES_FROM else (None, None)
        )
        rows.append(
            (assessment_id, client_index + 3, client_trainers[client_index], days.dates[day],
             *rng.choice(profile_rows), days.timestamp(day), *later_scores)
        )  # fmt: skip
    columns = (
        "id", "client_id", "trainer_id", "date", *measure_columns, "created_at",
        "shoulder_mobility_score", "farmer_carry_score",
    )  # fmt: skip
    return TableRows("assessments", columns, rows)


def chain_packages(
    rng: random.Random, counts: ChainCounts, client_days: list[int], client_trainers: list[int]
) -> list[ChainPackage]:
    """Packages in purchase order: the old ones before the switch, the rest after it."""
    new_packages = counts.packages - counts.old_packages
    package_days = sorted_days(rng, counts.old_packages, client_days[0], OLD_PACKAGES_UNTIL)
    package_days += sorted_days(rng, new_packages, SWITCH_DAY, NEW_PACKAGES_UNTIL)
    packages = []
    for index, day in enumerate(package_days):
        # Bought by a client who had already joined.
        client_index = rng.randrange(bisect_right(client_days, day))
        packages.append(
            ChainPackage(
                id=index + 1,
                client_id=client_index + 3,
                trainer_id=client_trainers[client_index],
                day=day,
                session_price=rng.choice(SESSION_PRICES),
                is_old=index < counts.old_packages,
            )
        )
    return packages


def chain_payments(
    rng: random.Random, packages: list[ChainPackage], count: int, shape: ChainShape
) -> list[ChainPayment]:
    """Each package's purchase, then top-ups of random packages, up to `count`."""
    if not packages:
        return []
    # Old tables stopped growing at the switch.
    last_day = SWITCH_DAY - 1 if packages[0].is_old else TODAY
    payments = [
        ChainPayment(
            package=package,
            amount=rng.choice(PACKAGE_SIZES) * package.session_price,
            day=package.day,
            method=rng.choice(PURCHASE_METHODS),
            description=shape.purchase_description.format(package.id),
        )
        for package in packages
    ]
    for _ in range(count - len(packages)):
        package = rng.choice(packages)
        payments.append(
            ChainPayment(
                package=package,
                amount=rng.choice(TOP_UP_SIZES) * package.session_price,
                day=min(package.day + rng.randrange(1, 120), last_day),
                method=rng.choice(TOP_UP_METHODS),
                description=shape.top_up_description,
            )
        )
    return payments


def chain_payment_tables(
    rng: random.Random, days: DayText, old_payments: list[ChainPayment],
    new_payments: list[ChainPayment],
) -> list[TableRows]:  # fmt: skip
    record_rows = (
        (index, p.package.client_id, p.package.trainer_id, p.package.id, p.amount, p.method,
         days.dates[p.day], p.description, days.timestamp(p.day))
        for index, p in enumerate(old_payments, start=1)
    )  # fmt: skip
    payment_rows = (
        (index, p.package.client_id, p.package.id, float(p.amount), p.method, p.description,
         days.dates[p.day], days.timestamp(p.day),
         None if rng.random() < 0.01 else p.package.trainer_id, *payment_fee_columns(p.amount))
        for index, p in enumerate(new_payments, start=1)
    )  # fmt: skip
    return [
        TableRows("payment_records", PAYMENT_RECORD_COLUMNS, record_rows),
        TableRows("payments", (*PAYMENT_COLUMNS, *PAYMENT_FEE_COLUMNS), payment_rows),
    ]


def chain_session_columns(
    rng: random.Random,
    days: DayText,
    packages: list[ChainPackage],
    count: int,
    *,
    spread: int,
    notes: Sequence[str | None],
) -> dict[str, Sequence[object] | Iterable[object]]:
    """The columns of `count` sessions on `packages`, each built for all rows at once.

    A million rows leave no room for a Python call per row: every column is a
    list made by `choices` or a C-level `map`, zipped into rows by the caller.
    """
    chosen = rng.choices(packages, k=count)
    offsets = rng.choices(range(spread), k=count)
    session_days = list(map(add, (package.day for package in chosen), offsets))
    # Booked up to a week ahead, never before the package was bought.
    leads = rng.choices(range(8), k=count)
    booked_days = [
        day - min(offset, lead)
        for day, offset, lead in zip(session_days, offsets, leads, strict=True)
    ]
    outcomes = rng.choices(("completed", "cancelled"), weights=(95, 5), k=count)
    statuses = ["scheduled" if day > TODAY else outcome
                for day, outcome in zip(session_days, outcomes, strict=True)]  # fmt: skip
    dates = days.dates
    # One session in five has no time of day, as in the legacy file.
    time_weights = (len(days.local_times), *repeat(4, len(days.local_times)))
    return {
        "client_id": [package.client_id for package in chosen],
        "trainer_id": [package.trainer_id for package in chosen],
        "package_id": [package.id for package in chosen],
        "session_date": map(dates.__getitem__, session_days),
        "session_time": rng.choices((None, *days.local_times), weights=time_weights, k=count),
        "session_duration": rng.choices((60, 60, 60, 60, 60, 60, 50, 90), k=count),
        "session_price": [package.session_price for package in chosen],
        "status": statuses,
        "notes": rng.choices(notes, k=count),
        "created_at": map(
            "{} {}".format,
            map(dates.__getitem__, booked_days),
            rng.choices(days.booking_clocks, k=count),
        ),
        "completed_at": (
            f"{dates[day]} {clock}" if status == "completed" else None
            for day, status, clock in zip(
                session_days, statuses, rng.choices(days.completion_clocks, k=count), strict=True
            )
        ),
    }


def chain_session_tables(
    rng: random.Random, days: DayText, packages: list[ChainPackage], counts: ChainCounts,
    shape: ChainShape,
) -> tuple[list[TableRows], Counter[int]]:  # fmt: skip
    """Both session tables, and how many sessions each package has had."""
    old_packages = packages[: counts.old_packages]
    new_packages = packages[counts.old_packages :]
    old = chain_session_columns(
        rng, days, old_packages, counts.training_sessions, spread=OLD_SESSION_SPREAD,
        notes=shape.session_notes,
    )  # fmt: skip
    new = chain_session_columns(
        rng, days, new_packages, counts.sessions, spread=NEW_SESSION_SPREAD,
        notes=shape.session_notes,
    )  # fmt: skip
    sessions_per_package = Counter(old["package_id"]) + Counter(new["package_id"])
    new_trainers = list(new["trainer_id"])
    # The new table's trainer_id may be NULL; the importer infers it from the package.
    for index in rng.sample(range(counts.sessions), counts.sessions // 100):
        new_trainers[index] = None
    training_rows = zip(
        range(1, counts.training_sessions + 1), old["client_id"], old["trainer_id"],
        old["package_id"], old["session_date"], old["session_time"], old["session_duration"],
        old["session_price"], old["status"], old["notes"], old["created_at"], old["completed_at"],
        strict=True,
    )  # fmt: skip
    session_rows = zip(
        range(1, counts.sessions + 1), new["client_id"], new["package_id"], new["session_date"],
        new["session_time"], new["session_duration"], map(float, new["session_price"]),
        new["status"], new["notes"], new["created_at"], new["completed_at"], new_trainers,
        strict=True,
    )  # fmt: skip
    return [
        TableRows("training_sessions", TRAINING_SESSION_COLUMNS, training_rows),
        TableRows("sessions", SESSION_COLUMNS, session_rows),
    ], sessions_per_package


def chain_package_rows(
    days: DayText, packages: list[ChainPackage], payments: list[ChainPayment],
    sessions_per_package: Counter[int],
) -> TableRows:  # fmt: skip
    gross: Counter[int] = Counter()
    last_payment_day: dict[int, int] = {}
    for payment in payments:
        gross[payment.package.id] += payment.amount
        last_payment_day[payment.package.id] = max(
            payment.day, last_payment_day.get(payment.package.id, 0)
        )
    rows = []
    for package in packages:
        _, _, _, net = legacy_fee_breakdown(gross[package.id])
        # The app's older rule counted sessions from the net amount, its newer one from gross.
        total_sessions = (net if package.is_old else gross[package.id]) // package.session_price
        remaining_sessions = max(0, total_sessions - sessions_per_package[package.id])
        remaining_credits = net * remaining_sessions // total_sessions if total_sessions else 0
        created_at = days.timestamp(package.day)
        last_day = last_payment_day[package.id]
        updated_at = created_at if last_day == package.day else days.timestamp(last_day)
        rows.append(
            (package.id, package.client_id, package.trainer_id, gross[package.id],
             package.session_price, total_sessions, remaining_credits, remaining_sessions,
             f"PT {total_sessions}회", None, created_at, updated_at, int(remaining_sessions > 0),
             *package_fee_columns(gross[package.id]))
        )  # fmt: skip
    return TableRows("session_packages", (*PACKAGE_COLUMNS, *PACKAGE_FEE_COLUMNS), rows)


def chain_tables(total_sessions: int, shape: ChainShape) -> Iterable[TableRows]:
    """The chain's tables in an order where every row's references are already made."""
    counts = ChainCounts.for_sessions(total_sessions, shape)
    rng = random.Random(CHAIN_SEED)
    days = DayText(rng)
    trainer_days = sorted_days(rng, counts.trainers, 0, TRAINERS_UNTIL)
    client_days = sorted_days(rng, counts.clients, TRAINERS_UNTIL, CLIENTS_UNTIL)
    client_days[0] = TRAINERS_UNTIL  # so that even the first package has a client
    yield TableRows(
        "trainers", TRAINER_COLUMNS_WITH_HASH, chain_trainer_rows(rng, days, trainer_days)
    )
    client_rows, client_trainers = chain_client_rows(rng, days, client_days, counts.trainers)
    yield TableRows("clients", CHAIN_CLIENT_COLUMNS, client_rows)
    yield chain_assessment_rows(rng, days, counts, client_days, client_trainers, shape)
    packages = chain_packages(rng, counts, client_days, client_trainers)
    old_payments = chain_payments(
        rng, packages[: counts.old_packages], counts.payment_records, shape
    )
    new_payments = chain_payments(rng, packages[counts.old_packages :], counts.payments, shape)
    session_tables, sessions_per_package = chain_session_tables(rng, days, packages, counts, shape)
    yield chain_package_rows(days, packages, old_payments + new_payments, sessions_per_package)
    yield from session_tables
    yield from chain_payment_tables(rng, days, old_payments, new_payments)
    yield TableRows("fee_audit_log", (), ())


def write_chain_sample(
    *, output: Path, sessions: int, shape: str = "standard", overwrite: bool = False
) -> SampleSummary:
    """Write a studio chain's file with `sessions` sessions, old and new tables together,
    spread as the named shape (`CHAIN_SHAPES`) spreads them."""
    if sessions < 1:
        raise ValueError(f"a chain sample needs at least 1 session, not {sessions}")
    chain_shape = CHAIN_SHAPES[shape]

    def fill(connection: sqlite3.Connection) -> None:
        for table in chain_tables(sessions, chain_shape):
            insert_rows(connection, table)

    return write_atomically(output=Path(output), overwrite=overwrite, fill=fill)


# --- Writing a file safely ----------------------------------------------------------------


def legacy_tables(connection: sqlite3.Connection) -> list[str]:
    return [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        )
    ]


def table_columns(connection: sqlite3.Connection, table: str) -> tuple[str, ...]:
    return tuple(
        name for (name,) in connection.execute("SELECT name FROM pragma_table_info(?)", (table,))
    )


def insert_rows(connection: sqlite3.Connection, table: TableRows) -> None:
    if not table.columns:
        return
    names = ", ".join(table.columns)
    placeholders = ", ".join(repeat("?", len(table.columns)))
    connection.executemany(
        f"INSERT INTO {table.table} ({names}) VALUES ({placeholders})", table.rows
    )


def row_counts(connection: sqlite3.Connection) -> dict[str, int]:
    return {
        table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in legacy_tables(connection)
    }


def refuse_to_overwrite(output: Path, overwrite: bool) -> None:
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} already exists; pass overwrite=True to replace it")


def create_temp_file_beside(output: Path) -> Path:
    # Beside the output, so that the final rename stays on one file system.
    # Not tempfile.mkstemp: its 0600 mode would outlive the rename, while
    # os.open's 0666 honours the umask like any file the user creates.
    temp_path = output.with_name(f".{output.name}.{secrets.token_hex(6)}.tmp")
    os.close(os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return temp_path


def write_atomically(
    *,
    output: Path,
    overwrite: bool,
    fill: Callable[[sqlite3.Connection], None],
    ddl: str | None = None,
) -> SampleSummary:
    """Build the file beside `output` and rename it into place once it is complete.

    `ddl` is the schema (the newest, `schema_sql()`, unless given)."""
    refuse_to_overwrite(output, overwrite)
    temp_path = create_temp_file_beside(output)
    try:
        counts = build_file(temp_path, fill, ddl or schema_sql())
        with temp_path.open("rb") as written:
            os.fsync(written.fileno())  # the rename must not outlive the data on a crash
        refuse_to_overwrite(output, overwrite)  # it may have appeared while we wrote
        os.replace(temp_path, output)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return SampleSummary(path=output, row_counts=counts)


def build_file(path: Path, fill: Callable[[sqlite3.Connection], None], ddl: str) -> dict[str, int]:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # A half-written temp file is deleted, never used, so it needs no journal.
        connection.execute("PRAGMA journal_mode = OFF")
        connection.execute("PRAGMA synchronous = OFF")
        connection.executescript(ddl)
        connection.execute("BEGIN")
        fill(connection)
        connection.execute("COMMIT")
        return row_counts(connection)
    finally:
        connection.close()
