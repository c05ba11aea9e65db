"""SMS follow-up: schedule arithmetic, SMS wording, keywords, discharge validation and
the CSV import (no servers)."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.sms import discharges
from bot.sms.schedule import Rules, in_quiet_hours, is_quiet, next_allowed, plan, window_end
from bot.sms.settings import parse_followups, parse_quiet_hours
from bot.sms.texts import (
    GSM_BASIC,
    is_gsm,
    keyword,
    render_messages,
    reply_hint,
    segments,
    split_body,
    to_gsm,
)

LONDON = ZoneInfo("Europe/London")
RULES = Rules(LONDON, time(21), time(8), timedelta(hours=3), timedelta(hours=2))
SPECS = parse_followups("0@18:00,1@10:00,3@10:00,7@10:00")


def local(*args) -> datetime:
    return datetime(*args, tzinfo=LONDON)


# --- schedule ---------------------------------------------------------------------------

def test_default_schedule_evening_of_day_0_then_days_1_3_7():
    planned = plan(local(2026, 3, 10, 11, 0), SPECS, RULES, now=local(2026, 3, 10, 13, 0))
    assert [p.due_at.astimezone(LONDON) for p in planned] == [
        local(2026, 3, 10, 18), local(2026, 3, 11, 10), local(2026, 3, 13, 10),
        local(2026, 3, 17, 10)]
    assert all(p.status == "scheduled" for p in planned)
    # 18:00 + 3 h would pass 21:00: the window stops where the quiet hours start.
    assert planned[0].window_end.astimezone(LONDON) == local(2026, 3, 10, 21)
    assert planned[1].window_end.astimezone(LONDON) == local(2026, 3, 11, 13)


@pytest.mark.parametrize("hour,quiet", [(20, False), (21, True), (23, True), (0, True),
                                        (7, True), (8, False), (12, False)])
def test_quiet_hours_wrap_past_midnight(hour, quiet):
    assert in_quiet_hours(time(hour, 0), time(21), time(8)) is quiet
    assert is_quiet(local(2026, 3, 10, hour), RULES) is quiet


def test_a_time_in_quiet_hours_moves_to_their_end():
    assert next_allowed(local(2026, 3, 10, 22, 30), RULES) == local(2026, 3, 11, 8)
    assert next_allowed(local(2026, 3, 11, 3, 0), RULES) == local(2026, 3, 11, 8)
    assert next_allowed(local(2026, 3, 11, 9, 0), RULES) == local(2026, 3, 11, 9)


def test_no_follow_up_is_ever_planned_inside_quiet_hours():
    for hour in range(24):
        for minute in (0, 20, 40):
            procedure = local(2026, 3, 10, hour, minute)
            for p in plan(procedure, SPECS, RULES, now=procedure):
                assert not is_quiet(p.due_at, RULES), (procedure, p)
                assert p.window_end <= window_end(p.due_at, RULES)
                # the whole window is outside the quiet hours
                assert not is_quiet(p.window_end - timedelta(seconds=1), RULES)


def test_late_procedure_day_0_evening_is_superseded_by_day_1():
    planned = plan(local(2026, 3, 10, 20, 0), SPECS, RULES, now=local(2026, 3, 10, 20, 30))
    assert planned[0].status == "skipped" and "superseded" in planned[0].reason
    assert planned[1].status == "scheduled"


def test_day_0_waits_the_minimum_gap_after_the_procedure():
    planned = plan(local(2026, 3, 10, 17, 30), SPECS, RULES, now=local(2026, 3, 10, 17, 45))
    assert planned[0].due_at == local(2026, 3, 10, 19, 30)


def test_registered_late_windows_already_passed_are_recorded_skipped():
    planned = plan(local(2026, 3, 10, 9, 0), SPECS, RULES, now=local(2026, 3, 12, 9, 0))
    assert [p.status for p in planned] == ["skipped", "skipped", "scheduled", "scheduled"]
    assert "window had passed" in planned[0].reason


def test_daylight_saving_change_keeps_local_times():
    # UK clocks go forward on 29 March 2026: day 1 at 10:00 is still 10:00 local.
    planned = plan(local(2026, 3, 28, 11, 0), SPECS, RULES, now=local(2026, 3, 28, 11, 0))
    assert planned[1].due_at.astimezone(LONDON).hour == 10
    assert planned[1].due_at.utcoffset() == timedelta(0)
    assert planned[1].due_at.hour == 9  # 10:00 BST is 09:00 UTC


def test_settings_parsers():
    assert parse_quiet_hours("21:00-08:00") == (time(21), time(8))
    assert [s.day for s in parse_followups("3@10:00, 0@18:30")] == [0, 3]
    for bad in ("0@25:00", "x", "1-10:00"):
        with pytest.raises(ValueError):
            parse_followups(bad)
    with pytest.raises(ValueError):
        parse_quiet_hours("21:00")


# --- SMS wording ------------------------------------------------------------------------

def test_buttons_become_words():
    yes_no = [{"title": t, "payload": t} for t in ("Yes", "No", "Not sure")]
    assert reply_hint(yes_no) == "Reply YES, NO or NOT SURE."
    stops = [{"title": t} for t in ("Yes, it stops", "No, it doesn't stop", "Not sure")]
    assert reply_hint(stops) == "Reply YES, NO or NOT SURE."
    assert reply_hint([{"title": "Can't check"}]) == "Or reply CAN'T CHECK."
    text = render_messages([{"text": "Is there any bleeding?", "buttons": yes_no}], "999")
    assert text == "Is there any bleeding?\nReply YES, NO or NOT SURE."


def test_emergency_advice_starts_with_call_999_before_anything_else():
    messages = [
        {"text": "Thanks."},
        {"text": "EMERGENCY: call 999 now, or go straight to the nearest emergency department "
                 "(A&E).\n- Chest pain is an emergency.",
         "custom": {"triage_level": "emergency"}},
    ]
    text = render_messages(messages, "999")
    assert text.startswith("Call 999 now. Go straight to the nearest emergency department")
    assert text.index("Thanks.") > text.index("Chest pain")
    other = render_messages([{"text": "My advice is the same as before. EMERGENCY: call 999",
                              "custom": {"triage_level": "emergency"}}], "999")
    assert other.startswith("Call 999 now. My advice")


def test_gsm_folding_and_segments():
    folded = to_gsm("Is it 38°C (100.4°F) or more? It’s “sore” – a bit…")
    assert folded == "Is it 38C (100.4F) or more? It's \"sore\" - a bit..."
    assert is_gsm(folded)
    assert to_gsm("Café naïve") == "Café naive"  # é is GSM, ï is not
    assert segments("a" * 160) == 1 and segments("a" * 161) == 2 and segments("a" * 306) == 2
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2  # two septets each
    assert segments("😀" * 35) == 1 and segments("😀" * 36) == 2  # UCS-2 surrogate pairs
    assert all(c in GSM_BASIC for c in "Reply YES, NO or NOT SURE.")


def test_bot_texts_render_in_gsm(monkeypatch):
    from bot.advice import REASONS, SELF_CARE_LINES
    from bot.questions import QUESTIONS

    texts = [q.adult for q in QUESTIONS.values()] + [q.child for q in QUESTIONS.values()] + \
        [q.simpler for q in QUESTIONS.values()] + list(REASONS.values()) + \
        [line for line, _ in SELF_CARE_LINES]
    for text in texts:
        assert is_gsm(render_messages([{"text": text}], "999")), text


def test_long_bodies_are_cut_for_twilio():
    body = "\n".join(f"line {i} " + "x" * 90 for i in range(40))
    parts = split_body(body)
    assert len(parts) > 1 and all(len(p) <= 1600 for p in parts)
    assert " ".join(p.replace("\n", " ") for p in parts).split() == body.split()


@pytest.mark.parametrize("text,word", [("STOP", "stop"), ("stop", "stop"), (" Stop. ", "stop"),
                                       ("UNSUBSCRIBE", "unsubscribe"), ("START", "start"),
                                       ("HELP", "help"), ("help!", "help"), ("opt out", "stop"),
                                       ("stop the questions please", None),
                                       ("help my leg is bleeding", None), ("yes", None),
                                       ("", None)])
def test_keywords(text, word):
    expected = {"unsubscribe": "stop"}.get(word, word)
    assert keyword(text) == expected


# --- discharges -------------------------------------------------------------------------

def test_validation_normalises_to_e164_and_reports_each_field():
    item = discharges.validate({"phone": "07400 123456", "procedure": "Bone marrow",
                                "procedure_at": "2026-03-10 11:00", "is_child": "yes",
                                "name": " Sam "},
                               now=datetime(2026, 3, 10, 12, tzinfo=timezone.utc))
    assert item.phone == "+447400123456" and item.procedure == "bone_marrow"
    assert item.procedure_at == datetime(2026, 3, 10, 11, tzinfo=timezone.utc)  # GMT in March
    assert item.is_child is True and item.name == "Sam"
    with pytest.raises(discharges.DischargeError) as error:
        discharges.validate({"phone": "020 7946 0000", "procedure": "knee",
                             "procedure_at": "2026-03-10", "is_child": "perhaps", "age": 3},
                            now=datetime(2026, 3, 10, 12, tzinfo=timezone.utc))
    assert set(error.value.errors) == {"phone", "procedure", "procedure_at", "is_child", "fields"}
    assert "mobile" in error.value.errors["phone"]
    with pytest.raises(discharges.DischargeError) as error:
        discharges.validate({"phone": "+447400123456", "procedure": "bone_biopsy",
                             "procedure_at": "2026-03-11T11:00"},
                            now=datetime(2026, 3, 10, 12, tzinfo=timezone.utc))
    assert "future" in error.value.errors["procedure_at"]


def test_csv_import_is_all_or_nothing_with_errors_per_line(sms_clean, monkeypatch):
    monkeypatch.setenv("SMS_FOLLOWUPS", "0@18:00,1@10:00,3@10:00,7@10:00")
    now = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
    bad = ("phone,procedure,procedure_at,is_child,name\n"
           "07400100001,bone_biopsy,2026-03-10 09:00,no,Ann\n"
           "\n"
           "12345,bone_biopsy,2026-03-10 09:00,no,\n"
           "07400100002,spleen,2026-03-10 09:00,maybe,\n"
           "07400100001,bone biopsy,2026-03-10T09:00,no,\n")
    result = discharges.import_csv(bad, now=now)
    assert not result.ok and not result.registered
    assert set(result.errors) == {4, 5, 6}
    assert "phone" in result.errors[4]
    assert set(result.errors[5]) == {"procedure", "is_child"}
    assert "row 2" in result.errors[6]["record"]
    with pytest.raises(discharges.DischargeError):
        discharges.import_csv("number,when\n1,2\n", now=now)
    assert discharges.find_for_phone("+447400100001") is None  # nothing half-imported

    good = bad.splitlines()[:2] + ["07400100003,bmab,2026-03-09 15:00,yes,"]
    result = discharges.import_csv("\n".join(good) + "\n", now=now)
    assert result.ok and [r.created for r in result.registered] == [True, True]
    again = discharges.import_csv("\n".join(good) + "\n", now=now)
    assert again.ok and [r.created for r in again.registered] == [False, False]
    child = discharges.find_for_phone("+447400100003")
    assert child.is_child and child.procedure == "bone_marrow"
    assert child.conversation_id.startswith("sms-") and len(child.conversation_id) > 20


def test_cli_add_import_show_cancel(sms_clean, tmp_path, capsys):
    from bot.sms import cli

    assert cli.main(["add", "--phone", "07400 100010", "--procedure", "bone_biopsy",
                     "--at", (datetime.now(LONDON) - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
                     "--child", "--name", "Sam"]) == 0
    out = capsys.readouterr().out
    assert "+447400100010" in out and "child" in out and "day 7" in out
    assert cli.main(["add", "--phone", "12", "--procedure", "bone_biopsy", "--at", "x"]) == 1
    assert "phone:" in capsys.readouterr().err
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("phone,procedure,procedure_at\n07400100011,bone_biopsy,2026-01-01 10:00\n"
                        "bad,bone_biopsy,2026-01-01 10:00\n")
    assert cli.main(["import", str(csv_file)]) == 1
    err = capsys.readouterr().err
    assert "line 3: phone" in err and "nothing imported" in err
    csv_file.write_text("phone,procedure,procedure_at\n07400100011,bone_biopsy,2026-01-01 10:00\n")
    assert cli.main(["import", str(csv_file), "--dry-run"]) == 0
    assert discharges.find_for_phone("+447400100011") is None
    assert cli.main(["import", str(csv_file)]) == 0
    found = discharges.find_for_phone("+447400100011")
    assert found is not None
    capsys.readouterr()
    assert cli.main(["cancel", str(found.id)]) == 0
    assert cli.main(["show", str(found.id)]) == 0
    assert "(cancelled)" in capsys.readouterr().out
    assert cli.main(["status"]) == 0


def test_console_hooks_find_sms_conversations_by_procedure_and_any_form_of_the_number(sms_clean):
    from sqlalchemy import column, select, table

    from bot.sms import console_hooks
    from bot.storage.db import session

    now = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
    d = discharges.register({"phone": "07400 100020", "procedure": "marrow",
                             "procedure_at": "2026-03-10 09:00"}, source="test", now=now).discharge
    ids = table("sms_discharges", column("conversation_id")).c.conversation_id
    assert console_hooks.PROCEDURE_LABELS == {"bone_biopsy": "Bone biopsy",
                                              "bone_marrow": "Bone marrow aspiration and biopsy"}
    with session() as s:
        def found(condition):
            return s.scalars(select(ids).where(condition)).all()
        assert found(console_hooks.by_procedure(ids, "bone_marrow")) == [d.conversation_id]
        assert found(console_hooks.by_procedure(ids, "bone_biopsy")) == []
        for form in ("07400 100020", "07400100020", "+44 7400 100020", "447400100020",
                     "+447400100020", "0044 7400 100020", "(07400) 100-020"):
            assert console_hooks.phone_forms(form) == ["+447400100020"], form
            assert found(console_hooks.by_phone(ids, form)) == [d.conversation_id], form
        assert found(console_hooks.by_phone(ids, "07400 100021")) == []
    for not_a_number in ("not a phone", "123", "", "sms-1234567"):
        assert console_hooks.phone_forms(not_a_number) == [] and \
            console_hooks.by_phone(ids, not_a_number) is None


def test_the_posted_form_keeps_blank_values_and_repeated_keys_for_the_signature():
    from urllib.parse import urlencode

    from twilio.request_validator import RequestValidator

    from bot.sms.channel import PostedForm

    fields = [("Body", ""), ("FromCity", ""), ("From", "+447400812345"),
              ("MediaUrl0", "https://a/1"), ("MediaUrl0", "https://a/2")]
    form = PostedForm.parse(urlencode(fields).encode())
    assert form.first("Body") == "" and form.getall("MediaUrl0") == ["https://a/1", "https://a/2"]
    validator = RequestValidator("token")
    url = "https://example.org/webhooks/sms/webhook"
    signature = validator.compute_signature(url, form)
    assert validator.validate(url, form, signature)
    # What Sanic's request.form gives (blank values dropped) does not match Twilio's signature.
    dropped = PostedForm({k: v for k, v in form.items() if v != [""]})
    assert not validator.validate(url, dropped, signature)
