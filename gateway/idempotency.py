"""``Idempotency-Key`` for POST: the same key and body within 24 h answers the
first result again and changes nothing.

The key is claimed (inserted as pending, under a lease) before the command runs,
so two concurrent retries cannot both run it: the second is told the first is in
progress (409 with ``Retry-After``). The command the key runs carries the command
id ``key:<key>`` to the service, whose unit of work records each command's outcome
with its events (``services/common/application.py``). So whenever the first outcome
is unknown here, running the command again is safe and answers it:

- a holder that died (its lease ran out) is taken over by the next retry;
- a server error (5xx), or an answer that says to try again (409
  ``concurrent_modification`` once the service's own retries ran out), leaves the key
  pending with its lease ended, so the next retry runs again: the service answers the
  first outcome if the command ran and runs it if it did not;
- any other answer is stored and replayed.
"""
import hashlib
import json
import math
from datetime import datetime, timedelta, timezone

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from services.common.envelope import format_time, utc_now
from services.common.errors import BadRequest, Conflict, ValidationFailed

from .db import idempotency_keys_table as keys

TTL = timedelta(hours=24)
DEFAULT_LEASE_SECONDS = 15.0
MAX_KEY_LENGTH = 200
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag", "Consistency-Token")
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


#: Where a request keeps the command id of its commands (``http.request_command_id``).
COMMAND_ID = "clientfolio.command_id"


def _use_key(request, key, claimed_at):
    """The commands a key runs carry the same id on every retry of it; a key reused
    after it expired names new commands."""
    request.environ[COMMAND_ID] = f"key:{claimed_at}:{key}"


def request_fingerprint(request):
    """What makes two requests "the same body": method, path and query, then the
    body's content, whatever its encoding. A retry is rarely byte for byte the first
    request: a JSON body may come with its keys in another order or other spacing
    (compared as parsed), and a multipart upload comes with a new boundary each time
    (compared by its fields, its files' names and their contents)."""
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.full_path}\n".encode())
    if request.mimetype == "multipart/form-data":
        # A part may come without a name (None): it sorts as "" and still counts.
        for name, value in sorted(request.form.items(multi=True),
                                  key=lambda item: (item[0] or "", item[1])):
            digest.update(json.dumps(["field", name, value]).encode())
        for name, upload in sorted(request.files.items(multi=True),
                                   key=lambda item: item[0] or ""):
            digest.update(json.dumps(["file", name, upload.filename]).encode())
            stream = upload.stream
            start = stream.tell()
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
            stream.seek(start)  # the endpoint reads it next
        return digest.hexdigest()
    data = request.get_data(cache=True)
    try:
        data = json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep: the bytes
        pass
    digest.update(data)
    return digest.hexdigest()


def _parse(moment):
    return datetime.strptime(moment, _TIME).replace(tzinfo=timezone.utc)


def _expired(created_at):
    return datetime.now(timezone.utc) - _parse(created_at) > TTL


def run_once(database, workspace, key, request, execute, lease_seconds=DEFAULT_LEASE_SECONDS):
    """Run ``execute()`` once for (workspace, key); replay its response afterwards."""
    if len(key) > MAX_KEY_LENGTH:
        raise BadRequest("the Idempotency-Key is too long",
                         {"Idempotency-Key": [f"at most {MAX_KEY_LENGTH} characters"]})
    fingerprint = request_fingerprint(request)
    where = and_(keys.c.workspace == workspace, keys.c.key == key)
    for _ in range(5):  # each pass either decides or saw the row change meanwhile
        claimed_at = _claim(database, workspace, key, fingerprint, lease_seconds)
        if claimed_at:
            _use_key(request, key, claimed_at)
            return _run(database, where, execute)
        with database.read() as conn:
            row = conn.execute(select(keys).where(where)).first()
        if row is None:  # released meanwhile
            continue
        if _expired(row.created_at):
            with database.write() as conn:
                conn.execute(delete(keys).where(where).where(keys.c.created_at == row.created_at))
            continue
        if row.fingerprint != fingerprint:
            raise ValidationFailed(
                "this Idempotency-Key was already used for a different request",
                {"Idempotency-Key": ["reused with another method, path or body"]})
        if row.status is not None:
            response = Response(row.body, status=row.status, headers=json.loads(row.headers))
            response.headers["Idempotent-Replayed"] = "true"
            return response
        remaining = (_parse(row.lease_until) - datetime.now(timezone.utc)).total_seconds() \
            if row.lease_until else 0.0
        if remaining > 0:
            raise InFlight(math.ceil(remaining))
        if _take_over(database, where, row.lease_until, lease_seconds):
            _use_key(request, key, row.created_at)
            return _run(database, where, execute)
    raise InFlight(1)


class InFlight(Conflict):
    """The request holding this key is still running (409 with ``Retry-After``)."""

    def __init__(self, retry_after=1, errors=None, extra=None):
        if isinstance(retry_after, str):  # rebuilt from its arguments
            retry_after = 1
        super().__init__("a request with this Idempotency-Key is still in progress; "
                         "retry in a moment", errors,
                         {**(extra or {}), "retry_after": int(retry_after)})


def _lease(seconds):
    return format_time(utc_now() + timedelta(seconds=seconds))


def _claim(database, workspace, key, fingerprint, lease_seconds):
    """The claim's time if this request now holds the new key, else None."""
    claimed_at = format_time(utc_now())
    try:
        with database.write() as conn:
            conn.execute(insert(keys).values(workspace=workspace, key=key,
                                             fingerprint=fingerprint, created_at=claimed_at,
                                             lease_until=_lease(lease_seconds)))
        return claimed_at
    except IntegrityError:
        return None


def _take_over(database, where, seen_lease, lease_seconds):
    """Hold an abandoned key (its lease ran out): True if this request now holds it."""
    with database.write() as conn:
        held = keys.c.lease_until.is_(None) if seen_lease is None \
            else keys.c.lease_until == seen_lease
        return conn.execute(update(keys).where(where).where(keys.c.status.is_(None))
                            .where(held).values(lease_until=_lease(lease_seconds))).rowcount == 1


def _run(database, where, execute):
    try:
        response = execute()
    except Exception as exc:
        if getattr(exc, "status", 500) >= 500 or getattr(exc, "retryable", False):
            _abandon(database, where)
        else:
            _store_error(database, where, exc)
        raise
    if response.status_code >= 500:
        _abandon(database, where)
        return response
    headers = {name: response.headers[name] for name in REPLAYED_HEADERS
               if name in response.headers}
    with database.write() as conn:
        conn.execute(update(keys).where(where).where(keys.c.status.is_(None))
                     .values(status=response.status_code, headers=json.dumps(headers),
                             body=response.get_data(as_text=True)))
    return response


def _abandon(database, where):
    """The outcome is unknown here (a server error): the next retry runs the command
    again at once, and the service answers its first outcome if it ran."""
    with database.write() as conn:
        conn.execute(update(keys).where(where).where(keys.c.status.is_(None))
                     .values(lease_until=format_time(utc_now())))


def _store_error(database, where, exc):
    from services.common.web import problem_from_exception

    response = problem_from_exception(exc)
    with database.write() as conn:
        conn.execute(update(keys).where(where).where(keys.c.status.is_(None))
                     .values(status=response.status_code,
                             headers=json.dumps({"Content-Type": response.content_type}),
                             body=response.get_data(as_text=True)))
