"""The answer set: content-word answers to every question, read as the form reads them.

No answer that means a finding (or not knowing) may be read as reassuring; the
figures are printed and written to results/answer_set.json.
"""
import json

import pytest

from bot.config import PROJECT_ROOT
from tests import answer_set


def test_the_answer_set_covers_every_question_both_ways():
    from bot.questions import QUESTIONS
    items = answer_set.load()
    for slot in QUESTIONS:
        labels = [label for q, label, _ in items if q == slot]
        worrying = {"concern", "high", "over_week"} & set(labels)
        assert worrying and sum(label in worrying for label in labels) >= 30, slot
        assert len(labels) - labels.count("unsure") - labels.count("unknown") \
            - sum(label in worrying for label in labels) >= 30, slot


def test_no_answer_that_means_a_finding_is_read_as_reassuring():
    readings = answer_set.run(answer_set.load())
    summary = answer_set.summarise(readings)
    answer_set.main(PROJECT_ROOT / "results")
    misread = [(r.question, r.answer) for r in readings if r.under]
    assert summary["under_triage"] == 0, misread
    assert summary["exact_pct"] >= 97.0, summary
    assert summary["over_triage_pct"] <= 3.0, summary


@pytest.mark.live
def test_live_the_answer_set_is_read_the_same_way_through_the_whole_bot(live_bot):
    """Through DIET, the safety net, the rules and the form: an answer the intent
    classifier takes for "stop" or a greeting must still be read as an answer."""
    _, bot = live_bot
    readings = answer_set.run_live(bot, answer_set.load())
    summary = answer_set.summarise(readings)
    (PROJECT_ROOT / "results").mkdir(exist_ok=True)
    (PROJECT_ROOT / "results" / "answer_set_live.md").write_text(answer_set.table(summary) + "\n")
    (PROJECT_ROOT / "results" / "answer_set_live.json").write_text(json.dumps(
        [r.__dict__ for r in readings if not r.exact], indent=1))
    print("\nAnswer set, live:\n" + answer_set.table(summary))
    assert not [r for r in readings if r.read_as == "unreached"], "the harness could not reach a question"
    misread = [(r.question, r.answer, r.read_as) for r in readings if r.under]
    assert summary["under_triage"] == 0, misread
    assert summary["exact_pct"] >= 97.0, summary
