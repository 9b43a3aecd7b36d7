"""The integration event envelope (the wire contract of every event).

Field names are fixed by the product contract: event_id, type, version,
workspace, stream_id, stream_version, position, occurred_at, actor,
correlation_id, data.
"""
import json
import os

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


class EventEnvelopeSchema(Schema):
    """Validates an incoming event body; unknown top-level keys are ignored
    so that a newer publisher can add envelope fields without breaking readers."""

    class Meta:
        unknown = EXCLUDE

    event_id = fields.UUID(required=True)
    type = fields.String(required=True, validate=validate.Length(min=1, max=100))
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    workspace = fields.String(required=True, validate=validate.Length(min=1, max=100))
    stream_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    stream_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    position = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    occurred_at = fields.String(required=True)
    actor = fields.String(required=True, allow_none=True)
    correlation_id = fields.String(required=True, allow_none=True)
    data = fields.Dict(required=True)

    @post_load
    def make_envelope(self, values, **kwargs):
        values["event_id"] = str(values["event_id"])
        return EventEnvelope(**values)


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


_TEXT = {"event_id", "type", "workspace", "stream_id", "occurred_at"}
_POSITIVE = {"version", "stream_version", "position"}
_NULLABLE_TEXT = {"actor", "correlation_id"}


def _fast_envelope(body):
    """The envelope when ``body`` is plainly well-formed, else None.

    Consumers parse every message; the same checks as the schema without its
    per-field machinery (a malformed body falls back to the schema's report).
    """
    try:
        for name in _TEXT:
            value = body[name]
            if type(value) is not str or not value or len(value) > 200:
                return None
        for name in _POSITIVE:
            value = body[name]
            if type(value) is not int or value < 1:
                return None
        for name in _NULLABLE_TEXT:
            value = body[name]
            if value is not None and type(value) is not str:
                return None
        data = body["data"]
        if type(data) is not dict or len(body["event_id"]) != 36:
            return None
        uuid_text = body["event_id"]
        if uuid_text[8] != "-" or uuid_text[13] != "-" or uuid_text[18] != "-" \
                or uuid_text[23] != "-" or not _is_hex(uuid_text.replace("-", "")):
            return None
    except (KeyError, TypeError, IndexError):
        return None
    return EventEnvelope(body["event_id"].lower(), body["type"], body["version"],
                         body["workspace"], body["stream_id"], body["stream_version"],
                         body["position"], body["occurred_at"], body["actor"],
                         body["correlation_id"], data)


def _is_hex(text):
    try:
        int(text, 16)
    except ValueError:
        return False
    return len(text) == 32


def new_event_id():
    """A random (version 4) UUID as text, made without ``uuid.UUID``'s overhead:
    appends create one per event, and imports create hundreds of thousands."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
