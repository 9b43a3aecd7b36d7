"""Billing aggregates: lifecycles, every refused transition, payments, standing, replay."""
import json
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.billing import domain
from services.billing.domain import (Invoice, PurchaseOrder, Quote, format_invoice_number,
                                     invoice_standing, parse_invoice_number)
from services.common.contract import EVENT_TYPES
from services.common.errors import Conflict, NotFound, ValidationFailed

CLIENT = "11111111-1111-4111-8111-111111111111"
OTHER_CLIENT = "22222222-2222-4222-8222-222222222222"
PROJECT = "33333333-3333-4333-8333-333333333333"
WS = "acme"


def line(description="Consulting", quantity="1", unit_price="1000", tax_rate="21"):
    return {"description": description, "quantity": quantity, "unit_price": unit_price,
            "tax_rate": tax_rate}


def drafted(lines=None, currency="EUR", due_date="2026-02-15", issue_date=None, **kwargs):
    invoice = Invoice("inv-1")
    invoice.draft(WS, CLIENT, currency, [line()] if lines is None else lines,
                  project_id=PROJECT, issue_date=issue_date, due_date=due_date,
                  at="2026-01-10T09:00:00.000000Z", **kwargs)
    return invoice


def issued(**kwargs):
    invoice = drafted(**kwargs)
    invoice.issue("2026-000001", "2026-01-15", at="2026-01-15T10:00:00.000000Z")
    return invoice


def types(aggregate):
    return [event.type for event in aggregate.pending]


def stored(aggregate):
    """The pending events as the event store would hand them back (JSON round trip)."""
    return [SimpleNamespace(type=event.type, data=json.loads(json.dumps(event.data)),
                            stream_version=index)
            for index, event in enumerate(aggregate.pending, start=1)]


def replayed(aggregate):
    return type(aggregate).rehydrate(aggregate.id, stored(aggregate))


def assert_replays_identically(aggregate):
    again = replayed(aggregate)
    assert again.to_dict() == aggregate.to_dict()
    transient = {"pending": None, "version": None}  # stored vs. not yet stored
    assert vars(again) | transient == vars(aggregate) | transient
    assert again.version == aggregate.next_version


# -- the contract ------------------------------------------------------------------------------


def test_event_types_are_the_contracts():
    names = {value for key, value in vars(domain).items()
             if key.isupper() and isinstance(value, str) and value[:1].isupper()
             and value.isidentifier() and any(value.startswith(p) for p in
                                                ("Invoice", "PurchaseOrder", "Quote"))}
    assert names == EVENT_TYPES["billing"]


# -- drafting -------------------------------------------------------------------------------------


def test_draft_computes_lines_and_totals():
    invoice = drafted(lines=[line(quantity="3", unit_price="0.125", tax_rate="21.0"),
                             line(description="Hosting", quantity="2", unit_price="49.5",
                                  tax_rate="0")])
    assert types(invoice) == ["InvoiceDrafted"]
    data = invoice.pending[0].data
    assert data == {
        "invoice_id": "inv-1", "workspace": WS, "client_id": CLIENT, "project_id": PROJECT,
        "currency": "EUR", "status": "draft", "issue_date": None, "due_date": "2026-02-15",
        "lines": [
            {"description": "Consulting", "quantity": "3", "unit_price": "0.125",
             "tax_rate": "21", "net": "0.38", "tax": "0.08", "total": "0.46"},
            {"description": "Hosting", "quantity": "2", "unit_price": "49.50",
             "tax_rate": "0", "net": "99.00", "tax": "0.00", "total": "99.00"},
        ],
        "subtotal": "99.38", "tax": "0.08", "total": "99.46",
        "created_at": "2026-01-10T09:00:00.000000Z",
    }
    resource = invoice.to_dict()
    assert resource["status"] == "draft" and resource["number"] is None
    assert resource["version"] == 1
    assert (resource["subtotal"], resource["tax"], resource["total"]) == ("99.38", "0.08", "99.46")
    assert (resource["paid"], resource["outstanding"]) == ("0.00", "99.46")
    assert resource["created_at"] == "2026-01-10T09:00:00.000000Z"


def test_draft_in_jpy_and_kwd():
    jpy = drafted(currency="JPY", lines=[line(quantity="3", unit_price="1500", tax_rate="10")])
    assert (jpy.subtotal, jpy.tax, jpy.total) == ("4500", "450", "4950")
    kwd = drafted(currency="kwd", lines=[line(quantity="1", unit_price="1.2345", tax_rate="5")])
    assert kwd.currency == "KWD"
    assert (kwd.subtotal, kwd.tax, kwd.total) == ("1.235", "0.062", "1.297")
    assert kwd.to_dict()["lines"][0]["unit_price"] == "1.2345"


def test_draft_may_have_no_lines_and_dates():
    invoice = drafted(lines=[], due_date=None)
    assert invoice.total == "0.00" and invoice.lines == []


def test_draft_reports_every_invalid_field_at_once():
    invoice = Invoice("inv-1")
    with pytest.raises(ValidationFailed) as caught:
        invoice.draft(WS, None, "EUR", [
            line(quantity="0"),
            {"description": " ", "quantity": 1.5, "unit_price": "0.1234567",
             "tax_rate": "101", "discount": "5"},
            "nonsense",
        ], issue_date="2026-02-30")
    assert caught.value.status == 422
    assert caught.value.errors == {
        "client_id": ["an id is required"],
        "issue_date": ["must be a valid date written YYYY-MM-DD"],
        "lines.0.quantity": ["must be greater than 0"],
        "lines.1.description": ["a description is required"],
        "lines.1.quantity": ['must be a decimal string such as "12.50", not a JSON float'],
        "lines.1.unit_price": ["at most 6 decimals allowed"],
        "lines.1.tax_rate": ["must be a percentage between 0 and 100"],
        "lines.1.discount": ["unknown field"],
        "lines.2": ["must be an object"],
    }
    assert not invoice.exists and invoice.pending == []


@pytest.mark.parametrize("currency", ["XYZ", "XAU", "EURO", None, "DEM"])
def test_draft_refuses_unknown_currencies(currency):
    with pytest.raises(ValidationFailed) as caught:
        Invoice("inv-1").draft(WS, CLIENT, currency, [line()])
    assert list(caught.value.errors) == ["currency"]


def test_draft_refuses_a_due_date_before_the_issue_date():
    with pytest.raises(ValidationFailed) as caught:
        drafted(issue_date="2026-03-01", due_date="2026-02-28")
    assert list(caught.value.errors) == ["due_date"]
    drafted(issue_date="2026-03-01", due_date="2026-03-01")  # same day is fine


def test_draft_twice_is_a_conflict():
    invoice = drafted()
    with pytest.raises(Conflict):
        invoice.draft(WS, CLIENT, "EUR", [line()])


def test_draft_accepts_date_objects():
    invoice = drafted(issue_date=date(2026, 1, 5), due_date=date(2026, 2, 5))
    assert (invoice.issue_date, invoice.due_date) == ("2026-01-05", "2026-02-05")


def test_commands_on_a_missing_invoice_are_not_found():
    for command in (lambda i: i.issue("2026-000001", "2026-01-01"),
                    lambda i: i.record_payment("1", "2026-01-01"), lambda i: i.void(),
                    lambda i: i.update_draft({"due_date": None}),
                    lambda i: i.change_client(CLIENT)):
        with pytest.raises(NotFound):
            command(Invoice("nope"))


def test_ensure_in_hides_other_workspaces():
    invoice = drafted()
    invoice.ensure_in(WS)
    with pytest.raises(NotFound):
        invoice.ensure_in("other")
    with pytest.raises(NotFound):
        Invoice("x").ensure_in(WS)


# -- editing drafts ------------------------------------------------------------------------------


def test_update_draft_replaces_lines_and_reports_what_changed():
    invoice = drafted()
    changed = invoice.update_draft({"lines": [line(quantity="2"), line(unit_price="10")],
                                    "due_date": "2026-03-01", "project_id": None},
                                   at="2026-01-11T00:00:00.000000Z")
    assert changed is True
    assert types(invoice) == ["InvoiceDrafted", "InvoiceDraftUpdated"]
    data = invoice.pending[-1].data
    assert data["changed"] == ["project_id", "due_date", "lines"]
    assert data["previous"] == {"project_id": PROJECT, "due_date": "2026-02-15"}
    assert (data["invoice_id"], data["client_id"], data["project_id"], data["currency"]) == \
        ("inv-1", CLIENT, None, "EUR")
    assert (data["subtotal"], data["tax"], data["total"]) == ("2010.00", "422.10", "2432.10")
    assert invoice.total == "2432.10" and invoice.due_date == "2026-03-01"
    assert invoice.to_dict()["version"] == 2
    assert invoice.updated_at == "2026-01-11T00:00:00.000000Z"


def test_update_draft_with_the_same_values_records_nothing():
    invoice = drafted()
    assert invoice.update_draft({"lines": [line(tax_rate="21.00", unit_price="1000.0")],
                                 "due_date": "2026-02-15", "currency": "eur"}) is False
    assert types(invoice) == ["InvoiceDrafted"]


def test_update_draft_currency_rerounds_lines():
    invoice = drafted(lines=[line(quantity="3", unit_price="0.5", tax_rate="10")])
    assert invoice.total == "1.65"
    invoice.update_draft({"currency": "JPY"})
    assert invoice.lines[0]["net"] == "2" and invoice.lines[0]["tax"] == "0"
    assert (invoice.currency, invoice.total) == ("JPY", "2")


def test_update_draft_refuses_bad_fields():
    invoice = drafted()
    with pytest.raises(ValidationFailed) as caught:
        invoice.update_draft({"client_id": OTHER_CLIENT, "number": "x"})
    assert set(caught.value.errors) == {"client_id", "number"}
    with pytest.raises(ValidationFailed) as caught:
        invoice.update_draft({"issue_date": "2026-03-01"})  # after the due date 2026-02-15
    assert list(caught.value.errors) == ["due_date"]
    with pytest.raises(ValidationFailed) as caught:
        invoice.update_draft({"lines": [line(unit_price="-1")], "currency": "ABC"})
    assert list(caught.value.errors) == ["currency"]
    with pytest.raises(ValidationFailed) as caught:
        invoice.update_draft({"lines": [line(unit_price="-1")]})
    assert list(caught.value.errors) == ["lines.0.unit_price"]
    assert types(invoice) == ["InvoiceDrafted"]


@pytest.mark.parametrize("state", ["authorized", "paid", "partly paid", "void", "void draft"])
def test_any_edit_after_issuing_or_voiding_is_a_conflict(state):
    invoice = invoice_in(state)
    with pytest.raises(Conflict):
        invoice.update_draft({"due_date": "2026-12-31"})


# -- issuing ---------------------------------------------------------------------------------------


def test_issue_authorizes_with_the_contract_fields():
    invoice = drafted()
    invoice.issue("2026-000123", "2026-01-15", at="2026-01-15T10:00:00.000000Z")
    assert types(invoice) == ["InvoiceDrafted", "InvoiceIssued"]
    data = invoice.pending[-1].data
    assert {"invoice_id", "number", "client_id", "project_id", "currency", "total",
            "issue_date", "due_date"} <= set(data)
    assert data["invoice_id"] == "inv-1" and data["number"] == "2026-000123"
    assert (data["client_id"], data["project_id"], data["currency"]) == (CLIENT, PROJECT, "EUR")
    assert (data["total"], data["issue_date"], data["due_date"]) == \
        ("1210.00", "2026-01-15", "2026-02-15")
    assert (data["paid"], data["outstanding"]) == ("0.00", "1210.00")
    resource = invoice.to_dict()
    assert (resource["status"], resource["number"]) == ("authorized", "2026-000123")
    assert resource["issued_at"] == "2026-01-15T10:00:00.000000Z"


def test_issue_defaults_the_due_date_to_the_issue_date():
    invoice = drafted(due_date=None)
    invoice.issue("2026-000001", "2026-01-15")
    assert invoice.due_date == "2026-01-15"


def test_issue_may_set_the_due_date():
    invoice = drafted()
    invoice.issue("2026-000001", "2026-01-15", due_date="2026-04-01")
    assert invoice.due_date == "2026-04-01"


def test_issue_refuses_a_due_date_before_the_issue_date():
    invoice = drafted(due_date="2026-01-10")
    with pytest.raises(ValidationFailed) as caught:
        invoice.issue("2026-000001", "2026-01-15")
    assert list(caught.value.errors) == ["due_date"]
    assert invoice.status == "draft"


def test_issue_requires_an_issue_date():
    with pytest.raises(ValidationFailed) as caught:
        drafted().issue("2026-000001", None)
    assert list(caught.value.errors) == ["issue_date"]


def test_an_invoice_without_lines_cannot_be_issued():
    invoice = drafted(lines=[])
    with pytest.raises(Conflict, match="no lines"):
        invoice.issue("2026-000001", "2026-01-15")
    assert invoice.status == "draft" and types(invoice) == ["InvoiceDrafted"]


def test_a_zero_total_invoice_is_paid_when_issued():
    invoice = drafted(lines=[line(unit_price="0")])
    invoice.issue("2026-000001", "2026-01-15")
    assert types(invoice) == ["InvoiceDrafted", "InvoiceIssued", "InvoicePaid"]
    assert invoice.status == "paid" and invoice.outstanding == "0.00"
    assert invoice.pending[-1].data["paid_date"] == "2026-01-15"


@pytest.mark.parametrize("number", ["2026-123", "26-000001", "2026-0000001", "2026-000000",
                                    "2025-000001", None, 2026000001])
def test_issue_refuses_malformed_numbers(number):
    with pytest.raises(ValueError):
        drafted().issue(number, "2026-01-15")


def test_invoice_numbers():
    assert format_invoice_number(2026, 123) == "2026-000123"
    assert parse_invoice_number("2026-000123") == (2026, 123)
    with pytest.raises(ValueError):
        format_invoice_number(2026, 0)
    with pytest.raises(ValueError):
        format_invoice_number(2026, 1_000_000)


@pytest.mark.parametrize("state", ["authorized", "paid", "partly paid", "void", "void draft"])
def test_issuing_twice_or_after_void_is_a_conflict(state):
    invoice = invoice_in(state)
    before = list(invoice.pending)
    with pytest.raises(Conflict):
        invoice.issue("2026-000002", "2026-01-20")
    assert invoice.pending == before


# -- payments ----------------------------------------------------------------------------------------


def test_partial_then_full_payment_makes_it_paid():
    invoice = issued()
    invoice.record_payment("210.00", "2026-01-20")
    assert invoice.status == "authorized"
    assert (invoice.paid, invoice.outstanding) == ("210.00", "1000.00")
    data = invoice.pending[-1].data
    assert data == {
        "invoice_id": "inv-1", "number": "2026-000001", "client_id": CLIENT,
        "project_id": PROJECT, "currency": "EUR", "amount": "210.00", "date": "2026-01-20",
        "total": "1210.00", "paid": "210.00", "outstanding": "1000.00", "updated_at": None,
    }
    invoice.record_payment("1000", "2026-02-01", at="2026-02-01T08:00:00.000000Z")
    assert types(invoice)[-2:] == ["InvoicePaymentRecorded", "InvoicePaid"]
    recorded, paid = invoice.pending[-2].data, invoice.pending[-1].data
    assert (recorded["amount"], recorded["paid"], recorded["outstanding"]) == \
        ("1000.00", "1210.00", "0.00")
    assert paid["invoice_id"] == "inv-1" and paid["client_id"] == CLIENT
    assert (paid["currency"], paid["total"], paid["paid"], paid["outstanding"]) == \
        ("EUR", "1210.00", "1210.00", "0.00")
    assert paid["paid_date"] == "2026-02-01"
    resource = invoice.to_dict()
    assert resource["status"] == "paid"
    assert resource["payments"] == [{"amount": "210.00", "date": "2026-01-20"},
                                    {"amount": "1000.00", "date": "2026-02-01"}]
    assert resource["paid_at"] == "2026-02-01T08:00:00.000000Z"


def test_a_single_full_payment_makes_it_paid():
    invoice = issued(currency="JPY", lines=[line(unit_price="1500", tax_rate="10")])
    invoice.record_payment("1650", "2026-01-20")
    assert types(invoice)[-2:] == ["InvoicePaymentRecorded", "InvoicePaid"]
    assert invoice.pending[-2].data["amount"] == "1650"


@pytest.mark.parametrize("amount, message", [
    ("1210.01", "exceeds what is still owed: 1210.00 EUR"),
    ("99999", "exceeds what is still owed"),
    ("0", "greater than 0"),
    ("-5", "greater than 0"),
    ("10.001", "at most 2 decimals allowed in EUR"),
    (10.5, "float"),
    ("ten", "decimal number"),
])
def test_refused_payment_amounts(amount, message):
    invoice = issued()
    with pytest.raises(ValidationFailed) as caught:
        invoice.record_payment(amount, "2026-01-20")
    assert caught.value.status == 422
    assert list(caught.value.errors) == ["amount"]
    assert message in caught.value.errors["amount"][0]
    assert invoice.paid == "0.00" and types(invoice)[-1] == "InvoiceIssued"


def test_a_payment_may_not_overshoot_what_is_left():
    invoice = issued()
    invoice.record_payment("1200", "2026-01-20")
    with pytest.raises(ValidationFailed) as caught:
        invoice.record_payment("10.01", "2026-01-21")
    assert caught.value.errors == {"amount": ["exceeds what is still owed: 10.00 EUR"]}
    invoice.record_payment("10.00", "2026-01-21")
    assert invoice.status == "paid"


def test_payment_date_is_required_and_both_errors_come_together():
    with pytest.raises(ValidationFailed) as caught:
        issued().record_payment("0", "yesterday")
    assert set(caught.value.errors) == {"amount", "date"}


def test_payments_in_whole_and_three_decimal_currencies():
    jpy = issued(currency="JPY", lines=[line(unit_price="1001", tax_rate="10")])  # 1101
    with pytest.raises(ValidationFailed, match="invalid"):
        jpy.record_payment("100.5", "2026-01-20")
    jpy.record_payment("1100", "2026-01-20")
    assert jpy.outstanding == "1"
    bhd = issued(currency="BHD", lines=[line(unit_price="1.2345", tax_rate="0")])  # 1.235
    bhd.record_payment("1.234", "2026-01-20")
    assert bhd.outstanding == "0.001"
    bhd.record_payment("0.001", "2026-01-20")
    assert bhd.status == "paid"


@pytest.mark.parametrize("state", ["draft", "paid", "void", "void draft"])
def test_payments_on_draft_paid_or_void_invoices_are_conflicts(state):
    invoice = invoice_in(state)
    with pytest.raises(Conflict):
        invoice.record_payment("1", "2026-01-20")


# -- voiding ------------------------------------------------------------------------------------------


def test_void_an_unpaid_invoice_keeps_its_number():
    invoice = issued()
    invoice.void(reason="wrong client", at="2026-01-16T00:00:00.000000Z")
    assert types(invoice)[-1] == "InvoiceVoided"
    data = invoice.pending[-1].data
    assert data["number"] == "2026-000001" and data["previous_status"] == "authorized"
    assert (data["invoice_id"], data["client_id"], data["project_id"], data["currency"],
            data["total"]) == ("inv-1", CLIENT, PROJECT, "EUR", "1210.00")
    assert data["reason"] == "wrong client"
    resource = invoice.to_dict()
    assert (resource["status"], resource["number"]) == ("void", "2026-000001")
    assert resource["void_reason"] == "wrong client"


def test_a_draft_is_discarded_by_voiding_it():
    invoice = drafted()
    invoice.void()
    assert invoice.status == "void" and invoice.number is None
    assert invoice.pending[-1].data["previous_status"] == "draft"


@pytest.mark.parametrize("state", ["partly paid", "paid", "void", "void draft"])
def test_void_refused_once_anything_is_paid_or_already_void(state):
    invoice = invoice_in(state)
    with pytest.raises(Conflict):
        invoice.void()


# -- every invoice transition -----------------------------------------------------------------------


def invoice_in(state):
    if state == "draft":
        return drafted()
    invoice = issued()
    if state == "authorized":
        return invoice
    if state == "partly paid":
        invoice.record_payment("10", "2026-01-20")
    elif state == "paid":
        invoice.record_payment("1210", "2026-01-20")
    elif state == "void":
        invoice.void()
    elif state == "void draft":
        invoice = drafted()
        invoice.void()
    return invoice


COMMANDS = {
    "edit": lambda i: i.update_draft({"due_date": "2026-12-31"}),
    "issue": lambda i: i.issue("2026-000009", "2026-01-20"),
    "pay": lambda i: i.record_payment("1", "2026-01-20"),
    "void": lambda i: i.void(),
}
ALLOWED = {  # state -> commands that succeed
    "draft": {"edit", "issue", "void"},
    "authorized": {"pay", "void"},
    "partly paid": {"pay"},
    "paid": set(),
    "void": set(),
    "void draft": set(),
}


@pytest.mark.parametrize("state", list(ALLOWED))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_invoice_transition_table(state, command):
    invoice = invoice_in(state)
    if command in ALLOWED[state]:
        COMMANDS[command](invoice)
    else:
        before = list(invoice.pending)
        with pytest.raises(Conflict) as caught:
            COMMANDS[command](invoice)
        assert caught.value.status == 409 and str(caught.value)
        assert invoice.pending == before


# -- standing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, due, outstanding, as_of, expected", [
    ("draft", "2026-01-01", "10.00", "2026-06-01", "draft"),
    ("void", "2026-01-01", "10.00", "2026-06-01", "void"),
    ("paid", "2026-01-01", "0.00", "2026-06-01", "paid"),
    ("authorized", "2026-02-15", "10.00", "2026-02-14", "pending"),
    ("authorized", "2026-02-15", "10.00", "2026-02-15", "pending"),   # due today: not yet late
    ("authorized", "2026-02-15", "10.00", "2026-02-16", "overdue"),
    ("authorized", "2026-02-15", "0.00", "2026-02-16", "paid"),       # nothing owed
    ("authorized", "2026-02-15", "1", "2027-01-01", "overdue"),
    ("authorized", date(2026, 2, 15), "10.00", date(2026, 2, 16), "overdue"),
])
def test_invoice_standing(status, due, outstanding, as_of, expected):
    assert invoice_standing(status, due, outstanding, as_of) == expected


def test_standing_of_an_unknown_status_is_an_error():
    with pytest.raises(ValueError):
        invoice_standing("sent", "2026-01-01", "1", "2026-01-01")


@given(st.dates(), st.dates())
def test_standing_moves_with_as_of_only(due, as_of):
    invoice = drafted(due_date=None)
    invoice.issue("2026-000001", "2026-01-15", due_date=max(due, date(2026, 1, 15)))
    due_date = date.fromisoformat(invoice.due_date)
    events = len(invoice.pending)
    expected = "overdue" if due_date < as_of else "pending"
    assert invoice.standing(as_of) == expected
    assert invoice.to_dict(as_of=as_of)["standing"] == expected
    assert len(invoice.pending) == events  # asking records nothing


def test_standing_through_a_life():
    invoice = drafted()
    assert invoice.standing("2026-03-01") == "draft"
    invoice.issue("2026-000001", "2026-01-15")
    assert [invoice.standing(d) for d in ("2026-02-15", "2026-02-16")] == ["pending", "overdue"]
    invoice.record_payment("1000", "2026-03-01")
    assert invoice.standing("2026-03-02") == "overdue"  # still owes 210.00
    invoice.record_payment("210", "2026-03-02")
    assert invoice.standing("2026-03-02") == "paid"


# -- re-pointing on merges ---------------------------------------------------------------------------


def make_purchase_order():
    order = PurchaseOrder("po-1")
    order.place(WS, CLIENT, PROJECT, "EUR", "500", "2026-01-05", at="t0")
    return order


def make_quote():
    quote = Quote("q-1")
    quote.create(WS, CLIENT, PROJECT, "USD", "750.5", "2026-02-01", at="t0")
    return quote


@pytest.mark.parametrize("make, event_type, id_key", [
    (lambda: issued(), "InvoiceClientChanged", "invoice_id"),
    (lambda: invoice_in("void"), "InvoiceClientChanged", "invoice_id"),
    (lambda: invoice_in("paid"), "InvoiceClientChanged", "invoice_id"),
    (make_purchase_order, "PurchaseOrderClientChanged", "purchase_order_id"),
    (make_quote, "QuoteClientChanged", "quote_id"),
])
def test_change_client_repoints_in_any_state(make, event_type, id_key):
    document = make()
    assert document.change_client(OTHER_CLIENT, reason="merge", merge_id="m-1") is True
    event = document.pending[-1]
    assert event.type == event_type
    assert event.data[id_key] == document.id
    assert (event.data["client_id"], event.data["previous_client_id"]) == (OTHER_CLIENT, CLIENT)
    assert (event.data["project_id"], event.data["reason"], event.data["merge_id"]) == \
        (PROJECT, "merge", "m-1")
    assert event.data["currency"] == document.currency
    assert event.data["total"] == document.total
    assert document.client_id == OTHER_CLIENT
    # the unmerge points it back
    assert document.change_client(CLIENT, reason="unmerge", merge_id="m-1") is True
    assert document.client_id == CLIENT
    assert document.pending[-1].data["previous_client_id"] == OTHER_CLIENT
    assert_replays_identically(document)


def test_change_client_to_the_same_client_records_nothing():
    invoice = issued()
    before = len(invoice.pending)
    assert invoice.change_client(CLIENT, "merge", "m-1") is False
    assert len(invoice.pending) == before


def test_change_client_requires_a_client():
    with pytest.raises(ValidationFailed):
        issued().change_client(None, "merge", "m-1")


def test_invoice_client_changed_carries_amounts_and_status():
    invoice = issued()
    invoice.record_payment("10", "2026-01-20")
    invoice.change_client(OTHER_CLIENT, "merge", "m-1")
    data = invoice.pending[-1].data
    assert (data["status"], data["total"], data["paid"], data["outstanding"]) == \
        ("authorized", "1210.00", "10.00", "1200.00")


# -- purchase orders ------------------------------------------------------------------------------


def test_purchase_order_place_and_finalize():
    order = make_purchase_order()
    assert order.pending[0].type == "PurchaseOrderPlaced"
    assert order.pending[0].data == {
        "purchase_order_id": "po-1", "workspace": WS, "client_id": CLIENT,
        "project_id": PROJECT, "currency": "EUR", "total": "500.00", "date": "2026-01-05",
        "status": "placed", "created_at": "t0",
    }
    order.finalize(at="t1")
    assert order.pending[-1].type == "PurchaseOrderFinalized"
    data = order.pending[-1].data
    assert (data["purchase_order_id"], data["client_id"], data["project_id"],
            data["currency"], data["total"]) == ("po-1", CLIENT, PROJECT, "EUR", "500.00")
    assert (data["status"], data["previous_status"]) == ("finalized", "placed")
    assert order.to_dict() == {
        "id": "po-1", "version": 2, "status": "finalized", "client_id": CLIENT,
        "project_id": PROJECT, "currency": "EUR", "total": "500.00", "date": "2026-01-05",
        "created_at": "t0", "updated_at": "t1", "finalized_at": "t1",
    }
    assert_replays_identically(order)


def test_purchase_order_finalize_twice_is_a_conflict():
    order = make_purchase_order()
    order.finalize()
    with pytest.raises(Conflict):
        order.finalize()


def test_purchase_order_refusals():
    with pytest.raises(Conflict):
        make_purchase_order().place(WS, CLIENT, None, "EUR", "1", "2026-01-01")
    with pytest.raises(NotFound):
        PurchaseOrder("none").finalize()
    with pytest.raises(ValidationFailed) as caught:
        PurchaseOrder("po-2").place(WS, None, None, "JPY", "10.5", "01/02/2026")
    assert set(caught.value.errors) == {"client_id", "total", "date"}
    with pytest.raises(ValidationFailed) as caught:
        PurchaseOrder("po-2").place(WS, CLIENT, None, "EUR", "-1", "2026-01-01")
    assert list(caught.value.errors) == ["total"]
    with pytest.raises(ValidationFailed) as caught:
        PurchaseOrder("po-2").place(WS, CLIENT, None, "QQQ", "1", "2026-01-01")
    assert list(caught.value.errors) == ["currency"]


# -- quotes -------------------------------------------------------------------------------------------


def quote_in(status):
    quote = make_quote()
    if status in ("sent", "accepted", "rejected"):
        quote.send()
    if status == "accepted":
        quote.accept()
    if status == "rejected":
        quote.reject()
    return quote


QUOTE_ALLOWED = {
    ("draft", "send"): "sent",
    ("sent", "accept"): "accepted",
    ("sent", "reject"): "rejected",
}


@pytest.mark.parametrize("status", ["draft", "sent", "accepted", "rejected"])
@pytest.mark.parametrize("command", ["send", "accept", "reject"])
def test_quote_transition_table(status, command):
    quote = quote_in(status)
    assert quote.status == status
    target = QUOTE_ALLOWED.get((status, command))
    if target:
        getattr(quote, command)(at="t2")
        event = quote.pending[-1]
        assert event.type == "QuoteStatusChanged"
        assert event.data == {
            "quote_id": "q-1", "client_id": CLIENT, "project_id": PROJECT, "currency": "USD",
            "total": "750.50", "valid_until": "2026-02-01", "status": target,
            "previous_status": status, "updated_at": "t2",
        }
        assert quote.status == target
    else:
        before = list(quote.pending)
        with pytest.raises(Conflict):
            getattr(quote, command)()
        assert quote.pending == before and quote.status == status


def test_quote_created_and_open():
    quote = make_quote()
    assert quote.pending[0].data == {
        "quote_id": "q-1", "workspace": WS, "client_id": CLIENT, "project_id": PROJECT,
        "currency": "USD", "total": "750.50", "valid_until": "2026-02-01", "status": "draft",
        "created_at": "t0",
    }
    assert quote.is_open
    quote.send()
    assert quote.is_open
    quote.accept()
    assert not quote.is_open
    assert quote.to_dict()["status"] == "accepted"
    assert_replays_identically(quote)


def test_quote_refusals():
    with pytest.raises(Conflict):
        make_quote().create(WS, CLIENT, None, "EUR", "1", "2026-01-01")
    with pytest.raises(NotFound):
        Quote("none").send()
    with pytest.raises(ValidationFailed) as caught:
        Quote("q-2").create(WS, CLIENT, None, "EUR", "1.001", None)
    assert set(caught.value.errors) == {"total", "valid_until"}


# -- rehydration ---------------------------------------------------------------------------------------


def test_rehydrating_an_invoice_gives_the_live_state():
    invoice = drafted()
    invoice.update_draft({"lines": [line(quantity="2.5", unit_price="99.99")]})
    invoice.issue("2026-000007", "2026-01-15", at="t2")
    invoice.record_payment("100", "2026-01-20", at="t3")
    invoice.change_client(OTHER_CLIENT, "merge", "m-1", at="t4")
    invoice.record_payment(invoice.outstanding, "2026-01-25", at="t5")
    assert invoice.status == "paid"
    assert_replays_identically(invoice)
    again = replayed(invoice)
    assert again.version == len(invoice.pending) and again.pending == []
    assert again.to_dict()["version"] == invoice.to_dict()["version"]


def test_event_data_is_never_shared_with_state():
    invoice = drafted()
    invoice.pending[0].data["lines"][0]["net"] = "tampered"
    assert invoice.lines[0]["net"] == "1000.00"
    invoice.to_dict()["lines"][0]["net"] = "tampered"
    assert invoice.lines[0]["net"] == "1000.00"


amounts = st.decimals(min_value="0.01", max_value="2000", places=2)
invoice_steps = st.lists(st.one_of(
    st.tuples(st.just("edit"), st.lists(st.tuples(
        st.decimals(min_value="0.0001", max_value="100", places=4),
        st.decimals(min_value="0", max_value="1000", places=6),
        st.sampled_from(["0", "4", "10", "21", "5.5"])), max_size=5)),
    st.tuples(st.just("issue"), st.integers(1, 999999)),
    st.tuples(st.just("pay"), amounts),
    st.tuples(st.just("void"), st.none()),
    st.tuples(st.just("move"), st.sampled_from([CLIENT, OTHER_CLIENT])),
), max_size=12)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["EUR", "JPY", "KWD"]), invoice_steps)
def test_any_history_replays_to_the_live_state(currency, steps):
    invoice = drafted(currency=currency, lines=[])
    for step, argument in steps:
        try:
            if step == "edit":
                invoice.update_draft({"lines": [
                    line(quantity=str(q), unit_price=str(p), tax_rate=r)
                    for q, p, r in argument]})
            elif step == "issue":
                invoice.issue(format_invoice_number(2026, argument), "2026-01-15")
            elif step == "pay":
                invoice.record_payment(str(argument), "2026-01-20")
            elif step == "void":
                invoice.void()
            else:
                invoice.change_client(argument, "merge", "m")
        except (Conflict, ValidationFailed):
            pass
        # invariants hold after every step
        assert 0 <= Decimal(invoice.paid) <= Decimal(invoice.total)
        assert Decimal(invoice.paid) + Decimal(invoice.outstanding) == Decimal(invoice.total)
        assert (invoice.status == "paid") == (invoice.number is not None
                                              and Decimal(invoice.outstanding) == 0)
    assert_replays_identically(invoice)
