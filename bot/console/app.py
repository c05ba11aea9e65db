"""The staff console web server (`python -m bot.console`, aiohttp, CONSOLE_PORT).

Server-rendered pages only: no script at all (the CSP forbids it), our own stylesheet,
everything a patient wrote escaped by Jinja's autoescape (and shown with any character a
browser cannot carry replaced, `bot.console.safe_text`). Every page but the login page,
`/healthz` and the stylesheet needs a session; every POST needs a readable form
(`bot.console.forms`: else 400) with the form's CSRF token (and, when the browser sends
one, our own Origin). Database work runs in a worker thread (argon2 is slow on purpose,
SQLite calls block).
"""
from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote, unquote, urlencode, urlsplit

import jinja2
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.alerts import staff as alert_staff
from bot.alerts.models import QuietPatient
from bot.config import settings
from bot.console import alerts_view, audit, auth, chart, export, forms, queue, safe_text, transcript
from bot.console.models import REVIEW_OUTCOMES, ROLES, Staff
from bot.console.settings import ConsoleSettings, console_settings
from bot.policy import POLICY_VERSION
from bot.storage.db import session as db_session
from bot.storage.times import aware
from bot.web.security import hide_server_software

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATIC = HERE / "static"
SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login_csrf"
PUBLIC_PATHS = ("/login", "/healthz", "/static/", "/favicon.ico")
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
CFG_KEY = web.AppKey("console_settings", ConsoleSettings)
URL_KEY = web.AppKey("database_url", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NOTICES = {  # ?done=... after a POST; fixed texts, never echoed input
    "reviewed": "Review saved. The conversation itself is unchanged.",
    "acknowledged": "Alert acknowledged: its unsent messages are cancelled.",
    "already_acknowledged": "A colleague had acknowledged this alert already.",
    "dealt_with": "Marked as dealt with: the patient has left the list.",
    "already_dealt_with": "This patient had left the list already (a reply or a colleague).",
    "created": "Account created.",
    "updated": "Account updated.",
    "password": "Password changed. Other sessions of this account were logged out.",
    "logged_out": "You are logged out.",
    "expired": "Please log in.",
}


# --- templates -----------------------------------------------------------------------
def _local(value: Optional[datetime], fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return aware(value).astimezone(settings().timezone).strftime(fmt)


def _showable(value: Any) -> Any:
    """Every {{ value }}: a NUL or a lone surrogate from a client never reaches the page
    (a lone surrogate cannot even be encoded). Our own markup (macros) is left alone."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return safe_text.showable(value)
    return value


def make_templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, finalize=_showable)
    env.filters["local"] = _local
    # A conversation id in a form field, percent-encoded: any character comes back intact.
    env.filters["quote"] = lambda value: quote(value, safe="")
    env.globals.update(REVIEW_OUTCOMES=REVIEW_OUTCOMES, LEVELS=queue.LEVELS, ROLES=ROLES,
                       CHANNEL_GROUPS=queue.CHANNEL_GROUPS, ACTIONS=audit.ACTIONS,
                       POLICY_VERSION=POLICY_VERSION, urlencode=urlencode,
                       level_info=queue.level_info)
    return env


TEMPLATES = make_templates()


def render(request: web.Request, name: str, status: int = 200, **context: Any) -> web.Response:
    session, token = request.get("session"), context.pop("csrf", "")
    body = TEMPLATES.get_template(name).render(
        staff=request.get("staff"), csrf=session.csrf_token if session else token,
        path=request.path, notice=NOTICES.get(request.query.get("done", "")), **context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", status=status, status_code=status, message=message)


# --- helpers -------------------------------------------------------------------------
async def db(request: web.Request, fn: Callable, *args: Any) -> Any:
    """Run fn(session, *args) in a transaction, in a worker thread."""
    url = request.app[URL_KEY] or None

    def work():
        with db_session(url) as s, s.begin():
            return fn(s, *args)
    return await asyncio.to_thread(work)


async def db_adding_row(request: web.Request, fn: Callable, *args: Any) -> Any:
    """db() for work that brings a conversation's queue row up to date (transcript,
    review): when another request or the background sync added the same row at the same
    moment, the row is there now, so the work runs once more."""
    try:
        return await db(request, fn, *args)
    except IntegrityError:
        return await db(request, fn, *args)


def client_ip(request: web.Request) -> str:
    if request.app[CFG_KEY].trust_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return (request.remote or "")[:64]


def is_https(request: web.Request) -> bool:
    cfg = request.app[CFG_KEY]
    if cfg.secure_cookies != "auto":
        return cfg.secure_cookies == "true"
    if cfg.trust_proxy and request.headers.get("X-Forwarded-Proto", "").lower() == "https":
        return True
    return request.secure


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", httponly=True, samesite="Strict",
                        secure=is_https(request))


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


URL_SAFE = "".join(chr(c) for c in range(0x21, 0x7f))  # printable ASCII but the space


def safe_next(value: str) -> str:
    """Only a local path: never `//host` or `http://host` (no open redirect), and never a
    control character (browsers drop tabs and line breaks from a URL, so `/\t/host` means
    `//host`; in the Location header a line break would end it). Anything else that is not
    printable ASCII is percent-encoded, as a header must be."""
    value = value or ""
    parts = urlsplit(value)
    if value.startswith("/") and not value.startswith("//") and not parts.scheme \
            and not parts.netloc and "\\" not in value and not safe_text.CONTROL.search(value):
        return quote(value, safe=URL_SAFE)
    return "/"


def same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":  # no origin to compare: the CSRF token decides
        return True
    return urlsplit(origin).netloc.lower() == request.host.lower()


# --- middlewares ---------------------------------------------------------------------
@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except forms.BadForm as problem:
        response = error_page(request, 400, str(problem))
    except web.HTTPException as error:
        messages = {403: "You do not have access to this page.", 404: "There is no such page.",
                    405: "That is not allowed here.", 413: "That was too large."}
        if error.status in messages:
            response = error_page(request, error.status, messages[error.status])
        else:
            response = web.Response(status=error.status, text=error.text, headers=error.headers)
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)  # no query: no ids
        response = error_page(request, 500, "Something went wrong. Nothing was changed; please "
                                            "try again, and tell the admin if it keeps happening.")
    response.headers.update({
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # Not "no-referrer": Chromium then sends "Origin: null" on our own form posts.
        "Referrer-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
    })
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"  # patient data: never cached
    if is_https(request):
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    return response


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE, "")
    if token:
        cfg = request.app[CFG_KEY]
        found = await db(request, auth.load_session, cfg, token)
        if found:
            request["session"], request["staff"] = found
    if request.get("staff") is None and not request.path.startswith(PUBLIC_PATHS):
        next_path = request.path_qs if request.method == "GET" else "/"
        return redirect("/login?" + urlencode({"next": next_path}))
    return await handler(request)


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        if not same_origin(request):
            return error_page(request, 403, "This form came from another website.")
        form = request["form"] = await forms.read(request)
        session = request.get("session")
        expected = session.csrf_token if session else request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not auth.tokens_match(expected, form.get("csrf_token")):
            return error_page(request, 403, "The form has expired. Go back, reload the page "
                                            "and try again.")
    return await handler(request)


def require_admin(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if request["staff"].role != "admin":
            return error_page(request, 403, "Only an admin can do this.")
        return await handler(request)
    return wrapped


# --- login and logout ----------------------------------------------------------------
async def login_page(request: web.Request, message: str = "", status: int = 200,
                     username: str = "", next_path: str = "") -> web.Response:
    if request.get("staff") is not None and request.method == "GET":
        return redirect(safe_next(request.query.get("next", "/")))
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or auth.new_token()
    response = render(request, "login.html", status=status, csrf=token, message=message,
                      username=username,
                      next=safe_next(next_path or request.query.get("next", "/")))
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = request["form"]
    username = forms.field(form, "username")[:200]
    password = forms.verbatim(form, "password")
    ip, cfg = client_ip(request), request.app[CFG_KEY]
    next_path = safe_next(form.get("next", "/"))
    name = auth.normalise_username(username)

    def reserve(s):
        reservation = auth.reserve_attempt(s, cfg, username, ip)
        if reservation.attempt_id is None:
            audit.record(s, "login_locked", username=name, ip=ip)
        return reservation

    def finish(s, reservation: auth.Reservation, password_ok: bool):
        result = auth.finish_attempt(s, cfg, reservation, password, password_ok)
        if result.staff is not None:
            audit.record(s, "login", staff=result.staff, ip=ip)
            return result, auth.create_session(s, cfg, result.staff)
        audit.record(s, "login_failed", username=name, ip=ip)
        return result, None

    # Three steps (see bot.console.auth): no transaction is open while argon2 runs.
    reservation = await db(request, reserve)
    if reservation.attempt_id is None:
        result, token = auth.LoginResult(locked_until=reservation.locked_until), None
    else:
        password_ok = await asyncio.to_thread(auth.check_password, reservation, password)
        result, token = await db(request, finish, reservation, password_ok)
    if token is None:
        if result.locked_until is not None:
            minutes = max(1, round((result.locked_until - auth.now_utc()).total_seconds() / 60))
            return await login_page(
                request, f"Too many failed attempts. Try again in {minutes} minute"
                         f"{'s' if minutes != 1 else ''}, or ask an admin to unlock the account.",
                status=429, username=username, next_path=next_path)
        return await login_page(request, "Wrong username or password.", status=401,
                                username=username, next_path=next_path)
    response = redirect(next_path)
    set_cookie(request, response, SESSION_COOKIE, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    token, staff, ip = request.cookies.get(SESSION_COOKIE, ""), request["staff"], client_ip(request)

    def work(s):
        auth.end_session(s, token)
        audit.record(s, "logout", staff=s.get(Staff, staff.id), ip=ip)
    await db(request, work)
    response = redirect("/login?done=logged_out")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


# --- pages ---------------------------------------------------------------------------
async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def favicon(_: web.Request) -> web.Response:
    return web.Response(status=204)


async def sync_queue(request: web.Request) -> None:
    await asyncio.to_thread(queue.sync, request.app[URL_KEY] or None)


async def overview_page(request: web.Request) -> web.Response:
    await sync_queue(request)
    data, attention = await db(request, lambda s: (queue.overview(s), alerts_view.figures(s)))
    return render(request, "overview.html", overview=data, chart=chart.build(data),
                  attention=attention,
                  stack=list(reversed(chart.STACK)), labels=chart.LABELS)


async def queue_page(request: web.Request) -> web.Response:
    filters = queue.Filters.from_query(request.query)
    after = queue.Cursor.decode(request.query.get("after", ""))
    size = request.app[CFG_KEY].page_size
    await sync_queue(request)

    def work(s):
        return (queue.page(s, filters, after, size), queue.count(s, filters), queue.waiting(s),
                alerts_view.figures(s))
    result, total, waiting, attention = await db(request, work)
    base = filters.as_query()
    return render(request, "queue.html", filters=filters, page=result, total=total,
                  waiting=waiting, attention=attention, first_page=bool(after),
                  next_url=("/queue?" + urlencode(base + [("after", result.next_cursor)]))
                  if result.next_cursor else "",
                  first_url="/queue?" + urlencode(base),
                  procedures=queue.PROCEDURES,
                  query_pairs=base)


async def export_csv(request: web.Request) -> web.StreamResponse:
    filters = queue.Filters.from_query(request["form"])
    staff, ip, limit = request["staff"], client_ip(request), request.app[CFG_KEY].export_max_rows
    await sync_queue(request)

    def work(s):
        text, n = export.to_csv(queue.all_rows(s, filters, limit))
        audit.record(s, "export", staff=s.get(Staff, staff.id), ip=ip,
                     detail={"filters": filters.describe(), "rows": n})
        return text
    text = await db(request, work)
    stamp = datetime.now(settings().timezone).strftime("%Y%m%d-%H%M")
    return web.Response(body=text.encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition":
                                 f'attachment; filename="triage-conversations-{stamp}.csv"'})


async def transcript_page(request: web.Request) -> web.Response:
    conversation_id = request.query.get("id", "")[:255]
    if not conversation_id:
        return redirect("/queue")
    staff, ip = request["staff"], client_ip(request)

    def work(s):
        found = transcript.load(s, conversation_id)
        if found is not None:
            audit.record(s, "view_transcript", staff=s.get(Staff, staff.id),
                         target=conversation_id, ip=ip)
            return found, alerts_view.for_conversation(s, conversation_id)
        return None, None
    found, alerts = await db_adding_row(request, work)
    if found is None:
        return error_page(request, 404, "There is no conversation with this id.")
    return render(request, "transcript.html", t=found, alerts=alerts, error="", note="",
                  outcome="")


async def review(request: web.Request) -> web.StreamResponse:
    form = request["form"]
    # Percent-encoded by the form (see the "quote" filter); a plain id reads the same.
    conversation_id = unquote(forms.verbatim(form, "conversation_id"))[:255]
    outcome = forms.field(form, "outcome", required=False)
    note = forms.field(form, "note", required=False, lines=True)
    staff, ip = request["staff"], client_ip(request)

    def work(s):
        me = s.get(Staff, staff.id)
        saved = queue.add_review(s, conversation_id, me, outcome, note)
        audit.record(s, "review", staff=me, target=conversation_id, ip=ip,
                     detail={"outcome": outcome, "review_id": saved.id})
    try:
        await db_adding_row(request, work)
    except LookupError:
        return error_page(request, 404, "There is no conversation with this id.")
    except ValueError as problem:
        def reload(s):
            found = transcript.load(s, conversation_id)
            return found, found and alerts_view.for_conversation(s, conversation_id)
        found, alerts = await db_adding_row(request, reload)
        if found is None:
            return error_page(request, 404, "There is no conversation with this id.")
        return render(request, "transcript.html", status=400, t=found, alerts=alerts,
                      error=str(problem), note=note, outcome=outcome)
    return redirect("/conversation?" + urlencode({"id": conversation_id, "done": "reviewed"}))


# --- care-team alerts ----------------------------------------------------------------
async def alerts_page(request: web.Request) -> web.Response:
    data = await db(request, alerts_view.alerts_page)
    return render(request, "alerts.html", a=data)


def _back_to(form, conversation_id: str, done: str) -> web.Response:
    """Back where the button was: the transcript, or the alerts page."""
    if forms.field(form, "back", required=False) == "conversation" and conversation_id:
        return redirect("/conversation?" + urlencode({"id": conversation_id, "done": done}))
    return redirect("/alerts?" + urlencode({"done": done}))


async def acknowledge_alert(request: web.Request) -> web.StreamResponse:
    form = request["form"]
    alert_id = forms.row_id(form, "alert_id")
    staff, ip = request["staff"], client_ip(request)

    def work(s):
        me = s.get(Staff, staff.id)
        done = alert_staff.acknowledge(s, alert_id, by=me.username, now=auth.now_utc(),
                                       via="console")
        if done.newly:
            audit.record(s, "alert_ack", staff=me, target=done.alert.conversation_id, ip=ip,
                         detail={"alert_id": alert_id, "level": done.alert.level})
        return done.alert.conversation_id, done.newly
    try:
        conversation_id, newly = await db(request, work)
    except LookupError:
        return error_page(request, 404, "There is no such alert.")
    return _back_to(form, conversation_id, "acknowledged" if newly else "already_acknowledged")


async def resolve_quiet(request: web.Request) -> web.StreamResponse:
    form = request["form"]
    mark_id = forms.row_id(form, "mark_id")
    staff, ip = request["staff"], client_ip(request)

    def work(s):
        me = s.get(Staff, staff.id)
        mark = alert_staff.resolve_quiet(s, mark_id, now=auth.now_utc())
        if mark is None:
            return s.get(QuietPatient, mark_id).conversation_id, False
        audit.record(s, "quiet_resolved", staff=me, target=mark.conversation_id, ip=ip,
                     detail={"mark_id": mark_id, "kind": mark.kind})
        return mark.conversation_id, True
    try:
        conversation_id, newly = await db(request, work)
    except LookupError:
        return error_page(request, 404, "There is no such patient on the list.")
    return _back_to(form, conversation_id, "dealt_with" if newly else "already_dealt_with")


# --- own account ---------------------------------------------------------------------
async def account_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    return render(request, "account.html", status=status, error=error,
                  min_chars=auth.MIN_PASSWORD_CHARS)


async def change_password(request: web.Request) -> web.StreamResponse:
    form = request["form"]
    current, new, again = (forms.verbatim(form, k) for k in ("current", "new", "again"))
    staff, ip = request["staff"], client_ip(request)
    cfg = request.app[CFG_KEY]

    def work(s):
        me = s.get(Staff, staff.id)
        if not auth.verify_password(me.password_hash, current):
            return "The current password is wrong.", None
        if new != again:
            return "The two new passwords differ.", None
        auth.set_password(s, me, new)  # also ends every session of this account
        audit.record(s, "password_change", staff=me, ip=ip)
        return "", auth.create_session(s, cfg, me)
    try:
        error, token = await db(request, work)
    except ValueError as problem:
        error, token = str(problem), None
    if error:
        return await account_page(request, error, status=400)
    response = redirect("/account?done=password")
    set_cookie(request, response, SESSION_COOKIE, token)
    return response


# --- admin: accounts and audit trail -----------------------------------------------------
@require_admin
async def accounts_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    def work(s):
        return list(s.scalars(select(Staff).order_by(Staff.username)))
    return render(request, "accounts.html", status=status, accounts=await db(request, work),
                  error=error, min_chars=auth.MIN_PASSWORD_CHARS)


@require_admin
async def create_account(request: web.Request) -> web.StreamResponse:
    form = request["form"]
    username, password = forms.field(form, "username"), forms.verbatim(form, "password")
    role = forms.field(form, "role")
    display_name = forms.field(form, "display_name", required=False)
    me_id, ip = request["staff"].id, client_ip(request)

    def work(s):
        created = auth.create_staff(s, username, password, role, display_name)
        audit.record(s, "account_create", staff=s.get(Staff, me_id), target=created.username,
                     ip=ip, detail={"role": created.role})
    try:
        await db(request, work)
    except ValueError as problem:
        # the page itself (functools.wraps keeps it), which takes an error message
        return await accounts_page.__wrapped__(request, str(problem), 400)  # type: ignore[attr-defined]
    return redirect("/admin/accounts?done=created")


@require_admin
async def update_account(request: web.Request) -> web.StreamResponse:
    form = request["form"]
    action = forms.field(form, "action")
    role = forms.field(form, "role") if action == "role" else ""
    password = forms.verbatim(form, "password") if action == "password" else ""
    me_id, ip = request["staff"].id, client_ip(request)
    try:
        staff_id = int(request.match_info["staff_id"])
    except ValueError:
        raise web.HTTPNotFound() from None

    def work(s):
        target = s.get(Staff, staff_id)
        if target is None:
            raise LookupError
        detail: dict = {"action": action}
        if action == "disable":
            if target.id == me_id:
                raise ValueError("You cannot disable your own account.")
            auth.set_active(s, target, False)
        elif action == "enable":
            auth.set_active(s, target, True)
        elif action == "role":
            if target.id == me_id and role != "admin":
                raise ValueError("You cannot take the admin role from yourself.")
            auth.set_role(s, target, role)
            detail["role"] = role
        elif action == "password":
            auth.set_password(s, target, password)
        elif action == "unlock":
            auth.unlock(s, target.username)
        else:
            raise ValueError("Unknown action.")
        audit.record(s, "account_update", staff=s.get(Staff, me_id), target=target.username,
                     ip=ip, detail=detail)
    try:
        await db(request, work)
    except LookupError:
        raise web.HTTPNotFound() from None
    except ValueError as problem:
        # the page itself (functools.wraps keeps it), which takes an error message
        return await accounts_page.__wrapped__(request, str(problem), 400)  # type: ignore[attr-defined]
    return redirect("/admin/accounts?done=updated")


@require_admin
async def audit_page(request: web.Request) -> web.Response:
    action = request.query.get("action", "")
    username = safe_text.without_controls(request.query.get("username", ""))[:150]
    before = request.query.get("before", "")
    staff, ip = request["staff"], client_ip(request)

    def work(s):
        audit.record(s, "view_audit", staff=s.get(Staff, staff.id), ip=ip)
        s.flush()
        return audit.page(s, action=action, username=username, before=before)
    result = await db(request, work)
    base = [(k, v) for k, v in (("action", action), ("username", username)) if v]
    return render(request, "audit.html", page=result, action=action, username=username,
                  next_url=("/admin/audit?" + urlencode(base + [("before", result.next_cursor)]))
                  if result.next_cursor else "", first_url="/admin/audit?" + urlencode(base),
                  first_page=bool(before))


# --- the application -----------------------------------------------------------------
class AccessLogger(AbstractAccessLogger):
    """Method, path, status and time only: no query string (it can hold a phone number or
    a conversation id) and no client address."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info('"%s %s" %s %.3fs', request.method, request.path, response.status, time)


async def static_css(_: web.Request) -> web.Response:
    return web.Response(body=(STATIC / "console.css").read_bytes(), content_type="text/css",
                        charset="utf-8", headers={"Cache-Control": "max-age=300"})


async def background_sync(app: web.Application):
    """Keep the queue fresh between page loads (and catch up at start-up)."""
    interval = app[CFG_KEY].sync_interval_seconds

    async def loop():
        while True:
            try:
                await asyncio.to_thread(queue.sync, app[URL_KEY] or None)
            except Exception:
                logger.exception("queue sync failed; trying again")
            await asyncio.sleep(interval)
    task = asyncio.create_task(loop())
    yield
    task.cancel()


def make_app(cfg: Optional[ConsoleSettings] = None, database_url: str = "") -> web.Application:
    app = web.Application(middlewares=[security_headers, authentication, csrf],
                          client_max_size=64 * 1024)
    hide_server_software(app)
    app[CFG_KEY] = cfg or console_settings()
    app[URL_KEY] = database_url
    if app[CFG_KEY].sync_interval_seconds > 0:
        app.cleanup_ctx.append(background_sync)
    r = app.router
    r.add_get("/healthz", health)
    r.add_get("/static/console.css", static_css)
    r.add_get("/favicon.ico", favicon)
    r.add_get("/login", login_page)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/", overview_page)
    r.add_get("/queue", queue_page)
    r.add_post("/export", export_csv)
    r.add_get("/conversation", transcript_page)
    r.add_post("/conversation/review", review)
    r.add_get("/alerts", alerts_page)
    r.add_post("/alerts/acknowledge", acknowledge_alert)
    r.add_post("/alerts/dealt-with", resolve_quiet)
    r.add_get("/account", account_page)
    r.add_post("/account/password", change_password)
    r.add_get("/admin/accounts", accounts_page)
    r.add_post("/admin/accounts", create_account)
    r.add_post("/admin/accounts/{staff_id}", update_account)
    r.add_get("/admin/audit", audit_page)
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = console_settings()
    logger.info("staff console on http://%s:%s/", cfg.host, cfg.port)
    # No query strings in the access log: they can hold a phone number or conversation id.
    web.run_app(make_app(cfg), host=cfg.host, port=cfg.port, print=None,
                access_log_class=AccessLogger)
