"""Discharges and the SMS schedule from the command line.

    python -m bot.sms.cli add --phone 07400123456 --procedure bone_biopsy \\
        --at "2026-11-21 14:30" [--child] [--name Sam]
    python -m bot.sms.cli import discharges.csv [--dry-run]
    python -m bot.sms.cli show ID | list [--limit N] | cancel ID
    python -m bot.sms.cli status            # follow-ups and texts, counted by status
    python -m bot.sms.cli text --from 07400123456 "it's a bit sore"   # local mode only
    python -m bot.sms.cli opt-out PHONE | opt-in PHONE

Times without an offset are local time (TIMEZONE in .env). The CSV has a header row with
the columns phone, procedure, procedure_at, is_child (yes/no) and name (optional); if any
row is wrong, every error is listed (by line) and nothing is imported.
"""
from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.sms import discharges, heartbeat, inbound
from bot.sms.models import Discharge, FollowUp, InboundSms, OutboundSms, utcnow
from bot.sms.settings import sms_settings
from bot.storage.db import session


def _print_discharge(data: dict, tz) -> None:
    from datetime import datetime

    local = lambda iso: datetime.fromisoformat(iso).astimezone(tz).strftime("%a %d %b %H:%M")  # noqa: E731
    child = "child (texts address the parent)" if data["is_child"] else "adult"
    print(f"discharge {data['id']}: {data['phone']}, {data['procedure']}, "
          f"{local(data['procedure_at'])}, {child}"
          f"{', ' + data['name'] if data['name'] else ''}{' (cancelled)' if data['cancelled'] else ''}")
    if data.get("conversation_id"):  # what the staff console lists the patient under
        print(f"  conversation id: {data['conversation_id']}")
    for f in data["followups"]:
        extra = f" ({f['reason']})" if f["reason"] else ""
        print(f"  {f['label']:<14} {local(f['due_at'])} to {local(f['window_end'])[-5:]}  "
              f"{f['status']}{extra}")


def _errors(errors: dict) -> str:
    return "; ".join(f"{field}: {message}" for field, message in errors.items())


def cmd_add(args) -> int:
    cfg = sms_settings()
    raw = {"phone": args.phone, "procedure": args.procedure, "procedure_at": args.at,
           "is_child": args.child, "name": args.name}
    try:
        registered = discharges.register(raw, source="cli", cfg=cfg)
    except discharges.DischargeError as error:
        print(f"error: {_errors(error.errors)}", file=sys.stderr)
        return 1
    if not registered.created:
        print("already registered:")
    _print_discharge(discharges.as_dict(registered.discharge, registered.followups), cfg.timezone)
    print(f"conversation id: {registered.discharge.conversation_id}")
    if registered.created and not any(f.status == "scheduled" for f in registered.followups):
        print("warning: no follow-up will be sent: every one is already past (is the date "
              "right?). Cancel with: python -m bot.sms.cli cancel "
              f"{registered.discharge.id}", file=sys.stderr)
    return 0


def cmd_import(args) -> int:
    cfg = sms_settings()
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        print(f"error: cannot read {path}: {error}", file=sys.stderr)
        return 1
    try:
        rows = discharges.read_csv(text)
        if args.dry_run:
            result = discharges.ImportResult()
            for line, raw in rows:
                try:
                    discharges.validate(raw, cfg)
                except discharges.DischargeError as error:
                    result.errors[line] = error.errors
        else:
            result = discharges.import_csv(text, cfg=cfg)
    except discharges.DischargeError as error:
        print(f"error: {path}: {_errors(error.errors)}; nothing imported", file=sys.stderr)
        return 1
    if not result.ok:
        for line, errors in sorted(result.errors.items()):
            print(f"{path}: line {line}: {_errors(errors)}", file=sys.stderr)
        print(f"error: {len(result.errors)} row(s) with errors; nothing imported", file=sys.stderr)
        return 1
    if args.dry_run:
        print(f"{len(rows)} row(s) are valid (dry run: nothing imported)")
        return 0
    created = sum(r.created for r in result.registered)
    print(f"imported {created} discharge(s)"
          + (f"; {len(result.registered) - created} were already registered"
             if created < len(result.registered) else ""))
    return 0


def cmd_show(args) -> int:
    found = discharges.get(args.id)
    if not found:
        print(f"error: no discharge {args.id}", file=sys.stderr)
        return 1
    discharge, followups = found
    _print_discharge({**discharges.as_dict(discharge, followups),
                      "conversation_id": discharge.conversation_id}, sms_settings().timezone)
    return 0


def cmd_list(args) -> int:
    tz = sms_settings().timezone
    with session() as s:
        ids = list(s.scalars(select(Discharge.id).order_by(Discharge.id.desc()).limit(args.limit)))
    for discharge_id in reversed(ids):
        found = discharges.get(discharge_id)
        assert found is not None  # listed just above
        discharge, followups = found
        _print_discharge({**discharges.as_dict(discharge, followups),
                          "conversation_id": discharge.conversation_id}, tz)
    return 0


def cmd_cancel(args) -> int:
    try:
        count = discharges.cancel(args.id)
    except KeyError:
        print(f"error: no discharge {args.id}", file=sys.stderr)
        return 1
    print(f"discharge {args.id} cancelled; {count} follow-up(s) will not be sent")
    return 0


def cmd_status(_args) -> int:
    cfg, now = sms_settings(), utcnow()
    with session() as s:
        for title, model in (("follow-ups", FollowUp), ("texts", OutboundSms),
                             ("texts in", InboundSms)):
            rows = s.execute(select(model.status, func.count()).group_by(model.status)).all()
            counts = ", ".join(f"{status} {count}" for status, count in sorted(rows)) or "none"
            print(f"{title}: {counts}")
        skipped = s.execute(select(FollowUp.reason, func.count())
                            .where(FollowUp.status == "skipped")
                            .group_by(FollowUp.reason)).all()
    for reason, count in sorted(skipped, key=lambda r: -r[1]):
        print(f"  skipped {count}: {reason or 'no reason recorded'}")
    beat = heartbeat.latest()
    if beat is None:
        print("worker: no SMS worker has run yet (make run starts python -m bot.sms.worker)")
    else:
        age = (now - beat.beat_at).total_seconds()
        stale = "  <- NOT RUNNING? follow-ups are not going out" \
            if age > max(60, 10 * cfg.poll_seconds) else ""
        print(f"worker: last pass {age:.0f} s ago ({beat.worker}){stale}")
    waiting = inbound.waiting_phones(now, now - timedelta(minutes=1), cfg.lease)
    if waiting:
        print(f"  texts in waiting for their turn over a minute (Rasa down?): from "
              f"{len(waiting)} number(s); Rasa's SMS channel picks them up when it runs")
    with session() as s:
        failed = s.execute(select(OutboundSms.id, OutboundSms.to_number, OutboundSms.kind,
                                  OutboundSms.status, OutboundSms.last_error)
                           .where(OutboundSms.status.in_(("failed", "expired")))
                           .order_by(OutboundSms.id.desc()).limit(10)).all()
    for row in failed:
        print(f"  text {row.id} to {row.to_number} ({row.kind}) {row.status}: {row.last_error}")
    return 0


def cmd_opt(args, out: bool) -> int:
    cfg = sms_settings()
    try:
        phone = discharges.normalise_phone(args.phone, cfg.default_region)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    changed = inbound.set_opt_out(phone, out, "STAFF")
    print(f"{phone} {'opted out' if out else 'opted in'}" + ("" if changed else " (no change)"))
    return 0


def cmd_text(args) -> int:
    """Local mode only: text the bot as a patient would, signed as Twilio signs."""
    import secrets

    import requests
    from twilio.request_validator import RequestValidator

    cfg = sms_settings()
    if not cfg.local_twilio:
        print("error: `text` works only in local mode (SMS_LOCAL_TWILIO=true): with a real "
              "Twilio account, text the number from a phone", file=sys.stderr)
        return 1
    try:
        phone = discharges.normalise_phone(args.sender, cfg.default_region)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    sid = "SM" + secrets.token_hex(16)
    form = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": cfg.account_sid,
            "From": phone, "To": cfg.from_number, "Body": args.message, "NumMedia": "0",
            "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
            "FromCity": "", "FromState": "", "FromZip": "", "FromCountry": "GB",
            "ToCity": "", "ToState": "", "ToZip": "", "ToCountry": "GB"}
    signature = RequestValidator(cfg.auth_token).compute_signature(cfg.webhook_url, form)
    try:
        answer = requests.post(cfg.webhook_url, data=form, timeout=30,
                               headers={"X-Twilio-Signature": signature})
    except requests.RequestException as error:
        print(f"error: the bot is not reachable at {cfg.webhook_url} ({error}); is make run "
              "running?", file=sys.stderr)
        return 1
    if answer.status_code != 200:
        print(f"error: the bot answered {answer.status_code}: {answer.text[:200]}", file=sys.stderr)
        return 1
    print(f"sent as {phone}; the bot's reply appears at {cfg.api_base_url}/ in a moment")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.sms.cli", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="register one discharge")
    add.add_argument("--phone", required=True)
    add.add_argument("--procedure", required=True,
                     help="bone_biopsy or bone_marrow (bone marrow aspiration and biopsy)")
    add.add_argument("--at", required=True, help='procedure date and time, e.g. "2026-11-21 14:30"')
    add.add_argument("--child", action="store_true", help="the patient is a child")
    add.add_argument("--name")
    add.set_defaults(func=cmd_add)
    imp = sub.add_parser("import", help="register discharges from a CSV file, all or nothing")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="only check the file")
    imp.set_defaults(func=cmd_import)
    show = sub.add_parser("show", help="a discharge and its follow-ups")
    show.add_argument("id", type=int)
    show.set_defaults(func=cmd_show)
    lst = sub.add_parser("list", help="the latest discharges")
    lst.add_argument("--limit", type=int, default=20)
    lst.set_defaults(func=cmd_list)
    cancel = sub.add_parser("cancel", help="send no more follow-ups for a discharge")
    cancel.add_argument("id", type=int)
    cancel.set_defaults(func=cmd_cancel)
    sub.add_parser("status", help="follow-ups and texts by status").set_defaults(func=cmd_status)
    out = sub.add_parser("opt-out", help="stop texts to a number (as if it sent STOP)")
    out.add_argument("phone")
    out.set_defaults(func=lambda a: cmd_opt(a, True))
    opt_in = sub.add_parser("opt-in", help="allow texts to a number again")
    opt_in.add_argument("phone")
    opt_in.set_defaults(func=lambda a: cmd_opt(a, False))
    text = sub.add_parser("text", help="local mode: text the bot as a patient")
    text.add_argument("--from", dest="sender", required=True, help="the patient's number")
    text.add_argument("message")
    text.set_defaults(func=cmd_text)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:  # bad settings in .env
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
