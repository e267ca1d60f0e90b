"""credhelper.durations: the one parser of periods and RFC 3339 instants."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credhelper import durations
from credhelper.durations import DurationError

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1800),
        ("12h", 43200),
        ("90d", 90 * 86400),
        ("2w", 14 * 86400),
        ("45s", 45),
        ("1h30m", 5400),
        (" 7D ", 7 * 86400),
    ],
)
def test_durations_users_write(text: str, seconds: int) -> None:
    assert durations.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "90",
        "d",
        "-1d",
        "+1d",
        "1.5h",
        "1 h",
        "0d",
        "0s0m",
        "1y",
        "1mo",
        "1d!",
        "\u0661d",  # an Arabic-Indic digit: str.isdigit() would take it
        "99999999999w",
        "1e3s",
        "\x00",
        "1h 30m",
    ],
)
def test_bad_durations_are_one_line_refusals(text: str) -> None:
    with pytest.raises(DurationError) as info:
        durations.parse_duration(text)
    message = str(info.value)
    assert "\n" not in message and message.startswith("credhelper: invalid duration")


@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from("smhdw")), min_size=1, max_size=4)
)
def test_sums_of_parts_parse_to_their_total(parts: list[tuple[int, str]]) -> None:
    text = "".join(f"{n}{unit}" for n, unit in parts)
    total = sum(n * durations.UNITS[unit] for n, unit in parts)
    if total == 0 or total > durations.MAX_SECONDS:
        with pytest.raises(DurationError):
            durations.parse_duration(text)
    else:
        assert durations.parse_duration(text) == total


@given(st.text(max_size=12))
def test_any_text_parses_or_refuses_cleanly(text: str) -> None:
    try:
        assert durations.parse_duration(text) > 0
    except DurationError as err:
        assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-31T23:59:00Z", dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        ("2026-12-31t23:59:00z", dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        ("2027-01-01T00:59:00+01:00", dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
        ("2026-12-31T20:29:00.123456789-03:30", dt.datetime(2026, 12, 31, 23, 59, tzinfo=UTC)),
    ],
)
def test_rfc3339_instants_are_utc(text: str, expected: dt.datetime) -> None:
    assert durations.parse_rfc3339(text) == expected
    assert durations.format_utc(durations.parse_rfc3339(text)) == "2026-12-31T23:59:00Z"


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-31T23:59:00",
        "2026-12-31",
        "2026-02-30T00:00:00Z",
        "2026-12-31T24:00:00Z",
        "2026-12-31T23:59:00+25:00",
        "tomorrow",
        "",
        "2026-12-31T23:59:00Z trailing",
    ],
)
def test_bad_instants_are_refused(text: str) -> None:
    with pytest.raises(DurationError) as info:
        durations.parse_rfc3339(text)
    assert "\n" not in str(info.value)


@given(
    st.datetimes(
        min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9998, 1, 1), timezones=st.just(UTC)
    )
)
def test_stored_form_round_trips(when: dt.datetime) -> None:
    when = when.replace(microsecond=0)
    stamp = durations.format_utc(when)
    assert durations.parse_utc(stamp) == when
    assert durations.parse_rfc3339(stamp) == when


def test_age_and_after() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    assert durations.after(3600, start) == "2026-01-01T01:00:00Z"
    later = dt.datetime(2026, 1, 2, tzinfo=UTC)
    assert durations.age_seconds("2026-01-01T00:00:00Z", later) == 86400
    assert durations.age_seconds("garbage", later) is None
    assert durations.format_duration(3 * 86400 + 4 * 3600 + 5) == "3d 4h"
    assert durations.format_duration(40) == "40s"
