"""The policy table: complete, cited, and versioned."""
from pathlib import Path

import pytest

from bot.advice import REASONS
from bot.policy import POLICY_VERSION, RULES, SAFETY, SOURCES, Level, fingerprint

SOURCES_DIR = Path(__file__).resolve().parents[3] / "shared" / "sources"
# Bump POLICY_VERSION whenever the table changes, then record its new fingerprint here.
PINNED = {"2026-11-21.1": "a0e06a436b9b4412"}


def test_fingerprint_is_pinned_for_this_version():
    assert POLICY_VERSION in PINNED, "new POLICY_VERSION: pin its fingerprint"
    assert PINNED[POLICY_VERSION] == fingerprint(), (
        "the policy table changed without a new POLICY_VERSION")


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.finding)
def test_every_row_cites_a_real_source(rule):
    for source in rule.sources:
        assert source in SOURCES
        if source != SAFETY and SOURCES_DIR.exists():
            assert (SOURCES_DIR / source).is_file()
    if rule.level > Level.SELF_CARE:
        assert rule.sources, "a row that raises the level must say where it comes from"
        assert rule.advice_id in REASONS, "the patient must be told why"


def test_every_topic_has_a_self_care_row():
    prefixes = {r.finding.split(".")[0] for r in RULES if r.level == Level.SELF_CARE}
    assert {"bleeding", "fever", "site", "discharge", "lymph"} <= prefixes


SPEC = Path(__file__).resolve().parents[2] / "docs" / "clinical-policy.md"


def test_the_specification_in_the_repository_names_every_leaflet_the_table_cites():
    text = SPEC.read_text()
    for source in {s for rule in RULES for s in rule.sources} - {SAFETY}:
        assert f"`{source}`" in text, source


def test_the_main_questions_are_asked_in_the_specification_s_words():
    from bot.questions import MAIN_QUESTIONS, QUESTIONS
    text = SPEC.read_text()
    for slot in MAIN_QUESTIONS:
        assert f'asked as: "{QUESTIONS[slot].adult}"' in text, slot


def test_the_fail_safe_line_is_the_specification_s():
    from bot.policy import FAILSAFE_LINE
    assert f'"{FAILSAFE_LINE}"' in " ".join(SPEC.read_text().split())


def test_every_level_of_the_specification_is_in_the_table():
    text = SPEC.read_text()
    for level in Level:
        assert f"| `{level.slug}` |" in text
