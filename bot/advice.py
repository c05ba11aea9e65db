"""Advice texts, derived from the leaflets, each naming its source.

`render` turns an assessment into the message the patient reads. The
contact-team advice depends on the department's opening hours (from `.env`).

By SMS the patient gets the short version (`Advice.sms_text`): what to do first, the
reasons and sources in a few words, and a link to a page with the full cited advice for
the level (`advice_url`: one page per level, so the link carries nothing about the
patient). It is cut to fit three SMS segments, so it is read and costs little.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from bot.config import Settings, env
from bot.policy import RULES, SOURCES, Level
from bot.questions import QUESTIONS
from bot.sms.texts import fits
from bot.triage import Assessment, assess

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

# The same reasons in a few words, for texts: advice id -> words that follow "Why:".
SHORT_REASONS: dict[str, str] = {
    "bleeding_continued": "bleeding that keeps coming back",
    "bleeding_uncontrolled": "bleeding that won't stop with pressure",
    "bleeding_faint": "bleeding with feeling faint",
    "fever": "a fever or chills",
    "fever_immunocompromised": "a fever with a weak immune system",
    "fever_very_unwell": "a fever with feeling very unwell",
    "site_inflamed": "more pain, swelling, redness or warmth",
    "soreness_long": "soreness for over a week",
    "redness_spreading": "spreading redness",
    "possible_fracture": "severe pain, or not able to move the limb",
    "possible_nerve_injury": "new numbness, tingling or weakness",
    "discharge": "pus, oozing or a bad smell",
    "lymph_swollen": "swollen glands",
    "red_flag_breathing": "difficulty breathing",
    "red_flag_chest_pain": "chest pain",
    "red_flag_collapse": "collapsing",
    "red_flag_unconscious": "being unconscious or hard to wake",
    "red_flag_seizure": "a fit",
    "red_flag_floppy": "a floppy child",
    "red_flag_described": "what you describe",
}

# What each question is about, in a few words without commas (they are listed with them).
SHORT_TOPICS: dict[str, str] = {
    "bleeding": "bleeding",
    "bleeding_stops_with_pressure": "pressure stopping the bleeding",
    "feeling_faint": "feeling faint",
    "fever": "fever",
    "temperature": "the temperature",
    "immune_weak": "your immune system",
    "very_unwell": "feeling very unwell",
    "swelling": "swelling or redness",
    "days_since_procedure": "the days since the biopsy",
    "spreading_redness": "spreading redness",
    "pain_uncontrolled": "severe pain",
    "numbness": "numbness",
    "pus": "pus or a smell",
    "lymph_nodes": "swollen glands",
}

# The leaflets' names in a few words, for texts.
SHORT_SOURCES: dict[str, str] = {
    "000_ecb0106ea3e68fc3.txt": "RadiologyInfo leaflet",
    "001_62516bfdb6031490.txt": "IR bone biopsy leaflet",
    "002_5d1bfe58906ec91e.txt": "children's biopsy leaflet",
    "003_80218266c6f3ea9d.txt": "bone marrow article",
    "004_d13a5a57ce23216f.txt": "children's marrow leaflet",
    "safety-addition": "standard safety advice",
}
IR_LEAFLET = "001_62516bfdb6031490.txt"
GET_BACK_IN_TOUCH_SOURCES = ("000_ecb0106ea3e68fc3.txt", "004_d13a5a57ce23216f.txt")
ADVICE_PATH = "/advice/{level}"

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
    sms_text: str = ""      # the short version for SMS
    sms_reminder: str = ""  # the short version of `reminder`

    @property
    def reminder(self) -> str:
        """What the bot says when nothing has changed since its last advice."""
        return f"My advice is the same as before. {self.action_line}"

    def as_payload(self, reminder: bool = False) -> dict:
        """The custom payload beside the text: the level and phones for the widgets, and
        the SMS version of the text (of the reminder when `reminder`)."""
        return {"triage_level": self.level.slug, "advice_ids": self.advice_ids,
                "sources": self.sources, "phones": self.phone_links,
                "sms_text": self.sms_reminder if reminder else self.sms_text}


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


def advice_url(level: Level) -> str:
    """The public page with the full cited advice for `level` (bot.web.advice_page)."""
    base = env("PUBLIC_WEB_URL").rstrip("/")
    return base + ADVICE_PATH.format(level=level.slug)


def _listed(items: list[str], shown: int, separator: str = ", ", last: str = " and ") -> str:
    """The first `shown` items, the rest counted: "a, b and 3 more"; all of them: "a, b
    and c" (reasons and sources, which have commas of their own, take "; " for both)."""
    named, hidden = items[:shown], len(items[shown:])
    if hidden:
        return f"{separator.join(named)} and {hidden} more"
    return last.join([separator.join(named[:-1]), named[-1]]) if len(named) > 1 else "".join(named)


def _sms_action_line(level: Level, cfg: Settings, now: datetime) -> str:
    dept, phone, hours = cfg.department_name, cfg.department_phone, cfg.opening_hours_text
    e, u = cfg.emergency_number, cfg.urgent_number
    if level == Level.EMERGENCY:
        return f"Call {e} now. Or go straight to the nearest emergency department (A&E)."
    if level == Level.URGENT:
        text = f"Get medical help now: call {u} or go to A&E."
        if department_open(cfg, now):
            text += f" You may also call the {dept} on {phone}; don't wait for a call back."
        return text
    if level == Level.CONTACT_TEAM:
        if department_open(cfg, now):
            return f"Please call the {dept} today on {phone} (open {hours})."
        return f"The {dept} is closed now. Please contact your GP or call {u} today."
    return "This is expected after a biopsy."


def _sms_self_care(cfg: Settings, now: datetime) -> str:
    contact = (f"the {cfg.department_name} on {cfg.department_phone}"
               if department_open(cfg, now) else f"your GP or {cfg.urgent_number}")
    return (f"Call {contact} if bleeding comes back, or for fever, chills, more pain, swelling, "
            f"redness, warmth, pus, a bad smell or swollen glands. Call {cfg.emergency_number} "
            f"for heavy bleeding, breathing problems, chest pain, collapse or a fit.")


@dataclass(frozen=True)
class Detail:
    """How much a short advice names: reasons, unclear answers (0: only how many; None:
    not at all) and sources; the rest is counted ("and 3 more")."""

    reasons: int
    unclear: Optional[int]
    sources: int


ALL = 99  # more than any list has
# From the most to the least said: the first that fits three segments is sent.
DETAILS = (Detail(ALL, ALL, ALL), Detail(ALL, 3, 2), Detail(ALL, 2, 1), Detail(3, 2, 1),
           Detail(3, 1, 1), Detail(2, 1, 1), Detail(2, 0, 1), Detail(1, 0, 1),
           Detail(1, None, 1))


def _unclear_line(topics: list[str], shown: Optional[int]) -> Optional[str]:
    if not topics or shown is None:
        return None
    them = "it" if len(topics) == 1 else "them"
    which = _listed(topics, shown) if shown else f"{len(topics)} answers"
    return f"You weren't sure about {which}, so I counted {them}, to be safe."


def _sms_text(assessment: Assessment, cfg: Settings, now: datetime, unclear: list[str],
              detail: Detail) -> str:
    level = assessment.level
    lines: list[Optional[str]] = [_sms_action_line(level, cfg, now)]  # None: left out
    if level == Level.SELF_CARE:
        lines.append(_sms_self_care(cfg, now))
        sources = [IR_LEAFLET, *GET_BACK_IN_TOUCH_SOURCES]
    else:
        reasons = list(dict.fromkeys(SHORT_REASONS[rule.advice_id]
                                     for rule in assessment.deciding_rules
                                     if rule.advice_id in SHORT_REASONS))
        if reasons:
            lines.append(f"Why: {_listed(reasons, detail.reasons, '; ', '; ')}.")
        topics = [SHORT_TOPICS[slot] for slot in unclear if slot in SHORT_TOPICS]
        lines.append(_unclear_line(topics, detail.unclear))
        if level != Level.EMERGENCY:
            lines.append(f"If it gets worse, or for heavy bleeding, breathing problems, chest "
                         f"pain or collapse, call {cfg.emergency_number}.")
        sources = ([IR_LEAFLET] if level in (Level.URGENT, Level.CONTACT_TEAM) else []) + \
            list(assessment.sources)
    names = list(dict.fromkeys(SHORT_SOURCES[s] for s in sources))
    lines.append(f"Source: {_listed(names, detail.sources, '; ', '; ')}.")
    lines.append(f"Full advice: {advice_url(level)}")
    return "\n".join(line for line in lines if line)


def sms_advice(assessment: Assessment, cfg: Settings, now: datetime,
               unclear: Iterable[str] = ()) -> str:
    """The short advice for SMS: the most it can name within three segments."""
    unclear = list(dict.fromkeys(unclear))
    for detail in DETAILS:
        text = _sms_text(assessment, cfg, now, unclear, detail)
        if fits(text):
            break
    return text


def sms_reminder(level: Level, cfg: Settings, now: datetime) -> str:
    """The short "same as before" for SMS; an emergency still starts with what to do."""
    action = _sms_action_line(level, cfg, now)
    same = "My advice is the same as before."
    first = f"{action} {same}" if level == Level.EMERGENCY else f"{same} {action}"
    return f"{first}\nFull advice: {advice_url(level)}"


def level_advice(level: Level, cfg: Settings, now: datetime) -> Advice:
    """The full advice for every finding at `level` (the page an SMS links to)."""
    return render(assess([rule.finding for rule in RULES if rule.level == level]), cfg, now)


def render(assessment: Assessment, cfg: Settings, now: datetime,
           unclear: Iterable[str] = ()) -> Advice:
    """The advice text; `unclear` are the questions whose answer stayed "not sure"
    and were counted as present."""
    unclear = list(unclear)
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
                  sources=assessment.sources, phone_links=links,
                  sms_text=sms_advice(assessment, cfg, now, unclear),
                  sms_reminder=sms_reminder(level, cfg, now))
