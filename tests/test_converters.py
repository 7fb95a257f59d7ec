"""The pure conversions, without a database."""

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import bcrypt
import pytest
from django.contrib.auth.hashers import check_password, is_password_usable, make_password

from migration.mapping import converters as t
from migration.mapping.converters import LegacyValueError, ValueProblem
from migration.mapping.passwords import is_made_by_the_import, stored_password

SEOUL = ZoneInfo("Asia/Seoul")


def problem_of(convert, raw) -> ValueProblem:
    with pytest.raises(LegacyValueError) as caught:
        convert(raw)
    return caught.value.problem


class TestTimestamps:
    def test_sqlite_current_timestamp_is_utc(self):
        assert t.legacy_timestamp("2024-03-01 09:00:00") == datetime(2024, 3, 1, 9, tzinfo=UTC)

    def test_python_now_with_fraction_is_studio_local_time(self):
        moment = t.legacy_timestamp("2024-03-01 18:00:00.123456")
        assert moment == datetime(2024, 3, 1, 18, 0, 0, 123456, tzinfo=SEOUL)
        assert moment.astimezone(UTC) == datetime(2024, 3, 1, 9, 0, 0, 123456, tzinfo=UTC)

    def test_isoformat_with_t_is_studio_local_time(self):
        # locked_until is written with isoformat(), which drops a zero fraction.
        assert t.legacy_timestamp("2024-03-01T18:05:00") == datetime(
            2024, 3, 1, 18, 5, tzinfo=SEOUL
        )

    def test_explicit_offset_is_respected(self):
        moment = t.legacy_timestamp("2024-03-01T18:05:00+01:00")
        assert moment.utcoffset() == timedelta(hours=1)
        # As long as SQLite's shape, but with an offset: not UTC.
        assert t.legacy_timestamp("2024-03-01 18:05+09") == datetime(2024, 3, 1, 9, 5, tzinfo=UTC)

    def test_the_studio_zone_can_be_given(self):
        plus_two = timezone(timedelta(hours=2))
        moment = t.legacy_timestamp("2024-03-01 10:00:00.5", legacy_tz=plus_two)
        assert moment.astimezone(UTC).hour == 8

    @pytest.mark.parametrize("raw", [None, ""])
    def test_empty_is_none(self, raw):
        assert t.legacy_timestamp(raw) is None

    @pytest.mark.parametrize(
        "raw",
        [
            "01/03/2024 10:00",
            "2024-03-01",
            "yesterday",
            "2024-13-01 10:00:00",
            "2024-02-30 10:00:00",  # in SQLite's shape, but no such day
            "2024-03-01 24:00:00",
            "2024-03-01 09:00:0x",  # SQLite's punctuation, not its digits
            "２０２４-03-01 09:00:00",  # digits, but not ASCII ones
        ],
    )
    def test_unreadable(self, raw):
        assert problem_of(t.legacy_timestamp, raw) is ValueProblem.UNREADABLE

    def test_a_number_is_the_wrong_type(self):
        assert problem_of(t.legacy_timestamp, 1709283600) is ValueProblem.WRONG_TYPE

    def test_required_timestamp_refuses_empty(self):
        assert problem_of(t.required_timestamp, None) is ValueProblem.MISSING


class TestDatesAndTimes:
    def test_plain_date(self):
        assert t.plain_date("2024-02-29") == date(2024, 2, 29)

    @pytest.mark.parametrize("raw", ["2023-02-29", "05/03/2024", "20240305", "2024-03-05 10:00:00"])
    def test_unreadable_dates(self, raw):
        assert problem_of(t.plain_date, raw) is ValueProblem.UNREADABLE

    def test_time_of_day_keeps_microseconds(self):
        assert t.time_of_day("10:00:25.813560") == time(10, 0, 25, 813560)

    def test_time_of_day_may_be_absent(self):
        assert t.time_of_day(None) is None
        assert t.time_of_day("") is None

    def test_time_of_day_unreadable(self):
        assert problem_of(t.time_of_day, "25:00") is ValueProblem.UNREADABLE

    @pytest.mark.parametrize(
        ("convert", "raw"),
        [
            (t.time_of_day, "10:00:25.813560\x00"),
            (t.time_of_day, "10:00:25\x00 and more"),
            (t.legacy_timestamp, "2024-03-01 09:00:00\x00"),
            (t.legacy_timestamp, "2024-03-01 09:00:00.123456\x00 and more"),
        ],
    )
    def test_a_nul_does_not_end_a_time(self, convert, raw):
        # Python's fromisoformat() stops reading at a NUL: what follows it is not ignored here.
        assert problem_of(convert, raw) is ValueProblem.UNREADABLE


class TestText:
    def test_optional_text_empty_becomes_null(self):
        convert = t.optional_text()
        assert convert("") is None
        assert convert(None) is None
        assert convert("010-1234-5678") == "010-1234-5678"

    def test_required_text_refuses_empty(self):
        assert problem_of(t.text(), "") is ValueProblem.MISSING

    def test_verbatim_text_keeps_empty(self):
        assert t.verbatim_text("") == ""
        assert t.verbatim_text(None) is None

    @pytest.mark.parametrize("convert", [t.text(), t.optional_text(), t.verbatim_text])
    def test_nul_cannot_be_stored(self, convert):
        assert problem_of(convert, "Kim\x00") is ValueProblem.UNSTORABLE_TEXT

    @pytest.mark.parametrize("convert", [t.text(), t.optional_text(), t.verbatim_text])
    def test_invalid_utf8_cannot_be_stored(self, convert):
        # The reader decodes with surrogateescape, so bad bytes arrive as lone surrogates.
        raw = b"Kim \xff".decode("utf-8", "surrogateescape")
        assert problem_of(convert, raw) is ValueProblem.UNSTORABLE_TEXT

    @pytest.mark.parametrize("convert", [t.text(5), t.optional_text(5)])
    def test_too_long(self, convert):
        assert convert("abcde") == "abcde"
        assert problem_of(convert, "abcdef") is ValueProblem.OUT_OF_RANGE

    def test_a_number_in_a_text_column_is_its_digits(self):
        assert t.text()(42) == t.optional_text()(42) == t.verbatim_text(42) == "42"

    def test_korean_text_is_kept(self):
        assert t.text()("스쿼트 시 무릎이 안쪽으로") == "스쿼트 시 무릎이 안쪽으로"


class TestNumbers:
    def test_won_from_integer_and_real_is_exact(self):
        convert = t.won()
        assert convert(300000) == Decimal(300000)
        assert convert(300000.0) == Decimal(300000)
        assert isinstance(convert(300000.0), Decimal)

    def test_fractional_won_is_refused(self):
        assert problem_of(t.won(), 300000.5) is ValueProblem.OUT_OF_RANGE

    def test_negative_won_is_refused_unless_allowed(self):
        assert problem_of(t.won(), -1) is ValueProblem.OUT_OF_RANGE
        assert t.won(minimum=None)(-1) == Decimal(-1)

    def test_text_in_a_money_column(self):
        assert problem_of(t.won(), "300,000") is ValueProblem.WRONG_TYPE

    def test_integer_range(self):
        age = t.integer(0, 150)
        assert age(35) == 35
        assert problem_of(age, 400) is ValueProblem.OUT_OF_RANGE
        assert problem_of(age, "thirty") is ValueProblem.WRONG_TYPE
        assert problem_of(age, 35.5) is ValueProblem.WRONG_TYPE

    def test_integers_beyond_64_bits_are_out_of_range(self):
        # SQLite stores such a number as REAL; it cannot be an id.
        assert problem_of(t.legacy_id, float(2**70)) is ValueProblem.OUT_OF_RANGE

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (1, 1),
            (2**63 - 2, 2**63 - 2),
            (2**63 - 1, ValueProblem.OUT_OF_RANGE),  # bigint's last: the id sequence's
            (7.0, 7),  # a whole REAL is the id it equals
            (0, ValueProblem.OUT_OF_RANGE),
            (-3, ValueProblem.OUT_OF_RANGE),
            (2**63, ValueProblem.OUT_OF_RANGE),
            (True, ValueProblem.WRONG_TYPE),  # an int to Python, not an id
            (7.5, ValueProblem.WRONG_TYPE),
            ("7", ValueProblem.WRONG_TYPE),
            (None, ValueProblem.MISSING),
            ("", ValueProblem.MISSING),
        ],
    )
    def test_an_id_is_a_whole_number_from_1(self, raw, expected):
        if isinstance(expected, ValueProblem):
            assert problem_of(t.legacy_id, raw) is expected
        else:
            assert t.legacy_id(raw) == expected and type(t.legacy_id(raw)) is int

    def test_real_keeps_fractions(self):
        assert t.real(0)(12.37) == 12.37
        assert t.real(0)(12) == 12.0 and type(t.real(0)(12)) is float
        assert problem_of(t.real(0), float("nan")) is ValueProblem.OUT_OF_RANGE

    @pytest.mark.parametrize(
        "convert, raw",
        [
            (t.real(0), float("inf")),
            (t.real(None), float("-inf")),
            (t.real(None, None), float("nan")),
            (t.real(0), -0.5),
            (t.real(0, 10), 10.5),
        ],
    )
    def test_real_refuses_what_is_out_of_its_bounds_or_not_finite(self, convert, raw):
        assert problem_of(convert, raw) is ValueProblem.OUT_OF_RANGE

    def test_rate_keeps_0_035_exactly(self):
        assert t.rate(0.035) == Decimal("0.035")
        assert t.rate(0.1) == Decimal("0.1")
        assert problem_of(t.rate, 1.5) is ValueProblem.OUT_OF_RANGE

    def test_boolean(self):
        assert t.boolean(1) is True
        assert t.boolean(0) is False
        assert problem_of(t.boolean, "yes") is ValueProblem.WRONG_TYPE


class TestVocabularies:
    @pytest.mark.parametrize(
        ("raw", "expected"), [("남성", "male"), ("여성", "female"), (" 여성 ", "female")]
    )
    def test_gender(self, raw, expected):
        assert t.gender(raw) == expected

    def test_unknown_gender(self):
        assert problem_of(t.gender, "여자") is ValueProblem.UNKNOWN_CHOICE

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("card", "card"),
            ("카드", "card"),
            ("Package Purchase", "card"),
            ("현금", "cash"),
            ("계좌이체", "transfer"),
            ("상품권", "other"),
            ("", None),
            (None, None),
        ],
    )
    def test_payment_method(self, raw, expected):
        assert t.payment_method(raw) == expected

    def test_session_status(self):
        assert t.session_status("cancelled") == "cancelled"
        assert problem_of(t.session_status, "done") is ValueProblem.UNKNOWN_CHOICE


class TestTrainers:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("Kim Min Jun", ("Kim", "Min Jun")),
            ("김민준", ("김민준", "")),
            ("  Lee  Sol ", ("Lee", "Sol")),
        ],
    )
    def test_split_name(self, name, expected):
        assert t.split_name(name) == expected

    def test_bcrypt_hash_is_recognised(self):
        valid = "$2b$12$" + "a" * 53
        assert t.is_legacy_bcrypt(valid)
        assert not t.is_legacy_bcrypt(valid[:-1])
        assert not t.is_legacy_bcrypt("sha256$salt$abcdef")
        assert not t.is_legacy_bcrypt(valid.encode())

    def test_a_username_is_kept_as_the_new_app_keeps_it(self):
        # NFKC, as Django's user model and its login form normalise it.
        assert t.username("kim.trainer") == "kim.trainer"
        assert t.username("\uff4bim") == "kim"  # a fullwidth k
        with pytest.raises(LegacyValueError) as refused:
            t.username("\ufdfa" * 9)  # 9 characters, 162 once normalised
        assert refused.value.problem is ValueProblem.OUT_OF_RANGE
        with pytest.raises(LegacyValueError):
            t.username("")

    def test_a_hash_of_no_known_format_becomes_unusable(self):
        # A salt glued to a SHA-256 digest: no generation of the app wrote that.
        password = stored_password(
            t.legacy_password(
                "f3a9c1$5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
            ),
            7,
        )
        assert not is_password_usable(password)
        assert "5e884898" not in password
        # The import's own: known again on a re-run, and not another trainer's.
        assert is_made_by_the_import(password, 7)
        assert not is_made_by_the_import(password, 8)
        assert not is_made_by_the_import(make_password(None), 7)

    def test_bcrypt_hash_checks_the_old_password(self):
        legacy_hash = bcrypt.hashpw(b"studio-pass-1", bcrypt.gensalt(4)).decode()
        password = t.legacy_password(legacy_hash)
        assert check_password("studio-pass-1", password)
        assert not check_password("studio-pass-2", password)

    def test_long_password_checks_like_the_legacy_app(self):
        long_password = "트레이너의 아주 긴 비밀번호" * 4  # well over 72 bytes in UTF-8
        assert len(long_password.encode()) > 72
        legacy_hash = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(4)).decode()
        assert check_password(long_password, t.legacy_password(legacy_hash))


class TestLimitsOfTheTarget:
    def test_a_name_part_longer_than_djangos_150_characters(self):
        assert problem_of(t.first_name, "가" * 151 + " Kim") is ValueProblem.OUT_OF_RANGE
        assert t.first_name("가" * 150 + " Kim") == "가" * 150

    def test_remaining_counters_may_be_negative_but_must_fit(self):
        from migration.mapping.specs import SESSION_PACKAGES

        convert = {c.column: c.convert for c in SESSION_PACKAGES.columns}
        assert convert["remaining_credits"](-5000) == Decimal(-5000)
        assert problem_of(convert["remaining_credits"], -(10**15)) is ValueProblem.OUT_OF_RANGE
        assert problem_of(convert["remaining_sessions"], -(2**31) - 1) is ValueProblem.OUT_OF_RANGE


def test_a_converter_that_remembers_values_tells_equal_values_of_other_types_apart():
    # integer, won and plain_date remember what they converted (a chain repeats
    # its dates and amounts): 1, 1.0 and True are equal in Python, not here.
    count, amount = t.integer(), t.won()
    assert count(1) == 1 and count(1.0) == 1
    assert amount(300000) == amount(300000.0) == Decimal(300000)
    for convert in (count, amount):
        with pytest.raises(LegacyValueError) as error:
            convert(True)
        assert error.value.problem == ValueProblem.WRONG_TYPE
    # A value refused once is refused again (a refusal is not remembered as a value).
    for _ in range(2):
        with pytest.raises(LegacyValueError):
            t.plain_date("2024-02-30")


class TestMomentsTheTargetReadsBack:
    """The target keeps a moment as UTC, and reads back only years 1 to 9999 of it."""

    @pytest.mark.parametrize(
        "raw",
        [
            "0001-01-01 00:00:00.5",  # Seoul time in year 1: year 0 in UTC
            "0001-01-01T08:00:00",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31 23:59:59.999999-00:01",
        ],
    )
    def test_a_moment_outside_years_1_to_9999_in_utc(self, raw):
        assert problem_of(t.legacy_timestamp, raw) is ValueProblem.OUT_OF_RANGE
        assert problem_of(t.required_timestamp, raw) is ValueProblem.OUT_OF_RANGE

    @pytest.mark.parametrize(
        ("raw", "in_utc"),
        [
            ("0001-01-01 00:00:00", datetime(1, 1, 1, tzinfo=UTC)),  # SQLite's shape: UTC
            ("0001-01-01 09:00:00.000000", datetime(1, 1, 1, 0, 32, 8, tzinfo=UTC)),
            ("9999-12-31 23:59:59.999999", datetime(9999, 12, 31, 14, 59, 59, 999999, tzinfo=UTC)),
            ("9999-12-31T23:59:59+00:00", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ],
    )
    def test_a_moment_at_the_edges_of_utcs_years(self, raw, in_utc):
        # Seoul kept local mean time (+08:27:52) until 1908.
        assert t.legacy_timestamp(raw).astimezone(UTC) == in_utc


def nested_lists(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


class TestJsonThatComesBackUnchanged:
    """JSON goes through PostgreSQL, Python's json and orjson: it must come back as it went."""

    @pytest.mark.parametrize(
        ("raw", "problem"),
        [
            ('{"fee": NaN}', ValueProblem.UNREADABLE),
            ("Infinity", ValueProblem.UNREADABLE),
            ("[-Infinity]", ValueProblem.UNREADABLE),
            ("[1e400]", ValueProblem.OUT_OF_RANGE),  # Python reads inf
            ("[1e16]", ValueProblem.OUT_OF_RANGE),  # PostgreSQL gives 10000000000000000 back
            ("[-1.5e300]", ValueProblem.OUT_OF_RANGE),
            ("[18446744073709551616]", ValueProblem.OUT_OF_RANGE),  # 2**64: past orjson's
            ("[-9223372036854775809]", ValueProblem.OUT_OF_RANGE),
            ("[" + "9" * 5000 + "]", ValueProblem.OUT_OF_RANGE),  # past int()'s own limit
            ('{"\\u0000": 1}', ValueProblem.OUT_OF_RANGE),
            ('["a\\u0000b"]', ValueProblem.OUT_OF_RANGE),
            ('["\\ud800"]', ValueProblem.OUT_OF_RANGE),
            ('{"k": ["\\udfff"]}', ValueProblem.OUT_OF_RANGE),
            ("[" * 201 + "]" * 201, ValueProblem.OUT_OF_RANGE),
            ('{"a": ' * 201 + "1" + "}" * 201, ValueProblem.OUT_OF_RANGE),
            ("[" * 100_000 + "]" * 100_000, ValueProblem.OUT_OF_RANGE),  # past Python's stack
            ("{", ValueProblem.UNREADABLE),
            ("not json", ValueProblem.UNREADABLE),
        ],
    )
    def test_json_that_does_not_come_back_unchanged(self, raw, problem):
        assert problem_of(t.json_object, raw) is problem

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ('{"gross": 300000, "rate": 0.035}', {"gross": 300000, "rate": 0.035}),
            ("[18446744073709551615, -9223372036854775808]", [2**64 - 1, -(2**63)]),
            ("[9999999999999998.0, -1e-300, 5e-324]", [9999999999999998.0, -1e-300, 5e-324]),
            ('["\\ud83d\\ude00", "\\u00e9"]', ["😀", "é"]),  # a surrogate pair is one character
            ("[" * 200 + "]" * 200, nested_lists(200)),
            ("null", None),
            ("", None),
        ],
    )
    def test_json_that_comes_back_unchanged(self, raw, expected):
        assert t.json_object(raw) == expected


class TestMailboxKey:
    """The twin of the target's lower(email) unique rule (tests/test_twins.py holds it to
    PostgreSQL's own lower(), in each locale provider the server has)."""

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ("Kim@Example.com", " kim@example.com "),
            ("STRASSE@x.com", "straße@x.com"),
            ("İ@x.com", "i@x.com"),  # glibc lowers İ to i
            ("İ@x.com", "i\u0307@x.com"),  # ICU lowers İ to i and a combining dot above
            ("I@x.com", "ı@x.com"),  # Turkish lowers I to ı
            ("Ì@x.com", "i\u0307\u0300@x.com"),  # Lithuanian keeps the dot under the accent
            ("é@x.com", "e\u0301@x.com"),  # one character or two
            (" ", "  "),
        ],
    )
    def test_addresses_a_lower_may_make_one_share_a_key(self, first, second):
        assert t.mailbox_key(first) == t.mailbox_key(second)

    @pytest.mark.parametrize(
        ("first", "second"),
        [("kim@example.com", "kim2@example.com"), ("e@x.com", "é@x.com"), ("z@x.com", "ż@x.com")],
    )
    def test_other_mailboxes_keep_their_own_key(self, first, second):
        assert t.mailbox_key(first) != t.mailbox_key(second)

    def test_only_no_address_at_all_is_exempt_as_the_target_exempts_it(self):
        assert t.mailbox_key("") is None
        assert t.mailbox_key(None) is None
        assert t.mailbox_key(" ") == ""
