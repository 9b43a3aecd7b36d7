"""Webhook delivery benchmark (PostgreSQL), against a local receiver.

The services and the gateway run as in production, each in its own process
(``clientfolio serve``), and the receiver in a process of its own that answers 204 and
notes when each delivery arrived:

1. throughput: N events stored with no subscription, then a subscription and a
   redelivery of everything since the start, timed until the receiver has all N,
   beside the same N bodies POSTed to the same receiver with ``requests`` (one
   session, one after the other) in the same run;
2. latency: ClientUpdated events committed to contacts' event store at a steady 200
   events/s (as its commands would, with the notification that wakes its relay) while
   subscribed; p99 of the receiver's arrival time minus the event's ``occurred_at``
   (stamped in the committing transaction, so it includes the commit), beside the p99
   of the raw POSTs of step 1.

    python -m bench.webhooks [--quick]
"""
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime

import requests

from .billing import Processes
from .support import Timer, database, rate, vhost

SERVICES = ("contacts", "projects", "billing", "gateway")
CLIENTS = 50
WRITERS = 16
LATENCY_RATE = 200.0


# -- the receiver (its own process) ------------------------------------------------------

def receive(port):
    """Answer 204 to every POST and note (arrival, event id, occurred_at); ``GET`` answers
    what arrived since the last ``GET`` and forgets it."""
    import eventlet

    eventlet.monkey_patch()
    import eventlet.wsgi

    arrivals = []

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            body = environ["wsgi.input"].read()
            arrived = time.time()
            event = json.loads(body)
            arrivals.append((arrived, event.get("event_id"), event.get("occurred_at")))
            start_response("204 No Content", [])
            return [b""]
        taken = list(arrivals)
        del arrivals[:len(taken)]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(taken).encode()]

    class Quiet:
        def write(self, data):
            pass

    eventlet.wsgi.server(eventlet.listen(("127.0.0.1", port)), app, log=Quiet(),
                         log_output=False, max_size=1000)


class Receiver:
    def __init__(self):
        from .billing import _free_port

        self.port = _free_port()
        self.process = None
        self.arrivals = []

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "bench.webhooks",
                                         "--receive", str(self.port)])
        deadline = time.monotonic() + 30
        while True:
            try:
                self.collect()
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(timeout=30)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hooks"

    def collect(self):
        self.arrivals += requests.get(self.url, timeout=30).json()
        return len(self.arrivals)

    def take(self):
        self.collect()
        taken, self.arrivals = self.arrivals, []
        return taken

    def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        while self.collect() < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(self.arrivals)} of {count} deliveries arrived")
            time.sleep(0.02)


# -- the run -------------------------------------------------------------------------------

def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def epoch(occurred_at):
    return datetime.fromisoformat(occurred_at.replace("Z", "+00:00")).timestamp()


def bench_run(count, latency_seconds):
    with ExitStack() as stack:
        amqp_uri = stack.enter_context(vhost())
        urls = {service: stack.enter_context(database("postgres", f"hooks_{service}"))[0]
                for service in SERVICES}
        os.environ.update(CLIENTFOLIO_WEBHOOKS_ALLOW_HTTP="true",
                          CLIENTFOLIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
                          CLIENTFOLIO_RELAY_POLL_INTERVAL="0.2")
        system = stack.enter_context(Processes(amqp_uri, urls))
        receiver = stack.enter_context(Receiver())
        token = system.token("bench", "admin")
        api = system.url
        local = threading.local()

        def session():
            if getattr(local, "session", None) is None:
                local.session = requests.Session()
                local.session.headers["Authorization"] = f"Bearer {token}"
            return local.session

        clients = []
        for index in range(CLIENTS):
            answer = session().post(f"{api}/clients", json={"name": f"Client {index}"},
                                    timeout=60)
            answer.raise_for_status()
            clients.append(answer.json()["id"])
        started = datetime.utcnow().isoformat() + "Z"

        def update(index):
            answer = session().patch(f"{api}/clients/{clients[index % CLIENTS]}",
                                     json={"notes": f"change {index}"}, timeout=60)
            if answer.status_code != 200:
                raise RuntimeError(f"{answer.status_code} {answer.text}")

        with Timer() as writing, ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(update, range(count)))
        print(f"  {count} updates through the API at {rate(count, writing.seconds):.0f}/s "
              "(no subscription yet)", flush=True)
        # Every event is in the gateway's feed before the subscription asks for them.
        deadline = time.monotonic() + 120
        while True:
            page = session().get(f"{api}/events", params={"limit": 1, "after": str(
                CLIENTS + count - 1)}, timeout=60).json()
            if page["items"]:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the feed did not get every event")
            time.sleep(0.1)
        sub = session().post(f"{api}/webhooks", json={
            "url": receiver.url, "event_types": ["ClientUpdated"]}, timeout=60).json()
        with Timer() as delivering:
            queued = session().post(f"{api}/webhooks/{sub['id']}/redeliver",
                                    json={"since": started}, timeout=120).json()["redelivered"]
            receiver.wait_for(queued, timeout=600)
        receiver.take()
        if queued != count:
            raise RuntimeError(f"{queued} deliveries queued for {count} events")

        # The baseline: the same bodies, POSTed by requests to the same receiver.
        bodies = [json.dumps({"event_id": str(i), "type": "ClientUpdated",
                              "occurred_at": started, "data": {"n": i}}).encode()
                  for i in range(count)]
        raw_session = requests.Session()
        raw_latencies = []
        with Timer() as posting:
            for body in bodies:
                began = time.perf_counter()
                raw_session.post(receiver.url, data=body, timeout=30,
                                 headers={"Content-Type": "application/json"})
                raw_latencies.append(time.perf_counter() - began)
        receiver.take()

        # Latency at a steady rate, subscribed: ClientUpdated events committed to contacts'
        # event store at 200/s, as its commands would (the API on this machine does not
        # take 200 writes/s), each followed by the notification a replica's commit sends.
        from services.common.db import get_database
        from services.common.envelope import NewEvent
        from services.common.eventstore import EventStore

        contacts = get_database(urls["contacts"])
        store = EventStore(contacts)
        versions = {client_id: len(store.read_stream(client_id)) for client_id in clients}
        total = int(LATENCY_RATE * latency_seconds)
        begin = time.monotonic()
        with contacts.engine.connect() as waker:
            waker = waker.execution_options(isolation_level="AUTOCOMMIT")
            for index in range(total):
                delay = begin + index / LATENCY_RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                client_id = clients[index % CLIENTS]
                store.append(client_id, versions[client_id], [NewEvent("ClientUpdated", {
                    "client_id": client_id, "changes": {"notes": f"paced {index}"},
                    "previous": {"notes": None}})], workspace="bench", actor="bench")
                versions[client_id] += 1
                waker.exec_driver_sql("SELECT pg_notify('clientfolio.contacts.events', '')")
        achieved = total / (time.monotonic() - begin)
        receiver.wait_for(total, timeout=300)
        latencies = [arrived - epoch(occurred) for arrived, _, occurred in receiver.take()]
        return (rate(count, delivering.seconds), rate(count, posting.seconds),
                percentile(latencies, 0.99), percentile(latencies, 0.5),
                percentile(raw_latencies, 0.99), achieved, total)


def run(report, quick=False):
    count = 1000 if quick else 5000
    seconds = 5 if quick else 20
    delivered, raw, p99, p50, raw_p99, achieved, total = bench_run(count, seconds)
    report.add("webhook deliveries to a local receiver", f"{count} events, {CLIENTS} clients",
               delivered, "raw requests POSTs, same receiver", raw, goal=">= 0.5x")
    print(f"  latency: {total} events at {achieved:.0f}/s achieved, p50 "
          f"{p50 * 1000:.1f} ms", flush=True)
    report.add("webhook p99 commit -> delivery", f"{total} at {LATENCY_RATE:.0f}/s",
               p99 * 1000, "raw requests POST p99, same run", raw_p99 * 1000,
               goal="<= 250 ms", unit="ms", higher_is_better=False)


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    if "--receive" in sys.argv:
        receive(int(sys.argv[sys.argv.index("--receive") + 1]))
    else:
        from .support import Report

        run(Report(), quick="--quick" in sys.argv)
