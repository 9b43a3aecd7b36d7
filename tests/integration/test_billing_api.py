"""Billing through the gateway: lifecycles, refused transitions, lists and drill-downs.

The helpers at the top are shared by the other billing test modules. Clients
are created through the gateway (contacts); projects and client lifecycle
events the other services may not offer over HTTP yet (archive, merge) are
appended to the owning service's event store, exactly as that service would,
so its relay publishes them and billing's replica applies them.
"""
import uuid

import pytest
from sqlalchemy import select

from services.common.envelope import NewEvent
from services.common.eventstore import EventStore
from tests.helpers import wait_until

PROBLEM = "application/problem+json"
LINES = [{"description": "Design work", "quantity": "10", "unit_price": "100",
          "tax_rate": "21"}]


def create_client(stack, session, name="Alan Insurance"):
    """A client registered through the API and already in billing's replica."""
    answer = session.post(f"{stack.url}/api/v1/clients", json={"name": name}, timeout=10)
    assert answer.status_code == 201, answer.text
    client_id = answer.json()["id"]
    wait_for_replica(stack, "billing_clients", client_id)
    return client_id


def wait_for_replica(stack, table, row_id, **expected):
    from services.billing import db

    table = {"billing_clients": db.clients_replica_table,
             "billing_projects": db.projects_replica_table}[table]

    def found():
        with stack.database("billing").read() as conn:
            row = conn.execute(select(table).where(table.c.id == row_id)).first()
        return row is not None and all(getattr(row, k) == v for k, v in expected.items())

    wait_until(found, timeout=15, message=f"{row_id} in billing's replica")


def append_event(stack, service, stream_id, event_type, data, workspace="acme"):
    """Append one event to ``service``'s store at the end of ``stream_id``; returns it."""
    store = EventStore(stack.database(service))
    version = len(store.read_stream(stream_id))
    return store.append(stream_id, version, [NewEvent(event_type, data)],
                        workspace=workspace, actor="test")[-1]


def create_project(stack, client_id, workspace="acme"):
    """A project assigned to ``client_id`` while creating it (projects' events)."""
    project_id = str(uuid.uuid4())
    append_event(stack, "projects", project_id, "ProjectCreated", {
        "project_id": project_id, "name": "Website", "code": None, "client_id": client_id,
        "status": "active", "start_date": None, "end_date": None, "budget_hours": None,
        "created_at": "2026-01-05T09:00:00.000000Z"}, workspace)
    if client_id is not None:
        append_event(stack, "projects", project_id, "ClientAssigned", {
            "project_id": project_id, "client_id": client_id, "previous_client_id": None,
            "via": "create"}, workspace)
    wait_for_replica(stack, "billing_projects", project_id, client_id=client_id)
    return project_id


def new_invoice(stack, session, client_id, **fields):
    body = {"client_id": client_id, "currency": "EUR", "issue_date": "2026-03-01",
            "due_date": "2026-03-31", "lines": LINES, **fields}
    answer = session.post(f"{stack.url}/api/v1/invoices", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def billing_event_types(stack, stream_id=None):
    events = stack.rpc.billing.events_since(0, 5000)
    return [e["type"] for e in events if stream_id is None or e["stream_id"] == stream_id]


@pytest.fixture
def api(stack):
    return stack, stack.session(role="member")


def url(stack, path):
    return f"{stack.url}/api/v1/{path}"


def test_invoice_lifecycle_draft_edit_issue_pay(api):
    stack, session = api
    client_id = create_client(stack, session)
    created = session.post(url(stack, "invoices"), json={
        "client_id": client_id, "currency": "EUR", "issue_date": "2026-03-01",
        "due_date": "2026-03-31", "lines": LINES})
    assert created.status_code == 201, created.text
    invoice = created.json()
    assert created.headers["Location"] == f"/api/v1/invoices/{invoice['id']}"
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Consistency-Token"].startswith("billing:")
    assert invoice["status"] == "draft" and invoice["number"] is None
    assert invoice["currency"] == "EUR"
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("1000.00", "210.00",
                                                                      "1210.00")
    path = url(stack, f"invoices/{invoice['id']}")

    # Edit while draft; If-Match is honoured.
    edited = session.patch(path, json={"lines": LINES + [
        {"description": "Hosting", "quantity": "1", "unit_price": "0.125", "tax_rate": "21"}]},
        headers={"If-Match": '"1"'})
    assert edited.status_code == 200, edited.text
    # 0.125 rounds to a net of 0.13, whose 21 % tax rounds to 0.03
    assert edited.json()["total"] == "1210.16" and edited.headers["ETag"] == '"2"'
    stale = session.patch(path, json={"due_date": "2026-04-30"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["Content-Type"] == PROBLEM
    assert isinstance(stale.json()["version"], int)
    unchanged = session.patch(path, json={"due_date": "2026-03-31"})
    assert unchanged.status_code == 200 and unchanged.json()["version"] == 2
    assert session.patch(path, json={"client_id": client_id}).status_code == 422

    read = stack.session(role="viewer").get(path)
    assert read.status_code == 200 and read.headers["ETag"] == '"2"'
    assert read.json()["standing"] == "draft"

    # Issue: a number of the issue date's year; the invoice is frozen.
    issued = session.post(f"{path}/issue", json={"issue_date": "2026-03-02"})
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["status"] == "authorized" and body["number"] == "2026-000001"
    assert body["issue_date"] == "2026-03-02" and body["due_date"] == "2026-03-31"
    assert issued.headers["Location"] == f"/api/v1/invoices/{invoice['id']}"
    assert session.patch(path, json={"due_date": "2026-05-01"}).status_code == 409
    assert session.post(f"{path}/issue").status_code == 409

    # Payments: partial, an overshoot refused, the rest makes it paid.
    partial = session.post(f"{path}/payments", json={"amount": "210.16", "date": "2026-03-10"})
    assert partial.status_code == 200, partial.text
    assert (partial.json()["status"], partial.json()["paid"], partial.json()["outstanding"]) \
        == ("authorized", "210.16", "1000.00")
    overshoot = session.post(f"{path}/payments", json={"amount": "1000.01",
                                                       "date": "2026-03-11"})
    assert overshoot.status_code == 422 and "amount" in overshoot.json()["errors"]
    assert session.post(f"{path}/payments", json={"amount": 12.5, "date": "2026-03-11"}) \
        .status_code == 422  # a JSON float is never money
    assert session.post(f"{path}/payments", json={"amount": "10.001", "date": "2026-03-11"}) \
        .status_code == 422
    assert session.post(f"{path}/void").status_code == 409  # partly paid
    rest = session.post(f"{path}/payments", json={"amount": "1000", "date": "2026-03-20"})
    assert rest.status_code == 200 and rest.json()["status"] == "paid"
    assert rest.json()["outstanding"] == "0.00"
    assert session.post(f"{path}/payments", json={"amount": "1", "date": "2026-03-21"}) \
        .status_code == 409
    assert session.post(f"{path}/void").status_code == 409
    assert billing_event_types(stack, invoice["id"]) == [
        "InvoiceDrafted", "InvoiceDraftUpdated", "InvoiceIssued", "InvoicePaymentRecorded",
        "InvoicePaymentRecorded", "InvoicePaid"]


def test_void_keeps_the_number_and_refused_transitions(api):
    stack, session = api
    client_id = create_client(stack, session)
    first = new_invoice(stack, session, client_id)
    second = new_invoice(stack, session, client_id)
    empty = new_invoice(stack, session, client_id, lines=[])
    path = url(stack, f"invoices/{first['id']}")
    assert session.post(f"{path}/payments", json={"amount": "1", "date": "2026-03-02"}) \
        .status_code == 409  # a draft takes no payment
    refused = session.post(url(stack, f"invoices/{empty['id']}/issue"))
    assert refused.status_code == 409 and refused.headers["Content-Type"] == PROBLEM
    assert session.post(f"{path}/issue").json()["number"] == "2026-000001"
    voided = session.post(f"{path}/void", json={"reason": "sent to the wrong address"})
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "void" and voided.json()["number"] == "2026-000001"
    assert session.post(f"{path}/void").status_code == 409
    assert session.post(f"{path}/issue").status_code == 409
    assert session.post(f"{path}/payments", json={"amount": "1", "date": "2026-03-02"}) \
        .status_code == 409
    assert session.patch(path, json={"lines": []}).status_code == 409
    # The voided number is never reused; the refused issue did not consume one.
    assert session.post(url(stack, f"invoices/{second['id']}/issue")).json()["number"] \
        == "2026-000002"
    # A draft is discarded by voiding it: it never had a number.
    discarded = session.post(url(stack, f"invoices/{empty['id']}/void"))
    assert discarded.status_code == 200 and discarded.json()["number"] is None
    voids = session.get(url(stack, "invoices"), params={"status": "void"}).json()["items"]
    assert {item["id"] for item in voids} == {first["id"], empty["id"]}


def test_issue_defaults_and_an_issue_date_of_another_year(api):
    stack, session = api
    client_id = create_client(stack, session)
    draft = new_invoice(stack, session, client_id, issue_date=None, due_date=None)
    issued = session.post(url(stack, f"invoices/{draft['id']}/issue"), data=b"")
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert body["issue_date"] is not None and body["due_date"] == body["issue_date"]
    assert body["number"] == f"{body['issue_date'][:4]}-000001"
    older = new_invoice(stack, session, client_id)
    answer = session.post(url(stack, f"invoices/{older['id']}/issue"),
                          json={"issue_date": "2024-12-31", "due_date": "2025-01-30"})
    assert answer.status_code == 200 and answer.json()["number"] == "2024-000001"
    bad = new_invoice(stack, session, client_id)
    refused = session.post(url(stack, f"invoices/{bad['id']}/issue"),
                           json={"issue_date": "2026-05-01", "due_date": "2026-04-01"})
    assert refused.status_code == 422 and "due_date" in refused.json()["errors"]
    # The refused issue gave its number back.
    expected = "2026-000002" if body["issue_date"].startswith("2026") else "2026-000001"
    retried = session.post(url(stack, f"invoices/{bad['id']}/issue"),
                           json={"issue_date": "2026-05-01", "due_date": "2026-05-31"})
    assert retried.status_code == 200 and retried.json()["number"] == expected


def test_an_idempotent_issue_retry_takes_one_number(api):
    stack, session = api
    client_id = create_client(stack, session)
    draft = new_invoice(stack, session, client_id)
    headers = {"Idempotency-Key": f"issue-{draft['id']}"}
    path = url(stack, f"invoices/{draft['id']}/issue")
    first = session.post(path, json={}, headers=headers)
    again = session.post(path, json={}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["number"] == first.json()["number"] == "2026-000001"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert billing_event_types(stack, draft["id"]).count("InvoiceIssued") == 1


def test_purchase_orders_place_and_finalize(api):
    stack, session = api
    client_id = create_client(stack, session)
    placed = session.post(url(stack, "purchase-orders"), json={
        "client_id": client_id, "project_id": None, "currency": "JPY", "total": "150000",
        "date": "2026-02-01"})
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["status"] == "placed" and order["total"] == "150000"
    assert placed.headers["Location"] == f"/api/v1/purchase-orders/{order['id']}"
    path = url(stack, f"purchase-orders/{order['id']}")
    assert session.post(f"{path}/finalize", headers={"If-Match": '"7"'}).status_code == 412
    finalized = session.post(f"{path}/finalize", headers={"If-Match": '"1"'})
    assert finalized.status_code == 200 and finalized.json()["status"] == "finalized"
    assert finalized.headers["ETag"] == '"2"'
    again = session.post(f"{path}/finalize")
    assert again.status_code == 409 and again.headers["Content-Type"] == PROBLEM
    other = session.post(url(stack, "purchase-orders"), json={
        "client_id": client_id, "currency": "EUR", "total": "99.90", "date": "2026-02-02"})
    assert other.status_code == 201
    bad = session.post(url(stack, "purchase-orders"), json={
        "client_id": client_id, "currency": "EUR", "total": "9.999", "date": "2026-02-02"})
    assert bad.status_code == 422 and "total" in bad.json()["errors"]
    listed = session.get(url(stack, "purchase-orders"),
                         params={"client_id": client_id, "status": "finalized"}).json()
    assert [item["id"] for item in listed["items"]] == [order["id"]]
    everything = session.get(url(stack, "purchase-orders"), params={"client_id": client_id})
    assert len(everything.json()["items"]) == 2
    assert session.get(path).json()["status"] == "finalized"
    assert session.get(url(stack, "purchase-orders"), params={"status": "open"}) \
        .status_code == 400


def test_quotes_send_accept_reject(api):
    stack, session = api
    client_id = create_client(stack, session)

    def quote(total):
        answer = session.post(url(stack, "quotes"), json={
            "client_id": client_id, "currency": "EUR", "total": total,
            "valid_until": "2026-06-30"})
        assert answer.status_code == 201, answer.text
        return answer.json()

    accepted, rejected, draft = quote("1000"), quote("250.5"), quote("0")
    assert accepted["status"] == "draft" and rejected["total"] == "250.50"

    def act(item, action):
        return session.post(url(stack, f"quotes/{item['id']}/{action}"))

    assert act(accepted, "accept").status_code == 409  # send it first
    assert act(accepted, "reject").status_code == 409
    assert act(accepted, "send").json()["status"] == "sent"
    assert act(accepted, "send").status_code == 409
    assert act(accepted, "accept").json()["status"] == "accepted"
    assert act(accepted, "reject").status_code == 409
    assert act(rejected, "send").status_code == 200
    assert act(rejected, "reject").json()["status"] == "rejected"
    assert act(rejected, "accept").status_code == 409
    assert session.post(url(stack, f"quotes/{draft['id']}/cancel")).status_code == 404

    def listed(status):
        answer = session.get(url(stack, "quotes"), params={"client_id": client_id,
                                                           "status": status})
        assert answer.status_code == 200, answer.text
        return {item["id"] for item in answer.json()["items"]}

    assert listed("accepted") == {accepted["id"]}
    assert listed("rejected") == {rejected["id"]}
    assert listed("open") == {draft["id"]}
    assert listed("draft") == {draft["id"]}


def test_overdue_and_pending_move_with_as_of_only(api):
    stack, session = api
    client_id = create_client(stack, session)
    other_client = create_client(stack, session, "Globex")

    def issued(due, client=client_id, pay=None):
        draft = new_invoice(stack, session, client, issue_date="2026-01-10", due_date=due)
        path = url(stack, f"invoices/{draft['id']}")
        assert session.post(f"{path}/issue").status_code == 200
        if pay:
            assert session.post(f"{path}/payments", json={"amount": pay,
                                                          "date": "2026-01-20"}).ok
        return draft["id"]

    due_feb = issued("2026-02-01")
    due_mar_partly_paid = issued("2026-03-01", pay="1000")
    paid = issued("2026-02-01", pay="1210")
    draft = new_invoice(stack, session, client_id, issue_date="2026-01-01",
                        due_date="2026-01-15")["id"]
    others = issued("2026-01-11", client=other_client)

    def drill(status, as_of, client=client_id):
        answer = session.get(url(stack, "invoices"), params={
            "client_id": client, "status": status, "as_of": as_of})
        assert answer.status_code == 200, answer.text
        items = answer.json()["items"]
        assert all(item["as_of"] == as_of for item in items)
        return {item["id"]: item for item in items}

    events_before = len(billing_event_types(stack))
    assert set(drill("pending", "2026-01-31")) == {due_feb, due_mar_partly_paid}
    assert drill("overdue", "2026-01-31") == {}
    # The due date itself is still pending; the day after it is overdue.
    assert set(drill("pending", "2026-02-01")) == {due_feb, due_mar_partly_paid}
    assert set(drill("overdue", "2026-02-02")) == {due_feb}
    assert set(drill("pending", "2026-02-02")) == {due_mar_partly_paid}
    overdue = drill("overdue", "2026-12-31")
    assert set(overdue) == {due_feb, due_mar_partly_paid}
    assert overdue[due_mar_partly_paid]["outstanding"] == "210.00"
    assert all(item["standing"] == "overdue" for item in overdue.values())
    assert set(drill("paid", "2026-12-31")) == {paid}
    assert set(drill("authorized", "2026-12-31")) == {due_feb, due_mar_partly_paid, paid}
    assert set(drill("draft", "2026-12-31")) == {draft}
    assert set(drill("overdue", "2026-12-31", other_client)) == {others}
    # Reading with another as_of changed nothing: no new event.
    assert len(billing_event_types(stack)) == events_before
    single = session.get(url(stack, f"invoices/{due_feb}"), params={"as_of": "2026-02-02"})
    assert single.json()["standing"] == "overdue"
    assert session.get(url(stack, f"invoices/{due_feb}"), params={"as_of": "2026-02-01"}) \
        .json()["standing"] == "pending"
    assert session.get(url(stack, "invoices"), params={"status": "late"}).status_code == 400
    assert session.get(url(stack, "invoices"), params={"as_of": "31/12"}).status_code == 400


def test_lists_page_with_a_cursor(api):
    stack, session = api
    client_id = create_client(stack, session)
    ids = [new_invoice(stack, session, client_id)["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"client_id": client_id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = session.get(url(stack, "invoices"), params=params).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))  # newest first, each once
    assert session.get(url(stack, "invoices"), params={"limit": 501}).status_code == 400
    assert session.get(url(stack, "invoices"), params={"limit": "x"}).status_code == 400
    assert session.get(url(stack, "invoices"), params={"cursor": "%%%"}).status_code == 400


def test_roles(api):
    stack, member = api
    client_id = create_client(stack, member)
    invoice = new_invoice(stack, member, client_id)
    viewer = stack.session(role="viewer")
    assert viewer.get(url(stack, f"invoices/{invoice['id']}")).status_code == 200
    assert viewer.get(url(stack, "invoices")).status_code == 200
    assert viewer.get(url(stack, "quotes")).status_code == 200
    assert viewer.get(url(stack, "purchase-orders")).status_code == 200
    for path, body in ((f"invoices/{invoice['id']}/issue", {}),
                       ("invoices", {"client_id": client_id, "currency": "EUR"}),
                       ("quotes", {}), ("purchase-orders", {})):
        assert viewer.post(url(stack, path), json=body).status_code == 403
    assert viewer.patch(url(stack, f"invoices/{invoice['id']}"), json={}).status_code == 403
    assert viewer.get(url(stack, f"invoices/{invoice['id']}")).json()["status"] == "draft"
    document = viewer.get(f"{stack.url}/api/v1/openapi.json").json()
    for path in ("/api/v1/invoices", "/api/v1/invoices/{invoice_id}/issue",
                 "/api/v1/purchase-orders/{purchase_order_id}/finalize",
                 "/api/v1/quotes/{quote_id}/{action}"):
        assert path in document["paths"]
    assert "Invoice" in document["components"]["schemas"]


INVOICE_STATES = {  # how to bring a fresh draft there
    "draft": [],
    "authorized": [("issue", {})],
    "partly paid": [("issue", {}), ("payments", {"amount": "1", "date": "2026-03-05"})],
    "paid": [("issue", {}), ("payments", {"amount": "1210", "date": "2026-03-05"})],
    "void": [("issue", {}), ("void", {})],
}
INVOICE_COMMANDS = {  # command -> the states that allow it
    "edit": {"draft"},
    "issue": {"draft"},
    "payments": {"authorized", "partly paid"},
    "void": {"draft", "authorized"},
}
QUOTE_STATES = {"draft": [], "sent": ["send"], "accepted": ["send", "accept"],
                "rejected": ["send", "reject"]}
QUOTE_COMMANDS = {"send": {"draft"}, "accept": {"sent"}, "reject": {"sent"}}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_database_api(make_stack, request):
    stack = make_stack(request.param).start()
    return stack, stack.session(role="member")


def test_every_transition_over_http(any_database_api):
    """Each command in each state: allowed ones answer 200, every other one 409 and
    changes nothing (on SQLite and PostgreSQL)."""
    stack, session = any_database_api
    client_id = create_client(stack, session)
    for state, steps in INVOICE_STATES.items():
        for command, allowed_in in INVOICE_COMMANDS.items():
            invoice_id = new_invoice(stack, session, client_id)["id"]
            path = url(stack, f"invoices/{invoice_id}")
            for step, body in steps:
                assert session.post(f"{path}/{step}", json=body).status_code == 200
            before = session.get(path).json()
            if command == "edit":
                answer = session.patch(path, json={"due_date": "2026-04-30"})
            else:
                body = {"amount": "1", "date": "2026-03-06"} if command == "payments" else {}
                answer = session.post(f"{path}/{command}", json=body)
            expected = 200 if state in allowed_in else 409
            assert answer.status_code == expected, (state, command, answer.text)
            if expected == 409:
                assert answer.headers["Content-Type"] == PROBLEM
                assert session.get(path).json() == before
    for state, steps in QUOTE_STATES.items():
        for command, allowed_in in QUOTE_COMMANDS.items():
            quote = session.post(url(stack, "quotes"), json={
                "client_id": client_id, "currency": "EUR", "total": "10",
                "valid_until": "2026-06-30"}).json()
            path = url(stack, f"quotes/{quote['id']}")
            for step in steps:
                assert session.post(f"{path}/{step}").status_code == 200
            answer = session.post(f"{path}/{command}")
            expected = 200 if state in allowed_in else 409
            assert answer.status_code == expected, (state, command, answer.text)
            assert session.get(path).json()["status"] == (
                answer.json()["status"] if expected == 200 else state)
    order = session.post(url(stack, "purchase-orders"), json={
        "client_id": client_id, "currency": "EUR", "total": "10", "date": "2026-02-01"}).json()
    path = url(stack, f"purchase-orders/{order['id']}")
    assert session.post(f"{path}/finalize").status_code == 200
    assert session.post(f"{path}/finalize").status_code == 409
