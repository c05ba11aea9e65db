"""The one reminder text an SMS patient who went quiet gets (ALERT_SMS_REMINDER).

Queued through the SMS outbox (bot.sms.outbox.queue), which the SMS worker sends exactly
once, never inside the quiet hours (SMS_QUIET_HOURS): a mark made then waits for their
end, and the text expires rather than go out late into the next quiet hours. ONE: no
reminder when one was already queued for the conversation since the patient last wrote.
It ends with the fail-safe line, names nobody (texts show on lock screens), and fits
MAX_SEGMENTS segments.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

from sqlalchemy import func, select, update

from bot.alerts.models import INCOMPLETE, QuietPatient
from bot.config import Settings
from bot.policy import FAILSAFE_LINE
from bot.sms import outbox
from bot.sms.models import PROCEDURES, Discharge, InboundSms
from bot.sms.schedule import Rules, is_quiet, next_quiet_start
from bot.sms.settings import SmsSettings, sms_settings
from bot.sms.texts import to_gsm
from bot.storage.db import session
from bot.storage.times import aware

logger = logging.getLogger(__name__)


def reminder_text(core: Settings, *, kind: str, procedure: str, is_child: bool) -> str:
    whose = "your child's" if is_child else "your"
    if kind == INCOMPLETE:
        opening = f"you did not finish answering our questions about {whose} {procedure}."
        ask = "Reply to this text to carry on"
    else:
        opening = f"we have not heard back from you about {whose} {procedure}."
        ask = "Reply to this text to answer our questions"
    return to_gsm(f"The {core.department_name} aftercare service: {opening} {ask}, or call "
                  f"{core.department_phone} ({core.opening_hours_text}). {FAILSAFE_LINE}")


def _why_not(s, mark: QuietPatient, discharge: Optional[Discharge],
             sms: SmsSettings) -> Optional[str]:
    """Why this mark gets no reminder, or None when it should get one."""
    if not sms.twilio_configured:
        return "sms_off"
    if discharge is None or discharge.cancelled_at is not None:
        return "cancelled"
    if outbox.opted_out(s, discharge.phone):
        return "opted_out"
    last_wrote = aware(s.scalar(select(func.max(InboundSms.received_at))
                                 .where(InboundSms.discharge_id == discharge.id)))
    since = last_wrote or aware(discharge.created_at)
    earlier = s.scalar(select(QuietPatient.id).where(
        QuietPatient.conversation_id == mark.conversation_id, QuietPatient.id != mark.id,
        QuietPatient.reminder == "queued", QuietPatient.reminder_at > since).limit(1))
    return "one_sent" if earlier is not None else None


def send_waiting(now: datetime, sms: Optional[SmsSettings] = None) -> int:
    """Queue the reminders of open marks waiting for one; returns the texts queued."""
    sms = sms or sms_settings()
    rules = Rules.from_settings(sms)
    if is_quiet(now, rules):
        return 0
    with session() as s:
        waiting = list(s.scalars(select(QuietPatient.id).where(
            QuietPatient.reminder == "waiting", QuietPatient.resolved_at.is_(None))
            .order_by(QuietPatient.id)))
    queued = 0
    for mark_id in waiting:
        with session() as s, s.begin():
            mark = s.get(QuietPatient, mark_id)
            discharge = s.get(Discharge, mark.discharge_id) if mark.discharge_id else None
            why = _why_not(s, mark, discharge, sms)
            # The conditional UPDATE is the claim: one worker queues it, once.
            taken = s.execute(update(QuietPatient)
                              .where(QuietPatient.id == mark_id, QuietPatient.reminder == "waiting",
                                     QuietPatient.resolved_at.is_(None))
                              .values(reminder=why or "queued", reminder_at=now)
                              .execution_options(synchronize_session=False)).rowcount
            if not taken or why:
                continue
            assert discharge is not None  # _why_not gives a reason when there is none
            body = reminder_text(sms.core, kind=mark.kind,
                                 procedure=PROCEDURES.get(discharge.procedure, "biopsy"),
                                 is_child=discharge.is_child)
            ids = outbox.queue(s, to=discharge.phone, body=body, kind="reminder", now=now,
                               not_after=next_quiet_start(now, rules), discharge_id=discharge.id)
            s.execute(update(QuietPatient).where(QuietPatient.id == mark_id)
                      .values(reminder_outbox_id=ids[0])
                      .execution_options(synchronize_session=False))
            queued += 1
            logger.info("reminder text queued for discharge %s (%s)", discharge.id, mark.kind)
    return queued
