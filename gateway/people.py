"""People who sign in to the web app: users, their workspace memberships, passwords.

Passwords are hashed with argon2id (``argon2-cffi``). Failed sign-ins are recorded in
the gateway's database, not in a process, so the limit (``MAX_FAILURES`` per account
within ``FAILURE_WINDOW`` seconds) holds across every gateway replica.
"""
import hashlib
import math
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (BigInteger, Column, Float, Integer, MetaData, PrimaryKeyConstraint,
                        String, Table, delete, insert, select, update)

from services.common.envelope import format_time, utc_now

from .auth import ROLES
from .memo import ShortLived

metadata = MetaData()

users_table = Table(
    "users", metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(200)),
    Column("locale", String(10)),
    Column("created_at", String(32), nullable=False),
    Column("disabled_at", String(32)),
)
memberships_table = Table(
    "memberships", metadata,
    Column("user_id", String(32), nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("role", String(10), nullable=False),
    PrimaryKeyConstraint("user_id", "workspace"),
)
sign_in_failures_table = Table(
    "sign_in_failures", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(254), nullable=False),
    Column("at", Float, nullable=False),
)
password_links_table = Table(
    "password_links", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger),
)
workspace_settings_table = Table(
    "workspace_settings", metadata,
    Column("workspace", String(100), primary_key=True),
    Column("locale", String(10)),
)

# One verification costs about 50-250 ms on a small server (make bench prints it):
# slow enough against guessing, fast enough for a sign-in.
PASSWORD_HASHER = PasswordHasher(time_cost=2, memory_cost=32768, parallelism=2, type=Type.ID)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1000
MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60  # seconds
PASSWORD_LINK_SECONDS = 7 * 24 * 3600
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
# Verified against when the account does not exist, so both cases take as long.
_DUMMY_HASH = None
# Who a session is and each workspace's language, read on every page; every change made
# here forgets them (see memo.py for other processes).
REMEMBERED = ShortLived(1.0)


class PeopleError(ValueError):
    """A rule about users broken by what was asked (printed or shown as it is)."""


@dataclass(frozen=True)
class User:
    id: str
    email: str
    locale: str | None
    disabled: bool


def normalize_email(email):
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise PeopleError(f"not an email address: {email!r}")
    return email


def check_password(password):
    """Raise ``PeopleError`` when ``password`` is too short or too long."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise PeopleError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PeopleError(f"the password can have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password):
    return PASSWORD_HASHER.hash(password)


def _user(row):
    return User(row.id, row.email, row.locale, row.disabled_at is not None)


def find_user(conn, email):
    return conn.execute(select(users_table).where(users_table.c.email == email)).first()


def create_user(database, workspace, email, role, password=None, replace=False):
    """Create a user with a membership of ``workspace`` (``role``); with ``replace``, an
    existing user gets the membership, the role and the password instead. Returns ``User``."""
    if role not in ROLES:
        raise PeopleError(f"role must be one of {', '.join(ROLES)}")
    email = normalize_email(email)
    if password is not None:
        check_password(password)
    password_hash = hash_password(password) if password is not None else None
    with database.write() as conn:
        row = find_user(conn, email)
        if row is not None and not replace:
            member = conn.execute(select(memberships_table.c.role).where(
                memberships_table.c.user_id == row.id,
                memberships_table.c.workspace == workspace)).first()
            if member is not None:
                raise PeopleError(f"{email} is already a member of {workspace}")
        if row is None:
            user_id = secrets.token_hex(8)
            conn.execute(insert(users_table).values(
                id=user_id, email=email, password_hash=password_hash,
                created_at=format_time(utc_now())))
        else:
            user_id = row.id
            values = {"disabled_at": None} if replace else {}
            if password_hash is not None and (replace or row.password_hash is None):
                values["password_hash"] = password_hash
            if values:
                conn.execute(update(users_table).where(users_table.c.id == user_id)
                             .values(**values))
        conn.execute(delete(memberships_table).where(memberships_table.c.user_id == user_id,
                                                     memberships_table.c.workspace == workspace))
        conn.execute(insert(memberships_table).values(user_id=user_id, workspace=workspace,
                                                      role=role))
        user = _user(conn.execute(select(users_table)
                                  .where(users_table.c.id == user_id)).first())
    REMEMBERED.clear()
    return user


def list_users(database, workspace=None):
    """Every membership as ``{email, workspace, role, disabled, created_at}``."""
    query = (select(users_table.c.email, memberships_table.c.workspace, memberships_table.c.role,
                    users_table.c.disabled_at, users_table.c.created_at)
             .join(memberships_table, memberships_table.c.user_id == users_table.c.id))
    if workspace:
        query = query.where(memberships_table.c.workspace == workspace)
    with database.read() as conn:
        return [{"email": row.email, "workspace": row.workspace, "role": row.role,
                 "disabled": row.disabled_at is not None, "created_at": row.created_at}
                for row in conn.execute(query.order_by(users_table.c.email,
                                                       memberships_table.c.workspace))]


def disable_user(database, email):
    """Disable the account and end its sessions; False if there is no such user."""
    from .sessions import revoke_user_sessions

    email = normalize_email(email)
    with database.write() as conn:
        row = find_user(conn, email)
        if row is None:
            return False
        conn.execute(update(users_table).where(users_table.c.id == row.id)
                     .values(disabled_at=format_time(utc_now())))
        revoke_user_sessions(conn, row.id)
    return True


def memberships(conn, user_id):
    """``{workspace: role}`` of a user."""
    return dict(conn.execute(select(memberships_table.c.workspace, memberships_table.c.role)
                             .where(memberships_table.c.user_id == user_id)
                             .order_by(memberships_table.c.workspace)).all())


# -- sign-in ---------------------------------------------------------------------------


class Throttled(Exception):
    """Too many failed sign-ins for the account; ``retry_after`` in seconds."""

    def __init__(self, retry_after):
        super().__init__(retry_after)
        self.retry_after = retry_after


def _dummy_hash():
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_hex(16))
    return _DUMMY_HASH


def retry_after(conn, email, now):
    """Seconds until ``email`` may try again (0 when it may now)."""
    times = conn.execute(select(sign_in_failures_table.c.at)
                         .where(sign_in_failures_table.c.email == email)
                         .where(sign_in_failures_table.c.at > now - FAILURE_WINDOW)
                         .order_by(sign_in_failures_table.c.at.desc())
                         .limit(MAX_FAILURES)).scalars().all()
    if len(times) < MAX_FAILURES:
        return 0
    return max(1, math.ceil(min(times) + FAILURE_WINDOW - now))


def verify_sign_in(database, email, password):
    """The ``User`` whose email and password these are, None if they are not (the failure is
    recorded), or ``Throttled`` after ``MAX_FAILURES`` failures within ``FAILURE_WINDOW``."""
    email = (email or "").strip().lower()[:254]
    now = time.time()
    with database.read() as conn:
        wait = retry_after(conn, email, now)
        row = find_user(conn, email) if email else None
    if wait:
        raise Throttled(wait)
    valid = False
    try:
        stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
        valid = PASSWORD_HASHER.verify(stored, (password or "")[:MAX_PASSWORD_LENGTH]) \
            and row is not None and row.password_hash is not None and row.disabled_at is None
    except (VerificationError, InvalidHashError):
        valid = False
    with database.write() as conn:
        if not valid:
            conn.execute(insert(sign_in_failures_table).values(email=email, at=now))
            # Old failures have no use: whoever fails keeps the table small.
            conn.execute(delete(sign_in_failures_table)
                         .where(sign_in_failures_table.c.at < now - FAILURE_WINDOW))
            return None
        conn.execute(delete(sign_in_failures_table)
                     .where(sign_in_failures_table.c.email == email))
        if PASSWORD_HASHER.check_needs_rehash(row.password_hash):
            conn.execute(update(users_table).where(users_table.c.id == row.id)
                         .values(password_hash=hash_password(password)))
    return _user(row)


def change_password(database, user_id, current, new):
    """Set a new password after checking the current one; False if ``current`` is wrong."""
    check_password(new)
    with database.read() as conn:
        row = conn.execute(select(users_table).where(users_table.c.id == user_id)).first()
    try:
        PASSWORD_HASHER.verify(row.password_hash or _dummy_hash(), current or "")
    except (VerificationError, InvalidHashError):
        return False
    set_password(database, user_id, new)
    return True


def set_password(database, user_id, password):
    """Store a new password and end every session of the user."""
    from .sessions import revoke_user_sessions

    check_password(password)
    with database.write() as conn:
        conn.execute(update(users_table).where(users_table.c.id == user_id)
                     .values(password_hash=hash_password(password)))
        revoke_user_sessions(conn, user_id)


def set_locale(database, user_id, locale):
    with database.write() as conn:
        conn.execute(update(users_table).where(users_table.c.id == user_id)
                     .values(locale=locale))
    REMEMBERED.clear()


def workspace_locale(database, workspace):
    """The workspace's default language, or None."""
    key = ("workspace locale", database.url, workspace)
    remembered = REMEMBERED.get(key)
    if remembered is not None:
        return remembered or None
    with database.read() as conn:
        locale = conn.execute(select(workspace_settings_table.c.locale)
                              .where(workspace_settings_table.c.workspace == workspace)).scalar()
    REMEMBERED.put(key, locale or "")
    return locale


def set_workspace_locale(database, workspace, locale):
    with database.write() as conn:
        conn.execute(delete(workspace_settings_table)
                     .where(workspace_settings_table.c.workspace == workspace))
        conn.execute(insert(workspace_settings_table).values(workspace=workspace, locale=locale))
    REMEMBERED.clear()


# -- one-time set-password links -------------------------------------------------------


def _link_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def create_password_link(database, email):
    """A one-time token that lets the user choose a password (valid for a week)."""
    email = normalize_email(email)
    token = secrets.token_urlsafe(32)
    with database.write() as conn:
        row = find_user(conn, email)
        if row is None:
            raise PeopleError(f"no user {email}")
        conn.execute(insert(password_links_table).values(
            token_hash=_link_hash(token), user_id=row.id,
            expires_at=int(time.time()) + PASSWORD_LINK_SECONDS))
    return token


def use_password_link(database, token, password):
    """Set the password of the link's user and spend the link; False if it is not valid."""
    check_password(password)
    now = int(time.time())
    with database.write() as conn:
        row = conn.execute(select(password_links_table)
                           .where(password_links_table.c.token_hash == _link_hash(token or ""))
                           ).first()
        if row is None or row.used_at is not None or row.expires_at < now:
            return False
        spent = conn.execute(update(password_links_table)
                             .where(password_links_table.c.token_hash == row.token_hash)
                             .where(password_links_table.c.used_at.is_(None))
                             .values(used_at=now)).rowcount
        if not spent:
            return False
        user_id = row.user_id
    set_password(database, user_id, password)
    return True


def password_link_valid(database, token):
    with database.read() as conn:
        row = conn.execute(select(password_links_table)
                           .where(password_links_table.c.token_hash == _link_hash(token or ""))
                           ).first()
    return row is not None and row.used_at is None and row.expires_at >= int(time.time())

