"""The discharge API, served by the SMS worker (`SMS_API_HOST`:`SMS_API_PORT`).

For hospital systems, on the internal network: it is a separate port from Rasa's, which
must face the internet for Twilio's webhook. Every call needs `Authorization: Bearer
<SMS_API_TOKEN>`; without a token in `.env` the API answers 503 and does nothing.

    POST /api/discharges        one discharge (JSON object) or a list (all or nothing)
    GET  /api/discharges/{id}   the discharge, its conversation id and its follow-ups
    POST /api/discharges/{id}/cancel
    GET  /healthz
"""
from __future__ import annotations

import asyncio
import hmac
import logging

from aiohttp import web

from bot.sms import discharges
from bot.sms.settings import SmsSettings
from bot.web.security import hide_server_software

logger = logging.getLogger(__name__)
SETTINGS_KEY = web.AppKey("sms_settings", SmsSettings) if hasattr(web, "AppKey") else "sms_settings"
MAX_BATCH = 5000


def _discharge(discharge, followups) -> dict:
    """A discharge as the API returns it, with its conversation id: the id the staff
    console shows for the patient's conversation."""
    return {**discharges.as_dict(discharge, followups),
            "conversation_id": discharge.conversation_id}


def _error(status: int, message: str, **extra) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _refused(request: web.Request) -> web.Response | None:
    cfg: SmsSettings = request.app[SETTINGS_KEY]
    if not cfg.api_token:
        return _error(503, "The discharge API is off: set SMS_API_TOKEN in .env.")
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(),
                                                             cfg.api_token.encode()):
        response = _error(401, "A valid 'Authorization: Bearer <token>' header is needed.")
        response.headers["WWW-Authenticate"] = 'Bearer realm="discharges"'
        return response
    return None


async def healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def create(request: web.Request) -> web.Response:
    refused = _refused(request)
    if refused is not None:
        return refused
    cfg: SmsSettings = request.app[SETTINGS_KEY]
    try:
        payload = await request.json()
    except Exception:
        return _error(400, "Send JSON: one discharge object, or a list of them.")
    if isinstance(payload, dict):
        try:
            item = discharges.validate(payload, cfg)
        except discharges.DischargeError as error:
            return _error(400, "invalid discharge", errors=error.errors)
        registered = (await asyncio.to_thread(discharges.register_many, [item], source="api",
                                              cfg=cfg))[0]
        return web.json_response(_discharge(registered.discharge, registered.followups),
                                 status=201 if registered.created else 200)
    if isinstance(payload, list):
        if not payload or len(payload) > MAX_BATCH:
            return _error(400, f"Send between 1 and {MAX_BATCH} discharges.")
        result = await asyncio.to_thread(discharges.import_records, payload, source="api",
                                         cfg=cfg, first_row=0)
        if not result.ok:
            return _error(400, "nothing imported: fix these items (by index)",
                          errors={str(k): v for k, v in result.errors.items()})
        return web.json_response(
            {"discharges": [_discharge(r.discharge, r.followups) | {"created": r.created}
                            for r in result.registered]}, status=201)
    return _error(400, "Send JSON: one discharge object, or a list of them.")


async def show(request: web.Request) -> web.Response:
    refused = _refused(request)
    if refused is not None:
        return refused
    try:
        discharge_id = int(request.match_info["id"])
    except ValueError:
        return _error(404, "no such discharge")
    found = await asyncio.to_thread(discharges.get, discharge_id)
    if not found:
        return _error(404, "no such discharge")
    return web.json_response(_discharge(*found))


async def cancel(request: web.Request) -> web.Response:
    refused = _refused(request)
    if refused is not None:
        return refused
    try:
        discharge_id = int(request.match_info["id"])
        cancelled = await asyncio.to_thread(discharges.cancel, discharge_id)
    except (ValueError, KeyError):
        return _error(404, "no such discharge")
    found = await asyncio.to_thread(discharges.get, discharge_id)
    assert found is not None  # cancel() raised KeyError for an unknown discharge
    return web.json_response(_discharge(*found) | {"cancelled_followups": cancelled})


def make_app(cfg: SmsSettings) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    hide_server_software(app)
    app[SETTINGS_KEY] = cfg
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/discharges", create)
    app.router.add_get("/api/discharges/{id}", show)
    app.router.add_post("/api/discharges/{id}/cancel", cancel)
    return app
