"""A well-behaved API client for the fault tests: each write carries an Idempotency-Key
and is retried with it (on any of the gateways given) until it gets a definite answer."""
import itertools
import random
import time
from collections import Counter

import eventlet
import requests

RETRYABLE = {409, 502, 503, 504}


class Writer:
    def __init__(self, gateway_urls, token, timeout=30, pause=(0.1, 0.4)):
        """``gateway_urls``: a callable answering the base URLs to choose from now."""
        self.gateway_urls = gateway_urls
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.statuses = Counter()
        self.keys = itertools.count()
        self.acknowledged_at = []
        self.last_failure = None  # the last answer that was not a definite one
        self.timeout = timeout
        self.pause = pause

    def write(self, path, body, deadline=120):
        key = f"fault-{id(self)}-{next(self.keys)}"
        give_up = time.monotonic() + deadline
        while True:
            url = random.choice(self.gateway_urls()) + "/api/v1" + path
            try:
                response = self.session.post(url, json=body, timeout=self.timeout,
                                             headers={"Idempotency-Key": key})
                self.statuses[response.status_code] += 1
                if response.status_code not in RETRYABLE:
                    assert response.status_code < 300, (path, response.status_code,
                                                        response.text)
                    self.acknowledged_at.append(time.monotonic())
                    return response.json()
                self.last_failure = f"{response.status_code} {response.text[:300]}"
            except requests.RequestException as exc:
                self.statuses["connection"] += 1
                self.last_failure = repr(exc)[:300]
            assert time.monotonic() < give_up, (
                f"{path} never answered; answers: {dict(self.statuses)}; "
                f"the last: {self.last_failure}")
            eventlet.sleep(random.uniform(*self.pause))


def client_ids(session, api_url, q):
    """Every client the search ``q`` finds (all pages)."""
    found, cursor = [], None
    while True:
        page = session.get(f"{api_url}/clients", params={"q": q, "limit": 500, **(
            {"cursor": cursor} if cursor else {})}, timeout=30).json()
        found += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return found
