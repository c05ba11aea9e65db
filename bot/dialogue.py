"""The triage conversation as pure functions over slot values (no Rasa import).

`interpret` turns one patient message (plus the pending question) into slot
updates; `next_question` picks what to ask next; `findings` turns the slots
into policy findings for `bot.triage.assess`. The Rasa form validation action
is a thin adapter around these three.

Safety rules that hold throughout:
- Findings only ever get worse within a conversation: a later message can
  upgrade "no bleeding" to "bleeding", never the reverse (misreading a
  correction can then over-triage, never under-triage).
- "Not sure" is asked once more in simpler words, then counts as present.
"""
from __future__ import annotations

import re
from typing import Any, Optional

from bot.extracted import ABSENT, PRESENT, UNSURE, Extraction, fahrenheit_to_celsius, strong_yes
from bot.language import rules
from bot.policy import Level
from bot.questions import FOLLOW_UPS, NOT_ASKED, QUESTIONS
from bot.triage import assess

UNKNOWN_TEMPERATURE = "unknown"  # still unsure after the re-ask: treated as >= 38.0 °C
UNKNOWN_DAYS = "unknown"  # still unsure: treated as more than 7 days
FEVER_THRESHOLD_C = 38.0
NORMAL_TEMPERATURE_C = 37.0
SORENESS_DAYS = 7

SEPSIS_LABELS = ("CONFUSED", "VERY_DROWSY", "FAST_BREATHING", "MOTTLED", "VERY_PALE")
RED_FLAG_FINDINGS = {
    "BREATHING": "red_flag.breathing", "CHEST_PAIN": "red_flag.chest_pain",
    "COLLAPSE": "red_flag.collapse", "UNCONSCIOUS": "red_flag.unconscious",
    "SEIZURE": "red_flag.seizure", "FLOPPY": "red_flag.floppy",
    "DESCRIBED": "red_flag.described",
}

Slots = dict[str, Any]


# ---------------------------------------------------------------- interpreting
def _worse(slot: str, old: Any, new: Any) -> bool:
    if old is None or old == NOT_ASKED:
        return True
    question = QUESTIONS.get(slot)
    return bool(question and question.worse(old, new))


def _as_fever(labels: set[str]) -> set[str]:
    return (labels - {"WARMTH"}) | ({"FEEL_HOT"} if "WARMTH" in labels else set())


def _topic_values(ex: Extraction, requested: Optional[str], slots: Slots) -> dict[str, str]:
    """What the message itself says, per slot (present findings and clear negatives)."""
    v: dict[str, str] = {}
    present, absent = ex.labels(PRESENT), ex.labels(ABSENT)
    if requested == "fever":
        # "She's not hot", said to the fever question, is about her, not the site.
        present, absent = _as_fever(present), _as_fever(absent)
    bleeding_talk = (
        requested in ("bleeding", "bleeding_stops_with_pressure")
        or present & {"BLEED", "BLEED_CONTINUED", "BLEED_MINOR", "BLEED_LOTS"}
        or slots.get("bleeding") in ("minor", "continued")
    )

    # Bleeding, worst description wins. Stopping with pressure rules out the
    # emergency, whatever the amount.
    stops = bool(present & {"BLEED_STOPS_WITH_PRESSURE"})
    if not stops and ("BLEED_HEAVY" in present or ("HEAVY_FLOW" in present and bleeding_talk)):
        v["bleeding"] = "heavy"
    elif present & {"BLEED_HEAVY", "BLEED_CONTINUED", "BLEED_LOTS"} or (
            present & {"RECURRING", "HEAVY_FLOW"} and bleeding_talk):
        v["bleeding"] = "continued"
    elif "BLEED_MINOR" in present:
        v["bleeding"] = "stopped" if "BLEED_STOPPED" in present else "minor"
    elif "BLEED_STOPPED" in present or "BLEED_STOPS_WITH_PRESSURE" in present:
        v["bleeding"] = "stopped" if "BLEED_STOPPED" in present else "continued"
    elif "BLEED" in present:
        v["bleeding"] = "continued"
    elif "BRUISE" in present:
        v["bleeding"] = "bruising"
    elif absent & {"BLEED", "BLEED_CONTINUED", "BLEED_MINOR", "BLEED_HEAVY", "BLEED_LOTS"}:
        v["bleeding"] = "none"
    if present & {"BLEED_STOPS_WITH_PRESSURE", "BLEED_STOPPED"}:
        v["bleeding_stops_with_pressure"] = "yes"

    if "FAINT" in present or "COLLAPSE" in present:
        v["feeling_faint"] = "yes"
    elif "FAINT" in absent:
        v["feeling_faint"] = "no"

    # Fever: a measured temperature under 38.0 °C with no chills is not a fever.
    measured_low = ex.temperature_c is not None and ex.temperature_c < FEVER_THRESHOLD_C
    if present & {"CHILLS", "FEEL_HOT"}:
        v["fever"] = "present"
    elif "FEVER" in present and not measured_low:
        v["fever"] = "present"
    elif ex.temperature_c is not None and ex.temperature_c >= FEVER_THRESHOLD_C:
        v["fever"] = "present"
    elif (absent & {"FEVER", "CHILLS", "FEEL_HOT"} or ("FEVER" in present and measured_low)
          or (requested == "fever" and measured_low)):
        v["fever"] = "none"

    if present & set(SEPSIS_LABELS):
        v["very_unwell"] = "yes"
    elif absent & set(SEPSIS_LABELS):
        v["very_unwell"] = "no"
    if "IMMUNE_WEAK" in present:
        v["immune_weak"] = "yes"
    elif "IMMUNE_WEAK" in absent:
        v["immune_weak"] = "no"

    # The site.
    inflamed = {"SWELLING", "REDNESS", "WARMTH", "PAIN_WORSE", "SPREADING_REDNESS",
                "PAIN_UNCONTROLLED"}
    if present & inflamed or (requested == "swelling" and "LUMP" in present):
        v["swelling"] = "inflamed"
    elif present & {"SORE", "IMMOBILE", "NUMB"} or (requested == "swelling" and "EASING" in present):
        v["swelling"] = "sore"  # "it's settling down": soreness that is easing
    elif absent & (inflamed | {"SORE"}):
        v["swelling"] = "none"
    for label, slot in (("SPREADING_REDNESS", "spreading_redness"),
                        ("NUMB", "numbness")):
        if label in present:
            v[slot] = "yes"
        elif label in absent:
            v[slot] = "no"
    if present & {"PAIN_UNCONTROLLED", "IMMOBILE"}:
        v["pain_uncontrolled"] = "yes"
    elif absent & {"PAIN_UNCONTROLLED", "IMMOBILE"}:
        v["pain_uncontrolled"] = "no"

    if "PUS" in present:
        v["pus"] = "present"
    elif "PUS" in absent:
        v["pus"] = "none"
    glands = {"LYMPH", "LUMP"} if requested == "lymph_nodes" else {"LYMPH"}
    if present & glands:
        v["lymph_nodes"] = "present"
    elif absent & glands:
        v["lymph_nodes"] = "none"
    return v


def pending_reading(ex: Extraction, slot: str) -> Optional[str]:
    """How the reply answers the pending question: "concern", "reassure", "unsure" or None.

    Read against the question first: its own cues ("doing its job" for the pain
    question), then the shared ones ("none of those", "he won't let me look"), then a
    plain yes / no. A worrying cue wins over a reassuring one, and over a plain "no"
    ("no tablet does anything"): the higher level when the reply says both.
    """
    kinds = ex.cue_kinds(slot)
    bare = _bare_reading(ex, slot)
    if "concern" in kinds or (bare == "concern" and strong_yes(ex.text)):
        return "concern"
    if "unsure" in kinds or bare == "unsure" or any(
            m.status == UNSURE and _label_slot(m.label) == slot for m in ex.mentions):
        return "unsure"
    if "negated_reassure" in kinds:  # "isn't helping", "not walking"
        return "concern"
    if "reassure" in kinds or bare == "reassure":
        return "reassure"
    if bare == "concern":
        return "concern"
    return None


def _bare_reading(ex: Extraction, slot: str) -> Optional[str]:
    """A plain yes / no as the question's concern or reassurance."""
    question = QUESTIONS[slot]
    answer = ex.answer
    if answer == "fine":  # "it's all fine": no problem, so for the pressure question "it stops"
        return "reassure"
    if answer == "unsure":
        return "unsure"
    if answer not in ("yes", "no"):
        return None
    value = question.yes_means if answer == "yes" else question.no_means
    return "concern" if question.concern and value == question.concern.value else "reassure"


def _label_slot(label: str) -> Optional[str]:
    return rules().topic_of_label.get(label)


def interpret(ex: Extraction, requested: Optional[str], slots: Slots,
              unclear_means_unsure: bool = True) -> Slots:
    """Slot updates for one patient message. Only ever worsens findings.

    A reply that says nothing we can read counts as "not sure" (re-asked once,
    then present), unless the caller knows it was about something else, such
    as a question about results (`unclear_means_unsure=False`).
    """
    updates: Slots = {}
    # Signs of sepsis count while a fever is not ruled out; once they have counted (999),
    # a later "no fever" must not take the emergency back.
    sepsis_counted = "fever.very_unwell" in findings(slots)

    def put(slot: str, value: Any) -> None:
        current = updates.get(slot, slots.get(slot))
        if sepsis_counted and slot == "fever" and value == "none":
            return
        if _worse(slot, current, value):
            updates[slot] = value

    said = _topic_values(ex, requested, slots)
    for slot, value in said.items():
        put(slot, value)

    # Numbers: temperatures anywhere; a bare number answers the pending question.
    if ex.temperature_c is not None:
        _put_max(updates, slots, "temperature", ex.temperature_c)
    if requested == "temperature" and ex.temperature_c is None and re.search(r"\bnormal\b", ex.text):
        _put_max(updates, slots, "temperature", NORMAL_TEMPERATURE_C)  # "it was normal"
    if requested in ("fever", "temperature") and ex.temperature_c is None:
        # A number said to these questions is a temperature ("the strip said 37"),
        # in °F when above 50; corrected readings count at their highest.
        readings = [n if n < 50 else fahrenheit_to_celsius(n) for n in ex.numbers]
        readings = [r for r in readings if 33 <= r <= 44]
        if readings:
            _put_max(updates, slots, "temperature", max(readings))
            if max(readings) >= FEVER_THRESHOLD_C:
                put("fever", "present")
    if ex.days is not None and (requested == "days_since_procedure" or said.get("swelling")):
        _put_max(updates, slots, "days_since_procedure", ex.days)
    elif requested == "days_since_procedure" and ex.number is not None:
        _put_max(updates, slots, "days_since_procedure", ex.number)

    for label in ex.red_flags - {"BLEED_HEAVY"}:
        flags = list(slots.get("red_flags") or [])
        if label not in flags:
            updates["red_flags"] = flags + [label]
    if ex.about_child and not slots.get("patient_is_child"):
        updates["patient_is_child"] = True
    if ex.about_someone_else and not slots.get("about_someone_else"):
        updates["about_someone_else"] = True

    if requested in QUESTIONS and slots.get(requested) in (None, NOT_ASKED):
        _answer_pending(ex, requested, slots, updates, put, unclear_means_unsure)
    if requested in updates and updates[requested] is not None and slots.get("reask") == requested:
        updates["reask"] = None
    _mark_follow_ups(slots, updates)
    return updates


def red_flag_updates(red_flags: set[str], slots: Slots) -> Slots:
    """The slot updates for red flags read without the rest of the message (a reading
    that failed, its red flags taken from a plain copy): heavy bleeding is the bleeding
    answer, the others join the red-flag list."""
    updates: Slots = {}
    if "BLEED_HEAVY" in red_flags:
        updates["bleeding"] = "heavy"
    others = sorted(red_flags - {"BLEED_HEAVY"})
    if others:
        updates["red_flags"] = list(dict.fromkeys(list(slots.get("red_flags") or []) + others))
    return updates


def said_something(updates: Slots) -> bool:
    """Whether the updates come from the message, not only from follow-up bookkeeping."""
    return any(value not in (None, NOT_ASKED) or slot not in FOLLOW_UPS
               for slot, value in updates.items())


def _mark_follow_ups(slots: Slots, updates: Slots) -> None:
    """Mark follow-ups the answers do not call for, and unmark ones they now do.

    The form's slot list holds every question in asking order; Rasa itself asks
    the first empty one when it resumes after an interruption, so a follow-up
    that is not needed must not look empty.
    """
    merged = {**slots, **updates}
    needed = set(questions(merged))
    for slot in FOLLOW_UPS:
        value = merged.get(slot)
        if slot in needed and value == NOT_ASKED:
            updates[slot] = None
        elif slot not in needed and value is None:
            updates[slot] = NOT_ASKED


def _answer_pending(ex: Extraction, requested: str, slots: Slots, updates: Slots, put,
                    unclear_means_unsure: bool) -> None:
    """Read the reply as the answer to the pending question.

    A worrying reading always counts (findings only get worse); a reassuring or an
    unsure one only when nothing else in the reply answered the question.
    """
    question = QUESTIONS[requested]
    answered = updates.get(requested) is not None
    if question.kind == "number":
        # No number: "no", "haven't checked", "not sure" all mean not knowing it.
        reading = None if answered else (
            "unsure" if (ex.answer or ex.cue_kinds(requested) or unclear_means_unsure) else None)
    else:
        reading = pending_reading(ex, requested)
        if reading is None and unclear_means_unsure and not answered:
            reading = "unsure"
    # A plain "yes" ("a bit") to a question the words already answered ("a bit sore")
    # is about what they said; a worrying phrase for the question still counts.
    said_worry = bool(ex.cue_kinds(requested) & {"concern", "negated_reassure"})
    if reading == "concern" and (said_worry or not answered):
        assert question.concern is not None  # only number questions lack cues; no such reading
        put(requested, question.concern.value)
    elif answered or reading in (None, "concern"):
        return
    elif reading == "reassure":
        assert question.reassure is not None  # as above
        put(requested, question.reassure.value)
    elif slots.get("reask") != requested:
        updates["reask"] = requested
    else:
        # Second "not sure": treat the finding as present, never as absent.
        updates[requested] = question.still_unsure
        updates["unsure_slots"] = list(slots.get("unsure_slots") or []) + [requested]
        updates["reask"] = None


def _reads_high(slot: str, value: float) -> bool:
    return value >= FEVER_THRESHOLD_C if slot == "temperature" else value > SORENESS_DAYS


def _put_max(updates: Slots, slots: Slots, slot: str, value: float) -> None:
    """A reading counts at its highest. An unknown one counts as high (a fever, more than
    a week), so a later number replaces it only when it reads as high too."""
    current = updates.get(slot, slots.get(slot))
    if current in (UNKNOWN_TEMPERATURE, UNKNOWN_DAYS) and not _reads_high(slot, value):
        return
    if not isinstance(current, (int, float)) or value > current:
        updates[slot] = value


# ---------------------------------------------------------------- asking
def _high_temperature(slots: Slots) -> bool:
    t = slots.get("temperature")
    return t == UNKNOWN_TEMPERATURE or (isinstance(t, (int, float)) and t >= FEVER_THRESHOLD_C)


def _days_over_limit(slots: Slots) -> bool:
    d = slots.get("days_since_procedure")
    return d == UNKNOWN_DAYS or (isinstance(d, (int, float)) and d > SORENESS_DAYS)


def questions(slots: Slots) -> list[str]:
    """Every question this conversation needs, in asking order, given what is known."""
    wanted = ["bleeding"]
    if slots.get("bleeding") in ("minor", "continued"):
        wanted.append("bleeding_stops_with_pressure")
    if slots.get("bleeding") in ("stopped", "minor", "continued"):
        wanted.append("feeling_faint")
    wanted.append("fever")
    if slots.get("fever") == "present":
        wanted.append("temperature")
        if slots.get("temperature") is None or _high_temperature(slots):
            wanted.append("immune_weak")
        wanted.append("very_unwell")
    wanted.append("swelling")
    if slots.get("swelling") == "sore":
        wanted += ["days_since_procedure", "pain_uncontrolled", "numbness"]
    if slots.get("swelling") == "inflamed":
        wanted += ["spreading_redness", "pain_uncontrolled", "numbness"]
    wanted += ["pus", "lymph_nodes"]
    return wanted


def next_question(slots: Slots) -> Optional[str]:
    """The next unanswered question, or None when triage can conclude.

    An emergency ends the questions at once: nothing else can change the advice.
    """
    if assess(findings(slots)).level == Level.EMERGENCY:
        return None
    return next((q for q in questions(slots) if slots.get(q) is None), None)


# ---------------------------------------------------------------- concluding
def findings(slots: Slots) -> list[str]:
    """Policy findings (rows of bot.policy.RULES) implied by the slots so far."""
    out: list[str] = []
    bleeding = slots.get("bleeding")
    pressure = slots.get("bleeding_stops_with_pressure")
    if bleeding == "none":
        out.append("bleeding.none")
    elif bleeding == "bruising":
        out.append("bleeding.bruising")
    elif bleeding == "heavy" or (bleeding in ("minor", "continued") and pressure == "no"):
        out.append("bleeding.uncontrolled")
    elif bleeding == "continued":
        out.append("bleeding.continued")
    elif bleeding in ("stopped", "minor"):
        out.append("bleeding.minor_stopped")
    if bleeding in ("stopped", "minor", "continued", "heavy") and slots.get("feeling_faint") == "yes":
        out.append("bleeding.with_faintness")

    fever = slots.get("fever")
    if fever == "none":
        out.append("fever.none")
    elif fever == "present":
        out.append("fever.present")
        if slots.get("immune_weak") == "yes" and _high_temperature(slots):
            out.append("fever.high_immunocompromised")
    # Sepsis signs count unless a fever is ruled out (the safer reading).
    if slots.get("very_unwell") == "yes" and fever != "none":
        out.append("fever.very_unwell")

    swelling = slots.get("swelling")
    if swelling == "none":
        out.append("site.none")
    elif swelling == "sore":
        out.append("site.soreness_over_7_days" if _days_over_limit(slots)
                   else "site.soreness_easing")
    elif swelling == "inflamed":
        out.append("site.inflamed")
        if _days_over_limit(slots):
            out.append("site.soreness_over_7_days")
    if slots.get("spreading_redness") == "yes":
        out.append("site.redness_spreading")
    if slots.get("pain_uncontrolled") == "yes":
        out.append("site.severe_pain_or_immobile")
    if slots.get("numbness") == "yes":
        out.append("site.nerve_symptoms")

    pus = slots.get("pus")
    if pus:
        out.append("discharge.present" if pus == "present" else "discharge.none")
    lymph = slots.get("lymph_nodes")
    if lymph:
        out.append("lymph.swollen" if lymph == "present" else "lymph.none")

    for label in slots.get("red_flags") or []:
        out.append(RED_FLAG_FINDINGS[label])
    return list(dict.fromkeys(out))

