"""What the services' marshmallow schemas share: unknown fields refused, and error
messages in the words the rest of the API uses rather than marshmallow's defaults
("Missing data for required field.", "Unknown field.", "Not a valid list.").

A message a schema or field sets itself is kept; only marshmallow's own defaults are
replaced, field by field, when a schema is made.
"""
import functools

from marshmallow import RAISE, Schema, fields

# key -> message, for every field type
COMMON_MESSAGES = {
    "required": "this field is required",
    "null": "this field cannot be empty",
    "validator_failed": "this value is not valid",
}

# field type -> its "invalid" message (the most specific type wins)
INVALID_MESSAGES = {
    fields.String: "must be text",
    fields.UUID: "must be an id (a UUID)",
    fields.Integer: "must be a whole number",
    fields.Decimal: "must be a number",
    fields.Float: "must be a number",
    fields.Number: "must be a number",
    fields.Boolean: "must be true or false",
    fields.Date: "must be a date written YYYY-MM-DD",
    fields.DateTime: "must be a date and time (ISO 8601)",
    fields.List: "must be a list",
    fields.Tuple: "must be a list",
    fields.Dict: "must be a JSON object",
    fields.Mapping: "must be a JSON object",
    fields.Email: "not a valid email address",
    fields.URL: "not a valid web address",
}
NESTED_TYPE_MESSAGE = "must be a JSON object"


@functools.lru_cache(maxsize=None)
def _replacements(field_type):
    """``{key: (marshmallow's default, ours)}`` for a field type; worked out once per type
    (schemas are made per request)."""
    defaults = {}
    for klass in reversed(field_type.__mro__):
        defaults.update(getattr(klass, "default_error_messages", {}))
    wanted = dict(COMMON_MESSAGES)
    invalid = next((INVALID_MESSAGES[klass] for klass in field_type.__mro__
                    if klass in INVALID_MESSAGES), None)
    if invalid:
        wanted["invalid"] = wanted["invalid_uuid"] = invalid
    if issubclass(field_type, fields.Nested):
        wanted["type"] = NESTED_TYPE_MESSAGE
    return {key: (defaults[key], message) for key, message in wanted.items() if key in defaults}


def plain_messages(field):
    """Replace ``field``'s marshmallow default messages (and its inner fields') with
    ours; messages the field was given are kept."""
    for key, (default, message) in _replacements(type(field)).items():
        if field.error_messages.get(key) == default:
            field.error_messages[key] = message
    for inner in (getattr(field, "inner", None), getattr(field, "value_field", None),
                  getattr(field, "key_field", None), *getattr(field, "tuple_fields", ())):
        if isinstance(inner, fields.Field):
            plain_messages(inner)


class StrictSchema(Schema):
    """A schema that refuses fields it does not know, in plain words."""

    class Meta:
        unknown = RAISE

    error_messages = {
        "unknown": "this field is not recognised",
        "type": "must be a JSON object",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            plain_messages(field)
