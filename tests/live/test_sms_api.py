"""The discharge API (bearer token, JSON, all or nothing) and the SMS worker process as
`make run` starts it (bot.stack.Stack.start_sms_worker)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select, update

from bot.sms import discharges
from bot.sms.api import make_app
from bot.sms.local_twilio import ServerThread
from bot.sms.models import Discharge, FollowUp
from bot.sms.settings import sms_settings
from bot.storage.db import session

LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def api(sms_fakes):
    server = ServerThread(make_app(sms_settings())).start()
    try:
        yield server.url
    finally:
        server.stop()


def auth(token: str = "test-api-token") -> dict:
    return {"Authorization": f"Bearer {token}"}


def record(n: int, **extra) -> dict:
    at = (datetime.now(timezone.utc) - timedelta(hours=2)).astimezone(LONDON)
    return {"phone": f"07400 7{n:05d}", "procedure": "bone_biopsy",
            "procedure_at": at.strftime("%Y-%m-%dT%H:%M"), "is_child": False, **extra}


def conversation_of(discharge_id: int) -> str:
    with session() as s:
        return s.get(Discharge, discharge_id).conversation_id


def count_discharges() -> int:
    with session() as s:
        return len(list(s.scalars(select(Discharge.id))))


def test_the_api_needs_the_bearer_token(api):
    for headers in ({}, auth("wrong"), {"Authorization": "Basic dGVzdDp0ZXN0"},
                    {"Authorization": "Bearer"}):
        response = requests.post(f"{api}/api/discharges", json=record(1), headers=headers)
        assert response.status_code == 401 and "Bearer" in response.headers["WWW-Authenticate"]
        assert requests.get(f"{api}/api/discharges/1", headers=headers).status_code == 401
    assert count_discharges() == 0
    assert requests.get(f"{api}/healthz").json() == {"status": "ok"}


def test_without_a_token_in_env_the_api_is_off(sms_fakes, monkeypatch):
    monkeypatch.setenv("SMS_API_TOKEN", "")
    server = ServerThread(make_app(sms_settings())).start()
    try:
        response = requests.post(f"{server.url}/api/discharges", json=record(2),
                                 headers={"Authorization": "Bearer "})
        assert response.status_code == 503 and "SMS_API_TOKEN" in response.json()["error"]
    finally:
        server.stop()
    assert count_discharges() == 0


def test_create_one_discharge_idempotently(api):
    response = requests.post(f"{api}/api/discharges", json=record(3, is_child=True, name="Sam"),
                             headers=auth())
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["phone"] == "+447400700003" and created["is_child"] is True
    assert created["name"] == "Sam" and len(created["followups"]) == 4
    assert {f["status"] for f in created["followups"]} <= {"scheduled", "skipped"}
    again = requests.post(f"{api}/api/discharges", json=record(3, is_child=True, name="Sam"),
                          headers=auth())
    assert again.status_code == 200 and again.json()["id"] == created["id"]
    shown = requests.get(f"{api}/api/discharges/{created['id']}", headers=auth())
    assert shown.status_code == 200 and shown.json()["followups"] == created["followups"]
    assert created["conversation_id"] == conversation_of(created["id"])  # what the console shows
    assert again.json()["conversation_id"] == shown.json()["conversation_id"] == created["conversation_id"]
    assert requests.get(f"{api}/api/discharges/999999", headers=auth()).status_code == 404
    cancelled = requests.post(f"{api}/api/discharges/{created['id']}/cancel", headers=auth())
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    assert count_discharges() == 1


def test_invalid_input_is_a_400_with_errors_per_field(api):
    response = requests.post(f"{api}/api/discharges", headers=auth(),
                             json={"phone": "12", "procedure": "knee", "procedure_at": "soon"})
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"phone", "procedure", "procedure_at"}
    not_json = requests.post(f"{api}/api/discharges", headers=auth(), data="phone=1")
    assert not_json.status_code == 400
    assert requests.post(f"{api}/api/discharges", headers=auth(), json="x").status_code == 400
    assert count_discharges() == 0


def test_a_list_is_all_or_nothing(api):
    items = [record(10), record(11), {**record(12), "phone": "nope"}, record(10)]
    response = requests.post(f"{api}/api/discharges", json=items, headers=auth())
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"2", "3"} and "phone" in errors["2"] and "row 0" in errors["3"]["record"]
    assert count_discharges() == 0
    response = requests.post(f"{api}/api/discharges", json=items[:2], headers=auth())
    assert response.status_code == 201 and len(response.json()["discharges"]) == 2
    assert count_discharges() == 2
    assert [d["conversation_id"] for d in response.json()["discharges"]] == \
        [conversation_of(d["id"]) for d in response.json()["discharges"]]


def test_cli_show_and_list_print_the_conversation_id(sms_fakes, capsys):
    from bot.sms import cli

    first, second = (discharges.register(record(n), source="test").discharge for n in (30, 31))
    assert cli.main(["show", str(first.id)]) == 0
    shown = capsys.readouterr().out
    assert f"conversation id: {first.conversation_id}" in shown
    assert second.conversation_id not in shown
    assert cli.main(["list"]) == 0
    listing = capsys.readouterr().out
    for d in (first, second):
        assert f"conversation id: {d.conversation_id}" in listing


@pytest.mark.timeout(180)
def test_make_run_starts_the_worker_which_sends_due_follow_ups(sms_fakes, monkeypatch, tmp_path):
    from bot.stack import Stack, free_port

    twilio, rasa = sms_fakes.twilio, sms_fakes.rasa
    now = datetime.now(timezone.utc)
    local = now.astimezone(LONDON)
    monkeypatch.setenv("SMS_QUIET_HOURS", f"{local + timedelta(hours=6):%H:%M}-"
                                          f"{local + timedelta(hours=7):%H:%M}")
    stack = Stack(rasa_port=int(rasa.url.rsplit(":", 1)[1]), action_port=free_port(),
                  token=rasa.token, log_dir=tmp_path)
    try:
        url = stack.start_sms_worker(free_port())
        response = requests.post(f"{url}/api/discharges", json=record(20), headers=auth())
        assert response.status_code == 201, response.text
        discharge_id = response.json()["id"]
        with session() as s, s.begin():  # make its first follow-up due now
            s.execute(update(FollowUp).where(FollowUp.discharge_id == discharge_id,
                                             FollowUp.seq == 0)
                      .values(status="scheduled", due_at=now, next_attempt_at=now,
                              window_end=now + timedelta(hours=1), reason=None))
        [text] = twilio.wait_for_count("+447400700020", 1, timeout=30)
        assert "A check-in from the" in text and "Reply YES, NO or NOT SURE." in text
        assert sum(rasa.triggers.values()) == 1
    finally:
        stack.stop()
    assert discharges.get(discharge_id)[1][0].status == "sent"
