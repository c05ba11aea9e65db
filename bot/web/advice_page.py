"""GET /advice/{level}: the full cited advice for one level, the page an SMS links to.

A text carries the short advice and this link. One page per level, the same for everyone,
so the link says nothing about the patient; it shows the advice for every finding at the
level, with its sources, and whom to call as of the moment it is read (opening hours).
Plain HTML, escaped, no scripts, styles or other files.
"""
from __future__ import annotations

import html
from datetime import datetime, timezone

from aiohttp import web

from bot.advice import ADVICE_PATH, level_advice
from bot.config import Settings
from bot.policy import POLICY_VERSION, Level
from bot.web.chat import SETTINGS_KEY

LEVELS = {level.slug: level for level in Level}


def title(level: Level, cfg: Settings) -> str:
    return {
        Level.EMERGENCY: f"Emergency: call {cfg.emergency_number} now",
        Level.URGENT: "Get medical help now",
        Level.CONTACT_TEAM: "Contact your care team today",
        Level.SELF_CARE: "Looking after the biopsy site at home",
    }[level]


def page(level: Level, cfg: Settings, now: datetime) -> str:
    """The page for `level`: its action line, then its reasons (a list) and the rest."""
    action, *rest = level_advice(level, cfg, now).text.split("\n")
    parts = [f"<p><strong>{html.escape(action)}</strong></p>"]
    reasons = [line[2:] for line in rest if line.startswith("- ")]
    if reasons:
        lead = ("This advice is for any of these:" if level > Level.SELF_CARE
                else "What to expect:")
        items = "".join(f"<li>{html.escape(reason)}</li>" for reason in reasons)
        parts.append(f"<h2>{lead}</h2><ul>{items}</ul>")
    if level > Level.SELF_CARE:
        parts.append("<p>An answer you were not sure about is counted as present, to be "
                     "safe.</p>")
    parts += [f"<p>{html.escape(line)}</p>" for line in rest if not line.startswith("- ")]
    heading = html.escape(title(level, cfg))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{heading}</title></head><body><main>"
        f"<h1>{heading}</h1>{''.join(parts)}"
        "<p><small>After a bone biopsy or bone marrow biopsy. The same advice for everyone "
        "given this level: this page holds nothing about you or your conversation. "
        f"Policy version {html.escape(POLICY_VERSION)}.</small></p>"
        "</main></body></html>\n")


async def advice_page(request: web.Request) -> web.Response:
    level = LEVELS.get(request.match_info["level"])
    if level is None:
        raise web.HTTPNotFound(text="There is no advice page with that name.")
    body = page(level, request.app[SETTINGS_KEY], datetime.now(timezone.utc))
    # Whom to call depends on the opening hours at the moment it is read.
    return web.Response(text=body, content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache"})


def add_advice_page(app: web.Application) -> None:
    """Registers GET /advice/{level} (the app must hold the Settings under SETTINGS_KEY)."""
    app.router.add_get(ADVICE_PATH, advice_page)
