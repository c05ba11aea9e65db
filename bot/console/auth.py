"""Staff accounts, passwords (argon2id), sessions, CSRF tokens and the login lock-out.

Plain functions on a SQLAlchemy session; `bot.console.app` calls them from a worker
thread (argon2 is deliberately slow) and `bot.console.cli` from the command line.

Lock-out: `lockout_attempts` failed logins for one username within `lockout_minutes`
(counted since its last successful login or admin unlock) lock that username until
`lockout_minutes` after the last failure, whether or not the account exists (so the
answer tells nothing about which usernames exist). One address with `ip_failure_limit`
failures in the same window is refused too. Attempts refused while locked are not counted,
so a lock ends on time.

A login is three steps, so that parallel logins (from any number of console processes)
never check more passwords than the limit: `reserve_attempt` records a "pending" attempt,
which counts as a failure, in a transaction that holds a lock on the username and the
address; the password is checked outside any transaction; `finish_attempt` records the
result. A pending attempt that never finishes (the process died) stays a failure.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from bot.console.models import ROLES, LoginAttempt, Staff, StaffSession
from bot.console.settings import ConsoleSettings
from bot.storage.times import aware

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,149}")
_hasher = PasswordHasher()  # argon2id, the library's current recommended parameters


def now_utc() -> datetime:
    return datetime.now(timezone.utc)




# --- passwords -----------------------------------------------------------------------
def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def password_problem(password: str, username: str = "") -> Optional[str]:
    if len(password) < MIN_PASSWORD_CHARS:
        return f"The password must have at least {MIN_PASSWORD_CHARS} characters."
    if len(password) > MAX_PASSWORD_CHARS:
        return f"The password must have at most {MAX_PASSWORD_CHARS} characters."
    if username and username.lower() in password.lower():
        return "The password must not contain the username."
    return None


def normalise_username(username: str) -> str:
    return username.strip().lower()[:150]


def username_problem(username: str) -> Optional[str]:
    if not USERNAME.fullmatch(username):
        return ("A username is 2 to 150 lower-case letters, digits, '.', '_', '@' or '-', "
                "starting with a letter or digit.")
    return None


# --- accounts ------------------------------------------------------------------------
def create_staff(s: Session, username: str, password: str, role: str,
                 display_name: str = "") -> Staff:
    username = normalise_username(username)
    problem = (username_problem(username) or password_problem(password, username)
               or (None if role in ROLES else f"The role must be one of: {', '.join(ROLES)}."))
    if problem:
        raise ValueError(problem)
    if s.scalar(select(Staff.id).where(Staff.username == username)) is not None:
        raise ValueError(f"An account named {username!r} already exists.")
    staff = Staff(username=username, display_name=display_name.strip()[:200], role=role,
                  password_hash=hash_password(password), active=True,
                  created_at=now_utc(), password_changed_at=now_utc())
    s.add(staff)
    s.flush()
    return staff


def set_password(s: Session, staff: Staff, password: str) -> None:
    problem = password_problem(password, staff.username)
    if problem:
        raise ValueError(problem)
    staff.password_hash = hash_password(password)
    staff.password_changed_at = now_utc()
    end_all_sessions(s, staff.id)


def set_active(s: Session, staff: Staff, active: bool) -> None:
    staff.active = active
    if not active:
        end_all_sessions(s, staff.id)


def set_role(s: Session, staff: Staff, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"The role must be one of: {', '.join(ROLES)}.")
    staff.role = role



def find_staff(s: Session, username: str) -> Optional[Staff]:
    return s.scalar(select(Staff).where(Staff.username == normalise_username(username)))


# --- lock-out ------------------------------------------------------------------------
COUNTED = ("failure", "pending")  # a pending attempt's password is being checked


def locked_until(s: Session, cfg: ConsoleSettings, username: str, ip: str,
                 now: Optional[datetime] = None,
                 besides: Optional[int] = None) -> Optional[datetime]:
    """When the lock on this username (or address) ends, or None when not locked;
    `besides`: an attempt not to count (the one asking)."""
    now = now or now_utc()
    window = now - timedelta(minutes=cfg.lockout_minutes)
    last_reset = s.scalar(select(func.max(LoginAttempt.at)).where(
        LoginAttempt.username == username, LoginAttempt.kind.in_(("success", "unlock"))))
    since = max(window, aware(last_reset)) if last_reset else window
    failures = select(func.count(), func.max(LoginAttempt.at)).where(
        LoginAttempt.kind.in_(COUNTED))
    if besides is not None:
        failures = failures.where(LoginAttempt.id != besides)
    count, last = s.execute(failures.where(LoginAttempt.username == username,
                                           LoginAttempt.at > since)).one()
    if count >= cfg.lockout_attempts:
        return aware(last) + timedelta(minutes=cfg.lockout_minutes)
    count, last = s.execute(failures.where(LoginAttempt.ip == ip, LoginAttempt.at > window)).one()
    if ip and count >= cfg.ip_failure_limit:
        return aware(last) + timedelta(minutes=cfg.lockout_minutes)
    return None


def unlock(s: Session, username: str) -> None:
    s.add(LoginAttempt(username=normalise_username(username), ip="", kind="unlock", at=now_utc()))


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _serialise_attempts(s: Session, username: str, ip: str) -> None:
    """Until this transaction ends, no other login for this username or from this address
    can count attempts. PostgreSQL: transaction-level advisory locks (username first, then
    address: always the same order, so no deadlock). SQLite: nothing to do here; the insert
    of the pending attempt takes the database's single write lock before anything is
    counted."""
    if s.get_bind().dialect.name != "postgresql":
        return
    for key in (f"console-login user {username}", f"console-login ip {ip}" if ip else ""):
        if key:
            s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(key)})


@dataclass(frozen=True)
class Reservation:
    """A login attempt allowed to check its password (`attempt_id`), or refused."""
    attempt_id: Optional[int]
    locked_until: Optional[datetime]
    staff_id: Optional[int] = None
    password_hash: str = ""  # the account's; "" for an unknown or disabled one


def reserve_attempt(s: Session, cfg: ConsoleSettings, username: str, ip: str) -> Reservation:
    username = normalise_username(username)
    _serialise_attempts(s, username, ip)
    attempt = LoginAttempt(username=username, ip=ip, kind="pending", at=now_utc())
    s.add(attempt)
    s.flush()
    lock = locked_until(s, cfg, username, ip, besides=attempt.id)
    if lock is not None:
        s.delete(attempt)  # a refused attempt is not counted: the lock ends on time
        return Reservation(None, lock)
    staff = find_staff(s, username) if username else None
    if staff is not None and not staff.active:
        staff = None  # a disabled account is checked like an unknown one
    return Reservation(attempt.id, None, staff.id if staff is not None else None,
                       staff.password_hash if staff is not None else "")


def check_password(reservation: Reservation, password: str) -> bool:
    """Outside any transaction: argon2 takes its time, and takes it for an unknown or
    disabled account too (the dummy hash)."""
    ok = verify_password(reservation.password_hash or _dummy_hash(), password[:MAX_PASSWORD_CHARS])
    return ok and reservation.staff_id is not None


@dataclass
class LoginResult:
    staff: Optional[Staff] = None
    locked_until: Optional[datetime] = None


def finish_attempt(s: Session, cfg: ConsoleSettings, reservation: Reservation, password: str,
                   password_ok: bool) -> LoginResult:
    attempt = s.get(LoginAttempt, reservation.attempt_id)
    staff = s.get(Staff, reservation.staff_id) if password_ok else None
    # The account may have been disabled, or its password changed, meanwhile.
    if staff is None or not staff.active or staff.password_hash != reservation.password_hash:
        attempt.kind = "failure"
        s.flush()
        return LoginResult(locked_until=locked_until(s, cfg, attempt.username, attempt.ip))
    attempt.kind = "success"
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = hash_password(password)
    return LoginResult(staff=staff)


# --- sessions and CSRF ---------------------------------------------------------------
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def create_session(s: Session, cfg: ConsoleSettings, staff: Staff) -> str:
    """A new session (a new token at every login: no session fixation). Returns the token."""
    token, now = new_token(), now_utc()
    s.execute(delete(StaffSession).where(StaffSession.expires_at < now))  # tidy up old ones
    s.add(StaffSession(token_hash=token_hash(token), staff_id=staff.id, csrf_token=new_token(),
                       created_at=now, last_seen_at=now,
                       expires_at=now + timedelta(hours=cfg.session_max_hours)))
    return token


def load_session(s: Session, cfg: ConsoleSettings,
                 token: str) -> Optional[tuple[StaffSession, Staff]]:
    if not token or len(token) > 128:
        return None
    row = s.execute(select(StaffSession, Staff).join(Staff, Staff.id == StaffSession.staff_id)
                    .where(StaffSession.token_hash == token_hash(token))).first()
    if row is None:
        return None
    session, staff = row
    now = now_utc()
    idle_limit = aware(session.last_seen_at) + timedelta(minutes=cfg.session_idle_minutes)
    if not staff.active or now >= aware(session.expires_at) or now >= idle_limit:
        s.delete(session)
        return None
    if now - aware(session.last_seen_at) > timedelta(seconds=60):  # fewer writes
        session.last_seen_at = now
    return session, staff


def end_session(s: Session, token: str) -> None:
    session = s.scalar(select(StaffSession).where(StaffSession.token_hash == token_hash(token)))
    if session is not None:
        s.delete(session)


def end_all_sessions(s: Session, staff_id: int) -> None:
    for session in s.scalars(select(StaffSession).where(StaffSession.staff_id == staff_id)):
        s.delete(session)


def tokens_match(expected: str, given: Optional[str]) -> bool:
    return bool(expected) and isinstance(given, str) and hmac.compare_digest(expected, given)
