"""From triage outcomes to alerts: every outcome the advice action recorded is read once
(a cursor on `triage_outcomes`), and a conversation whose advice reached its channel's
threshold (ALERT_LEVEL_SMS, ALERT_LEVEL_WEB) raises one alert per level: the unique
(conversation, level) is the "once". A level below one already raised for the conversation
raises nothing (the team has heard about it at the higher level).

The alert, its route and its messages are written in one transaction, with the cursor:
a restart between them loses nothing and queues nothing twice. Alerts held out of hours are
released at the next opening, together in one message per destination.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import func, select, update

from bot.alerts import outbox
from bot.alerts.db import advance_cursor, insert_ignore, read_cursor
from bot.alerts.facts import (
    ROUTE_NOTES,
    AlertFacts,
    alert_subject,
    alert_text,
    by_severity,
    facts_of,
    held_subject,
    held_text,
)
from bot.alerts.models import Alert, Bundle
from bot.alerts.routing import DEPARTMENT, HELD, ON_CALL, is_open, route_at
from bot.alerts.settings import AlertSettings
from bot.console.queue import channel_group
from bot.policy import Level
from bot.sms.models import Discharge
from bot.storage.db import session
from bot.storage.models import TriageOutcome
from bot.storage.times import aware

logger = logging.getLogger(__name__)
SOURCE = "outcomes"


def severity(slug: str) -> Level:
    """An unknown level (a newer policy?) counts as contact team, as in the console."""
    try:
        return Level.from_slug(slug)
    except KeyError:
        return Level.CONTACT_TEAM


def _first_id(s, cfg: AlertSettings, now: datetime) -> int:
    """Where the very first scan starts: the outcomes of the last ALERT_BACKFILL_HOURS, so
    that switching alerts on does not send the team a year of history."""
    first = s.scalar(select(func.min(TriageOutcome.id))
                     .where(TriageOutcome.created_at >= now - cfg.backfill))
    if first is not None:
        return first - 1
    return s.scalar(select(func.max(TriageOutcome.id))) or 0


def scan(cfg: AlertSettings, now: datetime, batch: int = 500) -> int:
    """Read the outcomes recorded since the last scan; returns the alerts raised."""
    raised = 0
    while True:
        with session() as s, s.begin():
            mark, low = read_cursor(s, SOURCE, lambda: _first_id(s, cfg, now))
            rows = s.execute(select(TriageOutcome.id, TriageOutcome.conversation_id,
                                    TriageOutcome.channel, TriageOutcome.level,
                                    TriageOutcome.created_at)
                             .where(TriageOutcome.id > low).order_by(TriageOutcome.id)
                             .limit(batch + (mark - low))).all()
            for row in rows:
                raised += _consider(s, cfg, now, *row)
            if rows:
                advance_cursor(s, SOURCE, rows[-1][0])
        if len(rows) < batch + (mark - low):
            return raised


def _consider(s, cfg: AlertSettings, now: datetime, outcome_id: int, conversation_id: str,
              channel: str, level: str, created_at: datetime) -> int:
    discharge_id = s.scalar(select(Discharge.id).where(Discharge.conversation_id == conversation_id))
    group = "sms" if discharge_id is not None else channel_group(channel)
    threshold = cfg.threshold(group)
    reached = severity(level)
    if threshold is None or reached < threshold:
        return 0
    higher = [severity(lvl) for lvl in s.scalars(select(Alert.level).where(
        Alert.conversation_id == conversation_id))]
    if any(other > reached for other in higher):
        return 0
    route = route_at(now, cfg.core, has_on_call=bool(cfg.email_on_call or cfg.webhook_on_call_url))
    added = insert_ignore(s, Alert.__table__, {
        "conversation_id": conversation_id, "channel": (channel or "unknown")[:64],
        "channel_group": group, "level": level, "outcome_id": outcome_id,
        "discharge_id": discharge_id, "raised_at": aware(created_at), "created_at": now,
        "route": route.route, "held_until": route.held_until}, ["conversation_id", "level"])
    if not added:
        return 0
    alert = s.scalars(select(Alert).where(Alert.conversation_id == conversation_id,
                                          Alert.level == level)).one()
    queued = queue_alert(s, cfg, alert, now)
    logger.info("alert %s raised: %s, %s, routed %s, %s message(s) queued", alert.id, level,
                group, route.route, queued)
    if route.route != HELD and not queued:
        logger.warning("alert %s has nowhere to go: set ALERT_SMTP_HOST and ALERT_EMAIL_TO, "
                       "or ALERT_WEBHOOK_URL", alert.id)
    return 1


def queue_alert(s, cfg: AlertSettings, alert: Alert, now: datetime) -> int:
    """The messages of one alert, by its route (out of hours only the on-call destinations:
    nobody reads the department's); returns how many were queued."""
    if alert.route == HELD:
        return 0
    facts = facts_of(s, alert, cfg)
    subject = alert_subject(facts, alert.raised_at, cfg)
    on_call = alert.route == ON_CALL
    emails = cfg.email_on_call if on_call else cfg.email_to
    url = cfg.webhook_on_call_url if on_call else cfg.webhook_url
    queued = 0
    if cfg.smtp and emails:
        outbox.queue_email(s, cfg, recipients=emails, subject=subject,
                           text=alert_text(facts, cfg, alert.route), now=now, route=alert.route,
                           kind=f"alert{alert.id}", alert_id=alert.id)
        queued += 1
    if url:
        outbox.queue_webhook(s, cfg, title=subject, facts=[facts],
                             note=_note(alert.route), now=now, route=alert.route,
                             alert_id=alert.id)
        queued += 1
    return queued


def _note(route: str) -> str:
    return ROUTE_NOTES.get(route, "")


def release_held(cfg: AlertSettings, now: datetime) -> int:
    """At the opening: the alerts held overnight go to the department in one message per
    destination (those acknowledged meanwhile are left out). Returns the alerts released."""
    if not is_open(now, cfg.core):
        return 0
    with session() as s:
        if s.scalar(select(Alert.id).where(Alert.route == HELD, Alert.released_at.is_(None),
                                           Alert.held_until <= now).limit(1)) is None:
            return 0
    try:
        return _release(cfg, now)
    except _NothingHeld:  # rolled back: nothing held, or another worker took them first
        return 0


class _NothingHeld(Exception):
    pass


def _release(cfg: AlertSettings, now: datetime) -> int:
    with session() as s, s.begin():
        bundle = Bundle(kind="held", period_end=now, created_at=now)
        s.add(bundle)
        s.flush()
        released = s.execute(update(Alert)
                             .where(Alert.route == HELD, Alert.released_at.is_(None),
                                    Alert.held_until <= now)
                             .values(released_at=now, bundle_id=bundle.id)
                             .execution_options(synchronize_session=False)).rowcount
        if not released:
            raise _NothingHeld()
        alerts = list(s.scalars(select(Alert).where(Alert.bundle_id == bundle.id,
                                                    Alert.acknowledged_at.is_(None))))
        facts: list[AlertFacts] = by_severity([facts_of(s, a, cfg) for a in alerts])
        bundle.summary = {"released": released, "sent": len(facts)}
        if facts:
            if cfg.smtp and cfg.email_to:
                outbox.queue_email(s, cfg, recipients=cfg.email_to, subject=held_subject(facts),
                                   text=held_text(facts, cfg), now=now, route=DEPARTMENT,
                                   kind=f"held{bundle.id}", bundle_id=bundle.id)
            if cfg.webhook_url:
                outbox.queue_webhook(s, cfg, title=held_subject(facts), facts=facts,
                                     note=_note(HELD), now=now, route=DEPARTMENT,
                                     bundle_id=bundle.id)
    logger.info("%s held alert(s) released at the opening (%s acknowledged meanwhile)",
                released, released - len(facts))
    return released
