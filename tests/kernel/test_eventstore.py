"""The event store's contract, run on SQLite and on PostgreSQL alike."""
import random
import uuid

import eventlet
import pytest
from sqlalchemy import text

from services.common.envelope import NewEvent
from services.common.errors import ConcurrencyError
from services.common.eventstore import StreamAppend
from services.common.notify import Wakeup
from tests.helpers import wait_until


def events(*types):
    return [NewEvent(t, {"n": i, "text": "Fundació São Paulo €"}) for i, t in enumerate(types)]


def test_append_then_read_stream_and_all(store):
    stored = store.append("s-1", 0, events("A", "B"), workspace="acme", actor="token:x",
                          correlation_id="c-1")
    assert [(e.stream_version, e.position) for e in stored] == [(1, 1), (2, 2)]
    again = store.read_stream("s-1")
    assert again == stored
    assert again[0].data == {"n": 0, "text": "Fundació São Paulo €"}
    assert again[0].workspace == "acme" and again[0].actor == "token:x"
    store.append("s-2", 0, events("C"), workspace="acme")
    assert [e.position for e in store.read_all(0, 10)] == [1, 2, 3]
    assert [e.position for e in store.read_all(1, 1)] == [2]
    assert store.read_stream("s-1", after_version=1) == stored[1:]
    assert store.head_position() == 3


def test_stream_positions_name_each_streams_last_event(store):
    store.append("s-1", 0, events("A", "B"), workspace="acme")
    store.append("s-2", 0, events("C"), workspace="acme")
    store.append("s-1", 2, events("D"), workspace="acme")
    assert store.stream_positions(["s-1", "s-2", "unknown"]) == {"s-1": 4, "s-2": 3}
    assert store.stream_positions([]) == {}


def test_stale_expected_version_is_refused_and_stores_nothing(store):
    store.append("s-1", 0, events("A"), workspace="acme")
    with pytest.raises(ConcurrencyError):
        store.append("s-1", 0, events("B"), workspace="acme")
    with pytest.raises(ConcurrencyError):
        store.append("s-1", 5, events("B"), workspace="acme")
    assert [e.type for e in store.read_all()] == ["A"]


def test_two_concurrent_appends_at_the_same_version_exactly_one_wins(store):
    store.append("s-1", 0, events("A"), workspace="acme")
    start = eventlet.event.Event()
    waiting = []

    def writer(name):
        waiting.append(name)
        start.wait()
        try:
            store.append("s-1", 1, events(name), workspace="acme")
            return "won"
        except ConcurrencyError:
            return "lost"

    threads = [eventlet.spawn(writer, f"W{i}") for i in range(2)]
    wait_until(lambda: len(waiting) == 2, message="both writers at the start line")
    start.send()
    outcomes = sorted(t.wait() for t in threads)
    assert outcomes == ["lost", "won"]
    assert [e.stream_version for e in store.read_stream("s-1")] == [1, 2]


def test_batch_append_is_all_or_nothing(store):
    store.append("s-1", 0, events("A"), workspace="acme")
    with pytest.raises(ConcurrencyError):
        store.append_batch([
            StreamAppend("s-2", 0, events("B"), "acme"),
            StreamAppend("s-1", 0, events("C"), "acme"),  # stale
        ])
    assert [e.type for e in store.read_all()] == ["A"]
    stored = store.append_batch([StreamAppend(f"b-{i}", 0, events("X", "Y"), "acme")
                                 for i in range(300)])
    assert [e.position for e in stored] == list(range(2, 602))
    assert store.head_position() == 601


def test_positions_stay_gap_free_after_a_rolled_back_append(store, database):
    store.append("s-1", 0, events("A"), workspace="acme")
    with pytest.raises(RuntimeError):
        with database.write() as conn:
            store.append("s-2", 0, events("B", "C"), workspace="acme", conn=conn)
            raise RuntimeError("the command failed after appending")
    store.append("s-3", 0, events("D"), workspace="acme")
    assert [(e.position, e.type) for e in store.read_all()] == [(1, "A"), (2, "D")]


def test_event_ids_are_unique_uuids(store):
    stored = store.append("s-1", 0, events("A", "B", "C"), workspace="acme")
    ids = {e.event_id for e in stored}
    assert len(ids) == 3 and all(uuid.UUID(i) for i in ids)


@pytest.mark.postgres
def test_concurrent_writers_and_a_tailing_reader_see_every_event_once_in_order(
        postgres_url):
    """Writers hold their transaction open for a random while after taking
    positions, so commits finish out of order if positions were not serialised."""
    from services.common.db import Database
    from services.common.eventstore import EventStore
    from services.projects.service import migrate

    migrate(postgres_url)
    database = Database(postgres_url, pool_size=20)
    store = EventStore(database)
    writers, per_writer = 8, 25
    total = writers * per_writer

    def writer(w):
        for i in range(per_writer):
            with database.write() as conn:
                store.append(f"w{w}-{i}", 0, events("E"), workspace="acme", conn=conn)
                conn.execute(text("SELECT pg_sleep(:s)"), {"s": random.random() * 0.01})

    seen = []
    committed = Wakeup()
    database.on_commit(committed.set)

    def reader():
        last = 0
        while len(seen) < total:
            batch = store.read_all(last, 50)
            for event in batch:
                assert event.position == last + 1, f"skipped from {last} to {event.position}"
                last = event.position
                seen.append(event.event_id)
            if not batch:
                committed.wait(1.0)  # until the next commit

    tail = eventlet.spawn(reader)
    for thread in [eventlet.spawn(writer, w) for w in range(writers)]:
        thread.wait()
    with eventlet.Timeout(30):
        tail.wait()
    assert len(seen) == len(set(seen)) == total
    database.dispose()


@pytest.mark.postgres
def test_psycopg2_does_not_block_the_eventlet_hub(postgres_url):
    """Two slow queries in parallel green threads overlap (monkey_patch greens psycopg2)."""
    import time

    from services.common.db import Database

    database = Database(postgres_url)

    def slow():
        with database.read() as conn:
            conn.execute(text("SELECT pg_sleep(0.5)"))

    started = time.monotonic()
    for thread in [eventlet.spawn(slow), eventlet.spawn(slow)]:
        thread.wait()
    assert time.monotonic() - started < 0.95
    database.dispose()


def test_the_relay_checkpoint_is_saved_and_its_setting_does_not_leak(store, database):
    """On PostgreSQL the checkpoint is saved without waiting for the disk (a bookmark);
    that setting is local to its own statement, not to the pooled connection."""
    store.save_relay_checkpoint("outbox", 7)
    store.save_relay_checkpoint("outbox", 9)
    assert store.relay_checkpoint("outbox") == 9
    if database.is_postgres:
        with database.query() as conn:  # the same pooled autocommit connection
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        with database.write() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
