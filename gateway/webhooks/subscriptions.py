"""Webhook subscriptions of a workspace: create, read, change, delete, rotate the
secret; deliveries and redelivery. Used by the HTTP API and the command line alike;
every function takes the caller's workspace and never sees another's rows (an id of
another workspace is "not found", exactly like an unknown one)."""
import json
import time
import uuid
from datetime import datetime, timezone

from sqlalchemy import and_, delete, func, insert, select, update

from services.common import times
from services.common.contract import EVENT_TYPES
from services.common.envelope import format_time
from services.common.errors import BadRequest, NotFound, ValidationFailed
from services.common.paging import check_limit, decode_cursor, encode_cursor

from . import messages, signing, tables
from .targets import TargetRefused, check

ALL_EVENT_TYPES = frozenset().union(*EVENT_TYPES.values())
ANY_TYPE = "*"
FIELDS = {"url", "event_types", "description", "enabled"}
MAX_DESCRIPTION = 200
MAX_EVENT_TYPES = 100
DEFAULT_OVERLAP_SECONDS = 24 * 3600
MAX_OVERLAP_SECONDS = 7 * 24 * 3600
DELIVERY_STATUSES = ("pending", "delivered", "failed", "cancelled")


def rfc3339(moment):
    if moment is None:
        return None
    return format_time(datetime.fromtimestamp(moment, timezone.utc))


def parse_time(value, name):
    """An RFC 3339 time (a ``Z`` or an offset) as epoch seconds; 400 naming ``name``."""
    try:
        return times.parse_time(value).timestamp()
    except (ValueError, OverflowError):
        raise BadRequest(messages.BAD_TIME_PARAMETER.format(name=name),
                         {name: [messages.BAD_TIME]}, code="invalid_timestamp") from None


def event_types_of(row):
    return json.loads(row.event_types)


def wants(event_types, event_type):
    return ANY_TYPE in event_types or event_type in event_types


def public(row, secret=False):
    """A subscription as the API answers it (``secret``: with its signing secret)."""
    answer = {
        "id": row.id, "version": row.version, "url": row.url,
        "event_types": event_types_of(row), "description": row.description,
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason, "disabled_at": rfc3339(row.disabled_at),
        "previous_secret_expires_at": rfc3339(row.previous_secret_expires_at)
        if row.previous_secret_expires_at and row.previous_secret_expires_at > time.time()
        else None,
        "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at),
    }
    if secret:
        answer["secret"] = row.secret
    return answer


def _check_fields(body, policy, creating):
    errors = {}
    for name in sorted(set(body) - FIELDS):
        errors[name] = ["this field is not recognised"]
    values = {}
    if "url" in body or creating:
        url = body.get("url")
        if url is None:
            errors["url"] = ["this field is required"]
        else:
            try:
                check(url, policy)
                values["url"] = url.strip()
            except TargetRefused as exc:
                errors["url"] = [exc.message]
    if "event_types" in body or creating:
        types = body.get("event_types")
        if types is None:
            errors["event_types"] = ["this field is required"]
        elif not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            errors["event_types"] = ["must be a list"]
        elif not types:
            errors["event_types"] = [messages.EVENT_TYPES_REQUIRED]
        elif len(types) > MAX_EVENT_TYPES:
            errors["event_types"] = [messages.EVENT_TYPES_REQUIRED]
        else:
            unknown = [t for t in types if t != ANY_TYPE and t not in ALL_EVENT_TYPES]
            if unknown:
                errors["event_types"] = [messages.UNKNOWN_EVENT_TYPE.format(type=t[:100])
                                         for t in unknown[:10]]
            else:
                values["event_types"] = json.dumps(
                    [ANY_TYPE] if ANY_TYPE in types else sorted(set(types)))
    if "description" in body:
        text = body["description"]
        if text is not None and not isinstance(text, str):
            errors["description"] = ["must be text"]
        elif text is not None and len(text) > MAX_DESCRIPTION:
            errors["description"] = [f"must be at most {MAX_DESCRIPTION} characters"]
        else:
            values["description"] = text
    if "enabled" in body:
        if not isinstance(body["enabled"], bool):
            errors["enabled"] = ["must be true or false"]
        else:
            values["enabled"] = body["enabled"]
    if errors:
        raise ValidationFailed("some fields are invalid", errors)
    return values


def create(database, workspace, body, policy):
    values = _check_fields(body, policy, creating=True)
    now = time.time()
    row = dict(id=str(uuid.uuid4()), workspace=workspace, version=1,
               url=values["url"], event_types=values["event_types"],
               description=values.get("description"), secret=signing.new_secret(),
               enabled=values.get("enabled", True), created_at=now, updated_at=now)
    with database.write() as conn:
        conn.execute(insert(tables.subscriptions).values(**row))
        return public(_load(conn, workspace, row["id"]), secret=True)


def _load(conn, workspace, subscription_id, lock=False):
    s = tables.subscriptions
    query = select(s).where(s.c.id == str(subscription_id)[:36], s.c.workspace == workspace)
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(messages.NOT_FOUND.format(id=str(subscription_id)[:100]))
    return row


def get(database, workspace, subscription_id):
    with database.read() as conn:
        return public(_load(conn, workspace, subscription_id))


def list_all(database, workspace, limit=None, cursor=None):
    limit = check_limit(limit)
    key = decode_cursor(cursor, (float, str)) if cursor else None
    s = tables.subscriptions
    query = select(s).where(s.c.workspace == workspace)
    if key is not None:
        query = query.where((s.c.created_at > key[0]) |
                            and_(s.c.created_at == key[0], s.c.id > key[1]))
    query = query.order_by(s.c.created_at, s.c.id).limit(limit + 1)
    with database.read() as conn:
        rows = conn.execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [public(row) for row in rows],
            "next_cursor": encode_cursor([float(rows[-1].created_at), rows[-1].id])
            if more else None}


def change(database, workspace, subscription_id, body, policy, expected_version=None):
    """A partial update; re-enabling a disabled subscription resumes its deliveries."""
    from services.common.errors import PreconditionFailed

    values = _check_fields(body, policy, creating=False)
    now = time.time()
    with database.write() as conn:
        row = _load(conn, workspace, subscription_id, lock=True)
        if expected_version is not None and expected_version != row.version:
            raise PreconditionFailed("the resource has changed since that version; read it "
                                     "again", extra={"version": row.version})
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            if changed.get("enabled") is True:
                changed.update(disabled_reason=None, disabled_at=None)
                # What waited while it was disabled is due again.
                conn.execute(update(tables.lanes).where(
                    tables.lanes.c.subscription_id == row.id,
                    tables.lanes.c.next_due.is_not(None)).values(next_due=now))
            elif changed.get("enabled") is False:
                changed.update(disabled_reason=None, disabled_at=now)
            conn.execute(update(tables.subscriptions).where(tables.subscriptions.c.id == row.id)
                         .values(version=row.version + 1, updated_at=now, **changed))
        return public(_load(conn, workspace, row.id))


def remove(database, workspace, subscription_id):
    """Delete the subscription; what it had not delivered yet is dropped with it."""
    with database.write() as conn:
        row = _load(conn, workspace, subscription_id, lock=True)
        conn.execute(delete(tables.lanes).where(tables.lanes.c.subscription_id == row.id))
        conn.execute(update(tables.deliveries).where(
            tables.deliveries.c.subscription_id == row.id,
            tables.deliveries.c.status == "pending").values(status="cancelled"))
        conn.execute(delete(tables.subscriptions).where(tables.subscriptions.c.id == row.id))


def rotate_secret(database, workspace, subscription_id, overlap_seconds=None):
    """A new secret; the previous one keeps signing for ``overlap_seconds`` (24 h by
    default), so receivers can switch without losing a delivery."""
    if overlap_seconds is None:
        overlap_seconds = DEFAULT_OVERLAP_SECONDS
    if isinstance(overlap_seconds, bool) or not isinstance(overlap_seconds, int) or \
            not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
        raise ValidationFailed("some fields are invalid", {"overlap_seconds": [
            messages.BAD_OVERLAP.format(max=MAX_OVERLAP_SECONDS)]})
    now = time.time()
    with database.write() as conn:
        row = _load(conn, workspace, subscription_id, lock=True)
        conn.execute(update(tables.subscriptions).where(tables.subscriptions.c.id == row.id)
                     .values(secret=signing.new_secret(), previous_secret=row.secret,
                             previous_secret_expires_at=now + overlap_seconds,
                             version=row.version + 1, updated_at=now))
        return public(_load(conn, workspace, row.id), secret=True)


def signing_secrets(row, now):
    """The secrets a delivery is signed with now: the current one, and the previous
    one while its overlap lasts."""
    secrets = [row.secret]
    if row.previous_secret and (row.previous_secret_expires_at or 0) > now:
        secrets.append(row.previous_secret)
    return secrets


# -- deliveries ---------------------------------------------------------------------------

def delivery_public(row):
    return {
        "id": row.id, "subscription_id": row.subscription_id, "event_id": row.event_id,
        "event_type": row.event_type, "status": row.status, "attempts": row.attempts,
        "response_status": row.last_status_code, "error": row.last_error,
        "created_at": rfc3339(row.created_at),
        "last_attempt_at": rfc3339(row.last_attempt_at),
        "next_attempt_at": rfc3339(row.next_attempt_at) if row.status == "pending" else None,
        "delivered_at": rfc3339(row.delivered_at), "redelivery_of": row.redelivery_of,
    }


def deliveries(database, workspace, subscription_id, status=None, limit=None, cursor=None):
    """The delivery log, newest first."""
    limit = check_limit(limit)
    if status not in (None, "") and status not in DELIVERY_STATUSES:
        raise BadRequest(f"status must be one of {', '.join(DELIVERY_STATUSES)}",
                         {"status": [f"must be one of {', '.join(DELIVERY_STATUSES)}"]})
    key = decode_cursor(cursor, (int,)) if cursor else None
    d = tables.deliveries
    with database.read() as conn:
        row = _load(conn, workspace, subscription_id)
        query = select(d).where(d.c.subscription_id == row.id)
        if status:
            query = query.where(d.c.status == status)
        if key is not None:
            query = query.where(d.c.id < key[0])
        rows = conn.execute(query.order_by(d.c.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": [delivery_public(r) for r in rows],
            "next_cursor": encode_cursor([int(rows[-1].id)]) if more else None}


def _delivery_id(value):
    try:
        number = int(str(value))
    except ValueError:
        number = None
    if number is None or not 0 < number < 2**62:
        raise NotFound(messages.DELIVERY_NOT_FOUND.format(id=str(value)[:100]))
    return number


def delivery(database, workspace, subscription_id, delivery_id):
    """One delivery with its attempts and the payload it sends."""
    d, a = tables.deliveries, tables.attempts
    number = _delivery_id(delivery_id)
    with database.read() as conn:
        sub = _load(conn, workspace, subscription_id)
        row = conn.execute(select(d).where(d.c.id == number,
                                           d.c.subscription_id == sub.id)).first()
        if row is None:
            raise NotFound(messages.DELIVERY_NOT_FOUND.format(id=str(delivery_id)[:100]))
        attempts = conn.execute(select(a).where(a.c.delivery_id == row.id)
                                .order_by(a.c.attempt)).all()
    answer = delivery_public(row)
    answer["attempt_log"] = [{"attempt": x.attempt, "at": rfc3339(x.at),
                              "response_status": x.status_code, "error": x.error,
                              "duration_ms": x.duration_ms} for x in attempts]
    return answer


def _enqueue(conn, sub, events, now, redelivery_of=None):
    """Deliveries of ``events`` (rows of webhook_events) to ``sub``, and their lanes due."""
    from .intake import lane_of

    rows = []
    for event in events:
        payload = json.loads(event.payload)
        rows.append(dict(subscription_id=sub.id, workspace=sub.workspace,
                         lane=lane_of(payload), event_seq=event.seq, event_id=event.event_id,
                         event_type=event.type, status="pending", attempts=0,
                         next_attempt_at=now, created_at=now,
                         redelivery_of=redelivery_of))
    if not rows:
        return 0
    conn.execute(insert(tables.deliveries), rows)
    mark_lanes_due(conn, sorted({(sub.id, r["lane"]) for r in rows}), now)
    return len(rows)


def mark_lanes_due(conn, keys, now):
    """Lanes ``[(subscription_id, lane)]`` have new deliveries: due now unless they wait
    for a retry already (the retry keeps their order)."""
    if not keys:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(tables.lanes)
    statement = statement.on_conflict_do_update(
        index_elements=["subscription_id", "lane"],
        set_={"next_due": func.coalesce(tables.lanes.c.next_due, statement.excluded.next_due)})
    conn.execute(statement, [{"subscription_id": s, "lane": lane, "next_due": now}
                             for s, lane in keys])


def redeliver_one(database, workspace, subscription_id, delivery_id):
    d, e = tables.deliveries, tables.events
    number = _delivery_id(delivery_id)
    now = time.time()
    with database.write() as conn:
        sub = _load(conn, workspace, subscription_id)
        original = conn.execute(select(d).where(d.c.id == number,
                                                d.c.subscription_id == sub.id)).first()
        if original is None:
            raise NotFound(messages.DELIVERY_NOT_FOUND.format(id=str(delivery_id)[:100]))
        event = conn.execute(select(e).where(e.c.seq == original.event_seq)).first()
        _enqueue(conn, sub, [event], now, redelivery_of=original.id)
        new_id = conn.execute(select(d.c.id).where(d.c.redelivery_of == original.id)
                              .order_by(d.c.id.desc()).limit(1)).scalar()
        row = conn.execute(select(d).where(d.c.id == new_id)).first()
        return delivery_public(row)


def redeliver_since(database, workspace, subscription_id, since):
    """Every event of the workspace that occurred at or after ``since`` (epoch seconds)
    and that the subscription wants, delivered again in order; how many."""
    e = tables.events
    now = time.time()
    since_text = rfc3339(since)
    with database.write() as conn:
        sub = _load(conn, workspace, subscription_id)
        wanted = event_types_of(sub)
        rows = conn.execute(select(e).where(e.c.workspace == workspace,
                                            e.c.occurred_at >= since_text)
                            .order_by(e.c.seq)).all()
        rows = [r for r in rows if wants(wanted, r.type)]
        return _enqueue(conn, sub, rows, now)
