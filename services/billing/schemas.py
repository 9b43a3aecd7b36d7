"""marshmallow schemas at the billing service's edges (HTTP bodies and RPC arguments).

Every schema reports all invalid fields at once; ``load_or_raise`` turns them
into ``ValidationFailed`` (422) with flattened paths such as
``lines.0.quantity``. Loaded data stays JSON-safe so it can cross RPC as is:
ids, currency codes, decimals and dates come out as strings (decimals in
canonical form, dates ``YYYY-MM-DD``). Numbers must be decimal strings (an
integer is tolerated for quantities and rates); a JSON float is refused.

Checks that need the invoice itself (a payment's decimals in the invoice's
currency, what is still owed) are the aggregate's (``domain``).
"""
import re
from collections.abc import Mapping

from marshmallow import ValidationError, fields, validate, validates_schema

from services.common.errors import ValidationFailed
from services.common.schemas import StrictSchema, bounded_date

from . import domain, money


class DecimalString(fields.Field):
    """A decimal given as a string (or an int); loads to its canonical string.

    ``parse`` is one of ``money.parse_quantity``, ``parse_unit_price``,
    ``parse_tax_rate``: range and decimals are checked there, so the service
    and the aggregate agree on them.
    """

    def __init__(self, parse, min_places=0, **kwargs):
        super().__init__(**kwargs)
        self.parse = parse
        self.min_places = min_places

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return money.format_decimal(self.parse(value), self.min_places)
        except money.InvalidAmount as exc:
            raise ValidationError(str(exc)) from None


def _positive_amount(value):
    """An amount > 0 in some currency (its decimals are checked against the currency later)."""
    amount = money.parse_decimal(value)
    if amount <= 0:
        raise money.InvalidAmount("must be greater than 0")
    if amount >= money.MAX_AMOUNT:
        raise money.InvalidAmount(f"must be less than {money.format_decimal(money.MAX_AMOUNT)}")
    return amount


def _non_negative_amount(value):
    amount = money.parse_decimal(value)
    if amount < 0:
        raise money.InvalidAmount("must be at least 0")
    if amount >= money.MAX_AMOUNT:
        raise money.InvalidAmount(f"must be less than {money.format_decimal(money.MAX_AMOUNT)}")
    return amount


class CurrencyCode(fields.Field):
    """An ISO 4217 code with a minor unit, exactly as ISO writes it (``"EUR"``; ``"eur"``
    and ``"EUR "`` are refused: a code is compared and stored as given)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not re.fullmatch(r"[A-Z]{3}", value):
            raise ValidationError("must be a three-letter ISO 4217 currency code")
        try:
            return money.normalize_currency(value)
        except money.UnknownCurrency as exc:
            raise ValidationError(str(exc)) from None


class DateString(fields.Field):
    """A calendar date written ``YYYY-MM-DD`` (``schemas.MIN_DATE``..``MAX_DATE``); loads to
    that string."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return bounded_date(value).isoformat()
        except ValueError as exc:
            if exc.args and hasattr(exc.args[0], "code"):
                raise ValidationError(exc.args[0]) from None
            raise ValidationError("must be a valid date written YYYY-MM-DD") from None


class IdString(fields.UUID):
    """A uuid; loads to its canonical lower-case string."""

    def _deserialize(self, value, attr, data, **kwargs):
        return str(super()._deserialize(value, attr, data, **kwargs))


def _not_blank(value):
    if not value.strip():
        raise ValidationError("must not be blank")


_Strict = StrictSchema  # unknown fields refused, messages in plain words


class InvoiceLineSchema(_Strict):
    description = fields.String(required=True, validate=[
        validate.Length(max=domain.MAX_DESCRIPTION,
                        error=f"must be at most {domain.MAX_DESCRIPTION} characters"),
        _not_blank])
    quantity = DecimalString(money.parse_quantity, required=True)
    unit_price = DecimalString(money.parse_unit_price, required=True)
    tax_rate = DecimalString(money.parse_tax_rate, required=True)


def _lines_field(**kwargs):
    return fields.List(fields.Nested(InvoiceLineSchema),
                       validate=validate.Length(max=domain.MAX_LINES,
                                                error=f"at most {domain.MAX_LINES} lines"),
                       **kwargs)


def _due_not_before_issue(data):
    issue_date, due_date = data.get("issue_date"), data.get("due_date")
    if issue_date and due_date and due_date < issue_date:  # YYYY-MM-DD sorts as dates
        raise ValidationError(f"due date {due_date} is before the issue date {issue_date}",
                              field_name="due_date")


class NewInvoiceSchema(_Strict):
    """``POST /invoices``: a draft for a client (and optionally one of its projects)."""

    client_id = IdString(required=True)
    project_id = IdString(load_default=None, allow_none=True)
    currency = CurrencyCode(required=True)
    issue_date = DateString(load_default=None, allow_none=True)
    due_date = DateString(load_default=None, allow_none=True)
    lines = _lines_field(load_default=list)

    @validates_schema(skip_on_field_errors=False)
    def _check_dates(self, data, **kwargs):
        _due_not_before_issue(data)


class InvoicePatchSchema(_Strict):
    """``PATCH /invoices/{id}`` on a draft: any of these; ``lines`` replaces all lines."""

    project_id = IdString(allow_none=True)
    currency = CurrencyCode()
    issue_date = DateString(allow_none=True)
    due_date = DateString(allow_none=True)
    lines = _lines_field()

    @validates_schema(skip_on_field_errors=False)
    def _check_dates(self, data, **kwargs):
        _due_not_before_issue(data)


class IssueInvoiceSchema(_Strict):
    """``POST /invoices/{id}/issue``: optional dates (the service defaults ``issue_date``)."""

    issue_date = DateString(load_default=None, allow_none=True)
    due_date = DateString(load_default=None, allow_none=True)

    @validates_schema(skip_on_field_errors=False)
    def _check_dates(self, data, **kwargs):
        _due_not_before_issue(data)


class PaymentSchema(_Strict):
    """``POST /invoices/{id}/payments``."""

    amount = DecimalString(_positive_amount, required=True)
    date = DateString(required=True)


class VoidInvoiceSchema(_Strict):
    """``POST /invoices/{id}/void``: an optional reason."""

    reason = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=1000,
                                                    error="must be at most 1000 characters"))


class _Totalled(_Strict):
    """A document whose total is given in its currency (orders, quotes)."""

    client_id = IdString(required=True)
    project_id = IdString(load_default=None, allow_none=True)
    currency = CurrencyCode(required=True)
    total = DecimalString(_non_negative_amount, required=True)

    @validates_schema(skip_on_field_errors=False)
    def _check_total(self, data, **kwargs):
        if "currency" in data and "total" in data:
            try:
                data["total"] = money.format_amount(
                    money.parse_amount(data["total"], data["currency"]), data["currency"])
            except money.InvalidAmount as exc:
                raise ValidationError(str(exc), field_name="total") from None


class NewPurchaseOrderSchema(_Totalled):
    """``POST /purchase-orders``."""

    date = DateString(required=True)


class NewQuoteSchema(_Totalled):
    """``POST /quotes``."""

    valid_until = DateString(required=True)


def flatten_errors(messages):
    """marshmallow messages -> ``{"field.path": [messages]}``.

    Nested keys are joined with dots (list indexes included:
    ``lines.0.quantity``); a nested ``_schema`` error is reported on its
    parent's path, a top-level one as ``_schema``.
    """
    flat = {}

    def walk(prefix, value):
        if isinstance(value, Mapping):
            for key, inner in value.items():
                if key == "_schema":
                    walk(prefix, inner)
                else:
                    walk(f"{prefix}.{key}" if prefix else str(key), inner)
        else:
            messages_list = value if isinstance(value, list) else [value]
            flat.setdefault(prefix or "_schema", []).extend(str(m) for m in messages_list)

    walk("", messages)
    return flat


def load_or_raise(schema, data):
    """Load ``data`` with ``schema`` (a class or an instance) or raise ``ValidationFailed``."""
    if isinstance(schema, type):
        schema = schema()
    try:
        return schema.load({} if data is None else data)
    except ValidationError as exc:
        raise ValidationFailed("some fields are invalid", flatten_errors(exc.messages)) from None
