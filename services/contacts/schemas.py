"""marshmallow schemas at the contacts service's edges."""
from marshmallow import RAISE, Schema, fields, validate


class NewClientSchema(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(load_default="company", validate=validate.OneOf(["company", "person"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    tax_id = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=40))
    email = fields.Email(load_default=None, allow_none=True)


class ClientSchema(Schema):
    id = fields.String()
    version = fields.Integer()
    kind = fields.String()
    name = fields.String()
    tax_id = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    created_at = fields.String()
    updated_at = fields.String()
    archived = fields.Boolean()
