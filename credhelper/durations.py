"""Durations (`90d`, `12h`, `2w`, `30m`, `1h30m`) and RFC 3339 instants, in UTC.

One parser for every option that takes a period or a point in time:
`rotate --if-older-than/--schedule`, `login --expires-in/--expires-at`, doctor's
overdue check. Bad input raises DurationError, whose message is one line naming
the bad value and the accepted forms (the CLI prints it and exits 2).

Stored instants are always `YYYY-MM-DDTHH:MM:SSZ` (see `format_utc`): fixed width,
so the store's hot path compares them as strings without importing datetime.
Standard library only; not imported on the `get` hot path.
"""

from __future__ import annotations

import datetime as _dt
import re

# Seconds per unit. No months or years: their length varies, and a key-age
# policy written as days or weeks means the same thing on every machine.
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# About 100 years: beyond it datetime arithmetic overflows and no policy means it.
MAX_SECONDS = 100 * 366 * 86400
UTC_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# How far ahead of now a recorded instant may lie before it is suspect: clocks of
# machines that share a store (NFS home, a restored backup) and NTP steps differ by
# seconds, not minutes. Beyond it a key's creation time is treated as wrong (the
# clock was ahead when the key was made): rotation by age rotates it, doctor warns.
CLOCK_SKEW_SECONDS = 600
DURATION_FORMS = "a number and a unit: 30m, 12h, 90d, 2w (or a sum such as 1h30m)"

_PART = re.compile(r"([0-9]{1,12})([smhdw])")
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class DurationError(ValueError):
    """A duration or timestamp that cannot be used; the message is one line."""


def parse_duration(text: str) -> int:
    """Seconds in `text` (`90d`, `12h`, `2w`, `30m`, `45s`, `1h30m`); always > 0.

    Raises DurationError for anything else (no sign, no fraction, no spaces,
    no bare number: `90` could mean any unit).
    """
    value = text.strip().lower() if isinstance(text, str) else ""
    total, pos = 0, 0
    while pos < len(value):
        match = _PART.match(value, pos)
        if match is None:
            break
        total += int(match.group(1)) * UNITS[match.group(2)]
        pos = match.end()
    if not value or pos != len(value):
        raise DurationError(f"credhelper: invalid duration {text!r}: use {DURATION_FORMS}")
    if total <= 0:
        raise DurationError(f"credhelper: invalid duration {text!r}: it must be longer than 0")
    if total > MAX_SECONDS:
        raise DurationError(f"credhelper: invalid duration {text!r}: longer than 100 years")
    return total


def format_duration(seconds: float) -> str:
    """A short human form: `3d 4h`, `5h 2m`, `40s` (the two largest units).

    A negative span keeps its sign (`-3d 4h`): an age in the future is a fact to
    show (a wrong clock), never to round to `0s`.
    """
    if int(seconds) < 0:
        return "-" + format_duration(-seconds)
    left = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            parts.append(f"{left // size}{unit}")
            left %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def parse_rfc3339(text: str) -> _dt.datetime:
    """An aware UTC datetime for an RFC 3339 timestamp (offset required).

    `2026-12-01T22:00:00Z`, `2026-12-01T23:00:00.5+01:00`. A time without an
    offset is refused: a local time would mean different instants on a laptop
    and a CI runner.
    """
    match = _RFC3339.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise DurationError(
            f"credhelper: invalid time {text!r}: use RFC 3339 with an offset, "
            "e.g. 2026-12-31T23:59:00Z or 2026-12-31T23:59:00+01:00"
        )
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    zone = match.group(8)
    try:
        if zone in ("Z", "z"):
            tz = _dt.UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError("offset out of range")
            tz = _dt.timezone(sign * _dt.timedelta(hours=hours, minutes=minutes))
        # Leap second 60 is valid RFC 3339; datetime has none: use :59.
        when = _dt.datetime(year, month, day, hour, minute, min(second, 59), tzinfo=tz)
        return when.astimezone(_dt.UTC)
    except (ValueError, OverflowError) as err:
        raise DurationError(f"credhelper: invalid time {text!r}: {err}") from None


def format_utc(when: _dt.datetime) -> str:
    """`when` as the store writes instants: UTC, whole seconds, trailing Z."""
    if when.tzinfo is None:
        raise ValueError("a naive datetime has no defined instant")
    return when.astimezone(_dt.UTC).strftime(UTC_FORMAT)


def parse_utc(text: str) -> _dt.datetime | None:
    """An instant as the store writes it (`format_utc`), or None if `text` is not one."""
    if not isinstance(text, str) or len(text) != 20:
        return None
    try:
        return _dt.datetime.strptime(text, UTC_FORMAT).replace(tzinfo=_dt.UTC)
    except ValueError:
        return None


def utc_now() -> _dt.datetime:
    """Now, as an aware UTC datetime (faketime moves it like every clock read)."""
    return _dt.datetime.now(_dt.UTC)


def after(seconds: int, start: _dt.datetime | None = None) -> str:
    """The stored form of `start` (default now) plus `seconds`: an expiry time."""
    base = start if start is not None else utc_now()
    return format_utc(base + _dt.timedelta(seconds=seconds))


def age_seconds(stamp: str, now: _dt.datetime | None = None) -> float | None:
    """Seconds from the stored instant `stamp` to `now`; None if `stamp` is not one."""
    when = parse_utc(stamp)
    if when is None:
        return None
    return ((now if now is not None else utc_now()) - when).total_seconds()
