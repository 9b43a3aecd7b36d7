"""Keyset paging shared by lists: ``?limit=`` (default 50, at most 500) and an opaque
``?cursor=`` holding the last row's sort key, so pages never skip or repeat a row when
rows are added meanwhile. Also the one check of an id given as a parameter."""
import base64
import json
import uuid

from .errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def check_limit(limit):
    """``limit`` as an int (``DEFAULT_LIMIT`` when absent or empty, as a form sends an
    unfilled field); 400 unless 1..MAX_LIMIT."""
    if limit is None or limit == "":
        return DEFAULT_LIMIT
    try:
        value = int(limit)
    except (TypeError, ValueError):
        value = 0
    if isinstance(limit, bool) or not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit must be from 1 to {MAX_LIMIT}",
                         {"limit": [f"must be an integer from 1 to {MAX_LIMIT}"]})
    return value


def encode_cursor(key):
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor, types):
    """The sort key a cursor stands for (one part per type in ``types``);
    ``BadRequest`` (400) if it is not one of ours."""
    if cursor in (None, ""):
        return None
    try:
        text = str(cursor)
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, list) or len(key) != len(types) \
            or not all(type(part) is kind for part, kind in zip(key, types)):
        raise BadRequest("malformed cursor", {"cursor": ["not a cursor from a previous page"]})
    return key


def offset_page(items, limit, cursor, kind):
    """One page of a list held whole in memory (a timeline, the duplicate groups): its
    cursor is the opaque offset of the next item, tagged with the list's ``kind`` so a
    cursor of another list is refused (400)."""
    limit = check_limit(limit)
    key = decode_cursor(cursor, (str, int))
    offset = 0
    if key is not None:
        tag, offset = key
        if tag != kind or offset < 0:
            raise BadRequest("malformed cursor", {"cursor": ["not a cursor from a previous page"]})
    more = offset + limit < len(items)
    return {"items": items[offset:offset + limit],
            "next_cursor": encode_cursor([kind, offset + limit]) if more else None}


def canonical_id(value):
    """A UUID's canonical text, or ``None`` if ``value`` is not a UUID."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None
