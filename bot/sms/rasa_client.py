"""Starting a follow-up conversation through Rasa's HTTP API (token auth).

Rasa's own reminders (`ReminderScheduled`) live in an in-memory scheduler, lost on restart
and per process; the schedule is ours, in the database, and each follow-up is started with

1. `POST /conversations/{id}/tracker/events`: a new session of the conversation (no
   unfinished questions, no slots: each follow-up is a fresh check of the site, not "my
   advice is the same as before"), with the patient marked as a child when the discharge
   says so (the questions then address the parent). The events start with the session
   start themselves: Rasa 3.6 stamps appended events before it starts the session of a
   new conversation, and reads back only events stamped after the latest session start,
   so a slot appended to a brand-new conversation would be lost;
2. `POST /conversations/{id}/trigger_intent?output_channel=sms` with the intent
   `SMS_FOLLOWUP_INTENT` (default `greet`: the bot introduces itself and asks the first
   question). Our channel's output for `sms` collects the bot's messages, so they come
   back in the response; the worker queues them as one text and sends it exactly once.
"""
from __future__ import annotations

import threading
from typing import Any
from urllib.parse import quote

import requests

from bot.questions import ask_style
from bot.sms.settings import SmsSettings

_local = threading.local()


class RasaError(Exception):
    pass


def _http() -> requests.Session:
    http = getattr(_local, "http", None)
    if http is None:
        http = _local.http = requests.Session()
    return http


def start_followup(cfg: SmsSettings, conversation_id: str, is_child: bool) -> list[dict]:
    if not cfg.rasa_token:
        raise RasaError("RASA_TOKEN is not set")
    base = f"{cfg.rasa_url}/conversations/{quote(conversation_id, safe='')}"
    params = {"token": cfg.rasa_token, "include_events": "NONE"}
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_session_start"},
                                    {"event": "session_started"},
                                    {"event": "action", "name": "action_listen"}]
    if is_child:  # and the first question in the carer's words
        events.append({"event": "slot", "name": "patient_is_child", "value": True})
        events.append({"event": "slot", "name": "ask_style",
                       "value": ask_style({"patient_is_child": True}, None)})
    try:
        response = _http().post(f"{base}/tracker/events", params=params, json=events,
                                timeout=cfg.http_timeout)
        response.raise_for_status()
        response = _http().post(f"{base}/trigger_intent",
                                params={**params, "output_channel": "sms"},
                                json={"name": cfg.followup_intent}, timeout=cfg.http_timeout)
        response.raise_for_status()
        messages = response.json().get("messages")
    except (requests.RequestException, ValueError) as error:
        raise RasaError(f"Rasa: {error}") from None
    if not isinstance(messages, list):
        raise RasaError("Rasa answered without messages (is the sms channel in credentials.yml?)")
    return messages
