"""Typed errors that cross nameko RPC intact, each with a stable code.

nameko serialises an exception as its dotted path plus its args; registering
these classes with ``deserialize_to_instance`` makes an RPC caller receive the
same typed exception again (``NotFound``, ``ValidationFailed``...), so the
gateway maps them to HTTP statuses without string matching.

Every text meant for a user is a :class:`Message`: a stable snake_case ``code``
(what clients translate and branch on), the English ``template`` and the
``params`` that fill it, so that the gateway can answer it in the caller's
language. A raise site may pass a ``Message`` or plain English text; plain text
is matched against the templates the services register (:func:`register`), so a
message keeps its code however it was written. The args an error carries are
JSON (text, dicts, lists) and survive RPC.
"""
import functools
import re
import string

from nameko.exceptions import deserialize_to_instance

_FORMATTER = string.Formatter()
_TEMPLATES = {}  # template -> (code, compiled pattern), in registration order
FIELD_CODE = "invalid"  # a field message nobody gave a code


def _fields(template):
    try:
        return [name for _, name, _, _ in _FORMATTER.parse(template) if name]
    except ValueError:  # a stray brace: the text is literal
        return []


class Message(str):
    """A user-facing text with a stable ``code``, its English ``template`` and ``params``.

    It is the formatted English text (a ``str``), so it can stand wherever a message
    did; ``format(**params)`` gives a new ``Message`` (marshmallow formats its
    messages that way), keeping only the params the template names."""

    def __new__(cls, code, template, params=None):
        names = _fields(template)
        params = {key: value if isinstance(value, str) else str(value)
                  for key, value in (params or {}).items() if key in names}
        text = template
        if params and len(params) == len(set(names)):
            try:
                text = template.format(**params)
            except (KeyError, IndexError, ValueError):
                text = template
        self = super().__new__(cls, text)
        self.code, self.template, self.params = code, template, params
        return self

    def __reduce__(self):
        return (Message, (self.code, self.template, self.params))

    def __deepcopy__(self, memo):
        return self

    def format(self, *args, **params):
        """The message with ``params`` filled in (positional args are ignored)."""
        return Message(self.code, self.template, {**self.params, **params})

    __call__ = format

    def as_json(self):
        """``{"code", "message", "template", "params"}``: what crosses RPC."""
        return {"code": self.code, "message": str(self), "template": self.template,
                "params": dict(self.params)}

    @classmethod
    def of(cls, value, default_code):
        """``value`` (a Message, its JSON, or plain text) as a Message; plain text gets the
        code of the registered template it matches, else ``default_code``."""
        if isinstance(value, Message):
            return value
        if isinstance(value, dict):
            template = value.get("template") or value.get("message") or ""
            return cls(value.get("code") or default_code, str(template),
                       value.get("params") if isinstance(value.get("params"), dict) else None)
        text = value if isinstance(value, str) else str(value)
        found = _match(text)
        if found is None:
            return cls(default_code, text)
        return cls(*found)


def message(code, template):
    """Register ``template`` under ``code`` and return it as a Message to format."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", code):
        raise ValueError(f"a message code is snake_case: {code!r}")
    if template not in _TEMPLATES:
        _TEMPLATES[template] = (code, _pattern(template))
        _match.cache_clear()
    elif _TEMPLATES[template][0] != code:
        raise ValueError(f"{template!r} is registered as {_TEMPLATES[template][0]}, not {code}")
    return Message(code, template)


def register(table):
    """Register ``{code: [template, ...]}`` (see :func:`message`)."""
    for code, templates in table.items():
        for template in ([templates] if isinstance(templates, str) else templates):
            message(code, template)


def registered():
    """Every registered ``(code, template)``, in registration order."""
    return [(code, template) for template, (code, _) in _TEMPLATES.items()]


def _pattern(template):
    parts, seen = [], set()
    try:
        parsed = list(_FORMATTER.parse(template))
    except ValueError:
        parsed = [(template, None, None, None)]
    for literal, name, _, _ in parsed:
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
            seen.add(name)
    return re.compile("".join(parts), re.DOTALL)


@functools.lru_cache(maxsize=4096)
def _match(text):
    """(code, template, params) of the registered template ``text`` is written from; the
    template with the most fixed text wins."""
    best = None
    for template, (code, pattern) in _TEMPLATES.items():
        found = pattern.fullmatch(text)
        if found is None:
            continue
        weight = len(template) - sum(len(name) + 2 for name in found.groupdict())
        if best is None or weight > best[0]:
            best = (weight, code, template, found.groupdict())
    return None if best is None else best[1:]


def field_errors(errors):
    """``{"path": [message, ...]}`` (messages as Messages, JSON or text) -> the JSON form
    ``{"path": [{"code", "message", "template", "params"}, ...]}``."""
    result = {}
    for path, entries in (errors or {}).items():
        if isinstance(entries, (str, dict)):
            entries = [entries]
        result[str(path)] = [Message.of(entry, FIELD_CODE).as_json() for entry in entries]
    return result


class ClientfolioError(Exception):
    """Base of every error a service reports on purpose.

    ``args`` stay JSON-safe: (detail, errors, extra, problem) so they survive RPC:
    ``errors`` maps a field path to ``{"code", "message", "template", "params"}``
    entries and ``problem`` is the detail's ``{"code", "template", "params"}``.
    ``detail`` may be given as a :class:`Message` or as text; ``code`` names the
    problem when the detail's own code does not.
    """

    status = 400
    title = "Bad request"
    code = "bad_request"
    # The same request may well succeed when sent again (a concurrent write won, a
    # service is away): such an answer is never kept as an Idempotency-Key's outcome.
    retryable = False

    def __init__(self, detail="", errors=None, extra=None, problem=None, *, code=None):
        if not isinstance(problem, dict):
            text = detail or ""
            found = Message.of(text, type(self).code) if text else Message(
                type(self).code, self.title)
            problem = {"code": code or found.code, "template": found.template,
                       "params": dict(found.params)}
        elif code:
            problem = {**problem, "code": code}
        super().__init__(str(detail or ""), field_errors(errors), extra or {}, problem)

    @property
    def detail(self):
        return self.args[0]

    @property
    def field_errors(self):
        """``{"path": [{"code", "message", "template", "params"}]}``."""
        return self.args[1]

    @property
    def errors(self):
        """``{"path": ["message", ...]}``, the English texts."""
        return {path: [entry["message"] for entry in entries]
                for path, entries in self.args[1].items()}

    @property
    def codes(self):
        """``{"path": ["code", ...]}``, in the order of ``errors``."""
        return {path: [entry["code"] for entry in entries]
                for path, entries in self.args[1].items()}

    def field_messages(self):
        """``{"path": [Message, ...]}``: the field errors, to re-raise or translate."""
        return {path: [Message.of(entry, FIELD_CODE) for entry in entries]
                for path, entries in self.args[1].items()}

    @property
    def extra(self):
        return self.args[2]

    @property
    def problem(self):
        """The detail's ``{"code", "template", "params"}``."""
        return self.args[3]

    @property
    def problem_code(self):
        return self.args[3].get("code") or type(self).code

    def __str__(self):
        return self.detail or self.title


@deserialize_to_instance
class BadRequest(ClientfolioError):
    status = 400
    title = "Bad request"
    code = "bad_request"


@deserialize_to_instance
class NotFound(ClientfolioError):
    status = 404
    title = "Not found"
    code = "not_found"


@deserialize_to_instance
class Conflict(ClientfolioError):
    """A state transition not allowed, or a uniqueness rule (e.g. duplicate tax id)."""

    status = 409
    title = "Conflict"
    code = "conflict"


@deserialize_to_instance
class Gone(ClientfolioError):
    """What was asked for existed and was deleted for good (an erased client)."""

    status = 410
    title = "Gone"
    code = "gone"


@deserialize_to_instance
class PreconditionFailed(ClientfolioError):
    """An ``If-Match`` / expected version that no longer holds; ``extra["version"]``
    is the resource's current version."""

    status = 412
    title = "Precondition failed"
    code = "version_mismatch"

    def __init__(self, detail="", errors=None, extra=None, problem=None, *, code=None):
        extra = dict(extra or {})
        # nameko sends exception arguments as text: the version is an integer again.
        if isinstance(extra.get("version"), str) and extra["version"].isdigit():
            extra["version"] = int(extra["version"])
        super().__init__(detail, errors, extra, problem, code=code)


@deserialize_to_instance
class ValidationFailed(ClientfolioError):
    """Well-formed input with invalid fields; ``errors`` maps field path -> messages."""

    status = 422
    title = "Validation failed"
    code = "validation_failed"


@deserialize_to_instance
class ConcurrencyError(ClientfolioError):
    """Another writer appended to the stream first; the caller may reload and retry."""

    status = 409
    title = "Concurrent modification"
    code = "concurrent_modification"
    retryable = True


@deserialize_to_instance
class Unauthorized(ClientfolioError):
    status = 401
    title = "Unauthorized"
    code = "unauthorized"


@deserialize_to_instance
class Forbidden(ClientfolioError):
    status = 403
    title = "Forbidden"
    code = "forbidden"


@deserialize_to_instance
class PayloadTooLarge(ClientfolioError):
    status = 413
    title = "Payload too large"
    code = "payload_too_large"


@deserialize_to_instance
class UnsupportedMediaType(ClientfolioError):
    status = 415
    title = "Unsupported media type"
    code = "unsupported_media_type"


@deserialize_to_instance
class ServiceUnavailable(ClientfolioError):
    """The broker or a service cannot be reached now; ``extra["retry_after"]`` says when
    to try again (seconds)."""

    status = 503
    title = "Service unavailable"
    code = "service_unavailable"
    retryable = True


@deserialize_to_instance
class MethodNotAllowed(ClientfolioError):
    """A method the resource does not take; ``extra["allowed"]`` lists those it does."""

    status = 405
    title = "Method not allowed"
    code = "method_not_allowed"


from . import messages  # noqa: E402,F401  (registers the kernel's message templates)
