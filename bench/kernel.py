"""Kernel benchmarks: event store appends and the outbox relay.

- single appends (one event per transaction, as one command does) beside the
  `eventsourcing` library's application recorder on the same database;
- batches of 1,000 beside a raw multi-row insert of the same rows into a bare table;
- the relay publishing a 50,000-event backlog beside raw kombu publishing the
  same messages with publisher confirms.
"""
import json
import sqlite3
import uuid

from services.common.db import get_database
from services.common.envelope import NewEvent
from services.common.eventstore import EventStore, StreamAppend

from .support import Timer, database, rate, vhost

PAYLOAD = {"name": "Fundació Catalana de Disseny", "email": "hola@fcd.example",
           "country": "ES", "tags": ["vip", "design"], "notes": "x" * 60}


def _migrated_store(url):
    from services.projects.service import migrate

    migrate(url)
    return EventStore(get_database(url))


def single_appends(kind, count):
    with database(kind, "single") as (url, _):
        store = _migrated_store(url)
        with Timer() as timer:
            for _ in range(count):
                store.append(str(uuid.uuid4()), 0, [NewEvent("ClientRegistered", PAYLOAD)],
                             workspace="bench")
        return rate(count, timer.seconds)


def eventsourcing_single_appends(kind, count):
    from eventsourcing.persistence import StoredEvent

    state = json.dumps(PAYLOAD).encode()
    with database(kind, "es") as (url, name):
        if kind == "postgres":
            from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

            datastore = PostgresDatastore(name, "127.0.0.1", 5432, "postgres", "",
                                          pool_size=2)
            recorder = PostgresApplicationRecorder(datastore)
        else:
            from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

            datastore = SQLiteDatastore(name)
            recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        with Timer() as timer:
            for _ in range(count):
                recorder.insert_events([StoredEvent(uuid.uuid4(), 1, "bench:ClientRegistered",
                                                    state)])
        datastore.close()
        return rate(count, timer.seconds)


def batch_appends(kind, batches, size=1000):
    with database(kind, "batch") as (url, _):
        store = _migrated_store(url)
        with Timer() as timer:
            for _ in range(batches):
                store.append_batch([StreamAppend(str(uuid.uuid4()), 0,
                                                 [NewEvent("ClientRegistered", PAYLOAD)], "bench")
                                    for _ in range(size)])
        return rate(batches * size, timer.seconds)


def raw_batch_inserts(kind, batches, size=1000):
    """The floor: the same rows, multi-row inserted into a bare table, no checks."""
    data = json.dumps(PAYLOAD)
    columns = ("position", "event_id", "stream_id", "stream_version", "type", "version",
               "workspace", "occurred_at", "actor", "correlation_id", "data")
    create = ("CREATE TABLE bare (position BIGINT, event_id TEXT, stream_id TEXT, "
              "stream_version INT, type TEXT, version INT, workspace TEXT, occurred_at TEXT, "
              "actor TEXT, correlation_id TEXT, data TEXT)")
    with database(kind, "raw") as (url, path_or_name):
        position = 0
        if kind == "postgres":
            import psycopg2
            from psycopg2.extras import execute_values

            conn = psycopg2.connect(url)
            with conn, conn.cursor() as cursor:
                cursor.execute(create)
            with Timer() as timer:
                for _ in range(batches):
                    rows = []
                    for _ in range(size):
                        position += 1
                        rows.append((position, str(uuid.uuid4()), str(uuid.uuid4()), 1,
                                     "ClientRegistered", 1, "bench", "2026-11-23T00:00:00Z",
                                     None, None, data))
                    with conn, conn.cursor() as cursor:
                        execute_values(cursor, f"INSERT INTO bare ({', '.join(columns)}) "
                                               "VALUES %s", rows, page_size=size)
            conn.close()
        else:
            conn = sqlite3.connect(path_or_name, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(create)
            with Timer() as timer:
                for _ in range(batches):
                    rows = []
                    for _ in range(size):
                        position += 1
                        rows.append((position, str(uuid.uuid4()), str(uuid.uuid4()), 1,
                                     "ClientRegistered", 1, "bench", "2026-11-23T00:00:00Z",
                                     None, None, data))
                    conn.execute("BEGIN")
                    conn.executemany(f"INSERT INTO bare VALUES ({', '.join('?' * 11)})", rows)
                    conn.execute("COMMIT")
            conn.close()
        return rate(batches * size, timer.seconds)


def relay_backlog(count):
    from services.common.relay import ConfirmingPublisher, OutboxRelay
    from kombu import Connection

    with database("sqlite", "relay") as (url, _), vhost() as amqp_uri:
        store = _migrated_store(url)
        for start in range(0, count, 1000):
            store.append_batch([StreamAppend(str(uuid.uuid4()), 0,
                                             [NewEvent("ClientRegistered", PAYLOAD)], "bench")
                                for _ in range(min(1000, count - start))])
        relay = OutboxRelay("bench", get_database(url), amqp_uri, batch_size=1000)
        bodies = [body for _, _, body in store.read_all_json(0, count)]
        with Connection(amqp_uri) as connection:
            channel = connection.channel()
            channel.exchange_declare("bench.events", "topic", durable=True, auto_delete=False)
            # A queue so the broker really stores the messages (as with a consumer).
            channel.queue_declare("bench-sink", durable=True, auto_delete=False)
            channel.queue_bind("bench-sink", "bench.events", "#")
            publisher = ConfirmingPublisher(connection, "bench.events")
            with Timer() as timer:
                while relay.publish_pending(publisher):
                    pass
            relay_rate = rate(count, timer.seconds)
            assert relay.checkpoint == count
        raw_rate = raw_kombu_confirmed(amqp_uri, bodies)
        return relay_rate, raw_rate


def raw_kombu_confirmed(amqp_uri, bodies):
    """Raw kombu: a Producer on a connection with publisher confirms on."""
    from kombu import Connection, Exchange, Producer, Queue

    exchange = Exchange("raw.events", "topic", durable=True)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        Queue("raw-sink", exchange, routing_key="#", durable=True)(channel).declare()
        producer = Producer(channel, exchange)
        with Timer() as timer:
            for body in bodies:
                producer.publish(body, routing_key="ClientRegistered",
                                 content_type="application/json", content_encoding="utf-8",
                                 delivery_mode=2)
        return rate(len(bodies), timer.seconds)


def run(report, quick=False):
    singles = 500 if quick else 2000
    batches = 5 if quick else 20
    backlog = 10000 if quick else 50000
    for kind in ("sqlite", "postgres"):
        ours = single_appends(kind, singles)
        theirs = eventsourcing_single_appends(kind, singles)
        report.add(f"append 1 event/txn ({kind})", f"{singles} events", ours,
                   "eventsourcing lib, same DB", theirs, goal=">= 1.0x")
        ours = batch_appends(kind, batches)
        raw = raw_batch_inserts(kind, batches)
        report.add(f"append batches of 1000 ({kind})", f"{batches * 1000} events", ours,
                   "raw multi-row insert, bare table", raw, goal=">= 0.5x")
    relay_rate, raw_rate = relay_backlog(backlog)
    report.add("relay publish backlog (confirms)", f"{backlog} events", relay_rate,
               "raw kombu publish w/ confirms", raw_rate, goal=">= 0.5x")


if __name__ == "__main__":
    import sys
    import warnings

    from .support import Report

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
