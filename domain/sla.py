"""The SLA policy: how long each step may take, counted in calendar or Vietnamese working days.

The policy is a snapshot passed into the workflow at start (holiday dates included), so a
change of settings or of the ``holidays`` package never alters a running workflow's replay.
"""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

# Vietnam keeps UTC+7 all year (no DST), so a fixed offset is exact and needs no tz database
# (which the workflow sandbox could not read anyway).
VN_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
ONE_DAY = timedelta(days=1)


class CalendarKind(StrEnum):
    CALENDAR = "calendar"
    VN_WORKING_DAYS = "vn_working_days"


class SlaPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    resolution: timedelta = timedelta(days=20)
    warning: timedelta = timedelta(days=15)
    first_response: timedelta = timedelta(days=1)
    reopen_window: timedelta = timedelta(days=30)
    # How often a breached complaint is escalated again, one level up, while it stays open.
    escalation_repeat: timedelta = timedelta(days=1)
    calendar: CalendarKind = CalendarKind.CALENDAR
    holidays: tuple[date, ...] = ()

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start`` plus ``duration`` in this policy's calendar.

        Whole days count as working days under ``vn_working_days`` (the time of day is kept; a
        start on a non-working day counts from the next working day's midnight);
        anything shorter than whole days (``PT60S``, used to watch timers live) is added as is.
        """
        if self.calendar is CalendarKind.CALENDAR or duration % ONE_DAY:
            return start + duration
        local = start.astimezone(VN_TZ)
        if not self.is_working_day(local.date()):
            # Received on a weekend or a holiday: the period starts with the next working day, so
            # a later receipt never gets an earlier deadline (keeping the time of day would).
            while not self.is_working_day(local.date()):
                local = (local + ONE_DAY).replace(hour=0, minute=0, second=0, microsecond=0)
        remaining = duration // ONE_DAY
        day = local
        while remaining > 0:
            day += ONE_DAY
            if self.is_working_day(day.date()):
                remaining -= 1
        return day.astimezone(start.tzinfo or UTC)


def vn_holidays(years: Iterable[int]) -> tuple[date, ...]:
    """Vietnamese public holidays (Tết included) for ``years``, from the ``holidays`` package."""
    import holidays  # imported here: only callers outside the workflow build a policy

    found = holidays.country_holidays("VN", years=list(years))
    return tuple(sorted(found.keys()))


def build_policy(
    *,
    resolution: timedelta,
    warning: timedelta,
    first_response: timedelta,
    reopen_window: timedelta,
    escalation_repeat: timedelta,
    calendar: CalendarKind,
    today: date,
) -> SlaPolicy:
    """Snapshot a policy at intake; holidays cover this year and the next two (reopens included)."""
    holidays_ = vn_holidays(range(today.year, today.year + 3)) if calendar is CalendarKind.VN_WORKING_DAYS else ()
    return SlaPolicy(
        resolution=resolution,
        warning=warning,
        first_response=first_response,
        reopen_window=reopen_window,
        escalation_repeat=escalation_repeat,
        calendar=calendar,
        holidays=holidays_,
    )
