"""Billing input schemas: every invalid field reported at once, by path."""
import json

import pytest

from services.billing import schemas
from services.billing.domain import Invoice, PurchaseOrder, Quote
from services.billing.schemas import (InvoicePatchSchema, IssueInvoiceSchema, NewInvoiceSchema,
                                      NewPurchaseOrderSchema, NewQuoteSchema, PaymentSchema,
                                      VoidInvoiceSchema, flatten_errors, load_or_raise)
from services.common.errors import ValidationFailed

CLIENT = "11111111-1111-4111-8111-111111111111"
PROJECT = "33333333-3333-4333-8333-333333333333"


def errors_of(schema, data):
    with pytest.raises(ValidationFailed) as caught:
        load_or_raise(schema, data)
    assert caught.value.status == 422
    return caught.value.errors


def test_new_invoice_loads_json_safe_values():
    loaded = load_or_raise(NewInvoiceSchema, {
        "client_id": CLIENT.upper(), "project_id": PROJECT, "currency": "EUR",
        "issue_date": "2026-01-15", "due_date": "2026-02-15",
        "lines": [{"description": "Consulting", "quantity": 3, "unit_price": "0.1250",
                   "tax_rate": "21.0"}],
    })
    assert loaded == {
        "client_id": CLIENT, "project_id": PROJECT, "currency": "EUR",
        "issue_date": "2026-01-15", "due_date": "2026-02-15",
        "lines": [{"description": "Consulting", "quantity": "3", "unit_price": "0.125",
                   "tax_rate": "21"}],
    }
    json.dumps(loaded)  # crosses RPC as is


def test_new_invoice_defaults():
    loaded = load_or_raise(NewInvoiceSchema(), {"client_id": CLIENT, "currency": "JPY"})
    assert loaded == {"client_id": CLIENT, "project_id": None, "currency": "JPY",
                      "issue_date": None, "due_date": None, "lines": []}


def test_new_invoice_reports_every_invalid_field_by_path():
    errors = errors_of(NewInvoiceSchema, {
        "client_id": "not-a-uuid", "currency": "EURO", "due_date": "2026-13-01",
        "lines": [
            {"description": "ok", "quantity": "1", "unit_price": "10", "tax_rate": "21"},
            {"description": "", "quantity": 1.5, "unit_price": "0.1234567",
             "tax_rate": "101", "discount": "5"},
            {"description": "x", "quantity": "0", "unit_price": "-1"},
            "nonsense",
        ],
        "number": "2026-000001",
    })
    assert set(errors) == {
        "client_id", "currency", "due_date", "number",
        "lines.1.description", "lines.1.quantity", "lines.1.unit_price", "lines.1.tax_rate",
        "lines.1.discount",
        "lines.2.quantity", "lines.2.unit_price", "lines.2.tax_rate",
        "lines.3",
    }
    assert errors["lines.1.quantity"] == [
        'must be a decimal string such as "12.50", not a JSON float']
    assert errors["lines.1.unit_price"] == ["at most 6 decimals allowed"]
    assert errors["lines.2.quantity"] == ["must be greater than 0"]
    assert errors["lines.2.tax_rate"] == ["this field is required"]
    assert errors["number"] == ["this field is not recognised"]
    assert all(isinstance(m, str) for messages in errors.values() for m in messages)


def test_new_invoice_requires_client_and_currency():
    assert set(errors_of(NewInvoiceSchema, {})) == {"client_id", "currency"}


@pytest.mark.parametrize("currency", ["XYZ", "XAU", "DEM", "", 978, None])
def test_unknown_currencies_are_refused(currency):
    assert list(errors_of(NewInvoiceSchema, {"client_id": CLIENT, "currency": currency})) == \
        ["currency"]


def test_due_date_before_issue_date_is_refused_even_with_other_errors():
    errors = errors_of(NewInvoiceSchema, {"client_id": "x", "currency": "EUR",
                                          "issue_date": "2026-03-01", "due_date": "2026-02-01"})
    assert set(errors) == {"client_id", "due_date"}
    assert "before the issue date" in errors["due_date"][0]


def test_too_many_lines():
    many = [{"description": "d", "quantity": "1", "unit_price": "1", "tax_rate": "0"}] * 1001
    assert list(errors_of(NewInvoiceSchema, {"client_id": CLIENT, "currency": "EUR",
                                             "lines": many})) == ["lines"]


def test_a_thousand_lines_are_accepted_and_sum_exactly():
    lines = [{"description": f"item {i}", "quantity": "1", "unit_price": "0.10",
              "tax_rate": "21"} for i in range(1000)]
    loaded = load_or_raise(NewInvoiceSchema, {"client_id": CLIENT, "currency": "EUR",
                                              "lines": lines})
    invoice = Invoice("inv")
    invoice.draft("ws", loaded["client_id"], loaded["currency"], loaded["lines"])
    assert (invoice.subtotal, invoice.tax, invoice.total) == ("100.00", "20.00", "120.00")


def test_invoice_patch_is_partial():
    assert load_or_raise(InvoicePatchSchema, {}) == {}
    assert load_or_raise(InvoicePatchSchema, {"project_id": None, "due_date": None}) == \
        {"project_id": None, "due_date": None}
    errors = errors_of(InvoicePatchSchema, {"client_id": CLIENT, "currency": None,
                                            "lines": [{"description": "x"}]})
    assert set(errors) == {"client_id", "currency", "lines.0.quantity", "lines.0.unit_price",
                           "lines.0.tax_rate"}


def test_invoice_patch_feeds_update_draft():
    invoice = Invoice("inv")
    invoice.draft("ws", CLIENT, "EUR", [])
    patch = load_or_raise(InvoicePatchSchema, {"lines": [
        {"description": "a", "quantity": "2", "unit_price": "5", "tax_rate": "10"}]})
    assert invoice.update_draft(patch) is True
    assert invoice.total == "11.00"


def test_issue_and_void_bodies():
    assert load_or_raise(IssueInvoiceSchema, None) == {"issue_date": None, "due_date": None}
    assert list(errors_of(IssueInvoiceSchema, {"issue_date": "2026-02-02",
                                               "due_date": "2026-02-01"})) == ["due_date"]
    assert load_or_raise(VoidInvoiceSchema, {}) == {"reason": None}
    assert list(errors_of(VoidInvoiceSchema, {"reason": "x" * 1001})) == ["reason"]


@pytest.mark.parametrize("body, expected", [
    ({"amount": "100.50", "date": "2026-01-20"}, {"amount": "100.5", "date": "2026-01-20"}),
    ({"amount": "1500", "date": "2026-01-20"}, {"amount": "1500", "date": "2026-01-20"}),
    ({"amount": 7, "date": "2026-01-20"}, {"amount": "7", "date": "2026-01-20"}),
])
def test_payment_schema_accepts(body, expected):
    assert load_or_raise(PaymentSchema, body) == expected


@pytest.mark.parametrize("body, fields", [
    ({}, {"amount", "date"}),
    ({"amount": "0", "date": "2026-01-20"}, {"amount"}),
    ({"amount": "-1", "date": "2026-01-20"}, {"amount"}),
    ({"amount": 10.5, "date": "2026-01-20"}, {"amount"}),
    ({"amount": "1e3", "date": "2026-01-20"}, {"amount"}),
    ({"amount": None, "date": "20-01-2026"}, {"amount", "date"}),
    ({"amount": "1", "date": "2026-01-20", "method": "cash"}, {"method"}),
])
def test_payment_schema_refuses(body, fields):
    assert set(errors_of(PaymentSchema, body)) == fields


def test_payment_precision_is_checked_against_the_invoice_currency():
    loaded = load_or_raise(PaymentSchema, {"amount": "10.005", "date": "2026-01-20"})
    invoice = Invoice("inv")
    invoice.draft("ws", CLIENT, "EUR", [{"description": "a", "quantity": "1",
                                         "unit_price": "100", "tax_rate": "0"}])
    invoice.issue("2026-000001", "2026-01-15")
    with pytest.raises(ValidationFailed) as caught:
        invoice.record_payment(loaded["amount"], loaded["date"])
    assert caught.value.errors == {"amount": ["at most 2 decimals allowed in EUR"]}


def test_new_purchase_order():
    loaded = load_or_raise(NewPurchaseOrderSchema, {
        "client_id": CLIENT, "currency": "USD", "total": "1200.5", "date": "2026-01-05"})
    assert loaded == {"client_id": CLIENT, "project_id": None, "currency": "USD",
                      "total": "1200.50", "date": "2026-01-05"}
    order = PurchaseOrder("po")
    order.place("ws", **loaded)
    assert order.total == "1200.50"
    errors = errors_of(NewPurchaseOrderSchema, {"client_id": CLIENT, "currency": "JPY",
                                                "total": "10.5", "valid_until": "2026-01-01"})
    assert errors == {"total": ["JPY has no minor unit: whole amounts only"],
                      "date": ["this field is required"],
                      "valid_until": ["this field is not recognised"]}
    assert set(errors_of(NewPurchaseOrderSchema, {"client_id": CLIENT, "currency": "EUR",
                                                  "total": "-1", "date": "2026-01-05"})) == \
        {"total"}


def test_new_quote():
    loaded = load_or_raise(NewQuoteSchema, {
        "client_id": CLIENT, "project_id": PROJECT, "currency": "BHD", "total": "12.5",
        "valid_until": "2026-03-31"})
    assert loaded["total"] == "12.500"
    quote = Quote("q")
    quote.create("ws", **loaded)
    assert quote.status == "draft"
    errors = errors_of(NewQuoteSchema, {"client_id": CLIENT, "currency": "BHD",
                                        "total": "1.0001", "valid_until": "soon"})
    assert set(errors) == {"total", "valid_until"}
    assert errors["total"] == ["at most 3 decimals allowed in BHD"]


def test_body_that_is_not_an_object():
    assert errors_of(NewQuoteSchema, ["a"]) == {"_schema": ["must be a JSON object"]}


def test_flatten_errors():
    assert flatten_errors({
        "a": ["x"], "lines": {0: {"q": ["y"]}, 2: {"_schema": ["z"]}},
        "_schema": ["w"], "b": "v",
    }) == {"a": ["x"], "lines.0.q": ["y"], "lines.2": ["z"], "_schema": ["w"], "b": ["v"]}


def test_schemas_module_exports_the_named_schemas():
    for name in ("NewInvoiceSchema", "InvoicePatchSchema", "PaymentSchema",
                 "NewPurchaseOrderSchema", "NewQuoteSchema", "load_or_raise"):
        assert hasattr(schemas, name)
