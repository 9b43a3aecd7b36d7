"""The integration event envelope (the wire contract of every event).

Field names are fixed by the product contract: event_id, type, version,
workspace, stream_id, stream_version, position, occurred_at, actor,
correlation_id, data.
"""
import json
import os
import re

import orjson
from dataclasses import dataclass, field
from dataclasses import fields as fields_of
from datetime import datetime, timezone

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate


def utc_now():
    return datetime.now(timezone.utc)


def format_time(moment):
    """RFC 3339 in UTC with a ``Z`` suffix and microseconds (sortable as text)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class NewEvent:
    """An event recorded by an aggregate, not yet stored (no position yet)."""

    type: str
    data: dict
    version: int = 1


@dataclass(slots=True)
class EventEnvelope:
    """A stored event as it is read back and published (treat it as read-only;
    not frozen because frozen dataclasses cost every append a slower __init__)."""

    event_id: str
    type: str
    version: int
    workspace: str
    stream_id: str
    stream_version: int
    position: int
    occurred_at: str
    actor: str | None
    correlation_id: str | None
    data: dict = field(default_factory=dict)

    def to_dict(self):
        return {name: getattr(self, name) for name in _ENVELOPE_FIELDS}

    def to_json(self):
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)


_ENVELOPE_FIELDS = tuple(f.name for f in fields_of(EventEnvelope))


# The envelope's fields, the one description both the schema and the fast path are
# made from: name -> (kind, shortest, longest) (lengths of text; ``None``: no limit).
ENVELOPE_FIELDS = {
    "event_id": ("uuid", None, None),
    "type": ("text", 1, 100),
    "version": ("positive", None, None),
    "workspace": ("text", 1, 100),
    "stream_id": ("text", 1, 200),
    "stream_version": ("positive", None, None),
    "position": ("positive", None, None),
    "occurred_at": ("text", None, None),
    "actor": ("text or null", None, None),
    "correlation_id": ("text or null", None, None),
    "data": ("object", None, None),
}


def _schema_field(kind, shortest, longest):
    if kind == "uuid":
        return fields.UUID(required=True)
    if kind == "positive":
        return fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    if kind == "object":
        return fields.Dict(required=True)
    if shortest is None and longest is None:
        return fields.String(required=True, allow_none=kind == "text or null")
    return fields.String(required=True, allow_none=kind == "text or null",
                         validate=validate.Length(min=shortest, max=longest))


class _EnvelopeSchemaBase(Schema):
    """Validates an incoming event body; unknown top-level keys are ignored
    so that a newer publisher can add envelope fields without breaking readers."""

    class Meta:
        unknown = EXCLUDE

    @post_load
    def make_envelope(self, values, **kwargs):
        values["event_id"] = str(values["event_id"])
        return EventEnvelope(**values)


EventEnvelopeSchema = type("EventEnvelopeSchema", (_EnvelopeSchemaBase,), {
    name: _schema_field(*spec) for name, spec in ENVELOPE_FIELDS.items()})

_envelope_schema = EventEnvelopeSchema()


class InvalidEvent(ValueError):
    """A message body that is not a valid event envelope."""


def parse_event(body):
    """Parse bytes/str/dict into an ``EventEnvelope`` or raise ``InvalidEvent`` with the reason."""
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"body is not UTF-8: {exc}") from None
    if isinstance(body, str):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidEvent("body is not a JSON object")
    envelope = _fast_envelope(body)
    if envelope is not None:
        return envelope
    try:  # the schema explains what is wrong
        return _envelope_schema.load(body)
    except ValidationError as exc:
        raise InvalidEvent(f"not an event envelope: {exc.messages}") from None


_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                             r"[0-9a-fA-F]{12}")


def _is_canonical_uuid(value):
    """A UUID spelled 8-4-4-4-12 in hex (other spellings are left to the schema)."""
    return type(value) is str and _CANONICAL_UUID.fullmatch(value) is not None


def _fast_check(kind, shortest, longest):
    """A check of one field that accepts only what the schema's field accepts."""
    if kind == "uuid":
        return _is_canonical_uuid
    if kind == "positive":
        return lambda value: type(value) is int and value >= 1
    if kind == "object":
        return lambda value: type(value) is dict
    if kind == "text or null":
        return lambda value: value is None or type(value) is str
    shortest, longest = shortest or 0, longest or float("inf")
    return lambda value: type(value) is str and shortest <= len(value) <= longest


_FAST_CHECKS = tuple((name, _fast_check(*spec)) for name, spec in ENVELOPE_FIELDS.items())


def _fast_envelope(body):
    """The envelope when ``body`` is plainly well-formed, else None.

    Consumers parse every message; the schema's checks without its per-field
    machinery, made from the same ``ENVELOPE_FIELDS`` (a body they do not accept
    falls back to the schema, which accepts it or reports what is wrong).
    """
    try:
        for name, check in _FAST_CHECKS:
            if not check(body[name]):
                return None
    except KeyError:
        return None
    return EventEnvelope(body["event_id"].lower(), body["type"], body["version"],
                         body["workspace"], body["stream_id"], body["stream_version"],
                         body["position"], body["occurred_at"], body["actor"],
                         body["correlation_id"], body["data"])


def new_event_id():
    """A random (version 4) UUID as text, made without ``uuid.UUID``'s overhead:
    appends create one per event, and imports create hundreds of thousands."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
