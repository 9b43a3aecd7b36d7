"""Typed errors that cross nameko RPC intact.

nameko serialises an exception as its dotted path plus its args; registering
these classes with ``deserialize_to_instance`` makes an RPC caller receive the
same typed exception again (``NotFound``, ``ValidationFailed``...), so the
gateway maps them to HTTP statuses without string matching.
"""
from nameko.exceptions import deserialize_to_instance


class ClientfolioError(Exception):
    """Base of every error a service reports on purpose.

    ``args`` stay JSON-safe: (detail, errors, extra) so they survive RPC.
    """

    status = 400
    title = "Bad request"

    def __init__(self, detail="", errors=None, extra=None):
        super().__init__(detail, errors or {}, extra or {})

    @property
    def detail(self):
        return self.args[0]

    @property
    def errors(self):
        return self.args[1]

    @property
    def extra(self):
        return self.args[2]

    def __str__(self):
        return self.detail or self.title


@deserialize_to_instance
class BadRequest(ClientfolioError):
    status = 400
    title = "Bad request"


@deserialize_to_instance
class NotFound(ClientfolioError):
    status = 404
    title = "Not found"


@deserialize_to_instance
class Conflict(ClientfolioError):
    """A state transition not allowed, or a uniqueness rule (e.g. duplicate tax id)."""

    status = 409
    title = "Conflict"


@deserialize_to_instance
class PreconditionFailed(ClientfolioError):
    """An ``If-Match`` / expected version that no longer holds; ``extra["version"]``
    is the resource's current version."""

    status = 412
    title = "Precondition failed"

    def __init__(self, detail="", errors=None, extra=None):
        extra = dict(extra or {})
        # nameko sends exception arguments as text: the version is an integer again.
        if isinstance(extra.get("version"), str) and extra["version"].isdigit():
            extra["version"] = int(extra["version"])
        super().__init__(detail, errors, extra)


@deserialize_to_instance
class ValidationFailed(ClientfolioError):
    """Well-formed input with invalid fields; ``errors`` maps field path -> messages."""

    status = 422
    title = "Validation failed"


@deserialize_to_instance
class ConcurrencyError(ClientfolioError):
    """Another writer appended to the stream first; the caller may reload and retry."""

    status = 409
    title = "Concurrent modification"


@deserialize_to_instance
class Unauthorized(ClientfolioError):
    status = 401
    title = "Unauthorized"


@deserialize_to_instance
class Forbidden(ClientfolioError):
    status = 403
    title = "Forbidden"


@deserialize_to_instance
class PayloadTooLarge(ClientfolioError):
    status = 413
    title = "Payload too large"


@deserialize_to_instance
class UnsupportedMediaType(ClientfolioError):
    status = 415
    title = "Unsupported media type"


@deserialize_to_instance
class ServiceUnavailable(ClientfolioError):
    """The broker or a service cannot be reached now; ``extra["retry_after"]`` says when
    to try again (seconds)."""

    status = 503
    title = "Service unavailable"
