"""`make validate`: `rasa data validate` with every warning treated as an error, except the
one Rasa 3.6 gives wrongly for us: "The utterance 'utter_ask_<slot>' is not used in any
story or rule" for a slot of a form, which the form itself utters (Rasa's validator does not
look at forms). Any other warning, and any error, fails."""
from __future__ import annotations

import re
import subprocess
import sys

import yaml

from bot.config import PROJECT_ROOT

WARNING = re.compile(r"UserWarning: (.*)")
FORM_ASK = re.compile(r"The utterance 'utter_ask_(\w+)' is not used in any story or rule\.")


def form_slots() -> set[str]:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {slot for form in (domain.get("forms") or {}).values()
            for slot in form.get("required_slots") or []}


def unexpected_warnings(output: str, asked_by_forms: set[str]) -> tuple[list[str], list[str]]:
    """(every warning, those that are not a form's own question)."""
    warnings = [m[1].strip() for m in WARNING.finditer(output)]
    return warnings, [w for w in warnings
                      if not ((found := FORM_ASK.fullmatch(w)) and found[1] in asked_by_forms)]


def main() -> int:
    run = subprocess.run([str(PROJECT_ROOT / ".venv" / "bin" / "rasa"), "data", "validate",
                          "--quiet"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    warnings, unexpected = unexpected_warnings(run.stdout + run.stderr, form_slots())
    for warning in unexpected:
        print(f"warning: {warning}", file=sys.stderr)
    if run.returncode != 0:
        print(run.stdout[-3000:] + run.stderr[-3000:], file=sys.stderr)
        return run.returncode
    print(f"rasa data validate: no errors; {len(warnings) - len(unexpected)} expected "
          f"warnings (form questions), {len(unexpected)} others")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
