"""The gateway's HTTP conventions: auth, JSON bodies, ETags, Consistency-Token."""
import functools
import json
import logging
import re
import time
import uuid
from datetime import datetime, timezone

import eventlet

from services.common import faults
from services.common.consistency import format_token, parse_token
from services.common.errors import (BadRequest, PayloadTooLarge, ServiceUnavailable,
                                    UnsupportedMediaType, ValidationFailed)
from services.common.logs import bind
from services.common.paging import canonical_id
from services.common.schemas import TooDeep, bounded_date, text_fault, text_faults
from services.common.web import (UNAVAILABLE_RETRY_AFTER, http, json_response,
                                 problem_response)

from . import problems  # noqa: F401  (answers problems in the caller's language)
from . import idempotency
from .sessions import request_principal

log = logging.getLogger(__name__)

CONSISTENCY_WAIT_SECONDS = 5.0
FRESHNESS_WAIT_SECONDS = 1.0  # for a source to say where a command's client/project is
# The body limit of an endpoint that names none (see ``api``'s ``body_limit``).
MAX_REQUEST_BYTES = 64 * 2**20
SOURCES = ("contacts", "projects", "billing")
COMMAND_ID = idempotency.COMMAND_ID
MAX_JSON_BYTES = 2**20  # a JSON body (the largest, an invoice of 1,000 lines, is ~200 KiB)
MAX_JSON_DEPTH = 32  # objects and lists inside one another (the API's own use 4)


def request_command_id(request):
    """The command id of the request's commands: its Idempotency-Key's (set by ``api``),
    else one made for this request. Services record each command's outcome under it,
    so a command redelivered or retried with it takes effect once."""
    command_id = request.environ.get(COMMAND_ID)
    if command_id is None:
        command_id = request.environ[COMMAND_ID] = f"req:{uuid.uuid4().hex}"
    return command_id


def api(method, url, role="viewer", body_limit=None):
    """An authenticated JSON endpoint: ``fn(self, request, principal, **path)``.

    The caller's workspace comes from its token only; each request counts against
    the token's and the workspace's rate limits (``ratelimit``: 429 past them). A
    request carrying a ``Consistency-Token`` waits (up to 5 s) until the read model
    applied it (see ``await_token``), and the token a response carries is sealed for
    the workspace (``consistency``); a POST carrying an ``Idempotency-Key`` runs
    once (see ``idempotency``).
    A body larger than the endpoint's limit is refused (413) before anything reads
    it: ``body_limit(self, request)`` answers ``(bytes, what)`` (``None``, or no
    ``body_limit``: ``MAX_REQUEST_BYTES`` for any request).
    """
    def decorate(fn):
        @functools.wraps(fn)
        def endpoint(self, request, **path):
            principal = request_principal(self.db, request)  # a token, or the browser's session
            bind(principal.workspace, request.headers.get("X-Correlation-Id"))
            limited = self.rate_limiter.take(principal)
            if limited is not None and not limited.allowed:
                return too_many_requests(limited)
            principal.require(role)
            limit, what = (body_limit and body_limit(self, request)) or (MAX_REQUEST_BYTES, None)
            if (request.content_length or 0) > limit:
                # Before anything reads the body (the Idempotency-Key fingerprint does).
                raise body_too_large(limit, what)
            if request.content_length is None:
                # A body sent chunked is refused as soon as it passes the limit.
                request.environ["wsgi.input"] = CappedInput(request.environ["wsgi.input"],
                                                            limit, what)
            refuse_bad_parameters(request, path)
            applied = await_token(self, request, principal)
            key = request.headers.get("Idempotency-Key")
            # A service that never answers (killed and not restarted, a broker that lost
            # the request) must not hold the caller: 503, and a retry is safe.
            deadline = eventlet.Timeout(request_deadline(self.config), ServiceUnavailable(
                "a service did not answer in time; retry shortly",
                extra={"retry_after": UNAVAILABLE_RETRY_AFTER}))
            try:
                response = run_command(self, fn, request, principal, key, path)
            finally:
                deadline.cancel()
            if applied is not None:
                # A read that gave up waiting says so: what it shows may predate the token.
                response.headers["Consistency-Token-Applied"] = "true" if applied else "false"
            if response.headers.get("Consistency-Token"):
                response.headers["Consistency-Token"] = self.consistency_tokens.seal(
                    response.headers["Consistency-Token"], principal.workspace)
            if limited is not None:
                response.headers.extend(limited.headers)
            return response
        return http(method, url)(endpoint)
    return decorate


def too_many_requests(decision):
    """429 for a request past a rate limit (see ``ratelimit``)."""
    return problem_response(
        429, "Too many requests",
        f"Too many requests for this token or workspace; retry in {decision.retry_after} s.",
        headers=decision.headers)


def await_token(service, request, principal):
    """Wait for the request's ``Consistency-Token`` (sealed for the caller's workspace);
    None without one, else whether it was applied. A token that does not open, or a
    wait beyond the workspace's share (``gateway.consistency``), is not waited for.
    The request then goes on with the plain token, or none when it was not applied:
    a command never waits for it a second time in the service it reaches."""
    token = request.headers.get("Consistency-Token")
    if not token:
        return None
    parse_token(token, SOURCES)  # 400 for a header that is not a token at all
    tokens = service.consistency_tokens
    plain = tokens.open(token, principal.workspace)
    applied = False
    if plain:
        with tokens.waiting(principal.workspace) as admitted:
            if admitted:
                applied = wait_for_consistency(service.projector, plain)
    request.environ["HTTP_CONSISTENCY_TOKEN"] = plain if applied else ""
    return applied


def run_command(service, fn, request, principal, key, path):
    """The endpoint's answer; a POST with an Idempotency-Key runs once (``idempotency``)."""
    def call():
        response = fn(service, request, principal, **path)
        faults.reached("after_command", fn.__name__)
        return response

    if key and request.method == "POST":
        return idempotency.run_once(
            service.db, principal.workspace, key, request, call,
            float(service.config.get("IDEMPOTENCY_LEASE_SECONDS")
                  or idempotency.DEFAULT_LEASE_SECONDS))
    return call()


def request_deadline(config):
    """Seconds a request may wait for the services: twice the RPC timeout."""
    return 2 * float(config.get("RPC_TIMEOUT") or 30)


def body_too_large(limit, what=None):
    """The 413 of a body (``what``: "a photo"...; ``None``: any request) past ``limit``."""
    if what is None:
        return PayloadTooLarge(f"requests are limited to {limit // 2**20} MiB")
    return PayloadTooLarge(f"{what} can be at most {limit // 2**20} MiB")


def read_capped(stream, limit, what=None):
    """All of ``stream`` (a request body, an uploaded form file), refused (413) as soon
    as it passes ``limit`` bytes."""
    return CappedInput(stream, limit, what).read()


class CappedInput:
    """A stream (a request body of unannounced length, an uploaded file) that raises
    413 once more than ``limit`` bytes have arrived. (werkzeug's own maximum stops
    reading at the limit without a word, so the endpoint would see a truncated body.)"""

    def __init__(self, stream, limit, what=None):
        self.stream = stream
        self.limit = limit
        self.what = what
        self.size = 0

    def _count(self, data):
        self.size += len(data)
        if self.size > self.limit:
            raise body_too_large(self.limit, self.what)
        return data

    def read(self, size=-1):
        if size is not None and size >= 0:
            return self._count(self.stream.read(size))
        parts = []  # the whole body: in pieces, so that memory stops at the limit too
        while True:
            part = self._count(self.stream.read(65536))
            if not part:
                return b"".join(parts)
            parts.append(part)

    def readline(self, size=-1):
        return self._count(self.stream.readline(size))


def _no_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def json_body(request):
    """The request's JSON object: 415 unless sent as JSON (``application/json`` or a
    ``+json`` type; a body without a Content-Type is read as JSON), 413 past
    ``MAX_JSON_BYTES``, 400 if it is not a JSON object, 422 if it nests deeper than
    ``MAX_JSON_DEPTH`` or a text holds a NUL or an unpaired surrogate."""
    mimetype = request.mimetype
    if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaType("send the body as JSON (Content-Type: application/json)")
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"requests are limited to {MAX_JSON_BYTES // 2**20} MiB")
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("the request needs a JSON body")
    if len(raw) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"requests are limited to {MAX_JSON_BYTES // 2**20} MiB")
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ValidationFailed(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels "
                               "deep") from None
    except (ValueError, UnicodeDecodeError) as exc:
        reason = str(exc).encode("utf-8", "backslashreplace").decode()
        raise BadRequest(f"the body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    try:
        faults = text_faults(body, MAX_JSON_DEPTH)
    except TooDeep:
        raise ValidationFailed(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels "
                               "deep") from None
    if faults:
        raise ValidationFailed("some fields are invalid", faults)
    return body


def refuse_bad_parameters(request, path):
    """400 for a query parameter or path segment holding a NUL or an unpaired surrogate
    (no id, search or filter can: the databases cannot even compare them)."""
    values = [(name, value) for name, value in request.args.items(multi=True)]
    values += [(name, value) for name, value in path.items() if isinstance(value, str)]
    for name, value in values:
        fault = text_fault(name) or text_fault(value)
        if fault:
            safe = name.encode("utf-8", "backslashreplace").decode().replace("\x00", "\\0")
            raise BadRequest(f"some parameters are invalid: {safe}", {safe: [fault]})


def date_param(request, name, default=None):
    """The date in query parameter ``name`` (``default`` when absent): 400 unless it is
    ``YYYY-MM-DD`` from ``schemas.MIN_DATE`` to ``schemas.MAX_DATE``."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        return bounded_date(value)
    except ValueError as exc:
        reason = exc.args[0] if exc.args and hasattr(exc.args[0], "code") else "not a date"
        raise BadRequest(f"'{name}' must be a date (YYYY-MM-DD)", {name: [reason]}) from None


def id_param(request, name):
    """The uuid in query parameter ``name``, canonical (None when absent). A malformed one
    is 400 naming it, as the projects list answers: matching nothing, it would read as an
    empty list."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    canonical = canonical_id(value)
    if canonical is None:
        raise BadRequest(f"'{name}' must be an id (a UUID)", {name: ["must be an id (a UUID)"]})
    return canonical


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


def wait_for_consistency(consumer, token, timeout=CONSISTENCY_WAIT_SECONDS):
    """Block until the read model applied every position in ``token`` (or time out).
    A timeout is not an error: the read answers what it has (eventual consistency).
    Returns True if the positions were reached."""
    return consumer.wait_applied(parse_token(token, SOURCES), timeout)


def command_token(service, request, client_id=None, project_id=None):
    """The consistency token a command naming a client (and a project) forwards to the
    service that judges it on its replicas: the caller's token, raised to the positions
    the client's stream has in contacts and the project's in projects right now. So a
    project assigned just after its client was archived is refused, and an invoice
    just after a reassignment is judged against the new client, whether or not the
    caller sent the first write's token. A source that does not answer within
    ``FRESHNESS_WAIT_SECONDS`` is left out: the command is then judged on the replica
    as it is (eventually consistent), never refused for it."""
    positions = parse_token(request.headers.get("Consistency-Token"), SOURCES)
    asked = []
    for source, stream_id in (("contacts", client_id), ("projects", project_id)):
        stream_id = canonical_id(stream_id)
        if stream_id:
            proxy = getattr(service, f"{source}_rpc")
            try:
                asked.append((source, stream_id, proxy.stream_positions.call_async([stream_id])))
            except Exception as exc:  # a service never started (unroutable): the replica decides
                log.warning("%s did not take the question about %s: %s", source, stream_id, exc)
    deadline = time.monotonic() + FRESHNESS_WAIT_SECONDS
    for source, stream_id, reply in asked:
        answer = None
        with eventlet.Timeout(max(0.0, deadline - time.monotonic()), False):
            try:
                answer = reply.result()
            except Exception as exc:  # not running, failing: judged on the replica
                log.warning("%s did not give the position of %s: %s", source, stream_id, exc)
        if answer and answer.get(stream_id):
            positions[source] = max(positions.get(source, 0), answer[stream_id])
    return format_token(positions) or None


def written(payload, status, source, position=None, headers=None):
    """A write's response: the resource, its ETag and a Consistency-Token for
    ``position`` of ``source`` (or for ``source`` = {source: position, ...})."""
    headers = dict(headers or {})
    positions = source if isinstance(source, dict) else {source: position}
    headers["Consistency-Token"] = format_token(positions)
    version = payload.get("version") if isinstance(payload, dict) else None
    if version is not None:
        headers["ETag"] = f'"{version}"'
    return json_response(payload, status, headers)


def resource(payload, headers=None):
    headers = dict(headers or {})
    if isinstance(payload, dict) and payload.get("version") is not None:
        headers["ETag"] = f'"{payload["version"]}"'
    return json_response(payload, 200, headers)
