"""The answer sets (tests/answers/answer_set*.yml): content-word answers to each question,
read the way the form reads them, as the pending question's answer.

Each answer is labelled by its writer (who saw only the policy and the question
wording) as meaning the question's worrying finding (concern), the reassuring one
(reassure), or not knowing (unsure). For the two number questions the labels are
high / normal / unknown temperature and within_week / over_week / unknown days.

The reading is scored as:
- under-triage: a concern or unsure answer read as reassuring (or a high temperature as
  normal, more than 7 days as fewer): the finding would be missed;
- over-triage: a reassuring answer read as the concern;
- re-asked: read as "not sure", so asked again in simpler words (safe, but a question
  more; a reassuring answer re-asked counts against exactness).

`run` reads each answer offline, through the same functions the form's validation calls;
`run_live` says it to the live bot over the REST channel (intent classifier and safety net
included): an opening that calls for the question, reassuring answers from the pool to any
question before it, then the answer.

`python -m tests.answer_set` prints the table and writes results/answer_set.json.
"""
from __future__ import annotations

import json
import sys
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.dialogue import interpret
from bot.extraction import extract

# Two sets by two writers, each of whom saw only the policy and the question wording.
ANSWER_SETS = (Path(__file__).parent / "answers" / "answer_set.yml",
               Path(__file__).parent / "answers" / "answer_set_2.yml")

# Slots already known when each follow-up is asked (the answer that calls for it).
CONTEXT: dict[str, dict[str, Any]] = {
    "bleeding_stops_with_pressure": {"bleeding": "continued"},
    "feeling_faint": {"bleeding": "continued"},
    "temperature": {"bleeding": "none", "fever": "present"},
    "immune_weak": {"bleeding": "none", "fever": "present"},
    "very_unwell": {"bleeding": "none", "fever": "present"},
    "days_since_procedure": {"bleeding": "none", "fever": "none", "swelling": "sore"},
    "spreading_redness": {"bleeding": "none", "fever": "none", "swelling": "inflamed"},
    "pain_uncontrolled": {"bleeding": "none", "fever": "none", "swelling": "inflamed"},
    "numbness": {"bleeding": "none", "fever": "none", "swelling": "inflamed"},
}
# Slot values that are the question's worrying finding.
CONCERN_VALUES: dict[str, set] = {
    "bleeding": {"minor", "continued", "heavy"},
    "fever": {"present"}, "swelling": {"inflamed"}, "pus": {"present"},
    "lymph_nodes": {"present"}, "bleeding_stops_with_pressure": {"no"},
}
# The labels that mean "the finding is there" (or may be): reading them as reassuring
# is under-triage.
WORRYING_LABELS = {"concern", "unsure", "high", "unknown", "over_week"}


@dataclass
class Reading:
    question: str
    label: str
    answer: str
    read_as: str  # concern | reassure | unsure (re-asked) | nothing | unreached (live only)

    @property
    def exact(self) -> bool:
        expected = {"high": "concern", "normal": "reassure", "within_week": "reassure",
                    "over_week": "concern"}.get(self.label, self.label)
        if self.label == "unknown":
            expected = "unsure"
        return self.read_as == expected

    @property
    def under(self) -> bool:
        return self.label in WORRYING_LABELS and self.read_as in ("reassure", "nothing",
                                                                  "unreached")

    @property
    def over(self) -> bool:
        return self.label not in WORRYING_LABELS and self.read_as == "concern"


def _read(question: str, answer: str) -> str:
    slots = {**CONTEXT.get(question, {}), "requested_slot": question}
    updates = interpret(extract(answer), question, slots)
    value = updates.get(question, slots.get(question))
    if updates.get("reask") == question and value is None:
        return "unsure"
    if value is None:
        return "nothing"
    if question == "temperature":
        return "concern" if value == "unknown" or value >= 38.0 else "reassure"
    if question == "days_since_procedure":
        return "concern" if value == "unknown" or value > 7 else "reassure"
    concern = CONCERN_VALUES.get(question, {"yes"})
    return "concern" if value in concern else "reassure"


# Openings that make each question come up (the follow-ups need their trigger).
OPENINGS: dict[str, str] = {
    "bleeding": "hello",
    "fever": "hello", "swelling": "hello", "pus": "hello", "lymph_nodes": "hello",
    "bleeding_stops_with_pressure": "the biopsy site keeps bleeding",
    "feeling_faint": "the biopsy site keeps bleeding",
    "temperature": "I've got a fever",
    "immune_weak": "I've got a fever of 38.5",
    "very_unwell": "I've got a fever of 38.5",
    "days_since_procedure": "the biopsy site is a bit sore",
    "spreading_redness": "the biopsy site is red and swollen",
    "pain_uncontrolled": "the biopsy site is red and swollen",
    "numbness": "the biopsy site is red and swollen",
}
MAX_TURNS_TO_REACH = 12


def _live_read(bot, question: str, answer: str, index: int) -> str:
    from tests.vignettes import pools

    sender = f"answers-{question}-{index}-{uuid.uuid4().hex[:6]}"
    bot.say(sender, OPENINGS[question])
    for turn in range(MAX_TURNS_TO_REACH):
        slots = bot.slots(sender)
        pending = slots.get("requested_slot")
        if pending == question:
            break
        if not pending:
            return "unreached"
        bot.say(sender, pools()[pending]["adult"][turn % len(pools()[pending]["adult"])])
    else:
        return "unreached"
    bot.say(sender, answer)
    after = bot.slots(sender)
    value = after.get(question)
    if value is None:
        return "unsure" if after.get("reask") == question else "nothing"
    if question == "temperature":
        return "concern" if value == "unknown" or value >= 38.0 else "reassure"
    if question == "days_since_procedure":
        return "concern" if value == "unknown" or value > 7 else "reassure"
    return "concern" if value in CONCERN_VALUES.get(question, {"yes"}) else "reassure"


def run_live(bot, items: list[tuple[str, str, str]], workers: int = 4) -> list[Reading]:
    from concurrent.futures import ThreadPoolExecutor

    def one(indexed):
        i, (q, label, a) = indexed
        return Reading(q, label, a, _live_read(bot, q, a, i))

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, enumerate(items)))


def load(*paths: Path) -> list[tuple[str, str, str]]:
    items = []
    for path in paths or ANSWER_SETS:
        data = yaml.safe_load(path.read_text())["questions"]
        items += [(question, label, answer) for question, lists in data.items()
                  for label, answers in lists.items() for answer in answers]
    return items


def run(items: list[tuple[str, str, str]]) -> list[Reading]:
    return [Reading(q, label, a, _read(q, a)) for q, label, a in items]


def summarise(readings: list[Reading]) -> dict:
    def figures(rs: list[Reading]) -> dict:
        n = len(rs)
        return {"n": n, "exact_pct": round(100 * sum(r.exact for r in rs) / n, 1),
                "under_triage": sum(r.under for r in rs),
                "over_triage_pct": round(100 * sum(r.over for r in rs) / n, 1),
                "reasked_pct": round(100 * sum(r.read_as == "unsure" for r in rs) / n, 1)}

    questions = list(dict.fromkeys(r.question for r in readings))
    return {**figures(readings),
            "per_question": {q: figures([r for r in readings if r.question == q])
                             for q in questions},
            "confusion": Counter(f"{r.label}->{r.read_as}" for r in readings)}


def table(summary: dict) -> str:
    from tests.vignettes import markdown_table

    columns = ["n", "exact_pct", "under_triage", "over_triage_pct", "reasked_pct"]
    rows = [[q] + [s[c] for c in columns] for q, s in summary["per_question"].items()]
    rows.append(["**all**"] + [summary[c] for c in columns])
    return "\n".join(markdown_table(["question", "n", "exact %", "under-triage",
                                      "over-triage %", "re-asked %"], rows))


def main(out_dir: Path = Path("results")) -> int:
    readings = run(load())
    summary = summarise(readings)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "answer_set.json").write_text(json.dumps(
        {"summary": summary, "misread": [asdict(r) for r in readings if not r.exact]},
        indent=1, default=dict))
    print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
