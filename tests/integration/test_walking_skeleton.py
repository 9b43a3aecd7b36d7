"""The walking skeleton end to end through the gateway, as a UI would use it."""
import pytest
import requests

from tests.helpers import wait_until

PROBLEM = "application/problem+json"


def create(session, stack, body):
    return session.post(f"{stack.url}/api/v1/clients", json=body, timeout=10)


def test_create_a_client_then_read_its_overview_with_the_consistency_token(stack):
    session = stack.session()
    created = create(session, stack, {"name": "São Paulo Seguros", "tax_id": "B58378431",
                                      "email": "contato@sps.example"})
    assert created.status_code == 201, created.text
    client = created.json()
    assert created.headers["Location"] == f"/api/v1/clients/{client['id']}"
    assert created.headers["ETag"] == '"1"'
    token = created.headers["Consistency-Token"]
    assert token.startswith("contacts:")

    overview = session.get(f"{stack.url}/api/v1/clients/{client['id']}/overview",
                           headers={"Consistency-Token": token}, params={"as_of": "2026-11-22"})
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert body["client"] == {"id": client["id"], "name": "São Paulo Seguros", "kind": "company",
                              "tax_id": "B58378431", "email": "contato@sps.example",
                              "phone": None, "country": None, "category": None,
                              "archived": False}
    assert body["as_of"] == "2026-11-22"
    assert body["invoices"]["overdue"] == {"count": 0, "amount": {}}

    assert overview.headers["Consistency-Token-Applied"] == "true"

    read = session.get(f"{stack.url}/api/v1/clients/{client['id']}")
    assert read.status_code == 200 and read.json()["name"] == "São Paulo Seguros"
    assert "Consistency-Token-Applied" not in read.headers  # no token sent


def test_a_read_whose_token_is_not_reached_in_time_says_so(stack, monkeypatch):
    from gateway import http

    wait = http.wait_for_consistency
    monkeypatch.setattr(http, "wait_for_consistency",
                        lambda consumer, token: wait(consumer, token, timeout=2.0))
    session = stack.session()
    created = create(session, stack, {"name": "Ferretería Núñez"})
    url = f"{stack.url}/api/v1/clients/{created.json()['id']}/overview"
    shown = session.get(url, headers={"Consistency-Token": created.headers["Consistency-Token"]})
    assert shown.headers["Consistency-Token-Applied"] == "true"
    ahead = session.get(url, headers={"Consistency-Token": "contacts:999999999"})
    assert ahead.status_code == 200, ahead.text
    assert ahead.headers["Consistency-Token-Applied"] == "false"


def test_auth_roles_and_workspaces(stack):
    anonymous = requests.post(f"{stack.url}/api/v1/clients", json={"name": "X"}, timeout=10)
    assert anonymous.status_code == 401 and anonymous.headers["Content-Type"] == PROBLEM
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    bad = requests.get(f"{stack.url}/api/v1/clients/x/overview",
                       headers={"Authorization": "Bearer cf_nope"}, timeout=10)
    assert bad.status_code == 401

    viewer = stack.session(role="viewer")
    refused = create(viewer, stack, {"name": "Alan Insurance"})
    assert refused.status_code == 403 and refused.json()["status"] == 403

    member = stack.session(role="member")
    created = create(member, stack, {"name": "Alan Insurance"})
    assert created.status_code == 201
    client_id = created.json()["id"]
    token = created.headers["Consistency-Token"]
    assert viewer.get(f"{stack.url}/api/v1/clients/{client_id}/overview",
                      headers={"Consistency-Token": token}).status_code == 200

    other = stack.session(workspace="globex")
    for path in (f"/api/v1/clients/{client_id}", f"/api/v1/clients/{client_id}/overview"):
        answer = other.get(f"{stack.url}{path}", headers={"Consistency-Token": token})
        assert answer.status_code == 404 and answer.headers["Content-Type"] == PROBLEM


def test_bad_input_gets_a_clear_problem(stack):
    session = stack.session()
    malformed = session.post(f"{stack.url}/api/v1/clients", data=b"{nope",
                             headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and "not valid JSON" in malformed.json()["detail"]
    invalid = create(session, stack, {"name": "", "email": "not-an-email", "colour": "red"})
    assert invalid.status_code == 422
    errors = invalid.json()["errors"]
    assert {"name", "email", "colour"} <= set(errors)
    unknown_route = session.get(f"{stack.url}/api/v1/nothing-here")
    assert unknown_route.status_code == 404 and unknown_route.headers["Content-Type"] == PROBLEM
    wrong_method = session.delete(f"{stack.url}/api/v1/clients")
    assert wrong_method.status_code == 405
    bad_date = session.get(f"{stack.url}/api/v1/clients/x/overview", params={"as_of": "22/11"})
    assert bad_date.status_code == 400


def test_a_body_sent_chunked_is_read_and_held_to_the_limit(stack):
    """No Content-Length (Transfer-Encoding: chunked, as streaming clients send)."""
    session = stack.session()
    created = session.post(f"{stack.url}/api/v1/clients", timeout=10,
                           data=iter([b'{"name": ', '"Fundació Catalana"}'.encode()]),
                           headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Fundació Catalana"

    def endless():  # past the gateway's 64 MiB limit, never announced
        chunk = b" " * 2**20
        for _ in range(70):
            yield chunk

    too_large = session.post(f"{stack.url}/api/v1/clients", data=endless(), timeout=60,
                             headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413, too_large.text
    assert too_large.headers["Content-Type"] == PROBLEM


def test_every_request_has_a_correlation_id_that_its_events_carry(stack):
    session = stack.session()
    chosen = session.post(f"{stack.url}/api/v1/clients", json={"name": "Chosen"},
                          headers={"X-Correlation-Id": "req-42"}, timeout=10)
    made = session.post(f"{stack.url}/api/v1/clients", json={"name": "Made"}, timeout=10)
    assert chosen.headers["X-Correlation-Id"] == "req-42"
    generated = made.headers["X-Correlation-Id"]
    assert len(generated) == 32
    events = {e["stream_id"]: e for e in stack.rpc.contacts.events_since(0, 5000)}
    assert events[chosen.json()["id"]]["correlation_id"] == "req-42"
    assert events[made.json()["id"]]["correlation_id"] == generated
    # Errors carry it too; one that is not a plain token is replaced.
    refused = session.post(f"{stack.url}/api/v1/clients", json={},
                           headers={"X-Correlation-Id": "bad id\u00e9"}, timeout=10)
    assert refused.status_code == 422 and len(refused.headers["X-Correlation-Id"]) == 32


def test_system_endpoints_need_no_token(stack):
    for path in ("/health", "/ready", "/metrics", "/api/v1/openapi.json"):
        assert requests.get(f"{stack.url}{path}", timeout=10).status_code == 200, path
    document = requests.get(f"{stack.url}/api/v1/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/clients/{client_id}/overview" in document["paths"]
    metrics = requests.get(f"{stack.url}/metrics", timeout=10).text
    assert "clientfolio_http_requests_total" in metrics
    stack.session().post(f"{stack.url}/api/v1/clients", json={"name": "Alan Insurance"})
    contacts = requests.get(f"http://127.0.0.1:{stack.ports['contacts']}/metrics",
                            timeout=10).text
    assert ('clientfolio_rpc_duration_seconds_count{method="create_client",service="contacts"}'
            in contacts)
    # The name of release 0.1, kept for one release.
    assert 'clientfolio_rpc_seconds_count{method="create_client",service="contacts"}' in contacts
    assert 'clientfolio_commands_total{command="create_client",outcome="done",' \
           'service="contacts"}' in contacts
    assert "clientfolio_build_info{" in contacts
    assert 'clientfolio_events_published_total{service="contacts"}' in contacts


def test_the_gateway_converges_when_it_starts_after_events_were_published(make_stack):
    stack = make_stack().start("contacts", "projects", "billing")
    ids = [stack.rpc.contacts.create_client({"workspace": "acme"}, {"name": f"Client {i}"})
           ["client"]["id"] for i in range(5)]
    stack.start("gateway")  # its queue did not exist when those events were published
    session = stack.session()
    for client_id in ids:
        wait_until(lambda: session.get(
            f"{stack.url}/api/v1/clients/{client_id}/overview").status_code == 200,
            message="catch-up on start")


@pytest.mark.postgres
def test_the_skeleton_on_postgresql(make_stack):
    stack = make_stack("postgres").start()
    session = stack.session()
    created = create(session, stack, {"name": "Fundació Catalana de Disseny"})
    assert created.status_code == 201
    overview = session.get(f"{stack.url}/api/v1/clients/{created.json()['id']}/overview",
                           headers={"Consistency-Token": created.headers["Consistency-Token"]})
    assert overview.json()["client"]["name"] == "Fundació Catalana de Disseny"


def test_idempotency_key_makes_a_retried_post_harmless(stack):
    session = stack.session()
    body = {"name": "Alan Insurance"}
    headers = {"Idempotency-Key": "create-alan-1"}
    first = session.post(f"{stack.url}/api/v1/clients", json=body, headers=headers)
    again = session.post(f"{stack.url}/api/v1/clients", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    events = stack.rpc.contacts.events_since(0, 100)
    assert [e["type"] for e in events] == ["ClientRegistered"]

    # The same body written differently (key order, spacing) is the same request.
    respaced = session.post(f"{stack.url}/api/v1/clients",
                            data='{ "name" : "Alan Insurance" }',
                            headers={**headers, "Content-Type": "application/json"})
    assert respaced.status_code == 201 and respaced.json() == first.json()
    assert respaced.headers["Idempotent-Replayed"] == "true"

    reused = session.post(f"{stack.url}/api/v1/clients", json={"name": "Other"},
                          headers=headers)
    assert reused.status_code == 422 and "Idempotency-Key" in reused.json()["errors"]
    # Keys belong to a workspace: another workspace's same key is a new request.
    other = stack.session(workspace="globex").post(f"{stack.url}/api/v1/clients", json=body,
                                                   headers=headers)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    # A refused request is replayed as refused, and still creates nothing.
    bad = {"Idempotency-Key": "bad-1"}
    assert session.post(f"{stack.url}/api/v1/clients", json={}, headers=bad).status_code == 422
    assert session.post(f"{stack.url}/api/v1/clients", json={}, headers=bad).status_code == 422
    assert len(stack.rpc.contacts.events_since(0, 100)) == 2
