"""Commands exactly once, against real processes killed at the worst moment.

A service killed after its commit and before its RPC reply gets the request again
from RabbitMQ when it comes back: the caller still gets the first outcome, and one
record exists. A gateway killed while holding an Idempotency-Key, or failing after
the command ran, loses nothing either: the retry answers the first outcome.
(PostgreSQL and RabbitMQ are the real servers; fault points: services/common/faults.py.)
"""
import eventlet
import pytest
import requests

from tests.faults.processes import SERVICES, ProcessStack
from tests.helpers import wait_until

KILLED = 137
LINES = [{"description": "Audit", "quantity": "2", "unit_price": "50.00", "tax_rate": "21"}]


@pytest.fixture
def processes(amqp_uri, postgres, tmp_path):
    urls = {service: postgres.create(service) for service in SERVICES}
    stack = ProcessStack(amqp_uri, urls, tmp_path, CLIENTFOLIO_IDEMPOTENCY_LEASE_SECONDS=1)
    try:
        yield stack.start()
    finally:
        stack.close()


def api(stack, gateway="gateway"):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.token()}"
    return session, f"{stack[gateway].url}/api/v1"


def killed_after_commit(stack, service, command, send):
    """Run ``send()`` while ``service`` dies right after ``command`` commits; bring the
    service back; return what the caller was answered."""
    process = stack[service]
    process.restart(fault=f"after_commit:{command}")
    reply = eventlet.spawn(send)
    assert process.wait_exit() == KILLED, process.log_tail()
    process.start()  # RabbitMQ hands it the request again
    return reply.wait()


def test_a_service_killed_between_commit_and_reply_answers_the_first_outcome(processes):
    session, api_url = api(processes)
    client = session.post(f"{api_url}/clients", json={"name": "Arrow Seguros"}, timeout=30)
    assert client.status_code == 201, client.text
    client_id = client.json()["id"]

    def post(path, body, key):
        return lambda: session.post(f"{api_url}{path}", json=body, timeout=60,
                                    headers={"Idempotency-Key": key})

    # A create: one invoice, and its id is the one answered.
    created = killed_after_commit(processes, "billing", "create_invoice", post(
        "/invoices", {"client_id": client_id, "currency": "EUR", "lines": LINES,
                      "due_date": "2030-01-31"}, "draft-1"))
    assert created.status_code == 201, created.text
    invoice_id = created.json()["id"]
    listed = session.get(f"{api_url}/invoices", params={"client_id": client_id}, timeout=30)
    assert [item["id"] for item in listed.json()["items"]] == [invoice_id]

    # An issue: its number comes back (never "already authorized"), no number is skipped.
    issued = killed_after_commit(processes, "billing", "issue_invoice", post(
        f"/invoices/{invoice_id}/issue", {"issue_date": "2026-03-02"}, "issue-1"))
    assert issued.status_code == 200, issued.text
    assert issued.json()["status"] == "authorized" and issued.json()["number"] == "2026-000001"

    # A payment: recorded once.
    paid = killed_after_commit(processes, "billing", "record_payment", post(
        f"/invoices/{invoice_id}/payments", {"amount": "50.00", "date": "2026-03-05"},
        "pay-1"))
    assert paid.status_code == 200, paid.text
    invoice = session.get(f"{api_url}/invoices/{invoice_id}", timeout=30).json()
    assert invoice["paid"] == "50.00" and invoice["status"] == "authorized"

    # A void: answered as done, not refused as "already void".
    second = session.post(f"{api_url}/invoices", json={
        "client_id": client_id, "currency": "EUR", "lines": LINES}, timeout=30).json()
    voided = killed_after_commit(processes, "billing", "void_invoice", post(
        f"/invoices/{second['id']}/void", {}, "void-1"))
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "void"

    # The next number follows on: the kills left no gap and took no number twice.
    third = session.post(f"{api_url}/invoices", json={
        "client_id": client_id, "currency": "EUR", "lines": LINES}, timeout=30).json()
    next_issue = session.post(f"{api_url}/invoices/{third['id']}/issue",
                              json={"issue_date": "2026-03-09"}, timeout=30)
    assert next_issue.json()["number"] == "2026-000002"
    history = session.get(f"{api_url}/clients/{client_id}/history", params={"limit": 100},
                          timeout=30)
    assert [item["type"] for item in history.json()["items"]].count("InvoiceIssued") == 2


def retry_until_answered(session, url, body, key, timeout=30):
    """Retry as a well-behaved client does: on 409 in flight, wait ``Retry-After``."""
    def attempt():
        response = session.post(url, json=body, timeout=30, headers={"Idempotency-Key": key})
        return response if response.status_code != 409 else None
    return wait_until(attempt, timeout=timeout, interval=0.2, message="the retried request")


def test_a_gateway_killed_holding_a_key_is_taken_over_and_answers_the_outcome(processes):
    gateway = processes["gateway"]
    gateway.restart(fault="after_command:create_client")
    session, api_url = api(processes)
    body = {"name": "Bodega Nómada, S.L.", "email": "hola@nomada.example.es"}
    with pytest.raises(requests.ConnectionError):
        session.post(f"{api_url}/clients", json=body, timeout=30,
                     headers={"Idempotency-Key": "nomada-1"})
    assert gateway.wait_exit() == KILLED
    gateway.start()

    first = retry_until_answered(session, f"{api_url}/clients", body, "nomada-1")
    assert first.status_code == 201, first.text
    again = session.post(f"{api_url}/clients", json=body, timeout=30,
                         headers={"Idempotency-Key": "nomada-1"})
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    found = session.get(f"{api_url}/clients", params={"q": "nomada"}, timeout=30).json()
    assert [item["id"] for item in found["items"]] == [first.json()["id"]]


def test_a_server_error_after_the_command_ran_is_answered_by_the_retry(processes):
    failing = processes["gateway"]
    failing.restart(fault="raise:after_command:create_project")
    healthy = processes.add_gateway("gateway-2").start()
    session, api_url = api(processes)
    body = {"name": "Rebranding 2027", "code": "RB27"}
    broken = session.post(f"{api_url}/projects", json=body, timeout=30,
                          headers={"Idempotency-Key": "rb27"})
    assert broken.status_code == 500

    # The retry reaches the other replica: the project the command created, once.
    retried = retry_until_answered(session, f"{healthy.url}/api/v1/projects", body, "rb27")
    assert retried.status_code == 201, retried.text
    found = session.get(f"{healthy.url}/api/v1/projects", params={"q": "RB27"},
                        timeout=30).json()
    assert [item["id"] for item in found["items"]] == [retried.json()["id"]]
