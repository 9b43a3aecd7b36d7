"""The gateway's HTTP conventions: auth, JSON bodies, ETags, Consistency-Token."""
import functools
import json
import re
import time
from datetime import date, datetime, timezone

from services.common.errors import BadRequest, PayloadTooLarge
from services.common.web import http, json_response

from .auth import authenticate
from .idempotency import run_once

CONSISTENCY_WAIT_SECONDS = 5.0
# The largest body any endpoint takes (an import file, 50 MiB by default, plus
# multipart overhead); each endpoint enforces its own, smaller limit too.
MAX_REQUEST_BYTES = 64 * 2**20
SOURCES = ("contacts", "projects", "billing")


def api(method, url, role="viewer"):
    """An authenticated JSON endpoint: ``fn(self, request, principal, **path)``.

    The caller's workspace comes from its token only. A request carrying a
    ``Consistency-Token`` waits (up to 5 s) until the read model applied it;
    a POST carrying an ``Idempotency-Key`` runs once (see ``idempotency``).
    """
    def decorate(fn):
        @functools.wraps(fn)
        def endpoint(self, request, **path):
            principal = authenticate(self.db, request.headers.get("Authorization"))
            principal.require(role)
            if (request.content_length or 0) > MAX_REQUEST_BYTES:
                # Before anything reads the body (the Idempotency-Key fingerprint does).
                raise PayloadTooLarge(f"requests are limited to {MAX_REQUEST_BYTES // 2**20} MiB")
            token = request.headers.get("Consistency-Token")
            if token:
                wait_for_consistency(self.projector, token)
            key = request.headers.get("Idempotency-Key")
            if key and request.method == "POST":
                return run_once(self.db, principal.workspace, key, request,
                                lambda: fn(self, request, principal, **path))
            return fn(self, request, principal, **path)
        return http(method, url)(endpoint)
    return decorate


def json_body(request):
    """The request's JSON object, or 400 with what is wrong."""
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("the request needs a JSON body")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def date_param(request, name, default=None):
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"'{name}' must be a date (YYYY-MM-DD)", {name: ["not a date"]}) from None


def today_utc():
    return datetime.now(timezone.utc).date()


_ENTITY_TAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def if_match(request):
    """The version an ``If-Match: "<version>"`` header names (None when absent or ``*``)."""
    value = request.headers.get("If-Match")
    if value is None or value.strip() in ("", "*"):
        return None
    match = _ENTITY_TAG.match(value)
    if not match:
        raise BadRequest('If-Match must be a version as given in ETag, e.g. "3"',
                         {"If-Match": ['expected a version such as "3"']})
    return int(match.group(1))


def consistency_token(source, position):
    return f"{source}:{int(position)}"


def parse_consistency_token(token):
    """``"contacts:42,projects:7"`` -> {"contacts": 42, "projects": 7}."""
    wanted = {}
    for part in token.split(","):
        source, _, position = part.strip().partition(":")
        if source not in SOURCES or not position.isdigit():
            raise BadRequest("malformed Consistency-Token",
                             {"Consistency-Token": ["expected source:position"]})
        wanted[source] = max(wanted.get(source, 0), int(position))
    return wanted


def wait_for_consistency(consumer, token, timeout=CONSISTENCY_WAIT_SECONDS):
    """Block until the read model applied every position in ``token`` (or time out).

    When this process runs the active projector of those sources, its commits
    wake the wait directly; in another replica, the projector's notifications do
    (PostgreSQL, ``notify.py``); without either, the checkpoints are re-read
    every 20 ms. A timeout is not an error: the read answers what it has
    (eventual consistency). Returns True if the positions were reached.
    """
    wanted = parse_consistency_token(token)

    def reached(positions):
        return all(positions.get(source, 0) >= position for source, position in wanted.items())

    inbox = consumer.inbox
    deadline = time.monotonic() + timeout
    while True:
        if reached(inbox.positions()):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        woken = all(consumer.leader.get(source) for source in wanted) or \
            (consumer.listener is not None and consumer.listener.listening)
        if inbox.progress.wait(reached, min(1.0 if woken else 0.02, remaining)):
            return True


def written(payload, status, source, position, headers=None):
    """A write's response: the resource, its ETag and a Consistency-Token."""
    headers = dict(headers or {})
    headers["Consistency-Token"] = consistency_token(source, position)
    version = payload.get("version") if isinstance(payload, dict) else None
    if version is not None:
        headers["ETag"] = f'"{version}"'
    return json_response(payload, status, headers)


def resource(payload, headers=None):
    headers = dict(headers or {})
    if isinstance(payload, dict) and payload.get("version") is not None:
        headers["ETag"] = f'"{payload["version"]}"'
    return json_response(payload, 200, headers)
