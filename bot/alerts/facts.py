"""What an alert message says: the least that lets staff act. The level, the channel, the
time, the console link to the transcript and, for SMS only when
ALERT_INCLUDE_PATIENT_DETAILS allows it, the discharge's name and number. Never what the
patient wrote, never the findings: the transcript behind the console's login has those."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts.models import Alert
from bot.alerts.settings import AlertSettings
from bot.console.queue import CHANNEL_GROUPS, level_info
from bot.sms.models import Discharge

ROUTE_NOTES = {
    "department": "",
    "on_call": "Sent to the on-call address: the department is closed.",
    "held": "Raised while the department was closed; held until it opened.",
}


def local_time(when: datetime, cfg: AlertSettings) -> str:
    return f"{when.astimezone(cfg.core.timezone):%a %d %b %Y %H:%M} ({cfg.core.timezone.key})"


def level_label(slug: str) -> str:
    return level_info(slug).label


def channel_label(group: str) -> str:
    return CHANNEL_GROUPS.get(group, "Other")


@dataclass(frozen=True)
class AlertFacts:
    alert_id: int
    level: str
    level_label: str
    channel: str
    when: str
    link: str
    patient: Optional[str] = None   # "name, number" (SMS, when allowed)

    def rows(self) -> list[tuple[str, str]]:
        rows = [("Level", self.level_label), ("Channel", self.channel), ("When", self.when),
                ("Transcript", self.link)]
        if self.patient:
            rows.append(("Patient", self.patient))
        return rows

    def as_json(self) -> dict:
        data = {"alert_id": self.alert_id, "level": self.level, "level_label": self.level_label,
                "channel": self.channel, "when": self.when, "transcript_url": self.link}
        if self.patient:
            data["patient"] = self.patient
        return data


def _patient(s: Session, alert: Alert, cfg: AlertSettings) -> Optional[str]:
    if not (cfg.include_patient_details and alert.discharge_id):
        return None
    found = s.execute(select(Discharge.name, Discharge.phone)
                      .where(Discharge.id == alert.discharge_id)).first()
    if found is None:
        return None
    name, phone = found
    return ", ".join(part for part in ((name or "").strip(), phone) if part)


def facts_of(s: Session, alert: Alert, cfg: AlertSettings) -> AlertFacts:
    return AlertFacts(alert_id=alert.id, level=alert.level, level_label=level_label(alert.level),
                      channel=channel_label(alert.channel_group),
                      when=local_time(alert.raised_at, cfg),
                      link=cfg.transcript_url(alert.conversation_id),
                      patient=_patient(s, alert, cfg))


def alert_subject(f: AlertFacts, raised: datetime, cfg: AlertSettings) -> str:
    """Short enough for one header line and a phone's notification (the body has the year
    and the zone)."""
    when = raised.astimezone(cfg.core.timezone)
    return f"Triage alert: {f.level_label} ({f.channel}), {when:%a %d %b %H:%M}"


def alert_text(f: AlertFacts, cfg: AlertSettings, route: str) -> str:
    lines = [f"A patient's conversation with the {cfg.core.department_name} aftercare bot "
             f"reached the level {f.level_label}.", ""]
    lines += [f"{label}: {value}" for label, value in f.rows()]
    lines += ["", "Open the transcript in the staff console to see what was said, and "
                  "acknowledge the alert there."]
    if ROUTE_NOTES.get(route):
        lines += ["", ROUTE_NOTES[route]]
    return "\n".join(lines) + "\n"


def held_subject(facts: list[AlertFacts]) -> str:
    n = len(facts)
    return f"Triage alerts held overnight: {n} alert{'s' if n != 1 else ''} raised while closed"


def held_text(facts: list[AlertFacts], cfg: AlertSettings) -> str:
    lines = [f"While the {cfg.core.department_name} was closed, {len(facts)} conversation"
             f"{'s' if len(facts) != 1 else ''} with the aftercare bot reached the alert level. "
             f"Highest first:", ""]
    for f in facts:
        lines += [f"- {label}: {value}" if i == 0 else f"  {label}: {value}"
                  for i, (label, value) in enumerate(f.rows())]
        lines.append("")
    lines.append("Acknowledge each one in the staff console once it is dealt with.")
    return "\n".join(lines) + "\n"


def by_severity(facts: list[AlertFacts]) -> list[AlertFacts]:
    return sorted(facts, key=lambda f: (-level_info(f.level).rank, f.alert_id))
