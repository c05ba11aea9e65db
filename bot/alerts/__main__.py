"""Care-team alerts from the command line.

    python -m bot.alerts status               # settings, routing now, alerts and messages
    python -m bot.alerts send-digest-now      # an extra digest, sent at once
    python -m bot.alerts ack ID --by NAME     # acknowledge alert ID
    python -m bot.alerts run [--once]         # the passes without the SMS worker

The SMS worker (`make run`) runs the passes itself; `run` is for a deployment without it.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from sqlalchemy import func, select

from bot.alerts import digest, outbox, staff
from bot.alerts.facts import level_label, local_time
from bot.alerts.job import run_once
from bot.alerts.models import Alert, Bundle, Delivery, QuietPatient
from bot.alerts.settings import alert_settings
from bot.alerts.status import settings_lines
from bot.console import audit
from bot.sms.models import utcnow
from bot.storage.db import session


def cmd_status(_args) -> int:
    cfg = alert_settings()
    for line in settings_lines(cfg):
        print(line)
    if cfg.lease_too_short:
        print("warning: ALERT_LEASE_SECONDS should be more than 8 times the longest of "
              "ALERT_SMTP_TIMEOUT_SECONDS and ALERT_WEBHOOK_TIMEOUT_SECONDS")
    with session() as s:
        open_alerts = dict(s.execute(select(Alert.level, func.count())
                                     .where(Alert.acknowledged_at.is_(None))
                                     .group_by(Alert.level)).all())
        held = s.scalar(select(func.count()).select_from(Alert).where(
            Alert.route == "held", Alert.released_at.is_(None))) or 0
        messages = s.execute(select(Delivery.transport, Delivery.status, func.count())
                             .group_by(Delivery.transport, Delivery.status)).all()
        quiet = dict(s.execute(select(QuietPatient.kind, func.count())
                               .where(QuietPatient.resolved_at.is_(None))
                               .group_by(QuietPatient.kind)).all())
        failed = list(s.scalars(select(Delivery).where(Delivery.status == "failed")
                                .order_by(Delivery.id.desc()).limit(10)))
        last_digest = s.scalars(select(Bundle).where(Bundle.kind.in_(("daily", "manual")))
                                .order_by(Bundle.id.desc())).first()
    print("alerts not acknowledged: " + (", ".join(f"{level_label(k)} {v}" for k, v in
                                                    open_alerts.items()) or "none")
          + (f" ({held} held for the opening)" if held else ""))
    print("messages: " + (", ".join(f"{t} {st} {n}" for t, st, n in messages) or "none"))
    print(f"quiet patients: no reply {quiet.get('no_reply', 0)}, "
          f"incomplete {quiet.get('incomplete', 0)}")
    print("last digest: " + (local_time(last_digest.period_end, cfg) if last_digest else "never"))
    for row in failed:
        print(f"  failed message {row.id} ({row.transport}, {row.route}, {row.attempts} "
              f"attempt(s)): {row.last_error}")
    return 0


def cmd_send_digest_now(_args) -> int:
    cfg = alert_settings()
    now = utcnow()
    try:
        bundle_id = digest.send_now(cfg, now)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = outbox.deliver_due(cfg, now)
    with session() as s:
        row = s.scalars(select(Delivery).where(Delivery.bundle_id == bundle_id)).first()
    print(f"digest {bundle_id} to {', '.join(cfg.digest_to)}: {row.status}"
          + (f" ({row.last_error})" if row.last_error else ""))
    other = sum(counts.values()) - 1
    if other > 0:
        print(f"also delivered what else was due: {dict(counts)}")
    return 0 if row.status == "sent" else 1


def cmd_ack(args) -> int:
    try:
        with session() as s, s.begin():
            done = staff.acknowledge(s, args.id, by=args.by, now=utcnow(), via="cli")
            if done.newly:  # in the console's audit trail too, under the name given
                audit.record(s, "alert_ack", username=done.alert.acknowledged_by,
                             target=done.alert.conversation_id,
                             detail={"alert_id": done.alert.id, "level": done.alert.level,
                                     "via": "cli"})
    except (LookupError, ValueError) as error:
        print(f"error: {error.args[0]}", file=sys.stderr)
        return 1
    a = done.alert
    if done.newly:
        print(f"alert {a.id} ({level_label(a.level)}) acknowledged by {a.acknowledged_by}")
    else:
        print(f"alert {a.id} was already acknowledged by {a.acknowledged_by} "
              f"at {a.acknowledged_at:%Y-%m-%d %H:%M} UTC")
    return 0


def cmd_run(args) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    while not stopping.is_set():
        done = run_once(stop=stopping.is_set)
        if done:
            logging.getLogger("bot.alerts").info("pass: %s", dict(done))
        if args.once:
            break
        stopping.wait(args.interval)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.alerts", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="settings, routing now, alerts and messages")
    commands.add_parser("send-digest-now", help="an extra digest, sent at once")
    ack = commands.add_parser("ack", help="acknowledge an alert")
    ack.add_argument("id", type=int)
    ack.add_argument("--by", required=True, help="who acknowledges it")
    run = commands.add_parser("run", help="run the passes (without the SMS worker)")
    run.add_argument("--once", action="store_true")
    run.add_argument("--interval", type=float, default=5.0, help="seconds between passes")
    args = parser.parse_args(argv)
    handler = {"status": cmd_status, "send-digest-now": cmd_send_digest_now, "ack": cmd_ack,
               "run": cmd_run}[args.command]
    try:
        return handler(args)
    except ValueError as error:  # a wrong setting
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
