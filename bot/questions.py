"""The questions the bot asks, one per form slot, in three wordings.

`adult` speaks to the patient, `child` to a parent or carer about a child, and
`simpler` is the re-ask after a first "not sure" (policy: asked once more in
simpler words). Main questions use the policy's own wording.
"""
from __future__ import annotations

from dataclasses import dataclass

YES_NO_UNSURE = ("Yes", "No", "Not sure")


@dataclass(frozen=True)
class Question:
    adult: str
    child: str
    simpler: str
    buttons: tuple[str, ...] = YES_NO_UNSURE


QUESTIONS: dict[str, Question] = {
    "bleeding": Question(
        "Is there any bleeding from the biopsy site?",
        "Is there any bleeding from your child's biopsy site?",
        "Look at the dressing or plaster where the needle went in. Is there any blood on it, or coming out?",
    ),
    "fever": Question(
        "Have you had a fever, a high temperature, or chills/shivering?",
        "Has your child had a fever, a high temperature, or chills/shivering?",
        "Do you feel hot, or shivery and cold? If you have a thermometer, is it 38°C (100.4°F) or more?",
    ),
    "swelling": Question(
        "Is the area around the biopsy site swollen, red, warm, or more painful?",
        "Is the area around your child's biopsy site swollen, red, warm, or more painful?",
        "Gently look at and touch the skin around the site. Is it puffy, red, hot, or hurting more than before?",
    ),
    "pus": Question(
        "Is there any pus, cloudy fluid or a bad smell from the site?",
        "Is there any pus, cloudy fluid or a bad smell from your child's biopsy site?",
        "Is anything yellow, green or cloudy coming out of the site, or does it smell bad?",
    ),
    "lymph_nodes": Question(
        "Have you noticed any swollen glands (lumps) in your neck, armpit or groin?",
        "Have you noticed any swollen glands (lumps) in your child's neck, armpit or groin?",
        "Feel gently in the neck, the armpits and the top of the legs. Are there any new lumps or swellings?",
    ),
    "bleeding_stops_with_pressure": Question(
        "If you press firmly on the site for 10 minutes, does the bleeding stop?",
        "If you press firmly on your child's biopsy site for 10 minutes, does the bleeding stop?",
        "Press hard on the site with a clean pad for 10 minutes. Has the bleeding stopped?",
        ("Yes, it stops", "No, it doesn't stop", "Not sure"),
    ),
    "feeling_faint": Question(
        "Do you feel faint, dizzy, or cold and clammy?",
        "Does your child seem faint or dizzy, or feel cold and clammy?",
        "Do you feel like you might pass out, or is your skin cold and sweaty?",
    ),
    "temperature": Question(
        "What was the temperature, if you measured it (for example 38.2°C or 101°F)?",
        "What was your child's temperature, if you measured it (for example 38.2°C or 101°F)?",
        "If you have a thermometer, please take the temperature now and type the number. If you can't, say \"can't check\".",
        ("Can't check",),
    ),
    "immune_weak": Question(
        "Do you have a weak immune system, for example because of chemotherapy, a blood cancer or medicines that lower immunity?",
        "Is your child having treatment for cancer or a blood disorder, or have they a weak immune system (for example chemotherapy)?",
        "Are you having chemotherapy or any treatment that makes it harder to fight infections?",
    ),
    "very_unwell": Question(
        "Are you confused, very drowsy, breathing fast, or is your skin mottled or very pale?",
        "Is your child confused, very drowsy, breathing fast, or is their skin mottled or very pale?",
        "Are you much more unwell than a fever alone: muddled, hard to keep awake, breathing fast, or with blotchy or very pale skin?",
    ),
    "days_since_procedure": Question(
        "How many days ago was the biopsy?",
        "How many days ago was your child's biopsy?",
        "Roughly how long ago was the biopsy: today, yesterday, or how many days?",
        ("Today", "Yesterday", "More than a week ago"),
    ),
    "spreading_redness": Question(
        "Is the redness spreading quickly, or are there red streaks coming from the site?",
        "Is the redness on your child's skin spreading quickly, or are there red streaks coming from the site?",
        "Is the red area getting bigger quickly, or can you see red lines going away from the site?",
    ),
    "pain_uncontrolled": Question(
        "Is the pain severe and not eased by painkillers, or can you not move the limb or put weight on it?",
        "Is your child's pain severe and not eased by painkillers, or can they not move the limb or put weight on it?",
        "Does paracetamol fail to help the pain, or is it too painful to move or stand on that leg or arm?",
    ),
    "numbness": Question(
        "Do you have any new numbness, tingling or weakness in the leg or arm near the biopsy?",
        "Does your child have any new numbness, tingling or weakness in the leg or arm near the biopsy?",
        "Does the leg or arm feel numb, tingly like pins and needles, or weaker than usual?",
    ),
}


def wording(slot: str, *, child: bool, simpler: bool) -> tuple[str, tuple[str, ...]]:
    question = QUESTIONS[slot]
    if simpler:
        return question.simpler, question.buttons
    return (question.child if child else question.adult), question.buttons
