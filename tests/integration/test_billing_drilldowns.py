"""Every billing figure of the client overview drills down to exactly the documents it
counts: the billing lists with the same client, status and as_of give the same counts
and the same amounts per currency, whatever the date."""
import uuid
from collections import defaultdict
from decimal import Decimal

from tests.integration.test_billing_api import create_client, new_invoice, url

AMOUNT_OF = {"draft": "total", "authorized": "total", "paid": "total",
             "pending": "outstanding", "overdue": "outstanding"}


def figure(items, field):
    amounts = defaultdict(Decimal)
    for item in items:
        amounts[item["currency"]] += Decimal(item[field])
    return len(items), dict(amounts)


def as_figure(counted):
    return counted["count"], {currency: Decimal(amount)
                              for currency, amount in counted["amount"].items()}


def test_the_overview_figures_are_what_the_lists_hold(stack):
    session = stack.session(role="member")
    client_id = create_client(stack, session)
    other = create_client(stack, session, "Globex")
    writes = []

    def post(path, body=None):
        answer = session.post(url(stack, path), json=body or {})
        assert answer.status_code in (200, 201), answer.text
        writes.append(answer.headers["Consistency-Token"])
        return answer.json()

    def invoice(due, currency="EUR", client=client_id, steps=()):
        draft = new_invoice(stack, session, client, currency=currency, issue_date="2026-01-10",
                            due_date=due)
        for step, body in steps:
            post(f"invoices/{draft['id']}/{step}", body)
        return draft

    issue = ("issue", {})
    invoice("2026-02-01", steps=[issue])
    invoice("2026-03-01", steps=[issue, ("payments", {"amount": "500",
                                                      "date": "2026-01-20"})])
    invoice("2026-03-01", "USD", steps=[issue])
    invoice("2026-02-01", "JPY", steps=[issue])
    invoice("2026-02-01", steps=[issue, ("payments", {"amount": "1210",
                                                      "date": "2026-01-21"})])
    invoice("2026-02-15", steps=[issue, ("void", {})])
    invoice("2026-02-20")  # a draft (each invoice is 1210.00 in its currency, 1210 JPY)
    invoice("2026-01-11", client=other, steps=[issue])
    for total, finalize in (("100", True), ("250.50", False)):
        order = post("purchase-orders", {"client_id": client_id, "currency": "EUR",
                                         "total": total, "date": "2026-01-05"})
        if finalize:
            post(f"purchase-orders/{order['id']}/finalize")
    for total, steps in (("1000", []), ("300", ["send"]), ("700", ["send", "accept"]),
                         ("50", ["send", "reject"])):
        quote = post("quotes", {"client_id": client_id, "currency": "EUR", "total": total,
                                "valid_until": "2026-06-30"})
        for step in steps:
            post(f"quotes/{quote['id']}/{step}")
    token = writes[-1]  # billing positions are in order: the last one covers them all

    def listed(path, **params):
        answer = session.get(url(stack, path), params={"client_id": client_id, **params})
        assert answer.status_code == 200, answer.text
        assert answer.json()["next_cursor"] is None
        return answer.json()["items"]

    for as_of in ("2026-01-31", "2026-02-01", "2026-02-02", "2026-03-02"):
        overview = session.get(url(stack, f"clients/{client_id}/overview"),
                               params={"as_of": as_of}, headers={"Consistency-Token": token})
        assert overview.status_code == 200, overview.text
        body = overview.json()
        for status, field in AMOUNT_OF.items():
            items = listed("invoices", status=status, as_of=as_of)
            assert figure(items, field) == as_figure(body["invoices"][status]), (as_of, status)
        chart = {entry["label"]: as_figure(entry) for entry in body["chart"]["invoices"]}
        for label, counted in chart.items():
            assert counted == figure(listed("invoices", status=label, as_of=as_of),
                                     AMOUNT_OF[label])
    assert figure(listed("invoices", status="overdue", as_of="2026-03-02"), "outstanding") \
        == (4, {"EUR": Decimal("1920.00"), "USD": Decimal("1210.00"), "JPY": Decimal("1210")})
    orders = body["purchase_orders"]
    assert figure(listed("purchase-orders"), "total") == as_figure(orders["total"])
    assert figure(listed("purchase-orders", status="finalized"), "total") \
        == as_figure(orders["finalized"])
    quotes = body["quotes"]
    assert figure(listed("quotes", status="open"), "total") == as_figure(quotes["open"]) \
        == (2, {"EUR": Decimal("1300.00")})
    assert figure(listed("quotes", status="accepted"), "total") \
        == as_figure(quotes["accepted"])


def test_a_malformed_id_filter_is_a_bad_request(stack):
    """As the projects list answers it: 400 naming the parameter, never an empty page."""
    session = stack.session(role="member")
    client_id = create_client(stack, session)
    drafted = new_invoice(stack, session, client_id)
    for path in ("invoices", "purchase-orders", "quotes"):
        for name in ("client_id", "project_id"):
            for value in ("nope", "1234", client_id + "0"):
                refused = session.get(url(stack, path), params={name: value})
                assert refused.status_code == 400, (path, name, value, refused.text)
                assert refused.headers["Content-Type"].startswith("application/problem+json")
                assert name in refused.json()["errors"], (path, name, value)
        # A well-formed id nobody has is an empty page, as before.
        empty = session.get(url(stack, path), params={"client_id": str(uuid.uuid4())})
        assert empty.status_code == 200 and empty.json() == {"items": [], "next_cursor": None}
    # Any spelling of a uuid names the same client.
    upper = session.get(url(stack, "invoices"), params={"client_id": client_id.upper()})
    assert upper.status_code == 200, upper.text
    assert [item["id"] for item in upper.json()["items"]] == [drafted["id"]]
