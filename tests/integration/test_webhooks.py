"""Webhooks end to end: subscriptions through the API, deliveries from the services'
events to a receiver on loopback (allowed by the test's settings), signatures,
retries in order, isolation between workspaces, refused targets and bad input."""
import pytest

from gateway.webhooks import signing
from tests.helpers import wait_until
from tests.webhook_receiver import Receiver

PROBLEM = "application/problem+json"
LOOPBACK = {"WEBHOOKS_ALLOW_HTTP": True, "WEBHOOKS_ALLOW_PRIVATE_TARGETS": True,
            "WEBHOOKS_POLL_INTERVAL": 0.1, "WEBHOOKS_RETRY_BASE_SECONDS": 0.05,
            "WEBHOOKS_RETRY_MAX_SECONDS": 0.2}


@pytest.fixture
def receiver():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def hooked(make_stack):
    stack = make_stack()
    stack.extra_config.update(LOOPBACK)
    return stack.start()


def api(stack, path):
    return f"{stack.url}/api/v1{path}"


def subscribe(session, stack, url, event_types=("*",)):
    answer = session.post(api(stack, "/webhooks"), json={"url": url,
                                                         "event_types": list(event_types)})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_client_event_reaches_the_receiver_signed(hooked, receiver):
    session = hooked.session()
    sub = subscribe(session, hooked, receiver.url)
    assert sub["secret"].startswith("whsec_")
    created = session.post(api(hooked, "/clients"), json={"name": "Alan Insurance"})
    assert created.status_code == 201
    wait_until(lambda: receiver.delivered(), timeout=15, message="a delivery")
    (headers, body), = receiver.delivered()
    raw = receiver.requests[0]["body"]
    assert body["type"] == "ClientRegistered" and body["data"]["client_id"] == created.json()["id"]
    assert headers["webhook-id"] == body["event_id"]
    assert signing.verify(sub["secret"], headers, raw)
