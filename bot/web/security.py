"""Security headers on every response, and CORS for the widget's files and API.

A hospital page on another origin may load the widget and call the API only
when its origin is in ALLOWED_ORIGINS; the page's own origin always may.

`hide_server_software` is for every aiohttp server of ours (web chat, staff console,
discharge API).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web, web_response

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CORS_PATHS = ("/api/", "/widget.")


def content_security_policy(allowed_origins: frozenset[str]) -> str:
    # No inline script or style and no eval anywhere: the page only runs our files.
    framers = " ".join(["'self'", *sorted(allowed_origins)])
    return ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            "img-src 'self'; base-uri 'none'; form-action 'self'; "
            f"frame-ancestors {framers}")


def same_origin(origin: str, host: str) -> bool:
    # The scheme is not compared: behind a TLS-terminating proxy we see plain http.
    return urlsplit(origin).netloc.lower() == host.lower()


async def _drop_server_header(_: web.Request, response: web.StreamResponse) -> None:
    response.headers.popall("Server", None)


def hide_server_software(app: web.Application) -> None:
    """No `Server: Python/3.x aiohttp/3.y.z` header: the versions tell a scanner which
    known holes to try. The app's responses get no Server header at all. aiohttp answers
    requests it cannot even parse (a 400) before any app sees them, so no hook reaches
    those: their header is made to name no version (aiohttp reads this module global as
    it writes each response)."""
    # aiohttp 3.9's Signal annotation predates aiosignal 1.4's (callback argument types)
    app.on_response_prepare.append(_drop_server_header)  # type: ignore[arg-type]
    web_response.SERVER_SOFTWARE = "aiohttp"


def security_middleware(allowed_origins: frozenset[str]):
    csp = content_security_policy(allowed_origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        cross_origin = origin is not None and not same_origin(origin, request.host)
        allowed = not cross_origin or origin in allowed_origins
        cors_path = request.path.startswith(CORS_PATHS)
        response: web.StreamResponse

        if cors_path and cross_origin and request.method == "OPTIONS":
            response = web.Response(status=204 if allowed else 403)
            if allowed:
                response.headers.update({
                    "Access-Control-Allow-Methods": "GET, POST",
                    "Access-Control-Allow-Headers": "Content-Type",
                    "Access-Control-Max-Age": "600"})
        elif not allowed and request.method not in ("GET", "HEAD"):
            # CORS alone only hides the answer; a refused origin must not reach the bot at all.
            response = web.json_response(
                {"error": "This website is not allowed to use the chat."}, status=403)
        else:
            try:
                response = await handler(request)
            except web.HTTPException as error:
                response = web.Response(status=error.status, text=error.text,
                                        headers=error.headers)

        if cors_path:
            response.headers["Vary"] = "Origin"
            if cross_origin and allowed:
                assert origin is not None  # cross_origin: it was sent
                response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.update({
            "Content-Security-Policy": csp,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        })
        return response

    return middleware
