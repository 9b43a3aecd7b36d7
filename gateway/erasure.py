"""What the gateway keeps about a client that an erasure must reach (docs/privacy.md).

The read model's row is blanked by its projector (``projections.client_erased``); the
rest of what the gateway stores about a client is reached by the hooks below, run in
the same transaction when ``ClientErased`` is applied (once per event: the inbox's
exactly-once effect; again, harmlessly, when the read model is rebuilt).

A store of the gateway that keeps answers or payloads naming clients registers its own
hook here: ``ERASURE_HOOKS.append(fn)``, ``fn(conn, workspace, client_id)``.
"""
import json

from sqlalchemy import and_, insert, or_, select, update

from services.common.envelope import format_time, utc_now

from .db import client_erasures_table as erasures
from .db import idempotency_keys_table as keys

#: ``fn(conn, workspace, client_id)`` run when a client is erased.
ERASURE_HOOKS = []

ERASED_ANSWER = {"type": "/problems/client-erased", "title": "Gone", "status": 410,
                 "detail": "this client was erased at the request of the person it described",
                 "code": "client_erased"}


def blank_idempotency_answers(conn, workspace, client_id):
    """Stored answers naming the client (its creation, an update...) are replaced by a
    410: a retry with the same key is still not run again, and learns the client is
    gone instead of getting the person's data back. The erasure's own answer (ids only)
    is kept, so that its retry answers what it answered."""
    where = and_(keys.c.workspace == workspace,
                 or_(keys.c.body.contains(client_id), keys.c.headers.contains(client_id)))
    for key, body in conn.execute(select(keys.c.key, keys.c.body).where(where)).all():
        if _is_erasure_answer(body):
            continue
        conn.execute(update(keys).where(keys.c.workspace == workspace).where(keys.c.key == key)
                     .values(status=410, body=json.dumps(ERASED_ANSWER),
                             headers=json.dumps({"Content-Type": "application/problem+json"})))


def _is_erasure_answer(body):
    try:
        answer = json.loads(body or "null")
    except ValueError:
        return False
    return isinstance(answer, dict) and set(answer) == {"client_id", "erased_ids", "erased"}


def record_erasure(conn, workspace, client_id):
    """The ledger of erasures (ids only), kept outside contacts' database: a contacts
    database restored from a backup taken before an erasure has them applied again
    (``recorded_erasures``, ``clientfolio clients erase --restored``)."""
    known = conn.execute(select(erasures.c.client_id).where(erasures.c.workspace == workspace)
                         .where(erasures.c.client_id == client_id)).first()
    if known is None:
        conn.execute(insert(erasures).values(workspace=workspace, client_id=client_id,
                                             erased_at=format_time(utc_now())))


def recorded_erasures(database, workspace=None):
    """``[(workspace, client_id)]`` of every erasure recorded, oldest first."""
    query = select(erasures.c.workspace, erasures.c.client_id).order_by(erasures.c.erased_at)
    if workspace is not None:
        query = query.where(erasures.c.workspace == workspace)
    with database.read() as conn:
        return [tuple(row) for row in conn.execute(query)]


ERASURE_HOOKS.extend([blank_idempotency_answers, record_erasure])


# A client's personal fields as contacts' events carry them once opened.
PERSONAL_KEYS = ("name", "tax_id", "email", "phone", "address", "company", "notes", "gender",
                 "tags")


def blank_dead_letters(conn, dead_letters, client_id):
    """Events of the client the projector set aside were kept opened (as applied): their
    personal fields are dropped, the rest kept for a retry."""
    for row_id, body in conn.execute(select(dead_letters.c.id, dead_letters.c.body)
                                     .where(dead_letters.c.source == "contacts")
                                     .where(dead_letters.c.body.contains(client_id))).all():
        conn.execute(update(dead_letters).where(dead_letters.c.id == row_id)
                     .values(body=without_personal_fields(body)))


def without_personal_fields(body):
    """An event's JSON without the client's personal fields (ids, amounts and the rest
    kept); "" when it is not an event, as nothing of it can be told apart from the person."""
    try:
        event = json.loads(body)
        data = event["data"]
    except (ValueError, KeyError, TypeError):
        return ""
    if not isinstance(data, dict):
        return ""
    for part in (data, data.get("changes"), data.get("previous"), data.get("fields")):
        if isinstance(part, dict):
            for key in PERSONAL_KEYS:
                part.pop(key, None)
    return json.dumps(event)


def client_erased(conn, workspace, client_id):
    """Run every erasure hook for one client."""
    for hook in ERASURE_HOOKS:
        hook(conn, workspace, client_id)
