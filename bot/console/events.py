"""Read-only access to Rasa's `events` table (SQLTrackerStore), with SQLAlchemy Core.

Rasa owns and creates that table; this is only the handful of columns we read, on a
MetaData of its own so Alembic never treats it as ours. Rasa may not have created it yet
(first start, or a database with triage outcomes only): `events_exist` says so.
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, inspect
from sqlalchemy.engine import Connection, Engine

_metadata = MetaData()
EVENTS = Table(
    "events", _metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255)),
    Column("type_name", String(255)),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

_seen: set[str] = set()


def events_exist(bind: Engine | Connection) -> bool:
    key = str(getattr(bind, "engine", bind).url)
    if key not in _seen and inspect(bind).has_table("events"):
        _seen.add(key)  # Rasa never drops it
    return key in _seen


def event_data(raw: Any) -> dict:
    """The event's JSON, or {} when it is not readable JSON (never an exception)."""
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return mapping(value)


def mapping(value: Any) -> dict:
    """A part of an event that should be an object (metadata, parse data, a bot message's
    data), or {}: Rasa stores whatever its API or a channel was given."""
    return value if isinstance(value, dict) else {}


def text_of(value: Any) -> str:
    """A part that should be text (a message, a channel name), or "" for anything else."""
    return value if isinstance(value, str) else ""
