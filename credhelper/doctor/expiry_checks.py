"""Doctor's expiry check: logins that stop working within a day (`store.entry-expiring`).

Logins already expired are reported by the entry check (`store.entry-expired`);
this one warns ahead of time, so a CI job or a nightly push is not the first to
find out. The expiry it reads is the authenticated one (an edited expiry makes
the entry corrupt, reported as such).
"""

from __future__ import annotations

from credhelper import durations
from credhelper.advice import login_command
from credhelper.doctor.base import WARNING, DoctorBase
from credhelper.errors import CredhelperError
from credhelper.store import STATE_OK

# How far ahead doctor warns: a day covers a nightly job and a working day.
WARN_AHEAD_SECONDS = 86400


class ExpiryChecks(DoctorBase):
    """Adds `check_expiry`."""

    def check_expiry(self) -> None:
        if self.snapshot is None:
            return
        try:
            statuses = self.snapshot.statuses()
        except CredhelperError:
            return  # the entry check has already reported why the store cannot be read
        now = durations.utc_now()
        for status in statuses:
            if status.state != STATE_OK or not status.expires:
                continue
            when = durations.parse_utc(status.expires)
            if when is None:
                continue
            left = (when - now).total_seconds()
            if 0 < left <= WARN_AHEAD_SECONDS:
                self.add(
                    "store.entry-expiring",
                    WARNING,
                    f"{status.server}: the login expires at {status.expires} "
                    f"(in {durations.format_duration(left)})",
                    self.store.path,
                    f"log in again before then: {login_command(status.server)}",
                    server=status.server,
                )
