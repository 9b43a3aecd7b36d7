"""marshmallow schemas at the contacts service's edges.

- :class:`NewClientSchema` loads a new client into a dict holding every writable field
  of the contract, normalised, with defaults filled.
- :class:`ClientPatchSchema` loads a partial update (see its docstring for the rules).
- :class:`ClientSchema` dumps a stored client.
- :func:`validate_client` runs either of the first two and raises
  :class:`~services.common.errors.ValidationFailed` listing every invalid field by path.

The field rules themselves live in :mod:`services.contacts.validation`; the schemas add
the cross-field ones: a tax id and a phone (``phone``, ``company.phone``) are checked
against the client's country, which is ``country`` or, when that is empty,
``address.country``. When ``country`` itself is invalid, the tax id and phones are not
checked (their rule is unknown) and only ``country`` is reported.

Error messages are short lower-case phrases meant for end users ("not a valid Spanish
tax id (NIF/NIE/CIF)", "the name is required", "this field is not recognised").
"""
from collections.abc import Mapping
from contextlib import contextmanager

from marshmallow import (Schema, ValidationError, fields, missing, post_load,
                         validates_schema)

from services.common.errors import ValidationFailed
from services.common.schemas import StrictSchema

from . import validation
from .validation import InvalidValue

KINDS = ("company", "person")
MAX_TAGS = 50


class Text(fields.Field):
    """A string (or a number, as spreadsheets export them), stripped and NFC-normalised.

    Blank input loads as ``None``. One-line texts have their inner whitespace
    collapsed; ``multiline`` texts keep their line breaks. ``normalize`` (a function of
    :mod:`validation`) turns the text into its stored form or raises ``InvalidValue``.
    """

    def __init__(self, max_length=None, multiline=False, normalize=None, **kwargs):
        kwargs.setdefault("allow_none", True)
        super().__init__(**kwargs)
        self.max_length = max_length
        self.multiline = multiline
        self.normalize = normalize

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            text = validation.clean_text(value)
        except InvalidValue as exc:
            raise ValidationError(exc.message) from None
        if text is not None and not self.multiline:
            text = validation.collapse_spaces(text)
        if text is None:
            if not self.allow_none:
                raise self.make_error("null")
            return None
        if self.max_length is not None and len(text) > self.max_length:
            raise ValidationError(f"must be at most {self.max_length} characters")
        if self.normalize is not None:
            try:
                text = self.normalize(text)
            except InvalidValue as exc:
                raise ValidationError(exc.message) from None
        return text

    def _serialize(self, value, attr, obj, **kwargs):
        return value


# What people type in the kind column of their spreadsheets (en, es, pt, ca).
KIND_SYNONYMS = {
    "company": "company", "business": "company", "organisation": "company",
    "organization": "company", "empresa": "company", "companyia": "company",
    "compania": "company", "companhia": "company", "sociedad": "company",
    "person": "person", "individual": "person", "persona": "person", "pessoa": "person",
    "particular": "person", "autonomo": "person", "autonom": "person",
}


def _kind(text):
    kind = KIND_SYNONYMS.get(validation.search_text(text))
    if kind is None:
        raise InvalidValue(f"must be {' or '.join(KINDS)}")
    return kind


class Tags(fields.Field):
    """A list of short labels, none holding ``;``; a single string is split on commas
    and semicolons.

    Labels are stripped, blank ones dropped, and repeats (ignoring case and accents)
    removed, keeping the first spelling. ``null`` loads as an empty list.
    """

    item = Text(max_length=50)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.replace(";", ",").split(",")
        if not isinstance(value, (list, tuple)):
            raise ValidationError("must be a list of labels")
        tags, seen, errors = [], set(), {}
        for index, raw in enumerate(value):
            try:
                tag = self.item.deserialize(raw)
            except ValidationError as exc:
                errors[index] = exc.messages
                continue
            if tag is not None and ";" in tag:
                # ";" separates tags in spreadsheets: such a tag would not come back
                # from an export as one tag.
                errors[index] = ["a tag cannot contain ';' (it separates tags in "
                                 "spreadsheets)"]
                continue
            if tag is None or validation.search_text(tag) in seen:
                continue
            seen.add(validation.search_text(tag))
            tags.append(tag)
        if errors:
            raise ValidationError(errors)
        if len(tags) > MAX_TAGS:
            raise ValidationError(f"at most {MAX_TAGS} tags")
        return tags

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is None:
            return []
        return super().deserialize(value, attr, data, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return list(value or [])


class ReadOnly(fields.Field):
    """A field the service sets (``id``, ``version``...): sending it is an error."""

    def deserialize(self, value, attr=None, data=None, **kwargs):
        if value is missing:
            return value
        raise ValidationError("this field is set by the system and cannot be changed")


class Part(fields.Nested):
    """A nested object (``address``, ``company``) with a friendly type error."""

    def _deserialize(self, value, attr, data, partial=None, **kwargs):
        if not isinstance(value, Mapping):
            names = ", ".join(self.schema.fields)
            raise ValidationError(f"must be an object with the fields {names}")
        return super()._deserialize(value, attr, data, partial=partial, **kwargs)


_StrictSchema = StrictSchema  # unknown fields refused, messages in plain words


class AddressSchema(_StrictSchema):
    street = Text(max_length=200)
    city = Text(max_length=100)
    postal_code = Text(max_length=20)
    region = Text(max_length=100)
    country = Text(normalize=validation.normalize_country)


class CompanySchema(_StrictSchema):
    name = Text(max_length=200)
    website = Text(normalize=validation.normalize_website)
    email = Text(max_length=254, normalize=validation.normalize_email)
    phone = Text(max_length=40)  # checked against the client's country, see _ClientFields


NESTED = {"address": ("street", "city", "postal_code", "region", "country"),
          "company": ("name", "website", "email", "phone")}

# Defaults of a new client (callables for the mutable ones).
DEFAULTS = {
    "kind": "company", "tax_id": None, "email": None, "phone": None, "country": None,
    "language": None, "gender": None, "category": None, "tags": list, "address": None,
    "company": None, "notes": None,
}

WRITABLE = ("kind", "name", *(key for key in DEFAULTS if key != "kind"))

_INVALID = object()  # a value that was given but did not load


class _ClientFields(_StrictSchema):
    """The writable fields of a client and the rules that depend on its country."""

    kind = Text(normalize=_kind, allow_none=False,
                error_messages={"null": "must be company or person"})
    name = Text(max_length=200, allow_none=False, required=True,
                error_messages={"null": "the name is required",
                                "required": "the name is required"})
    tax_id = Text(max_length=40)  # checked against the country, see _dependent
    email = Text(max_length=254, normalize=validation.normalize_email)
    phone = Text(max_length=40)  # checked against the country, see _dependent
    country = Text(normalize=validation.normalize_country)
    language = Text(normalize=validation.normalize_language)
    gender = Text(max_length=50)
    category = Text(max_length=100)
    tags = Tags()
    address = Part(AddressSchema, allow_none=True)
    company = Part(CompanySchema, allow_none=True)
    notes = Text(max_length=10000, multiline=True)
    id = ReadOnly()
    version = ReadOnly()
    created_at = ReadOnly()
    updated_at = ReadOnly()
    archived = ReadOnly()
    merged_into = ReadOnly()
    photo = ReadOnly()  # set with PUT .../photo

    def __init__(self, *args, current=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current = dict(current or {})

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _given(original, data, key):
        """``data[key]`` if it loaded; ``_INVALID`` if given but rejected; else ``KeyError``."""
        if not isinstance(original, Mapping) or key not in original:
            raise KeyError(key)
        return data.get(key, _INVALID)

    def _part(self, original, data, key):
        """The nested object as it will be stored (``None``, a full dict, or ``_INVALID``)."""
        try:
            given = self._given(original, data, key)
        except KeyError:
            return self._stored_part(key)
        if given is None or given is _INVALID:
            return given
        raw = original[key]
        if any(name in raw and name not in given for name in NESTED[key]):
            return _INVALID  # one of its fields was rejected
        return self._merge_part(key, given)

    def _stored_part(self, key):
        """The nested object the client has before this load."""
        return None

    def _merge_part(self, key, given):
        merged = {name: None for name in NESTED[key]}
        merged.update(given)
        return merged if any(value is not None for value in merged.values()) else None

    def _country(self, original, data):
        """The country whose rules apply after this load, or ``_INVALID``."""
        try:
            country = self._given(original, data, "country")
        except KeyError:
            country = self.current.get("country") if self.current else None
        if country is _INVALID:
            return _INVALID
        if country:
            return country
        address = self._part(original, data, "address")
        if address is _INVALID:
            return _INVALID
        return (address or {}).get("country")

    def _dependent(self, original, data):
        """Values checked against the country -> (normalised values, errors by field)."""
        values, errors = {}, {}
        country = self._country(original, data)
        if country is _INVALID:
            return values, errors
        checks = [("tax_id", None, validation.normalize_tax_id),
                  ("phone", None, validation.normalize_phone),
                  ("company", "phone", validation.normalize_phone)]
        for key, inner, normalize in checks:
            if inner is None:
                raw = data.get(key)
            else:
                raw = (data.get(key) or {}).get(inner) if isinstance(data.get(key), dict) else None
            if raw is None:
                continue
            try:
                value = normalize(raw, country)
            except InvalidValue as exc:
                if inner is None:
                    errors[key] = [exc.message]
                else:
                    errors.setdefault(key, {})[inner] = [exc.message]
                continue
            if inner is None:
                values[key] = value
            else:
                values.setdefault(key, {})[inner] = value
        self._recheck_current(country, values, errors, original)
        return values, errors

    def _recheck_current(self, country, values, errors, original):
        """Hook for patches: the stored tax id against a country that changes."""

    # -- hooks -----------------------------------------------------------------------------

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _check_dependent(self, data, original_data, **kwargs):
        errors = self._dependent(original_data, data)[1]
        if errors:
            raise ValidationError(errors)

    def _apply_dependent(self, data, original_data):
        values = self._dependent(original_data, data)[0]
        for key, value in values.items():
            if isinstance(value, dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data


class NewClientSchema(_ClientFields):
    """Load a new client: every writable field of the contract, normalised.

    Missing optional fields are filled with their defaults (``kind="company"``,
    ``tags=[]``, ``None`` otherwise). ``address`` and ``company`` load as ``None`` or as
    a dict holding all their keys.
    """

    @post_load(pass_original=True)
    def _complete(self, data, original_data, **kwargs):
        self._apply_dependent(data, original_data)
        for key in NESTED:
            if data.get(key) is not None:
                data[key] = self._merge_part(key, data[key])
        for key, default in DEFAULTS.items():
            if key not in data:
                data[key] = default() if callable(default) else default
        return {name: data[name] for name in WRITABLE}


class ClientPatchSchema(_ClientFields):
    """Load a partial update of an existing client (``current``: the stored record).

    - Only the keys present in the input appear in the result, normalised; ``{}`` loads
      as ``{}``.
    - ``null`` (or a blank string) clears an optional field; ``tags: null`` clears the
      tags (``[]``). ``name`` and ``kind`` cannot be cleared.
    - ``address`` and ``company`` are merged key by key with the stored object:
      ``{"address": {"city": "Porto"}}`` changes the city and keeps the street;
      ``{"address": {"city": null}}`` clears only the city; ``{"address": null}`` clears
      the whole address. The result holds the whole merged object (all its keys), or
      ``None`` when nothing is left in it, so it can replace the stored one as is.
      We chose merging because forms and spreadsheet imports often send only the
      nested fields they show.
    - Country-dependent fields follow the country after the patch: the patch's
      ``country`` (or ``address.country``) if it changes it, else the stored one. A
      patch that changes the country re-checks the stored tax id, and reports it under
      ``tax_id`` when it is not valid for the new country.
    """

    def __init__(self, *args, current=None, **kwargs):
        kwargs.setdefault("partial", True)
        super().__init__(*args, current=current, **kwargs)

    def _stored_part(self, key):
        stored = self.current.get(key)
        return dict(stored) if isinstance(stored, Mapping) else None

    def _merge_part(self, key, given):
        merged = {name: None for name in NESTED[key]}
        merged.update(self._stored_part(key) or {})
        merged.update(given)
        return merged if any(value is not None for value in merged.values()) else None

    def _recheck_current(self, country, values, errors, original):
        if "tax_id" in original or not self.current.get("tax_id"):
            return
        if country == validation.client_country(self.current):
            return
        try:
            validation.normalize_tax_id(self.current["tax_id"], country)
        except InvalidValue as exc:
            errors["tax_id"] = [f"the current tax id does not fit the new country: {exc.message}"]

    @post_load(pass_original=True)
    def _complete(self, data, original_data, **kwargs):
        for key in NESTED:
            if key in data and data[key] is not None:
                data[key] = self._merge_part(key, data[key])
        self._apply_dependent(data, original_data)
        return data


class _AddressOut(Schema):
    street = fields.String(allow_none=True)
    city = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    country = fields.String(allow_none=True)


class _CompanyOut(Schema):
    name = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)


class ClientSchema(Schema):
    """A stored client as the API shows it."""

    id = fields.String()
    version = fields.Integer()
    kind = fields.String()
    name = fields.String()
    tax_id = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    country = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    gender = fields.String(allow_none=True)
    category = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    address = fields.Nested(_AddressOut, allow_none=True)
    company = fields.Nested(_CompanyOut, allow_none=True)
    notes = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    archived = fields.Boolean()
    merged_into = fields.String(allow_none=True)
    photo = fields.Dict(allow_none=True)  # {"content_type", "size"}


def flatten_errors(messages):
    """marshmallow messages -> ``{"field.path": [messages]}``.

    Nested dicts join with dots (``address.country``, ``tags.2``); an object-level
    error of a nested object (``_schema``) is reported on the object's own path.
    """
    flat = {}

    def walk(prefix, value):
        if isinstance(value, Mapping):
            for key, inner in value.items():
                key = str(key)
                if key == "_schema" and prefix:
                    walk(prefix, inner)
                else:
                    walk(f"{prefix}.{key}" if prefix else key, inner)
        else:
            items = value if isinstance(value, list) else [value]
            flat.setdefault(prefix or "_schema", []).extend(items)

    walk("", messages)
    return flat


class _SchemaPool:
    """Schema instances to reuse: building one copies every declared field, which cost
    more than a load. A load keeps no state but ``current``, so an instance serves one
    load at a time (borrowed, then given back) for any thread or green thread."""

    def __init__(self, factory):
        self.factory = factory
        self.free = []

    @contextmanager
    def borrowed(self, current):
        try:
            schema = self.free.pop()
        except IndexError:
            schema = self.factory()
        schema.current = dict(current or {})
        try:
            yield schema
        finally:
            self.free.append(schema)


_new_schemas = _SchemaPool(NewClientSchema)
_patch_schemas = _SchemaPool(ClientPatchSchema)


def validate_client(data, partial=False, current=None):
    """Load a new client (``partial=False``) or a patch of ``current`` (``partial=True``).

    Returns the normalised dict (see :class:`NewClientSchema` / :class:`ClientPatchSchema`);
    raises ``ValidationFailed("some fields are invalid", errors={path: [messages]})``
    naming every invalid field at once.
    """
    pool = _patch_schemas if partial else _new_schemas
    with pool.borrowed(current) as schema:
        try:
            return schema.load(data if data is not None else {})
        except ValidationError as exc:
            raise ValidationFailed("some fields are invalid",
                                   flatten_errors(exc.messages)) from None
