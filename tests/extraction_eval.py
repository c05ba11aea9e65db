"""Precision and recall of the rule-based extractor on a labelled set of sentences.

tests/extraction_labelled.yml was written independently of the extractor: for
each sentence, the topics it speaks of and whether each is present, absent or
unsure. Run as `python -m tests.extraction_eval` (results/extraction.json);
tests/unit/test_extraction_eval.py holds the red-flag recall to 100 %.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from bot.dialogue import FEVER_THRESHOLD_C
from bot.extracted import ABSENT, PRESENT, UNSURE, Extraction
from bot.extraction import extract

LABELLED = Path(__file__).parent / "extraction_labelled.yml"
TOPIC_LABELS = {
    "bleeding": {"BLEED", "BLEED_HEAVY", "BLEED_CONTINUED", "BLEED_MINOR", "BLEED_LOTS"},
    "fever": {"FEVER", "CHILLS", "FEEL_HOT"},
    "swelling": {"SWELLING", "REDNESS", "WARMTH", "PAIN_WORSE", "SPREADING_REDNESS",
                 "PAIN_UNCONTROLLED"},
    "pus": {"PUS"},
    "lymph_nodes": {"LYMPH"},
}
TOPICS = list(TOPIC_LABELS) + ["red_flag"]


def topic_status(found: Extraction, topic: str) -> str | None:
    if topic == "red_flag":
        if found.red_flags:
            return PRESENT
        from bot.extracted import RED_FLAG_LABELS
        return ABSENT if found.labels(ABSENT) & RED_FLAG_LABELS else None
    statuses = {found.status(label) for label in TOPIC_LABELS[topic]}
    if topic == "fever" and found.temperature_c is not None:
        statuses.add(PRESENT if found.temperature_c >= FEVER_THRESHOLD_C else ABSENT)
    for status in (PRESENT, UNSURE, ABSENT):
        if status in statuses:
            return status
    return None


def evaluate() -> dict:
    sentences = yaml.safe_load(LABELLED.read_text())["sentences"]
    counts = {t: {s: {"tp": 0, "fp": 0, "fn": 0} for s in (PRESENT, ABSENT, UNSURE)} for t in TOPICS}
    misses = []
    for item in sentences:
        found = extract(item["text"])
        gold = item.get("labels") or {}
        for topic in TOPICS:
            want, got = gold.get(topic), topic_status(found, topic)
            for status in (PRESENT, ABSENT, UNSURE):
                c = counts[topic][status]
                c["tp"] += want == status and got == status
                c["fp"] += want != status and got == status
                c["fn"] += want == status and got != status
            if want != got and (want or got == PRESENT):
                misses.append({"text": item["text"], "topic": topic, "want": want, "got": got})
    report = {}
    for topic in TOPICS:
        report[topic] = {}
        for status, c in counts[topic].items():
            if c["tp"] + c["fn"] + c["fp"] == 0:
                continue
            p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 1.0
            r = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 1.0
            report[topic][status] = {"precision": round(p, 3), "recall": round(r, 3),
                                     "support": c["tp"] + c["fn"]}
    return {"sentences": len(sentences), "per_topic": report, "misses": misses}


def main() -> None:
    result = evaluate()
    out = Path(__file__).resolve().parent.parent / "results" / "extraction.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for topic, statuses in result["per_topic"].items():
        print(topic, {s: (v["precision"], v["recall"], v["support"]) for s, v in statuses.items()})
    print(len(result["misses"]), "misses; see", out)


if __name__ == "__main__":
    main()
