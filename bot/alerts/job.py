"""One pass of the care-team alerts, called by the SMS worker on every pass (in a thread of
its own, like the retention purge: an SMTP outage never holds up the texts) and by
`python -m bot.alerts run`. Each step is safe to run from several workers at once and
after any crash; a step that fails is logged and the others still run."""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Optional

from bot.alerts import digest, outbox, quiet, reminders, triggers
from bot.alerts.settings import AlertSettings, alert_settings
from bot.failures import describe
from bot.sms.models import utcnow

logger = logging.getLogger(__name__)
_warned: list[bool] = []  # once per process


def run_once(now: Optional[datetime] = None, cfg: Optional[AlertSettings] = None,
             stop: Callable[[], bool] = lambda: False) -> Counter:
    """Everything due at `now` (default: the current time); returns what happened, counted."""
    now = now or utcnow()
    try:
        cfg = cfg or alert_settings()
    except ValueError as error:  # a wrong setting: say which, every pass, and do nothing
        logger.error("care-team alerts are off: %s", error)
        return Counter()
    if cfg.lease_too_short and not _warned:
        _warned.append(True)
        logger.warning("ALERT_LEASE_SECONDS should be more than 8 times the longest of "
                       "ALERT_SMTP_TIMEOUT_SECONDS and ALERT_WEBHOOK_TIMEOUT_SECONDS: a slow "
                       "send could be taken over and sent twice")
    counts: Counter = Counter()
    steps = (("alerts_raised", lambda: triggers.scan(cfg, now)),
             ("held_released", lambda: triggers.release_held(cfg, now)),
             ("messages_read", lambda: quiet.watch_messages(cfg, now)),
             ("marked_incomplete", lambda: quiet.check_incomplete(cfg, now)),
             ("marked_no_reply", lambda: quiet.check_no_reply(cfg, now)),
             ("reminders_queued", lambda: reminders.send_waiting(now)),
             ("digest_queued", lambda: int(digest.run_if_due(cfg, now) is not None)))
    for name, step in steps:
        if stop():
            return counts
        try:
            counts[name] += step()
        except Exception as error:
            logger.error("alerts: %s failed (%s); the next pass tries again", name, describe(error))
            counts["errors"] += 1
    try:
        counts.update({f"message_{k}": v
                       for k, v in outbox.deliver_due(cfg, now, stop=stop).items()})
    except Exception as error:
        logger.error("alerts: delivery failed (%s); the next pass tries again", describe(error))
        counts["errors"] += 1
    return +counts  # without the zeros
