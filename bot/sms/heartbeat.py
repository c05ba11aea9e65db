"""When each SMS worker last finished a pass (for `cli status`: is anyone sending?)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Optional

from sqlalchemy import select

from bot.failures import describe
from bot.sms.models import WorkerHeartbeat
from bot.storage.db import session

logger = logging.getLogger(__name__)


def beat(worker: str, now: datetime, last_pass: dict) -> None:
    """Best effort: a heartbeat that cannot be written must not stop the texts."""
    try:
        with session() as s, s.begin():
            row = s.get(WorkerHeartbeat, worker)
            if row is None:
                s.add(WorkerHeartbeat(worker=worker, beat_at=now, last_pass=last_pass or None))
            else:
                row.beat_at = now
                if last_pass:
                    row.last_pass = last_pass
    except Exception as error:
        logger.warning("could not record the worker's heartbeat: %s", describe(error))


def latest() -> Optional[WorkerHeartbeat]:
    with session() as s:
        return s.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.beat_at.desc())).first()
