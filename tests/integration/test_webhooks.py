"""Webhooks end to end: subscriptions through the API, deliveries from the services'
events to a receiver on loopback (allowed by the test's settings), signatures,
retries in order, isolation between workspaces, refused targets and bad input."""
import json
import uuid

import pytest

from gateway.webhooks import signing
from gateway.webhooks.subscriptions import ALL_EVENT_TYPES
from tests.helpers import wait_until
from tests.integration.test_contacts_files import png
from tests.webhook_receiver import Receiver

PROBLEM = "application/problem+json"
LOOPBACK = {"WEBHOOKS_ALLOW_HTTP": True, "WEBHOOKS_ALLOW_PRIVATE_TARGETS": True,
            "WEBHOOKS_POLL_INTERVAL": 0.1, "WEBHOOKS_RETRY_BASE_SECONDS": 0.05,
            "WEBHOOKS_RETRY_MAX_SECONDS": 0.2}
LINES = [{"description": "Design", "quantity": "2", "unit_price": "100", "tax_rate": "21"}]


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hooked(make_stack):
    """A stack whose webhooks may go to loopback over http (the receiver's)."""
    stack = make_stack()
    stack.extra_config.update(LOOPBACK)
    return stack.start()


def api(stack, path):
    return f"{stack.url}/api/v1{path}"


def subscribe(session, stack, url, event_types=("*",)):
    answer = session.post(api(stack, "/webhooks"), json={"url": url,
                                                         "event_types": list(event_types)})
    assert answer.status_code == 201, answer.text
    assert answer.headers["Location"] == f"/api/v1/webhooks/{answer.json()['id']}"
    return answer.json()


def ok(answer, status=(200, 201)):
    assert answer.status_code in (status if isinstance(status, tuple) else (status,)), \
        answer.text
    return answer


def every_event_type(stack, session):
    """Causes at least one event of every type the services publish; the client ids."""
    def post(path, **kwargs):
        return ok(session.post(api(stack, path), **kwargs))

    def patch(path, **kwargs):
        return ok(session.patch(api(stack, path), **kwargs))

    a = post("/clients", json={"name": "Alan Insurance", "email": "hi@alan.example"}).json()
    b = post("/clients", json={"name": "Alan Insurance Ltd"}).json()
    patch(f"/clients/{a['id']}", json={"category": "Insurance"})
    ok(session.put(api(stack, f"/clients/{a['id']}/photo"), data=png()))
    file_id = post(f"/clients/{a['id']}/files", files={"file": ("a.txt", b"hello")}).json()["id"]
    ok(session.delete(api(stack, f"/clients/{a['id']}/files/{file_id}")), 204)
    post(f"/clients/{a['id']}/archive")
    token = post(f"/clients/{a['id']}/restore").headers["Consistency-Token"]

    project = post("/projects", json={"name": "Fleet", "client_id": b["id"]},
                   headers={"Consistency-Token": token}).json()
    patch(f"/projects/{project['id']}", json={"name": "Fleet cover"})
    patch(f"/projects/{project['id']}", json={"client_id": None})
    patch(f"/projects/{project['id']}", json={"client_id": b["id"]})
    post(f"/projects/{project['id']}/time-entries",
         json={"date": "2026-03-02", "hours": "2.5", "description": "Kick-off"})
    task = post(f"/projects/{project['id']}/tasks",
                json={"title": "Policy review", "due_date": "2026-03-10"}).json()
    patch(f"/projects/{project['id']}/tasks/{task['id']}", json={"status": "done"})

    invoice = post("/invoices", json={"client_id": b["id"], "currency": "EUR",
                                      "issue_date": "2026-03-01", "due_date": "2026-03-31",
                                      "lines": LINES}).json()
    patch(f"/invoices/{invoice['id']}", json={"due_date": "2026-04-30"})
    post(f"/invoices/{invoice['id']}/issue")
    post(f"/invoices/{invoice['id']}/payments", json={"amount": "42", "date": "2026-03-05"})
    post(f"/invoices/{invoice['id']}/payments", json={"amount": "200", "date": "2026-03-06"})
    voided = post("/invoices", json={"client_id": b["id"], "currency": "EUR",
                                     "issue_date": "2026-03-01", "due_date": "2026-03-31",
                                     "lines": LINES}).json()
    post(f"/invoices/{voided['id']}/issue")
    post(f"/invoices/{voided['id']}/void")
    order = post("/purchase-orders", json={"client_id": b["id"], "currency": "EUR",
                                           "total": "99.90", "date": "2026-02-01"}).json()
    post(f"/purchase-orders/{order['id']}/finalize")
    quote = post("/quotes", json={"client_id": b["id"], "currency": "EUR", "total": "10",
                                  "valid_until": "2026-06-30"}).json()
    post(f"/quotes/{quote['id']}/send")

    merged = post(f"/clients/{a['id']}/merge", json={"duplicate_ids": [b["id"]], "fields": {},
                                                     "dry_run": False}).json()
    post(f"/clients/{a['id']}/unmerge", json={"merge_id": merged["merge_id"]})
    erased = post("/clients", json={"name": "Ximena Quiroga"}).json()
    post(f"/clients/{erased['id']}/erase", json={"confirmation": erased["id"]})
    return a["id"], b["id"]


def test_every_event_type_is_delivered_signed_and_in_the_feed(hooked, receiver):
    session = hooked.session(f"ws-{uuid.uuid4().hex[:8]}")
    sub = subscribe(session, hooked, receiver.url)
    assert sub["secret"].startswith("whsec_") and sub["enabled"] is True
    every_event_type(hooked, session)

    def all_types():
        return {body["type"] for _, body in receiver.delivered()} >= ALL_EVENT_TYPES

    wait_until(all_types, timeout=60, interval=0.1, message="every event type delivered")
    feed = ok(session.get(api(hooked, "/events"), params={"limit": 500})).json()
    for request in receiver.requests:
        headers, raw = request["headers"], request["body"]
        assert signing.verify(sub["secret"], headers, raw), headers
        assert headers["content-type"] == "application/json"
    delivered = receiver.delivered()
    assert len({h["webhook-id"] for h, _ in delivered}) == len(delivered)  # no duplicate
    # Clients' personal fields as the API shows them (opened, not sealed), until erased.
    registered = {body["data"]["name"] for _, body in delivered
                  if body["type"] == "ClientRegistered"}
    assert {"Alan Insurance", "Alan Insurance Ltd"} <= registered
    assert "Ximena Quiroga" not in json.dumps(
        ok(session.get(api(hooked, "/events"), params={"limit": 500})).json())
    assert all(h["webhook-id"] == body["event_id"] for h, body in delivered)
    # The feed holds the same events, with their cursors in order.
    assert {e["event_id"] for e in feed["items"]} == {body["event_id"] for _, body in delivered}
    cursors = [int(e["cursor"]) for e in feed["items"]]
    assert cursors == sorted(cursors) and feed["has_more"] is False
    assert feed["next_cursor"] == feed["items"][-1]["cursor"]
    # The log says each was delivered, with the receiver's answer.
    log = ok(session.get(api(hooked, f"/webhooks/{sub['id']}/deliveries"),
                         params={"limit": 500})).json()
    assert len(log["items"]) == len(delivered)
    assert {d["status"] for d in log["items"]} == {"delivered"}
    assert {d["response_status"] for d in log["items"]} == {204}


def test_a_failing_receiver_gets_every_delivery_in_order_afterwards(hooked):
    receiver = Receiver(fail_first=7).start()
    try:
        session = hooked.session(f"ws-{uuid.uuid4().hex[:8]}")
        sub = subscribe(session, hooked, receiver.url, ["ClientRegistered", "ClientUpdated"])
        clients = [ok(session.post(api(hooked, "/clients"), json={"name": f"Client {i}"})).json()
                   for i in range(3)]
        for round_ in range(4):
            for client in clients:
                ok(session.patch(api(hooked, f"/clients/{client['id']}"),
                                 json={"notes": f"round {round_}"}))
        expected = 3 + 3 * 4
        wait_until(lambda: len(receiver.delivered()) >= expected, timeout=60, interval=0.1,
                   message="every delivery after the failures")
        assert sum(1 for r in receiver.requests if r["answered"] >= 300) == 7
        delivered = receiver.delivered()
        assert len(delivered) == expected  # each once: a failed attempt is not a delivery
        for client in clients:
            mine = [body for _, body in delivered if body["data"]["client_id"] == client["id"]]
            assert [b["stream_version"] for b in mine] == list(range(1, 6))
        failed = ok(session.get(api(hooked, f"/webhooks/{sub['id']}/deliveries"),
                                params={"limit": 500})).json()["items"]
        retried = [d for d in failed if d["attempts"] > 1]
        assert retried and all(d["status"] == "delivered" for d in failed)
        one = ok(session.get(api(hooked, f"/webhooks/{sub['id']}/deliveries/"
                                         f"{retried[0]['id']}"))).json()
        assert [a["response_status"] for a in one["attempt_log"]][-1] == 204
        assert 503 in [a["response_status"] for a in one["attempt_log"]]
    finally:
        receiver.stop()


def test_a_workspace_never_receives_another_workspaces_events(hooked, receiver):
    other_receiver = Receiver().start()
    try:
        mine = hooked.session(f"ws-{uuid.uuid4().hex[:8]}")
        theirs = hooked.session(f"ws-{uuid.uuid4().hex[:8]}")
        subscribe(mine, hooked, receiver.url)
        subscribe(theirs, hooked, other_receiver.url)
        ok(mine.post(api(hooked, "/clients"), json={"name": "Mine"}))
        ok(theirs.post(api(hooked, "/clients"), json={"name": "Theirs"}))
        ok(theirs.post(api(hooked, "/clients"), json={"name": "Theirs too"}))
        wait_until(lambda: len(receiver.delivered()) >= 1 and
                   len(other_receiver.delivered()) >= 2, timeout=30, message="deliveries")
        mine_ws = {body["workspace"] for _, body in receiver.delivered()}
        theirs_ws = {body["workspace"] for _, body in other_receiver.delivered()}
        assert len(mine_ws) == 1 and len(theirs_ws) == 1 and mine_ws != theirs_ws
        assert [b["data"]["name"] for _, b in receiver.delivered()] == ["Mine"]
        # Neither the feed nor the subscriptions of one are visible to the other.
        assert [e["data"]["name"] for e in mine.get(api(hooked, "/events")).json()["items"]] \
            == ["Mine"]
        their_sub = theirs.get(api(hooked, "/webhooks")).json()["items"][0]["id"]
        for path in (f"/webhooks/{their_sub}", f"/webhooks/{their_sub}/deliveries"):
            answer = mine.get(api(hooked, path))
            assert answer.status_code == 404 and answer.headers["Content-Type"] == PROBLEM
        assert mine.delete(api(hooked, f"/webhooks/{their_sub}")).status_code == 404
    finally:
        other_receiver.stop()


def test_private_addresses_and_plain_http_are_refused_without_the_settings(stack):
    """The default settings: https to public addresses only."""
    session = stack.session()
    for url, code in (("https://127.0.0.1/hooks", "webhook_target_private"),
                      ("https://localhost:8443/hooks", "webhook_target_private"),
                      ("https://10.1.2.3/hooks", "webhook_target_private"),
                      ("https://[::1]/hooks", "webhook_target_private"),
                      ("https://169.254.169.254/latest", "webhook_target_private"),
                      ("https://[::ffff:192.168.0.1]/x", "webhook_target_private"),
                      ("http://93.184.216.34/hooks", "webhook_url_not_https"),
                      ("ftp://example.com/x", "invalid_url"),
                      ("not a url", "invalid_url")):
        answer = session.post(api(stack, "/webhooks"), json={"url": url,
                                                             "event_types": ["*"]})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.headers["Content-Type"] == PROBLEM
        assert answer.json()["codes"]["url"] == [code], (url, answer.json())
    assert session.get(api(stack, "/webhooks")).json()["items"] == []


def test_bad_input_is_a_problem(hooked, receiver):
    session = hooked.session()
    unknown = session.post(api(hooked, "/webhooks"), json={"url": receiver.url,
                                                           "event_types": ["ClientEaten"]})
    assert unknown.status_code == 422 and unknown.headers["Content-Type"] == PROBLEM
    assert unknown.json()["codes"] == {"event_types": ["unknown_event_type"]}
    for body in ({"url": receiver.url}, {"url": receiver.url, "event_types": []},
                 {"url": receiver.url, "event_types": "ClientRegistered"},
                 {"url": 42, "event_types": ["*"]},
                 {"url": receiver.url, "event_types": ["*"], "colour": "red"}):
        answer = session.post(api(hooked, "/webhooks"), json=body)
        assert answer.status_code == 422 and answer.headers["Content-Type"] == PROBLEM, body
    assert session.post(api(hooked, "/webhooks"), data=b"{nope",
                        headers={"Content-Type": "application/json"}).status_code == 400
    sub = subscribe(session, hooked, receiver.url)
    for params in ({"after": "yesterday"}, {"after": "-1"}, {"limit": "0"}):
        answer = session.get(api(hooked, "/events"), params=params)
        assert answer.status_code == 400 and answer.headers["Content-Type"] == PROBLEM
    assert session.get(api(hooked, "/events"), params={"after": "x"}).json()["code"] == \
        "invalid_cursor"
    since = session.post(api(hooked, f"/webhooks/{sub['id']}/redeliver"),
                         json={"since": "last tuesday"})
    assert since.status_code == 422 and since.json()["codes"] == {"since": ["invalid_timestamp"]}
    assert session.get(api(hooked, f"/webhooks/{sub['id']}/deliveries/abc")).status_code == 404
    assert session.get(api(hooked, f"/webhooks/{sub['id']}/deliveries"),
                       params={"status": "lost"}).status_code == 400
    assert session.get(api(hooked, f"/webhooks/{uuid.uuid4()}")).status_code == 404
    member = hooked.session(role="member")
    assert member.get(api(hooked, "/webhooks")).status_code == 403
    assert member.get(api(hooked, "/events")).status_code == 200  # the feed is for readers


def test_rotation_signs_with_both_secrets_then_redelivery(hooked, receiver):
    session = hooked.session(f"ws-{uuid.uuid4().hex[:8]}")
    sub = subscribe(session, hooked, receiver.url, ["ClientRegistered"])
    ok(session.post(api(hooked, "/clients"), json={"name": "Before"}))
    wait_until(lambda: len(receiver.delivered()) == 1, timeout=30, message="first delivery")
    rotated = ok(session.post(api(hooked, f"/webhooks/{sub['id']}/rotate-secret"))).json()
    assert rotated["secret"] != sub["secret"] and rotated["previous_secret_expires_at"]
    ok(session.post(api(hooked, "/clients"), json={"name": "During"}))
    wait_until(lambda: len(receiver.delivered()) == 2, timeout=30, message="second delivery")
    headers = receiver.delivered()[1][0]
    raw = receiver.requests[1]["body"]
    assert len(headers["webhook-signature"].split()) == 2
    assert signing.verify(rotated["secret"], headers, raw)
    assert signing.verify(sub["secret"], headers, raw)  # receivers not yet switched
    # Ending the overlap at once: only the new secret signs.
    ended = ok(session.post(api(hooked, f"/webhooks/{sub['id']}/rotate-secret"),
                            json={"overlap_seconds": 0})).json()
    assert ended["previous_secret_expires_at"] is None

    log = ok(session.get(api(hooked, f"/webhooks/{sub['id']}/deliveries"))).json()["items"]
    again = session.post(api(hooked, f"/webhooks/{sub['id']}/deliveries/{log[-1]['id']}"
                                     "/redeliver"))
    assert again.status_code == 202 and again.json()["redelivery_of"] == log[-1]["id"]
    wait_until(lambda: len(receiver.delivered()) == 3, timeout=30, message="redelivery")
    headers, body = receiver.delivered()[2]
    assert body["data"]["name"] == "Before" and headers["webhook-signature"].count("v1,") == 1
    assert signing.verify(ended["secret"], headers, receiver.requests[2]["body"])
    everything = ok(session.post(api(hooked, f"/webhooks/{sub['id']}/redeliver"),
                                 json={"since": "2000-01-01T00:00:00Z"}), 202).json()
    assert everything == {"redelivered": 2}
    wait_until(lambda: len(receiver.delivered()) == 5, timeout=30, message="all again")
    # Two clients, two lanes: in order per client, not across clients.
    assert sorted(b["data"]["name"] for _, b in receiver.delivered()[3:]) == ["Before", "During"]


def test_a_receiver_failing_for_the_whole_window_disables_the_subscription(make_stack):
    stack = make_stack()
    stack.extra_config.update(LOOPBACK, WEBHOOKS_RETRY_FOR_SECONDS=1)
    stack.start()
    receiver = Receiver(fail_first=10**6, fail_status=500).start()
    try:
        session = stack.session(f"ws-{uuid.uuid4().hex[:8]}")
        sub = subscribe(session, stack, receiver.url, ["ClientRegistered"])
        ok(session.post(api(stack, "/clients"), json={"name": "Unlucky"}))

        def disabled():
            return session.get(api(stack, f"/webhooks/{sub['id']}")).json()["enabled"] is False

        wait_until(disabled, timeout=30, interval=0.1, message="the subscription disabled")
        shown = session.get(api(stack, f"/webhooks/{sub['id']}")).json()
        assert "500" in shown["disabled_reason"] and shown["disabled_at"]
        failed = session.get(api(stack, f"/webhooks/{sub['id']}/deliveries"),
                             params={"status": "failed"}).json()["items"]
        assert len(failed) == 1 and failed[0]["response_status"] == 500
        # Fixed and enabled again: what is redelivered arrives.
        receiver.fail_first = 0
        enabled = session.patch(api(stack, f"/webhooks/{sub['id']}"), json={"enabled": True},
                                headers={"If-Match": f'"{shown["version"]}"'})
        assert enabled.status_code == 200 and enabled.json()["disabled_reason"] is None
        ok(session.post(api(stack, f"/webhooks/{sub['id']}/deliveries/{failed[0]['id']}"
                                   "/redeliver")), 202)
        wait_until(lambda: receiver.delivered(), timeout=30, message="the redelivery")
    finally:
        receiver.stop()
