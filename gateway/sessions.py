"""Browser sessions: a random id in a cookie, the session itself in the gateway's database.

The cookie holds 256 random bits; the database keeps only their SHA-256, with the
user, the workspace chosen, a CSRF token and when the session was last used. A
session unused for ``IDLE_SECONDS`` is over. Each request reads the user and the
membership again, so disabling a user or removing a membership ends its sessions at
once on every replica.
"""
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, MetaData, String, Table, delete, insert, select, update

from services.common.errors import Forbidden, Unauthorized

from .auth import Principal, authenticate
from .people import REMEMBERED, memberships_table, users_table

metadata = MetaData()

web_sessions_table = Table(
    "web_sessions", metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
)

COOKIE = "cf_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
IDLE_SECONDS = 12 * 3600
TOUCH_SECONDS = 60  # last_seen is written at most once a minute per session
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class SessionPrincipal(Principal):
    """A signed-in person: the workspace and role of the session, the person as actor."""

    user_id: str = ""
    email: str = ""
    locale: str | None = None
    csrf_token: str = ""
    session_hash: str = ""

    @property
    def actor(self):
        return f"user:{self.email}"


def _hash(session_id):
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def start_session(database, user_id, workspace):
    """A new session (a new id at every sign-in); returns the id for the cookie."""
    session_id = secrets.token_urlsafe(32)
    now = int(time.time())
    with database.write() as conn:
        conn.execute(insert(web_sessions_table).values(
            id_hash=_hash(session_id), user_id=user_id, workspace=workspace,
            csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen=now))
        # Sessions idle past their expiry are of no use to anyone.
        conn.execute(delete(web_sessions_table)
                     .where(web_sessions_table.c.last_seen < now - IDLE_SECONDS))
    return session_id


def end_session(database, session_id):
    with database.write() as conn:
        conn.execute(delete(web_sessions_table)
                     .where(web_sessions_table.c.id_hash == _hash(session_id or "")))
    REMEMBERED.clear()


def revoke_user_sessions(conn, user_id):
    conn.execute(delete(web_sessions_table).where(web_sessions_table.c.user_id == user_id))
    REMEMBERED.clear()


def switch_workspace(database, principal, workspace):
    with database.write() as conn:
        conn.execute(update(web_sessions_table)
                     .where(web_sessions_table.c.id_hash == principal.session_hash)
                     .values(workspace=workspace))
    REMEMBERED.clear()


def session_principal(database, session_id):
    """The ``SessionPrincipal`` of a session cookie's value, or None (unknown, idle past
    its expiry, user disabled, membership gone)."""
    if not session_id or len(session_id) > 100:
        return None
    id_hash = _hash(session_id)
    remembered = REMEMBERED.get(("session", database.url, id_hash))
    if remembered is not None:
        return remembered
    now = int(time.time())
    s, u, m = web_sessions_table, users_table, memberships_table
    with database.read() as conn:
        row = conn.execute(
            select(s.c.workspace, s.c.csrf_token, s.c.last_seen, s.c.user_id, u.c.email,
                   u.c.locale, u.c.disabled_at, m.c.role)
            .join(u, u.c.id == s.c.user_id)
            .join(m, (m.c.user_id == s.c.user_id) & (m.c.workspace == s.c.workspace))
            .where(s.c.id_hash == id_hash)).first()
    if row is None or row.disabled_at is not None or row.last_seen < now - IDLE_SECONDS:
        return None
    if now - row.last_seen >= TOUCH_SECONDS:
        with database.write() as conn:
            conn.execute(update(s).where(s.c.id_hash == id_hash).values(last_seen=now))
    return REMEMBERED.put(("session", database.url, id_hash), SessionPrincipal(
        token_id="", workspace=row.workspace, role=row.role, user_id=row.user_id,
        email=row.email, locale=row.locale, csrf_token=row.csrf_token, session_hash=id_hash))


def csrf_matches(principal, sent):
    return bool(sent) and hmac.compare_digest(principal.csrf_token.encode(),
                                              str(sent).encode("utf-8", "replace"))


def request_principal(database, request):
    """Who calls ``/api/v1``: a bearer token when the request has ``Authorization``, else
    the browser's session, whose writes must carry the CSRF token in ``X-CSRF-Token``."""
    if request.headers.get("Authorization") or COOKIE not in request.cookies:
        return authenticate(database, request.headers.get("Authorization"))
    principal = session_principal(database, request.cookies.get(COOKIE))
    if principal is None:
        raise Unauthorized("the session has ended; sign in again")
    if request.method not in SAFE_METHODS and \
            not csrf_matches(principal, request.headers.get(CSRF_HEADER)):
        raise Forbidden(f"a request with the session cookie needs the {CSRF_HEADER} header")
    return principal
