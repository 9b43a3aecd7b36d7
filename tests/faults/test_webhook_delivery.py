"""Webhook delivery against real processes killed midway: two gateway replicas deliver
(lanes claimed with FOR UPDATE SKIP LOCKED on the real PostgreSQL); one is killed with
``kill -9`` while deliveries are in flight and its lanes are taken over when their
leases end. The receiver gets every event, in order per client: duplicates are allowed
(at least once), a loss or a reordering is not."""
import pytest
import requests

from gateway.webhooks.delivery import RECORD_EVERY
from tests.faults.processes import SERVICES, ProcessStack
from tests.helpers import wait_until
from tests.webhook_receiver import Receiver

CLIENTS = 4
ROUNDS = 15


@pytest.fixture
def processes(amqp_uri, postgres, tmp_path):
    urls = {service: postgres.create(service) for service in SERVICES}
    stack = ProcessStack(amqp_uri, urls, tmp_path,
                         CLIENTFOLIO_WEBHOOKS_ALLOW_HTTP="true",
                         CLIENTFOLIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
                         CLIENTFOLIO_WEBHOOKS_POLL_INTERVAL="0.1",
                         CLIENTFOLIO_WEBHOOKS_TIMEOUT_SECONDS="1",
                         CLIENTFOLIO_WEBHOOKS_LEASE_SECONDS="3",
                         CLIENTFOLIO_WEBHOOKS_RETRY_BASE_SECONDS="0.05",
                         CLIENTFOLIO_WEBHOOKS_RETRY_MAX_SECONDS="0.5",
                         # Two lanes at a time each: with four clients' lanes busy, both
                         # replicas hold some, so the one killed has deliveries in flight.
                         CLIENTFOLIO_WEBHOOKS_CONCURRENCY="2")
    stack.add_gateway("gateway-2")
    try:
        yield stack.start()
    finally:
        stack.close()


def first_seen_in_order(bodies):
    """Per client: the stream versions in the order first received (repeats dropped)."""
    seen, order = set(), {}
    for body in bodies:
        if body["event_id"] in seen:
            continue
        seen.add(body["event_id"])
        order.setdefault(body["data"]["client_id"], []).append(body["stream_version"])
    return order


def test_killing_a_delivering_gateway_loses_and_reorders_nothing(processes):
    receiver = Receiver(delay=0.2).start()
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {processes.token()}"
        survivor = f"{processes['gateway-2'].url}/api/v1"
        answer = session.post(f"{survivor}/webhooks", timeout=30, json={
            "url": receiver.url, "event_types": ["ClientRegistered", "ClientUpdated"]})
        assert answer.status_code == 201, answer.text
        clients = []
        for i in range(CLIENTS):
            created = session.post(f"{survivor}/clients", json={"name": f"Client {i}"},
                                   timeout=30)
            assert created.status_code == 201, created.text
            clients.append(created.json()["id"])

        def write():
            for round_ in range(ROUNDS):
                for client_id in clients:
                    changed = session.patch(f"{survivor}/clients/{client_id}",
                                            json={"notes": f"round {round_}"}, timeout=30)
                    assert changed.status_code == 200, changed.text

        write()  # a backlog: each client's lane has deliveries waiting
        # Midway: some deliveries done, others in flight in both replicas.
        wait_until(lambda: len(receiver.requests) >= 12, timeout=60, interval=0.02,
                   message="deliveries under way")
        processes["gateway"].kill()
        expected = CLIENTS * (ROUNDS + 1)
        wait_until(lambda: len({b["event_id"] for _, b in receiver.delivered()}) >= expected,
                   timeout=90, interval=0.1, message="every event delivered")
        processes["gateway"].start()  # back: nothing more, nothing twice from now on

        order = first_seen_in_order(body for _, body in receiver.delivered())
        assert sorted(order) == sorted(clients)
        for client_id in clients:
            assert order[client_id] == list(range(1, ROUNDS + 2)), order[client_id]
        # Repeated: what the killed process had sent without recording it yet (at most
        # RECORD_EVERY for each of its two lanes), and only that.
        repeats = len(receiver.delivered()) - expected
        assert 1 <= repeats <= 2 * RECORD_EVERY
        log = session.get(f"{survivor}/webhooks/{answer.json()['id']}/deliveries",
                          params={"limit": 500}, timeout=30).json()["items"]
        assert len(log) == expected and {d["status"] for d in log} == {"delivered"}
    finally:
        receiver.stop()
