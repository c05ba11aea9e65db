"""Discharge records: validation, creation with their follow-up schedule, CSV import.

One code path for the CLI, the worker's JSON API and the staff console: `validate` turns
raw fields (strings from a CSV or a form, or JSON values) into a `DischargeInput` or a dict
of errors per field; `register_many` writes a list of them, all or nothing. A discharge
that is already registered (same phone, procedure and time) is not written twice.
"""
from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import phonenumbers
from sqlalchemy import select, update

from bot.sms.models import PROCEDURES, Discharge, FollowUp, utcnow
from bot.sms.schedule import Rules, plan
from bot.sms.settings import SmsSettings, sms_settings
from bot.storage.db import session

PROCEDURE_ALIASES = {
    "bone_biopsy": "bone_biopsy", "bone biopsy": "bone_biopsy", "bone": "bone_biopsy",
    "bb": "bone_biopsy",
    "bone_marrow": "bone_marrow", "bone marrow": "bone_marrow", "marrow": "bone_marrow",
    "bone marrow biopsy": "bone_marrow", "bone marrow aspiration and biopsy": "bone_marrow",
    "bmab": "bone_marrow", "bma": "bone_marrow", "bmb": "bone_marrow",
}
TRUE = {"1", "true", "yes", "y", "child", "t"}
FALSE = {"0", "false", "no", "n", "adult", "f", ""}
CSV_COLUMNS = ("phone", "procedure", "procedure_at", "is_child", "name")
EXTRA = "__extra_cells__"
FUTURE_TOLERANCE = timedelta(minutes=15)


class DischargeError(ValueError):
    def __init__(self, errors: dict) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class DischargeInput:
    phone: str            # E.164
    procedure: str        # a key of PROCEDURES
    procedure_at: datetime  # aware, UTC
    is_child: bool
    name: Optional[str] = None


@dataclass
class Registered:
    discharge: Discharge
    followups: list[FollowUp]
    created: bool  # False: it was already registered


@dataclass
class ImportResult:
    registered: list[Registered] = field(default_factory=list)
    errors: dict[int, dict] = field(default_factory=dict)  # row number -> field -> message

    @property
    def ok(self) -> bool:
        return not self.errors


def normalise_phone(raw: Any, region: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("a phone number is needed")
    try:
        number = phonenumbers.parse(raw.strip(), region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"not a phone number ({error._msg})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
                    phonenumbers.PhoneNumberType.UNKNOWN):
        raise ValueError("not a mobile number (texts cannot reach it)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_procedure(raw: Any) -> str:
    key = PROCEDURE_ALIASES.get(str(raw or "").strip().lower().replace("-", " ").replace("_", " "))
    key = key or PROCEDURE_ALIASES.get(str(raw or "").strip().lower())
    if not key:
        raise ValueError(f"one of: {', '.join(PROCEDURES)} (bone biopsy; bone marrow aspiration "
                         f"and biopsy)")
    return key


def parse_when(raw: Any, cfg: SmsSettings, now: datetime) -> datetime:
    """ISO 8601 date and time; without an offset it is local time (TIMEZONE)."""
    if isinstance(raw, datetime):
        when = raw
    else:
        text = str(raw or "").strip()
        if not text:
            raise ValueError("the date and time of the procedure are needed")
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            raise ValueError("not a date and time like 2026-11-21 14:30") from None
        if len(text) <= 10:
            raise ValueError("give the time of the procedure too, like 2026-11-21 14:30")
    if when.tzinfo is None:
        when = when.replace(tzinfo=cfg.timezone)
    when = when.astimezone(timezone.utc)
    if when > now + FUTURE_TOLERANCE:
        raise ValueError("is in the future (register a discharge after the procedure)")
    return when


def parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw if raw is not None else "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError("yes or no")


def validate(raw: dict, cfg: Optional[SmsSettings] = None,
             now: Optional[datetime] = None) -> DischargeInput:
    """Raw fields -> DischargeInput, or DischargeError with a message per field."""
    cfg = cfg or sms_settings()
    now = now or utcnow()
    if not isinstance(raw, dict):
        raise DischargeError({"record": "expected an object with phone, procedure, procedure_at"})
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    unknown = set(raw) - set(CSV_COLUMNS)
    if unknown:
        errors["fields"] = f"unknown: {', '.join(sorted(map(str, unknown)))}"
    for key, parse in (("phone", lambda v: normalise_phone(v, cfg.default_region)),
                        ("procedure", parse_procedure),
                        ("procedure_at", lambda v: parse_when(v, cfg, now)),
                        ("is_child", parse_bool)):
        try:
            values[key] = parse(raw.get(key))
        except ValueError as error:
            errors[key] = str(error)
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        errors["name"] = "must be text"
    elif name and len(name.strip()) > 200:
        errors["name"] = "longer than 200 characters"
    if errors:
        raise DischargeError(errors)
    return DischargeInput(name=(name or "").strip() or None, **values)


def _existing(s, item: DischargeInput) -> Optional[Discharge]:
    return s.scalars(select(Discharge).where(
        Discharge.phone == item.phone, Discharge.procedure == item.procedure,
        Discharge.procedure_at == item.procedure_at)).first()


def _followups_of(s, discharge_id: int) -> list[FollowUp]:
    return list(s.scalars(select(FollowUp).where(FollowUp.discharge_id == discharge_id)
                          .order_by(FollowUp.seq)))


def register_many(items: Iterable[DischargeInput], *, source: str,
                  cfg: Optional[SmsSettings] = None,
                  now: Optional[datetime] = None) -> list[Registered]:
    """Write the discharges and their schedules in one transaction (all or nothing)."""
    cfg = cfg or sms_settings()
    now = now or utcnow()
    rules = Rules.from_settings(cfg)
    results: list[Registered] = []
    with session() as s, s.begin():
        for item in items:
            found = _existing(s, item)
            if found is not None:
                results.append(Registered(found, _followups_of(s, found.id), created=False))
                continue
            discharge = Discharge(phone=item.phone, procedure=item.procedure,
                                  procedure_at=item.procedure_at, is_child=item.is_child,
                                  name=item.name, conversation_id="sms-" + secrets.token_hex(12),
                                  source=source, created_at=now)
            s.add(discharge)
            s.flush()
            followups = []
            for p in plan(item.procedure_at, cfg.followups, rules, now=now):
                followup = FollowUp(
                    discharge_id=discharge.id, seq=p.seq, day=p.day, label=p.label,
                    due_at=p.due_at, window_end=p.window_end, status=p.status,
                    next_attempt_at=p.due_at, attempts=0, reason=p.reason,
                    done_at=now if p.status != "scheduled" else None, created_at=now)
                s.add(followup)
                followups.append(followup)
            s.flush()
            results.append(Registered(discharge, followups, created=True))
    return results


def register(raw: dict, *, source: str, cfg: Optional[SmsSettings] = None,
             now: Optional[datetime] = None) -> Registered:
    cfg = cfg or sms_settings()
    return register_many([validate(raw, cfg, now)], source=source, cfg=cfg, now=now)[0]


def import_records(rows: Iterable[dict], *, source: str, cfg: Optional[SmsSettings] = None,
                   now: Optional[datetime] = None, first_row: int = 1) -> ImportResult:
    """Validate every row; write them all only if every row is valid."""
    return _import(enumerate(rows, start=first_row), source=source, cfg=cfg, now=now)


def _import(numbered: Iterable[tuple[int, Any]], *, source: str, cfg: Optional[SmsSettings],
            now: Optional[datetime]) -> ImportResult:
    cfg = cfg or sms_settings()
    now = now or utcnow()
    result = ImportResult()
    valid: list[DischargeInput] = []
    seen: dict[tuple, int] = {}
    for number, raw in numbered:
        if isinstance(raw, dict) and EXTRA in raw:
            result.errors[number] = {"record": "more cells than columns"}
            continue
        try:
            item = validate(raw, cfg, now)
        except DischargeError as error:
            result.errors[number] = error.errors
            continue
        key = (item.phone, item.procedure, item.procedure_at)
        if key in seen:
            result.errors[number] = {"record": f"the same discharge as row {seen[key]}"}
            continue
        seen[key] = number
        valid.append(item)
    if result.errors:
        return result
    result.registered = register_many(valid, source=source, cfg=cfg, now=now)
    return result


def read_csv(text: str) -> list[tuple[int, dict]]:
    """CSV with a header row naming the columns (phone, procedure, procedure_at, is_child,
    name) -> (line number, cells); blank lines are skipped. DischargeError for a bad header."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    problems = []
    missing = {"phone", "procedure", "procedure_at"} - set(header)
    if missing:
        problems.append(f"missing column(s): {', '.join(sorted(missing))}")
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        problems.append(f"unknown column(s): {', '.join(unknown)}")
    if problems:
        raise DischargeError({"header": "; ".join(problems)})
    reader.fieldnames = header
    rows = []
    for row in reader:
        extra = row.pop(None, None)
        cells = {k: (v or "").strip() for k, v in row.items()}
        if not any(cells.values()) and not extra:
            continue
        if not cells.get("name"):
            cells.pop("name", None)
        if extra:
            cells[EXTRA] = extra
        rows.append((reader.line_num, cells))
    return rows


def import_csv(text: str, *, source: str = "csv", cfg: Optional[SmsSettings] = None,
               now: Optional[datetime] = None) -> ImportResult:
    return _import(read_csv(text), source=source, cfg=cfg, now=now)


def find_for_phone(phone: str) -> Optional[Discharge]:
    """The discharge a text from `phone` belongs to: the most recent procedure."""
    with session() as s:
        return s.scalars(select(Discharge).where(Discharge.phone == phone)
                         .order_by(Discharge.procedure_at.desc(), Discharge.id.desc())).first()


def get(discharge_id: int) -> Optional[tuple[Discharge, list[FollowUp]]]:
    with session() as s:
        discharge = s.get(Discharge, discharge_id)
        return (discharge, _followups_of(s, discharge_id)) if discharge else None


def cancel(discharge_id: int, now: Optional[datetime] = None) -> int:
    """No more follow-ups for this discharge; returns how many were cancelled."""
    now = now or utcnow()
    with session() as s, s.begin():
        found = s.execute(update(Discharge).where(Discharge.id == discharge_id,
                                                  Discharge.cancelled_at.is_(None))
                          .values(cancelled_at=now)).rowcount
        if not found and s.get(Discharge, discharge_id) is None:
            raise KeyError(discharge_id)
        return s.execute(update(FollowUp).where(FollowUp.discharge_id == discharge_id,
                                                FollowUp.status == "scheduled")
                         .values(status="cancelled", reason="discharge cancelled",
                                 done_at=now)).rowcount


def as_dict(discharge: Discharge, followups: list[FollowUp]) -> dict:
    return {
        "id": discharge.id, "phone": discharge.phone, "procedure": discharge.procedure,
        "procedure_at": discharge.procedure_at.isoformat(), "is_child": discharge.is_child,
        "name": discharge.name, "source": discharge.source,
        "cancelled": discharge.cancelled_at is not None,
        "followups": [{"seq": f.seq, "label": f.label, "due_at": f.due_at.isoformat(),
                       "window_end": f.window_end.isoformat(), "status": f.status,
                       "reason": f.reason} for f in followups],
    }
