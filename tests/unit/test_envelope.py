"""The event envelope parser: the fast path accepts exactly what the schema accepts."""
import json

import pytest

from services.common.envelope import EventEnvelope, InvalidEvent, parse_event

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
