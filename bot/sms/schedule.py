"""When follow-up texts go out: pure functions of the procedure time and the settings.

Each follow-up is "day N after the procedure at HH:MM local time" (default: the evening of
day 0, then days 1, 3 and 7). A time inside the quiet hours (default 21:00-08:00) moves to
the end of the quiet hours; a follow-up may go out from its time until its window ends
(`SMS_SEND_WINDOW_MINUTES` later, and never past the start of the next quiet hours). A
follow-up whose window passed (the system was down, or the discharge was registered late)
is skipped and recorded, never sent late.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional
from zoneinfo import ZoneInfo

from bot.sms.settings import FollowUpSpec


@dataclass(frozen=True)
class Rules:
    timezone: ZoneInfo
    quiet_start: time
    quiet_end: time
    send_window: timedelta
    min_gap: timedelta

    @classmethod
    def from_settings(cls, cfg) -> Rules:
        return cls(cfg.timezone, cfg.quiet_start, cfg.quiet_end, cfg.send_window, cfg.min_gap)


@dataclass(frozen=True)
class Planned:
    seq: int
    day: int
    label: str
    due_at: datetime      # UTC
    window_end: datetime  # UTC
    status: str           # scheduled | skipped
    reason: Optional[str] = None


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    if start < end:
        return start <= local < end
    return local >= start or local < end  # wraps past midnight


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(timezone.utc)


def is_quiet(when: datetime, rules: Rules) -> bool:
    return in_quiet_hours(when.astimezone(rules.timezone).time().replace(tzinfo=None),
                          rules.quiet_start, rules.quiet_end)


def next_allowed(when: datetime, rules: Rules) -> datetime:
    """`when`, or the end of the quiet hours it falls in."""
    if not is_quiet(when, rules):
        return when
    local = when.astimezone(rules.timezone)
    day = local.date()
    if rules.quiet_start > rules.quiet_end and local.time() >= rules.quiet_start:
        day += timedelta(days=1)  # 22:00 -> 08:00 tomorrow; 03:00 -> 08:00 today
    return _local(day, rules.quiet_end, rules.timezone)


def next_quiet_start(when: datetime, rules: Rules) -> datetime:
    local = when.astimezone(rules.timezone)
    start = _local(local.date(), rules.quiet_start, rules.timezone)
    return start if start > when else _local(local.date() + timedelta(days=1), rules.quiet_start,
                                             rules.timezone)


def window_end(due: datetime, rules: Rules) -> datetime:
    return min(due + rules.send_window, next_quiet_start(due, rules))


def plan(procedure_at: datetime, specs: Sequence[FollowUpSpec], rules: Rules,
         now: Optional[datetime] = None) -> list[Planned]:
    """The follow-ups for a procedure at `procedure_at` (aware), registered at `now`."""
    if procedure_at.tzinfo is None:
        raise ValueError("procedure_at must be timezone-aware")
    now = now or datetime.now(timezone.utc)
    first_day = procedure_at.astimezone(rules.timezone).date()
    dues = []
    for spec in specs:
        due = _local(first_day + timedelta(days=spec.day), spec.at, rules.timezone)
        due = max(due, procedure_at + rules.min_gap)
        dues.append(next_allowed(due, rules))
    planned = []
    for seq, (spec, due) in enumerate(zip(specs, dues, strict=False)):
        end = window_end(due, rules)
        status, reason = "scheduled", None
        later = [d for d in dues[seq + 1:]]
        if later and due >= min(later) - rules.min_gap:
            status, reason = "skipped", "superseded: too close to the next follow-up"
        elif end <= now:
            status, reason = "skipped", "window had passed when the discharge was registered"
        planned.append(Planned(seq, spec.day, spec.label, due.astimezone(timezone.utc),
                               end.astimezone(timezone.utc), status, reason))
    return planned
