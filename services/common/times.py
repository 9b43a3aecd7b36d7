"""Times given as parameters (``updated_since``, a redelivery's ``since``): RFC 3339
with a ``Z`` or an offset, within the years dates may have, read as the sortable UTC
text every service stores (``envelope.format_time``)."""
from datetime import datetime, timezone

from .envelope import format_time
from .errors import BadRequest, message
from .schemas import MAX_DATE, MIN_DATE

BAD_TIME = message("invalid_timestamp",
                   "must be a date and time in RFC 3339 (e.g. 2026-11-23T10:00:00Z)")
BAD_TIME_PARAMETER = message("invalid_timestamp", "'{name}' must be a date and time in RFC 3339")


def parse_time(value):
    """An aware UTC ``datetime``; ``ValueError`` unless ``value`` is an RFC 3339 time."""
    if not isinstance(value, str):
        raise ValueError("not text")
    text = value.strip()
    if len(text) < 20 or len(text) > 40 or text[10] not in "Tt":
        raise ValueError("not RFC 3339")
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text[:10] + "T" + text[11:])
    if moment.tzinfo is None or not MIN_DATE <= moment.date() <= MAX_DATE:
        raise ValueError("no offset, or out of range")
    return moment.astimezone(timezone.utc)


def time_param(value, name):
    """The stored text of the time in parameter ``name`` (None when absent or empty);
    400 ``invalid_timestamp`` naming it otherwise."""
    if value is None or value == "":
        return None
    try:
        return format_time(parse_time(value))
    except (ValueError, OverflowError):
        raise BadRequest(BAD_TIME_PARAMETER.format(name=name), {name: [BAD_TIME]},
                         code="invalid_timestamp") from None
