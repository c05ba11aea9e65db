"""The alert settings in a few lines, for `python -m bot.alerts status` and `make run`."""
from __future__ import annotations

from bot.alerts.facts import local_time
from bot.alerts.routing import is_open, next_opening
from bot.alerts.settings import AlertSettings
from bot.sms.models import utcnow


def settings_lines(cfg: AlertSettings) -> list[str]:
    """What is configured, and whether the department is open now."""
    now = utcnow()
    email = (f"{cfg.smtp.host}:{cfg.smtp.port} "
             f"({'TLS' if cfg.smtp.ssl else 'STARTTLS' if cfg.smtp.starttls else 'no TLS'}"
             f"{', login' if cfg.smtp.username else ''}) to {', '.join(cfg.email_to) or '-'}; "
             f"on call {', '.join(cfg.email_on_call) or '-'}" if cfg.smtp else "off")
    hook = (f"{cfg.webhook_format}, department {'set' if cfg.webhook_url else '-'}, "
            f"on call {'set' if cfg.webhook_on_call_url else '-'}")
    opening = next_opening(now, cfg.core)
    hours = ("open now" if is_open(now, cfg.core) else
             f"closed, opens {local_time(opening, cfg)}" if opening else "never open")
    return [f"thresholds: SMS {cfg.sms_threshold.slug if cfg.sms_threshold else 'off'}, "
            f"web {cfg.web_threshold.slug if cfg.web_threshold else 'off'}",
            f"email: {email}", f"webhook: {hook if cfg.webhook_configured else 'off'}",
            f"department: {hours} ({cfg.core.opening_hours_text})",
            f"digest: {', '.join(cfg.digest_to) or 'off'} at {cfg.digest_at:%H:%M}"]
