"""One source service's side of the propagation benchmark, in its own process as
the service would be: a few writers commit ``ClientAssigned`` (projects) or
``InvoiceIssued`` (billing) at a steady rate, and the source's outbox relay,
woken by each commit, publishes them.

    python bench/committer.py SOURCE DATABASE_URL AMQP_URI RATE SECONDS IDS_FILE [WAKE]

``WAKE`` says how the relay learns of a commit: ``commit`` (default) as in the
replica that runs the relay; ``notify`` as in another replica of the service:
the writers and the relay use two databases (two pools, as two processes do),
the writers' commits are notified on PostgreSQL (``services/common/notify.py``)
and the relay listens; ``poll``: the same without notifications, the relay
finding the commits at its default poll (0.5 s), the behaviour before them.

One event in ten is announced on stdout as ``source position committed_at
client_id`` (``committed_at``: ``time.monotonic()``, one clock for the machine) for
the prober; the last line on stderr is the number of events committed.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402

import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from clientfolio.serve import settle_garbage_collector  # noqa: E402
from services.common.db import Database, get_database  # noqa: E402
from services.common.envelope import NewEvent  # noqa: E402
from services.common.eventstore import EventStore  # noqa: E402
from services.common.notify import Listener, Notifier  # noqa: E402
from services.common.relay import OutboxRelay  # noqa: E402

WRITERS = 2


def new_event(source, client_id):
    if source == "projects":
        project = str(uuid.uuid4())
        return project, NewEvent("ClientAssigned", {
            "project_id": project, "client_id": client_id, "previous_client_id": None,
            "via": "bulk"})
    invoice = str(uuid.uuid4())
    return invoice, NewEvent("InvoiceIssued", {
        "invoice_id": invoice, "number": "2026-000002", "client_id": client_id,
        "project_id": None, "currency": "EUR", "total": "10.00",
        "issue_date": "2026-11-01", "due_date": "2026-12-01"})


def main():
    source, url, amqp_uri = sys.argv[1], sys.argv[2], sys.argv[3]
    rate, seconds = float(sys.argv[4]), float(sys.argv[5])
    client_ids = open(sys.argv[6]).read().split()
    wake = sys.argv[7] if len(sys.argv) > 7 else "commit"
    database = get_database(url)
    store = EventStore(database)
    # The generated history is already in the read model: publish from now on.
    store.save_relay_checkpoint("outbox", store.head_position())
    threads = []
    if wake == "commit":
        relay = OutboxRelay(source, database, amqp_uri, poll_interval=0.05)
        database.on_commit(relay.wake)
    else:
        relay_database = Database(url)  # a pool of its own, as in another process
        relay = OutboxRelay(source, relay_database, amqp_uri, poll_interval=0.5)
        if wake == "notify":
            channel = f"clientfolio.{source}.events"
            notifier = Notifier(database, channel)
            listener = Listener(relay_database, channel, lambda payload: relay.wake())
            database.on_commit(notifier.poke)
            threads = [eventlet.spawn(notifier.run), eventlet.spawn(listener.run)]
            while not listener.listening:
                eventlet.sleep(0.01)
    relay_thread = eventlet.spawn(relay.run)
    settle_garbage_collector()  # as ``clientfolio serve`` does once a service started
    interval = WRITERS / rate
    deadline = time.monotonic() + seconds
    sent = [0]

    def writer(index):
        next_at = time.monotonic()
        count = 0
        while time.monotonic() < deadline:
            client_id = client_ids[(count * WRITERS + index) % len(client_ids)]
            stream, event = new_event(source, client_id)
            stored = store.append(stream, 0, [event], workspace="bench")
            if count % 10 == index % 10:
                sys.stdout.write(f"{source} {stored[-1].position} {time.monotonic()} "
                                 f"{client_id}\n")
                sys.stdout.flush()
            count += 1
            sent[0] += 1
            next_at += interval
            eventlet.sleep(max(0.0, next_at - time.monotonic()))

    for thread in [eventlet.spawn(writer, index) for index in range(WRITERS)]:
        thread.wait()
    relay.stop()
    relay_thread.wait()
    if threads:
        notifier.stop()
        listener.stop()
        for thread in threads:
            thread.wait()
    print(sent[0], file=sys.stderr)


if __name__ == "__main__":
    main()
