"""The action server, closed: `python -m bot.action_server` (what the stack starts).

rasa-sdk's own server listens on every interface, runs any action for anyone who
can reach it, answers unknown paths with a 500 and echoes the whole tracker
(patient messages) back in its error replies, which Rasa then writes to its log.
This one is rasa-sdk's app with four differences:

- it binds ACTION_HOST (127.0.0.1 by default);
- every call but `/health` must carry ACTION_SERVER_TOKEN in the X-Action-Token
  header (endpoints.yml makes Rasa send it): none gives 401, a wrong one 403, and
  nothing runs;
- unknown paths are 404 and wrong methods 405;
- an action that raises is logged by type and place only, and the reply names no
  patient data.
"""
from __future__ import annotations

import hmac
import logging

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.exceptions import MethodNotSupported, NotFound
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config import env
from bot.failures import describe

logger = logging.getLogger(__name__)
TOKEN_HEADER = "X-Action-Token"
OPEN_PATHS = {"/health"}


def refusal(request: Request, token: str) -> HTTPResponse | None:
    """401/403 for a call without the shared secret; None when it may go on."""
    if request.path in OPEN_PATHS:
        return None
    given = request.headers.get(TOKEN_HEADER, "")
    if not given:
        return response.json({"error": f"missing {TOKEN_HEADER}"}, status=401)
    if not hmac.compare_digest(given.encode(), token.encode()):
        return response.json({"error": f"wrong {TOKEN_HEADER}"}, status=403)
    return None


def build_app(token: str, actions_package: str = "actions") -> Sanic:
    if not token:
        raise SystemExit("error: ACTION_SERVER_TOKEN is empty; the action server never runs open "
                         "(make run sets one for its own servers).")
    app = create_app(actions_package, cors_origins=None)

    @app.on_request
    async def require_token(request: Request) -> HTTPResponse | None:
        return refusal(request, token)

    # Registered after rasa-sdk's catch-all handler, so these replace it.
    @app.exception(NotFound)
    async def not_found(_: Request, __: Exception) -> HTTPResponse:
        return response.json({"error": "not found"}, status=404)

    @app.exception(MethodNotSupported)
    async def wrong_method(_: Request, __: Exception) -> HTTPResponse:
        return response.json({"error": "method not allowed"}, status=405)

    @app.exception(Exception)
    async def failed(_: Request, error: Exception) -> HTTPResponse:
        logger.error("action call failed: %s", describe(error))
        return response.json({"error": "the action failed"}, status=500)

    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app = build_app(env("ACTION_SERVER_TOKEN"))
    host, port = env("ACTION_HOST"), int(env("ACTION_PORT"))
    logger.info("action server on http://%s:%s (token required)", host, port)
    app.run(host, port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
