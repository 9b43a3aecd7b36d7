"""The event envelope parser: the fast path accepts exactly what the schema accepts."""
import json
import re

import pytest
from marshmallow import ValidationError

from services.common.envelope import (ENVELOPE_FIELDS, EventEnvelope, EventEnvelopeSchema,
                                      InvalidEvent, _envelope_schema, _fast_envelope,
                                      parse_event)

VALID = {"event_id": "0b7c4a9e-2f55-4e0a-9a41-5d8f3f0f6a10", "type": "ClientAssigned",
         "version": 1, "workspace": "acme", "stream_id": "p-1", "stream_version": 2,
         "position": 42, "occurred_at": "2026-11-23T10:00:00.000000Z", "actor": None,
         "correlation_id": "c-1", "data": {"client_id": "x", "via": "bulk"}}


@pytest.mark.parametrize("body", [VALID, json.dumps(VALID), json.dumps(VALID).encode(),
                                  {**VALID, "extra_field": "ignored"}])
def test_valid_envelopes_parse(body):
    event = parse_event(body)
    assert isinstance(event, EventEnvelope)
    assert event.to_dict() == VALID


@pytest.mark.parametrize("change, reason", [
    ({"position": 0}, "position"),
    ({"position": "42"}, "position"),
    ({"version": True}, "version"),
    ({"event_id": "not-a-uuid"}, "event_id"),
    ({"data": []}, "data"),
    ({"type": ""}, "type"),
    ({"actor": 7}, "actor"),
])
def test_malformed_envelopes_are_refused_with_the_field(change, reason):
    with pytest.raises(InvalidEvent) as raised:
        parse_event({**VALID, **change})
    assert reason in str(raised.value)


@pytest.mark.parametrize("body, reason", [
    (b"\xff\xfe", "not UTF-8"), ("{nope", "not valid JSON"), ("[1, 2]", "not a JSON object"),
    ({key: value for key, value in VALID.items() if key != "workspace"}, "workspace"),
])
def test_garbage_is_refused_with_a_reason(body, reason):
    with pytest.raises(InvalidEvent) as raised:
        parse_event(body)
    assert reason in str(raised.value)


# -- the fast path and the schema: one description of the fields -----------------------

def _variants():
    """Bodies around the edges of every field: wrong types, lengths, missing, extra."""
    values = [None, "", "x", "x" * 100, "x" * 101, "x" * 200, "x" * 201, 0, 1, -1, 2**40,
              True, False, 1.0, "1", [], {}, {"k": "v"},
              "0B7C4A9E-2F55-4E0A-9A41-5D8F3F0F6A10", "0b7c4a9e2f554e0a9a415d8f3f0f6a10",
              "{0b7c4a9e-2f55-4e0a-9a41-5d8f3f0f6a10}", "0x7c4a9e-2f55-4e0a-9a41-5d8f3f0f6a10",
              "0b7c4a9e-2f55-4e0a-9a41-5d8f3f0f6a1g", " b7c4a9e-2f55-4e0a-9a41-5d8f3f0f6a10"]
    yield VALID
    yield {**VALID, "schema_url": "https://example.com", "version": 3}
    for name in VALID:
        yield {key: value for key, value in VALID.items() if key != name}
        for value in values:
            yield {**VALID, name: value}


def _schema_result(body):
    try:
        return _envelope_schema.load(body)
    except ValidationError:
        return None


def test_the_fast_path_accepts_only_what_the_schema_accepts_and_reads_it_alike():
    checked = 0
    for body in _variants():
        fast = _fast_envelope(body)
        schema = _schema_result(body)
        if fast is not None:
            assert schema == fast, body
            checked += 1
        elif schema is not None:
            # The schema alone takes other spellings of a UUID (no dashes, braces...).
            assert not re.fullmatch(r"[0-9a-fA-F-]{36}", body["event_id"]), body
        if schema is None:
            with pytest.raises(InvalidEvent):
                parse_event(body)
        else:
            assert parse_event(body) == schema
    assert checked > 50  # the fast path is the one taken by well-formed envelopes


def test_both_are_made_from_the_envelope_fields():
    assert tuple(ENVELOPE_FIELDS) == tuple(EventEnvelope.__dataclass_fields__)
    assert set(EventEnvelopeSchema().fields) == set(ENVELOPE_FIELDS)
