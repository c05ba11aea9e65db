"""Writes the questions' `utter_ask_<slot>` responses into domain.yml from the question
registry (bot/questions.yml), between the markers; `--check` says whether they are current
(tests/unit/test_questions.py runs it). `python -m tools.question_responses` after editing a
question's wording or buttons."""
from __future__ import annotations

import sys

import yaml

from bot.config import PROJECT_ROOT
from bot.questions import responses

DOMAIN = PROJECT_ROOT / "domain.yml"
START = "  # --- questions: generated from bot/questions.yml by `python -m tools.question_responses`\n"
END = "  # --- end of the generated questions\n"


def block() -> str:
    body = yaml.safe_dump(responses(), sort_keys=False, allow_unicode=True, width=1000)
    return START + "".join(f"  {line}\n" for line in body.splitlines()) + END


def updated(text: str) -> str:
    if START in text:
        before, rest = text.split(START, 1)
        return before + block() + rest.split(END, 1)[1]
    return text.rstrip("\n") + "\n" + block()


def main(argv: list[str]) -> int:
    text = DOMAIN.read_text(encoding="utf-8")
    new = updated(text)
    if "--check" in argv:
        if new != text:
            print("domain.yml's question responses are out of date: run "
                  "python -m tools.question_responses", file=sys.stderr)
            return 1
        return 0
    DOMAIN.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
