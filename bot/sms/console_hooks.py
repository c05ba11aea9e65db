"""Hooks for the staff console's queue (bot/console/queue.py: PROCEDURES, PROCEDURE_FILTER,
PHONE_LOOKUP): SMS conversations found by procedure or by the patient's phone number.

    from bot.console import queue
    from bot.sms.console_hooks import hooks
    queue.PROCEDURES, queue.PROCEDURE_FILTER, queue.PHONE_LOOKUP = hooks(queue.QueueEntry.conversation_id)
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import false, select
from sqlalchemy.sql.elements import ColumnElement

from bot.sms.discharges import normalise_phone
from bot.sms.models import PROCEDURES, Discharge
from bot.sms.settings import sms_settings

LABELS = {code: label[:1].upper() + label[1:] for code, label in PROCEDURES.items()}


def hooks(conversation_id) -> tuple[dict[str, str], Callable[[str], ColumnElement],
                                    Callable[[str], ColumnElement]]:
    """(procedure labels, procedure filter, phone lookup) on a conversation id column."""

    def procedure_filter(code: str) -> ColumnElement:
        return conversation_id.in_(select(Discharge.conversation_id)
                                   .where(Discharge.procedure == code))

    def phone_lookup(term: str) -> ColumnElement:
        try:
            phone = normalise_phone(term, sms_settings().default_region)
        except ValueError:
            return false()
        return conversation_id.in_(select(Discharge.conversation_id)
                                   .where(Discharge.phone == phone))

    return dict(LABELS), procedure_filter, phone_lookup
