"""Bearer tokens: one workspace and one role each, stored as SHA-256 hashes.

Tokens are 256-bit random strings, so a fast hash is enough (there is nothing
to brute-force); the plain token is shown once, at creation, and never stored.
"""
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import insert, select, update

from services.common.envelope import format_time, utc_now
from services.common.errors import Forbidden, Unauthorized

from .db import api_tokens_table
from .memo import ShortLived

ROLES = ("viewer", "member", "admin")  # each role can do what the ones before it can
TOKEN_PREFIX = "cf_"


@dataclass(frozen=True)
class Principal:
    token_id: str
    workspace: str
    role: str

    @property
    def actor(self):
        return f"token:{self.token_id}"

    def require(self, role):
        if ROLES.index(self.role) < ROLES.index(role):
            raise Forbidden(f"this needs the {role} role; the token has {self.role}")


def hash_token(token):
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(database, workspace, role, label=None):
    """Store a new token and return ``(token_id, token)``; the token is not kept."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    workspace = (workspace or "").strip()
    if not workspace or len(workspace) > 100:
        raise ValueError("workspace must be 1-100 characters")
    token_id = secrets.token_hex(6)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    with database.write() as conn:
        conn.execute(insert(api_tokens_table).values(
            id=token_id, token_hash=hash_token(token), workspace=workspace, role=role,
            label=label, created_at=format_time(utc_now())))
    return token_id, token


def revoke_token(database, token_id):
    with database.write() as conn:
        return conn.execute(update(api_tokens_table)
                            .where(api_tokens_table.c.id == token_id)
                            .values(revoked_at=format_time(utc_now()))).rowcount > 0


def list_tokens(database, workspace=None):
    query = select(api_tokens_table.c.id, api_tokens_table.c.workspace,
                   api_tokens_table.c.role, api_tokens_table.c.label,
                   api_tokens_table.c.created_at, api_tokens_table.c.revoked_at)
    if workspace:
        query = query.where(api_tokens_table.c.workspace == workspace)
    with database.read() as conn:
        return [row._asdict() for row in conn.execute(query.order_by(api_tokens_table.c.created_at))]


# Verified tokens are remembered for a second so that a burst of reads costs one
# database round trip per token and replica; a revocation therefore takes effect
# within CACHE_SECONDS on every replica (the cache is per process, and a revoked
# token is never cached).
CACHE_SECONDS = 1.0
_verified = ShortLived(CACHE_SECONDS)


def authenticate(database, authorization):
    """The ``Principal`` of an ``Authorization: Bearer`` header, or ``Unauthorized``."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send 'Authorization: Bearer <token>'; "
                           "create one with 'clientfolio token create'")
    token_hash = hash_token(token)
    cached = _verified.get((database.url, token_hash))
    if cached is not None:
        return cached
    with database.read() as conn:
        row = conn.execute(
            select(api_tokens_table).where(api_tokens_table.c.token_hash == token_hash)
        ).first()
    if row is None or row.revoked_at is not None:
        _verified.forget((database.url, token_hash))
        raise Unauthorized("the token is unknown or revoked")
    return _verified.put((database.url, token_hash), Principal(row.id, row.workspace, row.role))
