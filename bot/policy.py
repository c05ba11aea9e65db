"""The triage policy (../shared/triage-policy.md) as one table of data.

Each row: a finding the bot can conclude, the level it triggers, the advice
text id that explains it, and the leaflet(s) it comes from. The engine in
`bot.triage` only reads this table. Changing a row means changing
POLICY_VERSION too: `tests/unit/test_policy_table.py` pins the table's fingerprint.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from enum import IntEnum

POLICY_VERSION = "2026-11-21.1"


class Level(IntEnum):
    """Ordered: the highest level triggered by any finding wins."""

    SELF_CARE = 0
    CONTACT_TEAM = 1
    URGENT = 2
    EMERGENCY = 3

    @property
    def slug(self) -> str:
        return self.name.lower()

    @classmethod
    def from_slug(cls, slug: str) -> Level:
        return cls[slug.upper()]


# Source files in ../shared/sources, and how a patient sees them named.
SOURCES = {
    "000_ecb0106ea3e68fc3.txt": "RadiologyInfo (ACR/RSNA) bone biopsy leaflet",
    "001_62516bfdb6031490.txt": "hospital IR department bone biopsy leaflet",
    "002_5d1bfe58906ec91e.txt": "children's hospital bone biopsy leaflet",
    "003_80218266c6f3ea9d.txt": "bone marrow biopsy health article",
    "004_d13a5a57ce23216f.txt": "children's hospital bone marrow aspiration and biopsy leaflet",
    "safety-addition": "standard safety advice (not spelled out in the leaflets)",
}
SAFETY = "safety-addition"


@dataclass(frozen=True)
class Rule:
    finding: str
    level: Level
    advice_id: str
    sources: tuple[str, ...]
    quote: str  # the policy/leaflet words this row rests on


S, C, U, E = Level.SELF_CARE, Level.CONTACT_TEAM, Level.URGENT, Level.EMERGENCY
# Short names for the five leaflet files, in file order.
R000, R001, R002, R003, R004 = list(SOURCES)[:5]

RULES: tuple[Rule, ...] = (
    # Bleeding
    Rule("bleeding.none", S, "bleeding_none", (R001,), "serious bleeding is very rare"),
    Rule("bleeding.minor_stopped", S, "bleeding_minor", (R001,),
         "a small amount of bruising... serious bleeding is very rare"),
    Rule("bleeding.bruising", S, "bruising", (R001, R003, R004),
         "There may be a small amount of bruising around the biopsy site"),
    Rule("bleeding.continued", C, "bleeding_continued", (R000, R004, R003),
         "excessive bleeding / Continued bleeding at the site / prolonged bleeding"),
    Rule("bleeding.uncontrolled", E, "bleeding_uncontrolled", (SAFETY,),
         "bleeding that does not stop after 10 minutes of firm pressure, or pouring / spurting"),
    Rule("bleeding.with_faintness", E, "bleeding_faint", (SAFETY,),
         "any bleeding together with feeling faint, dizzy, cold and clammy, or collapsing"),
    # Fever
    Rule("fever.none", S, "fever_none", (), "no fever"),
    Rule("fever.present", C, "fever", (R000, R004, R001),
         "fever or chills / Chills or fever / skin or bone infection"),
    Rule("fever.high_immunocompromised", U, "fever_immunocompromised", (SAFETY, R000),
         "38.0°C or more with a weak immune system, on chemotherapy, or a child treated "
         "for cancer or a blood disorder (neutropenic sepsis risk)"),
    Rule("fever.very_unwell", E, "fever_very_unwell", (SAFETY,),
         "fever or chills with confusion, very drowsy, fast breathing, mottled or very pale skin"),
    # Swelling, redness, warmth, pain
    Rule("site.none", S, "site_none", (), "no swelling, redness, warmth or extra pain"),
    Rule("site.soreness_easing", S, "soreness", (R000, R001, R002, R004),
         "the biopsy site may be sore for up to a week"),
    Rule("site.inflamed", C, "site_inflamed", (R000, R004),
         "increased pain, swelling, redness or warmth"),
    Rule("site.soreness_over_7_days", C, "soreness_long", (R000,),
         "sore for up to a week. You should talk to your doctor about pain medication"),
    Rule("site.redness_spreading", U, "redness_spreading", (SAFETY,),
         "redness spreading quickly, or red streaks from the site"),
    Rule("site.severe_pain_or_immobile", U, "possible_fracture", (R001, R000),
         "break (fracture) the bone"),
    Rule("site.nerve_symptoms", U, "possible_nerve_injury", (R001, R000),
         "injure a nerve"),
    # Pus, oozing, smell
    Rule("discharge.none", S, "discharge_none", (), "clear dressing"),
    Rule("discharge.present", C, "discharge", (R000, R004),
         "pus draining from the site / oozing, or a bad smell"),
    # Lymph nodes
    Rule("lymph.none", S, "lymph_none", (), "no swollen glands"),
    Rule("lymph.swollen", C, "lymph_swollen", (R000,),
         "swollen lymph nodes in the neck, armpit or groin"),
    # At any point
    Rule("red_flag.breathing", E, "red_flag_breathing", (SAFETY,), "difficulty breathing"),
    Rule("red_flag.chest_pain", E, "red_flag_chest_pain", (SAFETY,), "chest pain"),
    Rule("red_flag.collapse", E, "red_flag_collapse", (SAFETY,), "collapse"),
    Rule("red_flag.unconscious", E, "red_flag_unconscious", (SAFETY,),
         "unconscious, or a child who is hard to wake"),
    Rule("red_flag.seizure", E, "red_flag_seizure", (SAFETY,), "fitting"),
    Rule("red_flag.floppy", E, "red_flag_floppy", (SAFETY,), "a child who is floppy"),
    # When the words are not understood but the language model reads an
    # emergency, the policy's "when unsure between two levels, pick the higher".
    Rule("red_flag.described", E, "red_flag_described", (SAFETY,),
         "When the bot is unsure between two levels, it picks the higher one"),
)

RULES_BY_FINDING: dict[str, Rule] = {rule.finding: rule for rule in RULES}
assert len(RULES_BY_FINDING) == len(RULES), "duplicate finding in policy table"

TOPICS = ("bleeding", "fever", "site", "discharge", "lymph")

FAILSAFE_LINE = (
    "I can't assess this right now. If you are worried, call 111; "
    "if it is an emergency, call 999."
)


def fingerprint() -> str:
    """A hash of the table's content, pinned per POLICY_VERSION by a test."""
    rows = [{**asdict(rule), "level": rule.level.slug} for rule in RULES]
    return hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()[:16]
