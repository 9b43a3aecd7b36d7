"""``Idempotency-Key`` for POST: the same key and body within 24 h answers the
first result again and changes nothing.

The key is claimed (inserted as pending) before the command runs, so two
concurrent retries cannot both execute it: the second one is told the first
is still in progress (409) and can retry. A command that fails with a server
error releases its key; any other answer is stored and replayed.
"""
import hashlib
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from services.common.envelope import format_time, utc_now
from services.common.errors import BadRequest, Conflict, ValidationFailed

from .db import idempotency_keys_table as keys

TTL = timedelta(hours=24)
REPLAYED_HEADERS = ("Content-Type", "Location", "ETag", "Consistency-Token")


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
    except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep: the bytes themselves
        pass
    digest.update(data)
    return digest.hexdigest()


def _expired(created_at):
    created = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc) - created > TTL


def run_once(database, workspace, key, request, execute):
    """Run ``execute()`` once for (workspace, key); replay its response afterwards."""
    if len(key) > 200:
        raise BadRequest("the Idempotency-Key is too long",
                               {"Idempotency-Key": ["at most 200 characters"]})
    fingerprint = request_fingerprint(request)
    if not _claim(database, workspace, key, fingerprint):
        with database.read() as conn:
            row = conn.execute(select(keys).where(keys.c.workspace == workspace)
                               .where(keys.c.key == key)).first()
        if row is not None and _expired(row.created_at):
            with database.write() as conn:
                conn.execute(delete(keys).where(keys.c.workspace == workspace)
                             .where(keys.c.key == key))
            return run_once(database, workspace, key, request, execute)
        if row is None:  # released by a failed attempt meanwhile
            return run_once(database, workspace, key, request, execute)
        if row.fingerprint != fingerprint:
            raise ValidationFailed(
                "this Idempotency-Key was already used for a different request",
                {"Idempotency-Key": ["reused with another method, path or body"]})
        if row.status is None:
            raise Conflict("a request with this Idempotency-Key is still in progress; "
                           "retry in a moment")
        response = Response(row.body, status=row.status, headers=json.loads(row.headers))
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        response = execute()
    except Exception as exc:
        status = getattr(exc, "status", 500)
        if status >= 500:
            _release(database, workspace, key)
        else:
            _store_error(database, workspace, key, exc)
        raise
    if response.status_code >= 500:
        _release(database, workspace, key)
        return response
    headers = {name: response.headers[name] for name in REPLAYED_HEADERS
               if name in response.headers}
    with database.write() as conn:
        conn.execute(update(keys).where(keys.c.workspace == workspace).where(keys.c.key == key)
                     .values(status=response.status_code, headers=json.dumps(headers),
                             body=response.get_data(as_text=True)))
    return response


def _claim(database, workspace, key, fingerprint):
    try:
        with database.write() as conn:
            conn.execute(insert(keys).values(workspace=workspace, key=key,
                                             fingerprint=fingerprint,
                                             created_at=format_time(utc_now())))
        return True
    except IntegrityError:
        return False


def _release(database, workspace, key):
    with database.write() as conn:
        conn.execute(delete(keys).where(keys.c.workspace == workspace).where(keys.c.key == key))


def _store_error(database, workspace, key, exc):
    from services.common.web import problem_from_exception

    response = problem_from_exception(exc)
    with database.write() as conn:
        conn.execute(update(keys).where(keys.c.workspace == workspace).where(keys.c.key == key)
                     .values(status=response.status_code,
                             headers=json.dumps({"Content-Type": response.content_type}),
                             body=response.get_data(as_text=True)))
