"""marshmallow schemas at the projects service's edges.

Each ``load_*`` function validates a JSON body and returns plain values (ids
and dates as text, hours as ``Decimal``), or raises ``ValidationFailed`` (422)
listing every invalid field by path (``{"project_ids.3": ["..."]}``).
Unknown fields are refused ("this field is not recognised"); the fields the
service sets (``id``, ``version``, ``created_at``...) are refused too.
"""
import unicodedata
import uuid
from collections.abc import Mapping

from marshmallow import ValidationError, fields, missing, validate, validates_schema

from services.common.errors import ValidationFailed
from services.common.schemas import StrictSchema, bounded_date

from . import domain

MAX_BULK = 1000
MAX_NAME = 200
MAX_CODE = 50
MAX_DESCRIPTION = 2000
MAX_BUDGET = 1_000_000


def validation_errors(exc):
    """marshmallow messages -> ``{"field.path": [messages]}``."""
    flat = {}

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            flat[prefix or "_schema"] = value if isinstance(value, list) else [value]

    walk("", exc.messages)
    return flat


class Text(fields.Field):
    """A string, NFC-normalised and stripped; one-line texts have their inner
    whitespace collapsed. Blank loads as ``None`` (refused when ``allow_none`` is off)."""

    def __init__(self, max_length=None, multiline=False, **kwargs):
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)
        self.max_length = max_length
        self.multiline = multiline

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValidationError("must be a text")
        text = unicodedata.normalize("NFC", str(value)).strip()
        if not self.multiline:
            text = " ".join(text.split())
        if not text:
            if not self.allow_none:
                raise self.make_error("null")
            return None
        if self.max_length is not None and len(text) > self.max_length:
            raise ValidationError(f"must be at most {self.max_length} characters")
        return text


class Id(fields.Field):
    """A UUID, loaded as its canonical lower-case text."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("must be an id (a UUID)")
        try:
            return str(uuid.UUID(value.strip()))
        except ValueError:
            raise ValidationError("must be an id (a UUID)") from None


class IsoDate(fields.Field):
    """A ``YYYY-MM-DD`` date (``schemas.MIN_DATE``..``MAX_DATE``), loaded as that text."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return bounded_date(value).isoformat()
        except ValueError as exc:
            if exc.args and hasattr(exc.args[0], "code"):
                raise ValidationError(exc.args[0]) from None
            raise ValidationError("must be a date (YYYY-MM-DD)") from None


class Hours(fields.Field):
    """A number or decimal string of hours (``domain.parse_hours``), loaded as ``Decimal``."""

    def __init__(self, maximum=domain.MAX_HOURS, **kwargs):
        super().__init__(**kwargs)
        self.maximum = maximum

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return domain.parse_hours(value, maximum=self.maximum)
        except ValidationFailed as exc:
            raise ValidationError(exc.field_messages()["hours"]) from None


class ReadOnly(fields.Field):
    """A field the service sets: sending it is an error."""

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is missing:
            return value
        raise ValidationError("this field is set by the system and cannot be changed")


_StrictSchema = StrictSchema  # unknown fields refused, messages in plain words


def _status_field(choices, **kwargs):
    return fields.String(validate=validate.OneOf(
        choices, error=f"must be one of {', '.join(choices)}"), **kwargs)


class _ProjectFields(_StrictSchema):
    id = ReadOnly()
    version = ReadOnly()
    created_at = ReadOnly()
    updated_at = ReadOnly()
    total_hours = ReadOnly()
    open_tasks = ReadOnly()

    name = Text(max_length=MAX_NAME, allow_none=False,
                error_messages={"null": "the name is required",
                                "required": "the name is required"})
    code = Text(max_length=MAX_CODE)
    client_id = Id(allow_none=True)
    status = _status_field(domain.STATUSES, allow_none=False,
                           error_messages={"null": "the status cannot be empty"})
    start_date = IsoDate(allow_none=True)
    end_date = IsoDate(allow_none=True)
    budget_hours = Hours(maximum=MAX_BUDGET, allow_none=True)

    @validates_schema(skip_on_field_errors=True)
    def _dates_in_order(self, data, **kwargs):
        start, end = data.get("start_date"), data.get("end_date")
        if start and end and end < start:
            raise ValidationError("must not be before the start date", "end_date")


class NewProjectSchema(_ProjectFields):
    name = Text(max_length=MAX_NAME, allow_none=False, required=True,
                error_messages={"null": "the name is required",
                                "required": "the name is required"})


class ProjectPatchSchema(_ProjectFields):
    """Every field optional; ``client_id: null`` clears the client."""


class TimeEntrySchema(_StrictSchema):
    date = IsoDate(required=True, error_messages={"required": "the date is required",
                                                  "null": "the date is required"})
    hours = Hours(required=True, error_messages={"required": "the hours are required",
                                                 "null": "the hours are required"})
    description = Text(max_length=MAX_DESCRIPTION, multiline=True)


class NewTaskSchema(_StrictSchema):
    title = Text(max_length=MAX_NAME, allow_none=False, required=True,
                 error_messages={"null": "the title is required",
                                 "required": "the title is required"})
    due_date = IsoDate(allow_none=True)


class TaskPatchSchema(_StrictSchema):
    id = ReadOnly()
    project_id = ReadOnly()
    version = ReadOnly()
    title = Text(max_length=MAX_NAME, allow_none=False,
                 error_messages={"null": "the title is required"})
    due_date = IsoDate(allow_none=True)
    status = _status_field(domain.TASK_STATUSES, allow_none=False,
                           error_messages={"null": "the status cannot be empty"})


class BulkAssignSchema(_StrictSchema):
    client_id = Id(required=True, allow_none=False,
                   error_messages={"required": "the client is required",
                                   "null": "the client is required"})
    project_ids = fields.List(
        fields.String(error_messages={"invalid": "must be an id (a UUID)"}),
        required=True,
        validate=validate.Length(min=1, max=MAX_BULK,
                                 error=f"from 1 to {MAX_BULK} project ids"),
        error_messages={"required": "the project ids are required",
                        "null": "the project ids are required",
                        "invalid": "must be a list of project ids"})


def _load(schema, data, partial=False):
    if not isinstance(data, Mapping):
        raise ValidationFailed("the body must be a JSON object", {"_schema": ["must be a JSON object"]})
    try:
        return schema.load(data, partial=partial)
    except ValidationError as exc:
        raise ValidationFailed("some fields are invalid", validation_errors(exc)) from None


def load_new_project(data):
    """Every field of a new project, defaults filled (``status`` active)."""
    values = _load(NewProjectSchema(), data)
    for field in ("code", "client_id", "start_date", "end_date", "budget_hours"):
        values.setdefault(field, None)
    values.setdefault("status", domain.ACTIVE)
    return values


def load_project_patch(data):
    """Only the fields sent (``client_id`` included when sent, ``None`` to clear)."""
    return _load(ProjectPatchSchema(), data)


def load_time_entry(data):
    values = _load(TimeEntrySchema(), data)
    values.setdefault("description", None)
    return values


def load_new_task(data):
    values = _load(NewTaskSchema(), data)
    values.setdefault("due_date", None)
    return values


def load_task_patch(data):
    return _load(TaskPatchSchema(), data)


def load_bulk_assign(data):
    """``{"client_id", "project_ids"}``; the ids are kept as sent (an id that is not a
    UUID cannot exist and fails as "not found" in the result), repeats dropped."""
    values = _load(BulkAssignSchema(), data)
    seen, ids = set(), []
    for project_id in values["project_ids"]:
        key = project_id.strip().lower()
        if key not in seen:
            seen.add(key)
            ids.append(project_id)
    values["project_ids"] = ids
    return values
