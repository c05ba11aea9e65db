"""Advice texts, derived from the leaflets, each naming its source.

`render` turns an assessment into the message the patient reads. The
contact-team advice depends on the department's opening hours (from `.env`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from bot.config import Settings
from bot.policy import SOURCES, Level
from bot.questions import QUESTIONS
from bot.triage import Assessment

# Why a finding matters, in the patient's words: advice id -> sentence.
REASONS: dict[str, str] = {
    "bleeding_continued": "Bleeding that keeps coming back or keeps oozing from the biopsy site needs to be checked.",
    "bleeding_uncontrolled": "Bleeding that does not stop after 10 minutes of firm pressure, or blood pouring or spurting, is an emergency.",
    "bleeding_faint": "Bleeding together with feeling faint, dizzy, cold and clammy, or collapsing is an emergency.",
    "fever": "A fever, chills or shivering after a biopsy can be a sign of infection.",
    "fever_immunocompromised": "A temperature of 38.0°C or more with a weak immune system (for example during chemotherapy, or a child being treated for cancer or a blood disorder) needs help straight away: infections can become serious quickly.",
    "fever_very_unwell": "A fever or chills with confusion, great drowsiness, fast breathing, or mottled or very pale skin can be a sign of a serious infection (sepsis).",
    "site_inflamed": "More pain, swelling, redness or warmth around the biopsy site can be a sign of infection.",
    "soreness_long": "The biopsy site may be sore for up to a week; soreness lasting longer than that should be checked, and you can ask about pain relief.",
    "redness_spreading": "Redness spreading quickly, or red streaks from the site, can mean an infection is spreading.",
    "possible_fracture": "Severe pain not eased by painkillers, or not being able to move the limb or put weight on it, needs checking: rarely the biopsy needle can break (fracture) the bone.",
    "possible_nerve_injury": "New numbness, tingling or weakness needs checking: rarely the biopsy needle can injure a nerve.",
    "discharge": "Pus, cloudy or coloured fluid, oozing or a bad smell from the site can be a sign of infection.",
    "lymph_swollen": "Swollen glands (lumps) in the neck, armpit or groin can be a sign of infection.",
    "red_flag_breathing": "Difficulty breathing is an emergency.",
    "red_flag_chest_pain": "Chest pain is an emergency.",
    "red_flag_collapse": "Collapsing or passing out is an emergency.",
    "red_flag_unconscious": "Being unconscious, unresponsive or very hard to wake is an emergency.",
    "red_flag_seizure": "A fit (seizure) is an emergency.",
    "red_flag_floppy": "A child who is floppy or hard to wake is an emergency.",
    "red_flag_described": "What you describe may be an emergency.",
}

# Self-care lines (policy "Self-care advice"), each with its leaflet.
SELF_CARE_LINES = [
    ("Soreness at the biopsy site can last up to a week, and mild aching is common for the first few hours.",
     ("000_ecb0106ea3e68fc3.txt", "001_62516bfdb6031490.txt")),
    ("Simple painkillers such as paracetamol usually control it; follow the dose on the pack.",
     ("001_62516bfdb6031490.txt", "002_5d1bfe58906ec91e.txt")),
    ("A small bruise around the site is common.", ("001_62516bfdb6031490.txt",)),
    ("The dressing can come off a day after the procedure, and showering or bathing is fine from then; most people are back to usual activities after 24 hours.",
     ("002_5d1bfe58906ec91e.txt", "004_d13a5a57ce23216f.txt")),
]


@dataclass
class Advice:
    level: Level
    text: str
    action_line: str  # what to do, without the reasons
    advice_ids: list[str]
    sources: list[str]
    phone_links: list[dict] = field(default_factory=list)  # for widgets: label + tel number

    def as_payload(self) -> dict:
        return {"triage_level": self.level.slug, "advice_ids": self.advice_ids,
                "sources": self.sources, "phones": self.phone_links}


def department_open(cfg: Settings, now: datetime) -> bool:
    local = now.astimezone(cfg.timezone)
    return local.weekday() in cfg.open_days and cfg.opens <= local.time() < cfg.closes


def cite(sources) -> str:
    names = [SOURCES[s] for s in sources]
    return f"(Source: {'; '.join(names)}.)" if names else ""


def _action_line(level: Level, cfg: Settings, now: datetime) -> tuple[str, list[dict]]:
    dept, phone, hours = cfg.department_name, cfg.department_phone, cfg.opening_hours_text
    e, u = cfg.emergency_number, cfg.urgent_number
    if level == Level.EMERGENCY:
        return (f"EMERGENCY: call {e} now, or go straight to the nearest emergency department (A&E).",
                [{"label": f"Call {e}", "tel": e}])
    if level == Level.URGENT:
        text = (f"URGENT: get medical help now. Call {u}, or go to your nearest emergency "
                f"department (A&E). {cite(['001_62516bfdb6031490.txt'])}")
        links = [{"label": f"Call {u}", "tel": u}, {"label": f"Call {e}", "tel": e}]
        if department_open(cfg, now):
            text += (f" The {dept} is open now: you can also call them on {phone}, "
                     f"but do not wait for a call back.")
            links.append({"label": f"Call {dept}", "tel": phone})
        return text, links
    if level == Level.CONTACT_TEAM:
        if department_open(cfg, now):
            return (f"Please call the {dept} today on {phone} (open {hours}). "
                    f"{cite(['001_62516bfdb6031490.txt'])}",
                    [{"label": f"Call {dept}", "tel": phone}])
        return (f"The {dept} is closed now (open {hours}). Please contact your GP or call {u} "
                f"today. {cite(['001_62516bfdb6031490.txt'])}",
                [{"label": f"Call {u}", "tel": u}])
    return "What you describe is expected after a biopsy.", []


def _when_to_get_back_in_touch(cfg: Settings, now: datetime) -> str:
    contact = (f"the {cfg.department_name} on {cfg.department_phone}" if department_open(cfg, now)
               else f"your GP or {cfg.urgent_number} (the {cfg.department_name} is open "
                    f"{cfg.opening_hours_text})")
    return (f"Get back in touch with {contact} if you notice bleeding that keeps coming back, "
            f"a fever or chills, more pain, swelling, redness or warmth, pus or a bad smell, "
            f"or swollen glands in the neck, armpit or groin. {cite(['000_ecb0106ea3e68fc3.txt', '004_d13a5a57ce23216f.txt'])} "
            f"Call {cfg.emergency_number} if bleeding does not stop after 10 minutes of firm "
            f"pressure, or for difficulty breathing, chest pain, collapse or a fit.")


def unclear_lines(unclear: Iterable[str]) -> list[str]:
    """Why an answer that stayed unclear raised the level: the patient (and staff
    reading the transcript) can see which question it was."""
    return [f"- You weren't sure about {QUESTIONS[slot].asks_about}, so I have counted it "
            f"as present, to be safe." for slot in dict.fromkeys(unclear) if slot in QUESTIONS]


def render(assessment: Assessment, cfg: Settings, now: datetime,
           unclear: Iterable[str] = ()) -> Advice:
    """The advice text; `unclear` are the questions whose answer stayed "not sure"
    and were counted as present."""
    level = assessment.level
    action, links = _action_line(level, cfg, now)
    lines = [action]
    if level == Level.SELF_CARE:
        lines += [f"- {text} {cite(sources)}" for text, sources in SELF_CARE_LINES]
        lines.append(_when_to_get_back_in_touch(cfg, now))
    else:
        for rule in assessment.deciding_rules:
            reason = REASONS.get(rule.advice_id)
            if reason:
                lines.append(f"- {reason} {cite(rule.sources)}")
        lines += unclear_lines(unclear)
        if level != Level.EMERGENCY:
            lines.append(f"If things get worse, or for difficulty breathing, chest pain, "
                         f"collapse or bleeding that will not stop, call {cfg.emergency_number}.")
    return Advice(level=level, text="\n".join(lines), action_line=action,
                  advice_ids=assessment.advice_ids,
                  sources=assessment.sources, phone_links=links)
