"""The triage engine: every row of the policy table, and highest-level-wins."""
import itertools

import pytest

from bot.policy import RULES, Level
from bot.triage import assess


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.finding)
def test_each_row_gives_its_level_and_citation(rule):
    result = assess([rule.finding])
    assert result.level == rule.level
    assert result.deciding_rules == (rule,)
    assert result.advice_ids == [rule.advice_id]
    assert result.sources == list(rule.sources)


@pytest.mark.parametrize("a, b", list(itertools.combinations(RULES, 2))[::7])
def test_highest_level_wins(a, b):
    result = assess([a.finding, b.finding])
    assert result.level == max(a.level, b.level)
    assert {r.finding for r in result.deciding_rules} == {
        r.finding for r in (a, b) if r.level == result.level}


def test_all_clear_is_self_care_and_one_red_flag_outweighs_everything():
    clear = ["bleeding.none", "fever.none", "site.none", "discharge.none", "lymph.none"]
    assert assess(clear).level == Level.SELF_CARE
    assert assess(clear + ["red_flag.chest_pain"]).level == Level.EMERGENCY
    assert assess(clear + ["lymph.swollen"]).level == Level.CONTACT_TEAM


def test_unknown_finding_is_an_error_not_ignored():
    with pytest.raises(KeyError):
        assess(["bleeding.slightly"])


def test_policy_version_is_recorded():
    assert assess(["fever.present"]).policy_version
