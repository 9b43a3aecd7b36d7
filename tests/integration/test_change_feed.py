"""The change feed of the lists: ``updated_since`` and ``sort=updated_at`` on clients,
projects, invoices, purchase orders and quotes; bad times and sorts are problems."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers import wait_until

PROBLEM = "application/problem+json"


def api(stack, path):
    return f"{stack.url}/api/v1{path}"


def ok(answer, status=(200, 201)):
    assert answer.status_code in status, answer.text
    return answer.json()


def clock_past(moment):
    """Wait until the clock has moved past ``moment`` (a datetime); answer the time then."""
    def moved():
        now = datetime.now(timezone.utc)
        return now if now > moment + timedelta(milliseconds=1) else None

    return wait_until(moved, timeout=5, interval=0.001, message="the clock to move on")


def instant():
    """Now, as an integrator would write it, with the moments either side kept apart."""
    moment = clock_past(datetime.now(timezone.utc))
    clock_past(moment)
    return moment.isoformat(timespec="microseconds")


def ids(page):
    return [item["id"] for item in page["items"]]


@pytest.fixture
def session(stack):
    return stack.session(f"ws-{uuid.uuid4().hex[:8]}")


def test_every_list_answers_what_changed_since_a_time_in_update_order(stack, session):
    client_a = ok(session.post(api(stack, "/clients"), json={"name": "Alpha"}))
    client_b = ok(session.post(api(stack, "/clients"), json={"name": "Beta"}))
    token = ok(session.post(api(stack, "/clients"), json={"name": "Gamma"}), (201,))
    project_a = ok(session.post(api(stack, "/projects"), json={"name": "P1"}))
    project_b = ok(session.post(api(stack, "/projects"), json={"name": "P2"}))
    documents = {}
    for path, body in (
            ("/invoices", {"client_id": client_a["id"], "currency": "EUR",
                           "issue_date": "2026-03-01", "due_date": "2026-03-31",
                           "lines": [{"description": "x", "quantity": "1", "unit_price": "10",
                                      "tax_rate": "21"}]}),
            ("/purchase-orders", {"client_id": client_a["id"], "currency": "EUR",
                                  "total": "5", "date": "2026-02-01"}),
            ("/quotes", {"client_id": client_a["id"], "currency": "EUR", "total": "7",
                         "valid_until": "2026-06-30"})):
        documents[path] = [ok(session.post(api(stack, path), json=body)) for _ in range(2)]
    since = instant()
    # Change the first of each, in this order: Beta after Alpha...
    ok(session.patch(api(stack, f"/clients/{client_b['id']}"), json={"notes": "changed"}))
    ok(session.patch(api(stack, f"/clients/{client_a['id']}"), json={"notes": "changed"}))
    ok(session.patch(api(stack, f"/projects/{project_a['id']}"), json={"name": "P1 again"}))
    ok(session.post(api(stack, f"/invoices/{documents['/invoices'][0]['id']}/issue")))
    ok(session.post(api(stack, f"/purchase-orders/{documents['/purchase-orders'][0]['id']}"
                               "/finalize")))
    ok(session.post(api(stack, f"/quotes/{documents['/quotes'][0]['id']}/send")))

    changed = ok(session.get(api(stack, "/clients"), params={
        "updated_since": since, "sort": "updated_at"}))
    assert ids(changed) == [client_b["id"], client_a["id"]]
    latest_first = ok(session.get(api(stack, "/clients"), params={
        "updated_since": since, "sort": "-updated_at"}))
    assert ids(latest_first) == [client_a["id"], client_b["id"]]
    everything = ok(session.get(api(stack, "/clients"), params={"sort": "updated_at", "limit": 2}))
    assert ids(everything) == [token["id"], client_b["id"]]  # Gamma never changed: oldest
    rest = ok(session.get(api(stack, "/clients"), params={
        "sort": "updated_at", "limit": 2, "cursor": everything["next_cursor"]}))
    assert ids(rest) == [client_a["id"]]
    projects = ok(session.get(api(stack, "/projects"), params={"updated_since": since}))
    assert ids(projects) == [project_a["id"]]
    by_update = ok(session.get(api(stack, "/projects"), params={"sort": "updated_at"}))
    assert ids(by_update) == [project_b["id"], project_a["id"]]
    for path, (first, second) in documents.items():
        page = ok(session.get(api(stack, path), params={"updated_since": since}))
        assert ids(page) == [first["id"]], path
        ordered = ok(session.get(api(stack, path), params={"sort": "-updated_at", "limit": 1}))
        assert ids(ordered) == [first["id"]], path
        following = ok(session.get(api(stack, path), params={
            "sort": "-updated_at", "limit": 1, "cursor": ordered["next_cursor"]}))
        assert ids(following) == [second["id"]], path
    # An offset names the same instant: +02:00 two hours later is the same moment.
    later = datetime.fromisoformat(since).astimezone().isoformat()
    assert ids(ok(session.get(api(stack, "/clients"), params={
        "updated_since": later, "sort": "updated_at"}))) == [client_b["id"], client_a["id"]]


@pytest.mark.parametrize("path", ["/clients", "/projects", "/invoices", "/purchase-orders",
                                  "/quotes"])
def test_a_bad_time_or_sort_is_a_problem(stack, path):
    session = stack.session()
    for value in ("yesterday", "2026-11-23", "2026-11-23T10:00:00", "2026-13-01T00:00:00Z",
                  "3000-01-01T00:00:00Z"):
        answer = session.get(api(stack, path), params={"updated_since": value})
        assert answer.status_code == 400 and answer.headers["Content-Type"] == PROBLEM, \
            (value, answer.text)
        assert answer.json()["codes"]["updated_since"] == ["invalid_timestamp"], answer.json()
    bad_sort = session.get(api(stack, path), params={"sort": "colour"})
    assert bad_sort.status_code == 400 and bad_sort.headers["Content-Type"] == PROBLEM
