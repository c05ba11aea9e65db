"""Advice texts: cited, time-aware, never 'you are fine'."""
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from bot.advice import department_open, render
from bot.config import _days, settings
from bot.policy import RULES, Level
from bot.triage import assess

CFG = replace(settings(), department_phone="01234 567890")
# Monday 24 Nov 2025 10:00 in London (GMT) is open; 18:00 and Saturday are closed.
OPEN = datetime(2025, 11, 24, 10, 0, tzinfo=timezone.utc)
EVENING = datetime(2025, 11, 24, 18, 0, tzinfo=timezone.utc)
SATURDAY = datetime(2025, 11, 29, 10, 0, tzinfo=timezone.utc)
# 08:30 UTC in July is 09:30 in London (BST): open.
SUMMER_MORNING = datetime(2025, 7, 14, 8, 30, tzinfo=timezone.utc)


def test_opening_hours_follow_the_configured_time_zone():
    assert department_open(CFG, OPEN) and department_open(CFG, SUMMER_MORNING)
    assert not department_open(CFG, EVENING) and not department_open(CFG, SATURDAY)
    assert not department_open(replace(CFG, opens=CFG.opens.replace(hour=11)), OPEN)


def test_open_days_setting():
    assert _days("mon-fri") == frozenset(range(5))
    assert _days("mon,wed, fri") == frozenset({0, 2, 4})


def test_contact_team_in_hours_calls_the_department():
    text = render(assess(["discharge.present"]), CFG, OPEN).text
    assert "call the" in text and "01234 567890" in text and "GP" not in text.split("\n")[0]


@pytest.mark.parametrize("when", [EVENING, SATURDAY])
def test_contact_team_out_of_hours_says_gp_or_111(when):
    first_line = render(assess(["discharge.present"]), CFG, when).text.split("\n")[0]
    assert "closed now" in first_line and "GP" in first_line and "111" in first_line
    assert "01234 567890" not in first_line


def test_urgent_mentions_department_only_when_open():
    assert "01234 567890" in render(assess(["site.nerve_symptoms"]), CFG, OPEN).text
    closed = render(assess(["site.nerve_symptoms"]), CFG, EVENING).text
    assert "01234 567890" not in closed and "111" in closed and "A&E" in closed


def test_emergency_leads_with_999():
    advice = render(assess(["bleeding.none", "red_flag.seizure"]), CFG, OPEN)
    assert advice.text.startswith("EMERGENCY: call 999")
    assert advice.phone_links[0]["tel"] == "999"


def test_self_care_cites_each_line_and_ends_with_when_to_get_back_in_touch():
    text = render(assess(["bleeding.none", "fever.none", "site.soreness_easing",
                          "discharge.none", "lymph.none"]), CFG, OPEN).text
    lines = text.split("\n")
    assert all("(Source:" in line for line in lines[1:])
    assert lines[-1].startswith("Get back in touch") and "999" in lines[-1]


@pytest.mark.parametrize("rule", [r for r in RULES if r.level > Level.SELF_CARE],
                         ids=lambda r: r.finding)
def test_every_raised_level_explains_why_with_its_source(rule):
    text = render(assess([rule.finding]), CFG, OPEN).text
    assert "Source:" in text


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.finding)
def test_never_says_you_are_fine(rule):
    text = render(assess([rule.finding]), CFG, OPEN).text.lower()
    assert "you are fine" not in text and "you're fine" not in text
    assert "stop taking" not in text


def test_advice_names_the_question_whose_answer_stayed_unclear():
    from datetime import datetime, timezone

    from bot.advice import render
    from bot.config import settings
    from bot.triage import assess

    advice = render(assess(["site.inflamed", "site.nerve_symptoms"]), settings(),
                    datetime(2026, 3, 10, 12, tzinfo=timezone.utc), unclear=["numbness"])
    assert "You weren't sure about new numbness, tingling or weakness" in advice.text
    assert "counted it as present" in advice.text
