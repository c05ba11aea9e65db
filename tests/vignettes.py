"""Run the vignette set (tests/vignettes/*.yml) against the live bot and score it.

Each vignette gives the opening message, the answer to each question (by slot
name; a list gives successive replies to a re-ask), facts for follow-ups, and
the expected level. Questions are answered by reading `requested_slot` from
the tracker, like a patient answering what is asked.

A question the vignette does not answer gets a reassuring answer in the
patient's own words from `tests/answers/pools.yml` (written for this, never a
bare "no"): the vignette's level comes from what it does say, so the person
has nothing to report there. Each result lists the questions answered from
the pool, and the summary counts them.
"""
from __future__ import annotations

import json
import re
import uuid
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

import yaml

from bot.policy import Level
from tests.client import BotClient, texts

VIGNETTE_DIR = Path(__file__).parent / "vignettes"
POOLS_FILE = Path(__file__).parent / "answers" / "pools.yml"
MAX_TURNS = 30


@dataclass
class Result:
    id: str
    file: str
    expected: str
    got: Optional[str]
    questions: int
    transcript: list = field(default_factory=list)
    pooled: list = field(default_factory=list)  # questions answered from the pool

    @property
    def under(self) -> bool:
        return self.got is None or Level.from_slug(self.got) < Level.from_slug(self.expected)

    @property
    def over(self) -> bool:
        return self.got is not None and Level.from_slug(self.got) > Level.from_slug(self.expected)


def load(directory: Path = VIGNETTE_DIR) -> list[dict]:
    vignettes = []
    for path in sorted(directory.glob("*.yml")):
        for v in yaml.safe_load(path.read_text())["vignettes"]:
            vignettes.append({**v, "file": path.name})
    return vignettes


@lru_cache(maxsize=1)
def pools() -> dict:
    return yaml.safe_load(POOLS_FILE.read_text())["pools"]


_CHILD_WORDS = re.compile(r"\b(son|daughter|child|kid|boy|girl|baby|toddler|little one)s?\b", re.I)


def _speaks_for_a_child(vignette: dict) -> bool:
    return vignette.get("voice") == "parent" or (
        vignette.get("voice") == "carer" and bool(_CHILD_WORDS.search(vignette["opening"])))


def _pool_answer(vignette: dict, slot: str, times_asked: int) -> str:
    """A reassuring answer from the pool, the same one for the same vignette every run."""
    choices = pools()[slot]["child" if _speaks_for_a_child(vignette) else "adult"]
    seed = zlib.crc32(f"{vignette['id']}/{slot}".encode())
    return choices[(seed + times_asked - 1) % len(choices)]


def given_answer(vignette: dict, slot: str) -> Optional[object]:
    answers, facts = vignette.get("answers") or {}, vignette.get("facts") or {}
    return answers.get(slot, facts.get(slot))


def _reply(vignette: dict, slot: str, times_asked: int) -> tuple[str, bool]:
    """(the patient's reply, whether it came from the pool)."""
    answer = given_answer(vignette, slot)
    if answer is None:
        return _pool_answer(vignette, slot, times_asked), True
    if isinstance(answer, list):
        answer = answer[min(times_asked, len(answer)) - 1]
    return str(answer), False


def run_one(bot: BotClient, vignette: dict) -> Result:
    sender = f"vignette-{vignette['id']}-{uuid.uuid4().hex[:6]}"
    transcript = [("patient", vignette["opening"]), ("bot", texts(bot.say(sender, vignette["opening"])))]
    asked: list[str] = []
    pooled: list[str] = []
    for _ in range(MAX_TURNS):
        slots = bot.slots(sender)
        if slots.get("triage_level"):
            break
        question = slots.get("requested_slot")
        if not question:
            break  # the bot is not asking anything: counted as no advice (under-triage)
        asked.append(question)
        answer, from_pool = _reply(vignette, question, asked.count(question))
        if from_pool:
            pooled.append(question)
        transcript += [("patient", answer), ("bot", texts(bot.say(sender, answer)))]
    return Result(id=vignette["id"], file=vignette["file"], expected=vignette["expected"],
                  got=bot.slots(sender).get("triage_level"), questions=len(asked),
                  transcript=transcript, pooled=pooled)


def run_all(bot: BotClient, vignettes: list[dict], workers: int = 4) -> list[Result]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda v: run_one(bot, v), vignettes))


def summarise(results: list[Result]) -> dict:
    n = len(results)
    levels = [level.slug for level in Level]
    per_level = {}
    for level in levels:
        rs = [r for r in results if r.expected == level]
        if rs:
            per_level[level] = {
                "n": len(rs),
                "exact_pct": round(100 * sum(r.got == r.expected for r in rs) / len(rs), 1),
                "under_triage": sum(r.under for r in rs),
                "over_triage_pct": round(100 * sum(r.over for r in rs) / len(rs), 1),
                "safe_pct": round(100 * sum(not r.under for r in rs) / len(rs), 1),
            }
    return {
        "vignettes": n,
        "under_triage": sum(r.under for r in results),
        "exact_pct": round(100 * sum(r.got == r.expected for r in results) / n, 1),
        "over_triage_pct": round(100 * sum(r.over for r in results) / n, 1),
        "safe_pct": round(100 * sum(not r.under for r in results) / n, 1),
        "mean_questions": round(sum(r.questions for r in results) / n, 2),
        "pool_answers": sum(len(r.pooled) for r in results),
        "vignettes_using_the_pool": sum(bool(r.pooled) for r in results),
        "per_level": per_level,
        "under_triaged": [r.id for r in results if r.under],
        "over_triaged": [r.id for r in results if r.over],
    }


def markdown_table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def write_results(results: list[Result], summary: dict, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vignettes.json").write_text(json.dumps(
        {"summary": summary, "results": [asdict(r) for r in results]}, indent=1))
    columns = ["n", "exact_pct", "under_triage", "over_triage_pct", "safe_pct"]
    rows = [[level] + [s[c] for c in columns] for level, s in summary["per_level"].items()]
    rows.append(["**all**", summary["vignettes"]] + [summary[c] for c in columns[1:]])
    lines = markdown_table(["expected level", "n", "exact %", "under-triage", "over-triage %",
                            "safe %"], rows)
    lines.append(f"\nMean number of questions: {summary['mean_questions']}")
    lines.append(f"\nQuestions answered from the reassuring pool: {summary['pool_answers']} "
                 f"(in {summary['vignettes_using_the_pool']} vignettes)")
    (out_dir / "vignettes.md").write_text("\n".join(lines) + "\n")
