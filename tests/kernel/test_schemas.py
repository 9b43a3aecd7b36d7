"""The services' shared schema base: unknown fields refused and marshmallow's default
messages replaced with plain ones, without touching the messages a field was given."""
import pytest
from marshmallow import ValidationError, fields, validate

from services.common.schemas import StrictSchema


class Line(StrictSchema):
    description = fields.String(required=True)
    quantity = fields.Integer(required=True)


class Order(StrictSchema):
    client_id = fields.UUID(required=True)
    tags = fields.List(fields.String())
    lines = fields.List(fields.Nested(Line))
    address = fields.Nested(Line)
    status = fields.String(validate=validate.OneOf(["open", "done"]))
    name = fields.String(allow_none=False, error_messages={"null": "the name is required"})


def errors_of(data):
    with pytest.raises(ValidationError) as failed:
        Order().load(data)
    return failed.value.messages


def test_default_messages_are_plain_words():
    assert errors_of({"client_id": "x", "tags": "vip", "number": 3, "address": 4}) == {
        "client_id": ["must be an id (a UUID)"], "tags": ["must be a list"],
        "number": ["this field is not recognised"],
        "address": {"_schema": ["must be a JSON object"]}}  # reported on "address" by the API
    assert errors_of({"tags": [7]}) == {"client_id": ["this field is required"],
                                        "tags": {0: ["must be text"]}}


def test_nested_schemas_get_them_too():
    messages = errors_of({"client_id": "9b2d4c8e-2f1a-4f59-9a57-3c5d0c1f7e11",
                          "lines": [{"description": "Diseño", "quantity": "x"}, {}]})
    assert messages == {"lines": {0: {"quantity": ["must be a whole number"]},
                                  1: {"description": ["this field is required"],
                                      "quantity": ["this field is required"]}}}


def test_messages_a_field_or_validator_was_given_are_kept():
    messages = errors_of({"client_id": "9b2d4c8e-2f1a-4f59-9a57-3c5d0c1f7e11",
                          "name": None, "status": "later"})
    assert messages["name"] == ["the name is required"]
    assert messages["status"] == ["Must be one of: open, done."]  # the validator's own
