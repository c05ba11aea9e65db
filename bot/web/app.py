"""The web server: routes, static files and start-up (`python -m bot.web`)."""
from __future__ import annotations

import hashlib
import html
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.config import Settings, settings
from bot.policy import FAILSAFE_LINE
from bot.web.advice_page import add_advice_page
from bot.web.chat import HTTP_KEY, SETTINGS_KEY, WEB_SETTINGS_KEY, chat, config
from bot.web.security import hide_server_software, security_middleware
from bot.web.settings import WebSettings, web_settings

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
# Filled in at start-up so the fail-safe wording has one source, bot.policy. widget.js
# carries what it must show even when it can never reach us again.
OFFLINE_DEFAULTS_MARK = "/*OFFLINE_DEFAULTS*/null"
FAILSAFE_MARK = "<!--FAILSAFE_LINE-->"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'


def _fill(name: str, mark: str, value: str) -> bytes:
    text = (STATIC / name).read_text(encoding="utf-8")
    if mark not in text:
        raise RuntimeError(f"{name} lost its {mark} mark")
    return text.replace(mark, value).encode()


def load_assets(cfg: Settings) -> dict[str, Asset]:
    offline = json.dumps({"failsafe_line": FAILSAFE_LINE, "emergency_number": cfg.emergency_number,
                          "urgent_number": cfg.urgent_number})
    return {
        "/": Asset(_fill("index.html", FAILSAFE_MARK, html.escape(FAILSAFE_LINE)), "text/html"),
        "/widget.js": Asset(_fill("widget.js", OFFLINE_DEFAULTS_MARK, offline), "text/javascript"),
        "/widget.css": Asset((STATIC / "widget.css").read_bytes(), "text/css"),
    }


def asset_handler(asset: Asset):
    etag = asset.etag

    async def handler(request: web.Request) -> web.Response:
        # "no-cache" = revalidate each time, so a new widget reaches patients at once.
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=asset.body, content_type=asset.content_type, charset="utf-8",
                            headers=headers)
    return handler


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def http_client(app: web.Application):
    timeout = aiohttp.ClientTimeout(total=app[WEB_SETTINGS_KEY].rasa_timeout)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        app[HTTP_KEY] = session
        yield


def make_app(web_cfg: WebSettings, cfg: Settings) -> web.Application:
    # A chat turn is a few hundred bytes; refuse big bodies before reading them.
    app = web.Application(middlewares=[security_middleware(web_cfg.allowed_origins)],
                          client_max_size=16 * 1024)
    hide_server_software(app)
    app[WEB_SETTINGS_KEY], app[SETTINGS_KEY] = web_cfg, cfg
    app.cleanup_ctx.append(http_client)
    for path, asset in load_assets(cfg).items():
        app.router.add_get(path, asset_handler(asset))
    app.router.add_get("/api/config", config)
    app.router.add_post("/api/chat", chat)
    app.router.add_get("/healthz", health)
    add_advice_page(app)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web_cfg = web_settings()
    logger.info("web chat on http://%s:%s/ (Rasa at %s)", web_cfg.host, web_cfg.port, web_cfg.rasa_url)
    # No client addresses in the access log: they are patients.
    web.run_app(make_app(web_cfg, settings()), host=web_cfg.host, port=web_cfg.port,
                print=None, access_log_format='"%r" %s %b %Tfs')
