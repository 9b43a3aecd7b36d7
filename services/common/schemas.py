"""What the services' marshmallow schemas share: unknown fields refused, and error
messages in the words the rest of the API uses rather than marshmallow's defaults
("Missing data for required field.", "Unknown field.", "Not a valid list.").

A message a schema or field sets itself is kept; only marshmallow's own defaults are
replaced, field by field, when a schema is made. Every message has a code (see
``services.common.messages``).

Text no field may hold is refused before any field sees it: a NUL character
(PostgreSQL cannot store it) or an unpaired UTF-16 surrogate (``"\\ud800"`` in JSON,
or CESU-8 bytes: not Unicode, so it cannot be encoded to UTF-8). Dates are bounded
(:data:`MIN_DATE`..:data:`MAX_DATE`) so that date arithmetic never overflows.
"""
import functools
import re
from datetime import date

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load

from .errors import message as coded

NUL_CHARACTER = coded("nul_character", "must not contain NUL characters")
UNPAIRED_SURROGATE = coded("invalid_unicode",
                             "must not contain unpaired surrogates (text that is not Unicode)")
DATE_OUT_OF_RANGE = coded("date_out_of_range", "must be a date from {min} to {max}")
MIN_DATE = date(1900, 1, 1)
MAX_DATE = date(2199, 12, 31)
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_fault(text):
    """The message ``text`` is refused with (NUL, unpaired surrogate), or None if it is fine."""
    if "\x00" in text:
        return NUL_CHARACTER
    if _SURROGATE.search(text):
        return UNPAIRED_SURROGATE
    return None


class TooDeep(ValueError):
    """JSON nested more levels deep than allowed."""


def text_faults(data, max_depth=None):
    """``{"path": [message]}`` for every text (member name or value) in JSON ``data`` that
    :func:`text_fault` refuses; paths join names and list indexes with dots. Raises
    :class:`TooDeep` when ``data`` nests more than ``max_depth`` objects and lists."""
    faults, stack = {}, [("", data, 1)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            fault = text_fault(value)
            if fault is not None:
                faults.setdefault(path or "_schema", []).append(fault)
            continue
        if not isinstance(value, (dict, list)):
            continue
        if max_depth is not None and depth > max_depth:
            raise TooDeep(max_depth)
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, inner in items:
            name = str(key)
            inner_path = f"{path}.{name}" if path else name
            if isinstance(key, str) and text_fault(key) is not None:
                faults.setdefault(inner_path.encode("utf-8", "backslashreplace").decode(),
                                  []).append(text_fault(key))
                continue
            stack.append((inner_path, inner, depth + 1))
    return faults


def bounded_date(value):
    """The ``date`` of ``YYYY-MM-DD`` text from :data:`MIN_DATE` to :data:`MAX_DATE`; raises
    ``ValueError`` (with a coded message as its argument when out of range)."""
    if not isinstance(value, str) or len(value) != 10 or not value.isascii():
        raise ValueError(value)
    parsed = date.fromisoformat(value)
    if not MIN_DATE <= parsed <= MAX_DATE:
        raise ValueError(DATE_OUT_OF_RANGE.format(min=MIN_DATE.isoformat(),
                                                  max=MAX_DATE.isoformat()))
    return parsed

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

    @pre_load
    def _refuse_bad_text(self, data, **kwargs):
        """NUL and unpaired surrogates are refused in every text, whatever its field."""
        faults = text_faults(data) if isinstance(data, (dict, list)) else {}
        if faults:
            nested = {}
            for path, messages in faults.items():
                *parents, last = path.split(".")
                node = nested
                for part in parents:
                    node = node.setdefault(part, {})
                node[last] = messages
            raise ValidationError(nested)
        return data
