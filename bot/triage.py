"""The triage engine: findings -> level, advice ids and citations. Pure, no Rasa."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.policy import POLICY_VERSION, RULES_BY_FINDING, Level, Rule


@dataclass(frozen=True)
class Assessment:
    level: Level
    rules: tuple[Rule, ...]  # every matched row, highest level first
    policy_version: str = POLICY_VERSION

    @property
    def findings(self) -> list[str]:
        return [rule.finding for rule in self.rules]

    @property
    def deciding_rules(self) -> tuple[Rule, ...]:
        """The rows at the winning level: why the patient gets this advice."""
        return tuple(rule for rule in self.rules if rule.level == self.level)

    @property
    def advice_ids(self) -> list[str]:
        return list(dict.fromkeys(rule.advice_id for rule in self.rules))

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(s for rule in self.deciding_rules for s in rule.sources))


def assess(findings: Iterable[str]) -> Assessment:
    """The highest level triggered by any finding wins; no findings is self-care.

    An unknown finding is a programming error and raises KeyError: silently
    ignoring it could under-triage.
    """
    rules = sorted({RULES_BY_FINDING[f] for f in findings},
                   key=lambda r: (-r.level, r.finding))
    level = rules[0].level if rules else Level.SELF_CARE
    return Assessment(level=level, rules=tuple(rules))
