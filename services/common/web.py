"""HTTP entrypoints that speak JSON and RFC 9457 problem+json.

``http`` is nameko's HTTP entrypoint with two changes: an unhandled error or a
``ClientfolioError`` becomes a problem+json response, and unknown routes or
methods answer problem+json 404/405 instead of an HTML page.

A problem carries a stable ``code`` and a ``type`` URI made from it
(``/problems/duplicate-tax-id``); field errors come as ``errors`` (path -> messages)
with a parallel ``codes`` (path -> codes, in the same order). A localizer installed
with :func:`set_problem_localizer` answers ``detail`` and the messages in the
request's ``Accept-Language``.
"""
import inspect
import json
import logging
import re
import socket
import time
import uuid

import orjson
from eventlet import wsgi as eventlet_wsgi
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from . import tracing
from .errors import (BadRequest, ClientfolioError, MethodNotAllowed, NotFound,
                     ServiceUnavailable)
from .logs import bind
from .metrics import observe_request

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# An X-Correlation-Id a caller may choose (else the server makes one).
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


_ORJSON_OPTIONS = (orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                   | orjson.OPT_PASSTHROUGH_DATACLASS)


def json_dumps(value):
    """Compact UTF-8 JSON; anything JSON has no type for (Decimal, dates) as ``str()``.

    orjson writes an overview ten times faster than the standard library; the
    standard library takes what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(value, default=str, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                          default=str).encode("utf-8")


def json_response(payload, status=200, headers=None):
    return Response(json_dumps(payload), status=status, headers=headers,
                    content_type="application/json; charset=utf-8")


def text_response(body, status=200, content_type="text/plain; charset=utf-8"):
    return Response(body, status=status, content_type=content_type)


PROBLEM_TYPE_BASE = "/problems/"
_localizer = None


def problem_type(code):
    """The ``type`` URI of a problem code: ``duplicate_tax_id`` -> ``/problems/duplicate-tax-id``."""
    return PROBLEM_TYPE_BASE + code.replace("_", "-")


def set_problem_localizer(localizer):
    """Install ``localizer(exc, accept_language) -> (body, content_language)``, which every
    problem response then uses for its body (one per process; the gateway installs it)."""
    global _localizer
    _localizer = localizer


def problem_body(exc):
    """The English problem+json document of a ``ClientfolioError``."""
    code = exc.problem_code
    body = {"type": problem_type(code), "title": exc.title, "status": exc.status,
            "detail": exc.detail or exc.title, "code": code}
    if exc.field_errors:
        body["errors"] = exc.errors
        body["codes"] = exc.codes
    if exc.extra:
        body.update({key: value for key, value in exc.extra.items() if key not in body})
    return body


def problem_response(status, title, detail="", errors=None, extra=None, headers=None,
                     code="about_blank"):
    """A problem+json response from its parts (see :func:`problem_from_exception`)."""
    body = {"type": problem_type(code), "title": title, "status": status,
            "detail": detail or title, "code": code}
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return Response(json_dumps(body), status=status, headers=headers, content_type=PROBLEM_JSON)


#: How soon a caller may retry after the broker or a service could not be reached.
UNAVAILABLE_RETRY_AFTER = 2


def unavailable(exc):
    """Whether ``exc`` says the broker or a service cannot be reached (not a bug):
    answered 503 with ``Retry-After``."""
    from kombu.exceptions import OperationalError
    from nameko.exceptions import RpcTimeout, UnknownService
    import amqp.exceptions

    return isinstance(exc, (UnknownService, RpcTimeout, OperationalError, ConnectionError,
                            socket.timeout, amqp.exceptions.RecoverableConnectionError,
                            amqp.exceptions.ConnectionError))


def problem_from_exception(exc, accept_language=None):
    """The problem+json response of any exception (500 for an unexpected one), in the
    ``accept_language`` language when a localizer is installed."""
    if not isinstance(exc, (ClientfolioError, HTTPException)) and unavailable(exc):
        log.warning("service unavailable: %s: %s", type(exc).__name__, exc)
        exc = ServiceUnavailable("a service this request needs cannot be reached now; "
                                 "retry shortly",
                                 extra={"retry_after": UNAVAILABLE_RETRY_AFTER})
    if isinstance(exc, HTTPException):
        exc = NotFound(NOT_FOUND_TEMPLATE.format(path="")) if exc.code == 404 else \
            _from_http_exception(exc)
    if not isinstance(exc, ClientfolioError):
        # Logged once, with its traceback, by the request's log line (``log_request``).
        exc = InternalError()
    body, language = problem_body(exc), None
    if _localizer is not None and accept_language:
        body, language = _localizer(exc, accept_language)
    headers = {}
    if exc.status == 401:  # RFC 9110: a 401 names the scheme the client should use.
        headers["WWW-Authenticate"] = 'Bearer realm="clientfolio"'
    if exc.status == 405 and exc.extra.get("allowed"):
        headers["Allow"] = ", ".join(exc.extra["allowed"])
    retry_after = exc.extra.get("retry_after") if isinstance(exc.extra, dict) else None
    if retry_after or exc.retryable:
        headers["Retry-After"] = str(int(retry_after or 1))
    if language:
        headers["Content-Language"] = language
    response = Response(json_dumps(body), status=exc.status, headers=headers,
                        content_type=PROBLEM_JSON)
    response.problem = exc  # re-rendered in the request's language by the WSGI app
    return response


NOT_FOUND_TEMPLATE = "no such endpoint: {path}"


class InternalError(ClientfolioError):
    status = 500
    title = "Internal server error"
    code = "internal_error"

    def __init__(self, *args, **kwargs):
        super().__init__(*args or ("The server could not complete the request; it has been "
                                   "logged.",), **kwargs)


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
               413: "payload_too_large", 414: "uri_too_long", 415: "unsupported_media_type",
               431: "headers_too_large"}


def _from_http_exception(exc):
    error = ClientfolioError(exc.description or exc.name,
                             code=_HTTP_CODES.get(exc.code, "bad_request"))
    error.status, error.title = exc.code, exc.name
    return error


def localized(response, environ):
    """``response`` again in the language of the request's ``Accept-Language`` if it is a
    problem (answered in English by a handler that did not see the request)."""
    exc = getattr(response, "problem", None)
    accept_language = environ.get("HTTP_ACCEPT_LANGUAGE")
    if exc is None or _localizer is None or not accept_language \
            or "Content-Language" in response.headers:
        return response
    again = problem_from_exception(exc, accept_language)
    for name, value in response.headers.items():
        if name.lower() not in ("content-type", "content-length", "content-language"):
            again.headers.setdefault(name, value)
    return again


#: Requests slower than this (seconds) are logged; ``SLOW_REQUEST_SECONDS`` overrides it.
SLOW_REQUEST_SECONDS = 1.0


def _problem_code(response):
    """The ``code`` member of a problem+json answer, else its title."""
    try:
        body = orjson.loads(response.get_data())
    except Exception:
        return None
    if not isinstance(body, dict):
        return None
    return body.get("code") or body.get("title")


def log_request(method, route, response, correlation_id, seconds, slow_after, error=None):
    """One line per failed or slow request: a 4xx at INFO without traceback, a 500 at
    ERROR with its one traceback, another 5xx (an unreachable service) at WARNING."""
    status = response.status_code
    if status >= 400:
        fields = {"status": status, "code": _problem_code(response), "route": route,
                  "method": method, "duration_ms": round(seconds * 1000, 1)}
        extra = {"fields": fields, "correlation_id": correlation_id}
        if status < 500:
            log.info("%s %s answered %s %s", method, route, status, fields["code"],
                     extra=extra)
        elif error is not None:
            log.error("%s %s failed: %s: %s", method, route, type(error).__name__, error,
                      exc_info=(type(error), error, error.__traceback__), extra=extra)
        else:
            log.warning("%s %s answered %s %s", method, route, status, fields["code"],
                        extra=extra)
    if seconds >= slow_after:
        log.warning("slow request: %s %s took %.0f ms (status %s)", method, route,
                    seconds * 1000, status, extra={"correlation_id": correlation_id, "fields": {
                        "status": status, "route": route, "method": method,
                        "duration_ms": round(seconds * 1000, 1), "slow": True}})


class ProblemWsgiApp(WsgiApp):
    def __init__(self, server):
        super().__init__(server)
        config = getattr(getattr(server, "container", None), "config", None) or {}
        self.slow_after = float(config.get("SLOW_REQUEST_SECONDS") or SLOW_REQUEST_SECONDS)

    def __call__(self, environ, start_response):
        if tracing.ENABLED:
            return self._traced(environ, start_response)
        return self._answer(environ, start_response)

    def _traced(self, environ, start_response):
        """The request in a server span (its worker runs in it: ``context_data_from_headers``)."""
        from opentelemetry.trace import SpanKind

        method = environ.get("REQUEST_METHOD", "GET")
        span = tracing.tracer(self.server.container.service_name).start_span(
            method, context=tracing.extract(environ.get("HTTP_TRACEPARENT")),
            kind=SpanKind.SERVER, attributes={"http.request.method": method,
                                              "url.path": environ.get("PATH_INFO", "")})
        token = tracing.attach(span)
        try:
            return self._answer(environ, start_response, span)
        finally:
            tracing.detach(token)
            span.end()

    def _answer(self, environ, start_response, span=None):
        started = time.perf_counter()
        route = "unmatched"
        correlation_id = None
        error = None
        try:
            from werkzeug.wrappers import Request
            correlation_id = environ.get("HTTP_X_CORRELATION_ID", "")
            if not _CORRELATION_ID.match(correlation_id):
                # Each request gets one: its events and every service's log lines carry it.
                correlation_id = environ["HTTP_X_CORRELATION_ID"] = uuid.uuid4().hex
            bind(None, correlation_id)
            if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
                # eventlet's server de-chunks the body and ends it; without this flag
                # werkzeug reads a body without Content-Length as empty (a valid POST
                # sent chunked answered 400 "needs a JSON body").
                environ["wsgi.input_terminated"] = True
            request = Request(environ, shallow=True)
            adapter = self.url_map.bind_to_environ(environ)
            try:
                provider, values = adapter.match()
                route = provider.url
                request.path_values = values
                response = provider.handle_request(request)
                error = getattr(response, "unhandled_error", None)
            except HTTPException as exc:
                if exc.code == 405:
                    allowed = sorted(getattr(exc, "valid_methods", None) or ())
                    exc = MethodNotAllowed(
                        f"{environ.get('REQUEST_METHOD', 'GET')} is not allowed here; "
                        f"allowed: {', '.join(allowed)}", extra={"allowed": allowed})
                elif exc.code == 404:
                    exc = NotFound(NOT_FOUND_TEMPLATE.format(path=request.path))
                response = problem_from_exception(exc, environ.get("HTTP_ACCEPT_LANGUAGE"))
        except Exception as exc:  # never an HTML page or a dropped connection
            response = problem_from_exception(exc, environ.get("HTTP_ACCEPT_LANGUAGE"))
            error = exc if response.status_code == 500 else None
        response = localized(response, environ)
        if correlation_id is not None:
            response.headers["X-Correlation-Id"] = correlation_id
        method = environ.get("REQUEST_METHOD", "GET")
        seconds = time.perf_counter() - started
        observe_request(method, route, response.status_code, seconds)
        if span is not None:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", response.status_code)
            span.set_attribute("clientfolio.correlation_id", correlation_id or "")
            if error is not None:
                tracing.failed(span, error)
        if response.status_code >= 400 or seconds >= self.slow_after:
            log_request(method, route, response, correlation_id, seconds, self.slow_after,
                        error)
        return response(environ, start_response)


class UriTooLong(ClientfolioError):
    status = 414
    title = "URI too long"
    code = "uri_too_long"


class HeadersTooLarge(ClientfolioError):
    status = 431
    title = "Request header fields too large"
    code = "headers_too_large"


def _raw_problem(exc):
    """A whole HTTP/1.0 response (status line, headers, body) for ``exc``, closing the
    connection: what the server answers before the request reaches the application."""
    body = json_dumps(problem_body(exc))
    return (f"HTTP/1.0 {exc.status} {exc.title}\r\nConnection: close\r\n"
            f"Content-Type: {PROBLEM_JSON}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode("latin-1") + body


class _ProblemWriter:
    """The connection's output stream, on which eventlet's server writes its own canned,
    bodiless answers to a request line or headers it will not read (414, 400 "Header Line
    Too Long"/"Headers Too Large", 400 for a bad Content-Length): each is replaced by
    the same status as problem+json (431 for the headers)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, data):
        if data[:10] == b"HTTP/1.0 4":
            data = self._problem(bytes(data)) or data
        return self._stream.write(data)

    @staticmethod
    def _problem(data):
        if data == eventlet_wsgi.RESPONSE_414:
            return _raw_problem(UriTooLong(
                f"the request line is too long (at most {eventlet_wsgi.MAX_REQUEST_LINE} "
                "bytes)"))
        if data.startswith((b"HTTP/1.0 400 Header Line Too Long",
                            b"HTTP/1.0 400 Headers Too Large")):
            return _raw_problem(HeadersTooLarge(
                "the request headers are too large (at most "
                f"{eventlet_wsgi.MAX_HEADER_LINE} bytes per line)"))
        if data.startswith(b"HTTP/1.0 400 Bad Request"):
            _, _, reason = data.partition(b"\r\n\r\n")
            return _raw_problem(BadRequest(reason.decode("latin-1").strip()
                                           or "Bad request"))
        return None

    def __getattr__(self, name):
        return getattr(self._stream, name)


class ProblemProtocol(HttpOnlyProtocol):
    """nameko's HTTP protocol whose own error answers are problem+json too."""

    def handle_one_request(self):
        if not isinstance(self.wfile, _ProblemWriter):
            self.wfile = _ProblemWriter(self.wfile)
        return super().handle_one_request()


class ProblemWebServer(WebServer):
    def get_wsgi_app(self):
        return ProblemWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=ProblemProtocol, debug=False):
        return super().get_wsgi_server(sock, wsgi_app, protocol=protocol, debug=debug)

    def context_data_from_headers(self, request):
        # The request's worker runs in its span (``extensions.TraceContext``).
        if tracing.ENABLED:
            traceparent = tracing.current_traceparent()
            if traceparent:
                return {tracing.TRACEPARENT: traceparent}
        return {}

    def kill(self):
        # nameko's WebServer only closes its socket on stop(); a killed container
        # would leave it listening (with SO_REUSEPORT, a restarted server on the
        # same port would then lose half of its connections to the dead one).
        self._is_accepting = False
        if self._gt is not None:
            self._gt.kill()
        if self._sock is not None:
            self._sock.close()


class JsonHttpHandler(HttpRequestHandler):
    server = ProblemWebServer()
    _takes_any_path = None  # does the method take ``**path``? (known after the first request)

    def check_signature(self, args, kwargs):
        # nameko binds each request's arguments with inspect.getcallargs, about 4%
        # of a request's CPU. A method taking ``**path`` (every ``api`` endpoint)
        # accepts whatever its URL rule yields: that needs checking once only.
        if self._takes_any_path is None:
            method = getattr(self.container.service_cls, self.method_name)
            self._takes_any_path = any(parameter.kind is parameter.VAR_KEYWORD for parameter
                                       in inspect.signature(method, follow_wrapped=False)
                                       .parameters.values())
        if not self._takes_any_path:
            super().check_signature(args, kwargs)

    def __init__(self, method, url, **kwargs):
        # A 4xx answer is the API working as designed: one INFO line, no traceback.
        kwargs.setdefault("expected_exceptions", ClientfolioError)
        super().__init__(method, url, **kwargs)

    def response_from_exception(self, exc):
        response = problem_from_exception(exc)
        if response.status_code == 500:
            response.unhandled_error = exc  # for the request's log line (its traceback)
        return response


http = JsonHttpHandler.decorator
