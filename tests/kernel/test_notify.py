"""Wake-ups across replicas (PostgreSQL LISTEN/NOTIFY) against the real servers."""
import eventlet
import pytest
from eventlet.queue import LightQueue

from gateway.http import wait_for_consistency
from services.common.consumer import EventConsumer
from services.common.db import Database
from services.common.eventstore import EventStore
from services.common.inbox import Progress
from services.common.notify import Listener, Notifier, format_positions, parse_positions
from services.common.relay import OutboxRelay
from services.projects.service import migrate
from tests.helpers import wait_until
from tests.kernel.test_relay import Collector, fill


@pytest.fixture
def replicas(postgres_url):
    """Two processes' views of one service database: separate engines, so that a
    commit in one never wakes the other through ``Database.on_commit``."""
    migrate(postgres_url)
    databases = [Database(postgres_url), Database(postgres_url)]
    yield databases
    for database in databases:
        database.dispose()


class Running:
    """Green threads of loops with ``run``/``stop``, stopped at the end of the test."""

    def __init__(self):
        self.loops = []

    def start(self, loop):
        self.loops.append((loop, eventlet.spawn(loop.run)))
        return loop

    def stop_all(self):
        for loop, _ in self.loops:
            loop.stop()
        for _, thread in self.loops:
            thread.wait()


@pytest.fixture
def running():
    loops = Running()
    yield loops
    loops.stop_all()


def test_positions_travel_as_a_payload_and_garbage_is_ignored():
    positions = {"projects": 7, "billing": 12}
    assert parse_positions(format_positions(positions)) == positions
    assert parse_positions("projects:x,:3,billing:4,nonsense") == {"billing": 4}
    assert parse_positions(None) == parse_positions("") == {}


def test_a_listener_gets_the_coalesced_positions_and_reconnects_after_losing_its_session(
        replicas, running):
    sender, receiver = replicas
    received = LightQueue()
    listener = running.start(Listener(receiver, "clientfolio.test", received.put,
                                      retry_interval=0.1))
    assert received.get(timeout=10) is None  # connected: "you may have missed something"
    notifier = Notifier(sender, "clientfolio.test")
    notifier.poke({"projects": 3})
    notifier.poke({"projects": 5, "billing": 2})
    notifier.poke({"projects": 4})  # lower than what is pending: the maximum is kept
    running.start(notifier)
    assert parse_positions(received.get(timeout=10)) == {"projects": 5, "billing": 2}

    with sender.query() as conn:  # the database ends the listener's session
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE left(query, 7) = 'LISTEN ' AND datname = current_database()")
    assert received.get(timeout=10) is None  # listening again
    assert listener.listening
    notifier.poke({"billing": 9})
    assert parse_positions(received.get(timeout=10)) == {"billing": 9}


def test_a_commit_in_a_replica_that_is_not_the_leader_is_published_without_waiting_for_a_poll(
        replicas, amqp_uri, running):
    leader_db, follower_db = replicas
    collector = Collector(amqp_uri)
    try:
        # The relay would only poll once a minute: the notification is what wakes it.
        relay = running.start(OutboxRelay("projects", leader_db, amqp_uri, poll_interval=60))
        running.start(Listener(leader_db, "clientfolio.projects.events",
                               lambda payload: relay.wake()))
        notifier = running.start(Notifier(follower_db, "clientfolio.projects.events"))
        follower_db.on_commit(notifier.poke)
        wait_until(lambda: relay.is_leader, message="the relay leading")
        wait_until(lambda: relay.checkpoint == 0, message="the relay idle")

        fill(EventStore(follower_db), 20)
        wait_until(lambda: relay.checkpoint == 20, timeout=15, message="the events published")
        assert collector.positions() == list(range(1, 21))
    finally:
        collector.close()


def test_a_consistency_wait_in_another_gateway_replica_ends_on_the_projectors_notification(
        replicas, running):
    projector_db, reader_db = replicas
    progress = Progress()

    reads = []

    class ReaderInbox:  # the read model this replica sees: the write not applied yet
        def __init__(self):
            self.progress = progress

        def positions(self):
            reads.append(True)
            return {}

    class ReaderConsumer:  # a replica that is not the projector's leader
        wait_applied = EventConsumer.wait_applied
        leader = {"projects": False}
        inbox = ReaderInbox()
        listener = running.start(Listener(
            reader_db, "clientfolio.gateway.applied",
            lambda payload: [progress.advance(s, p)
                             for s, p in parse_positions(payload).items()]))

    wait_until(lambda: ReaderConsumer.listener.listening, message="the replica listening")
    notifier = running.start(Notifier(projector_db, "clientfolio.gateway.applied"))
    waiter = eventlet.spawn(wait_for_consistency, ReaderConsumer(), "projects:42", timeout=30)
    wait_until(lambda: reads, message="the read waiting")
    notifier.poke({"projects": 42})
    # Only the notification can end it: this replica's checkpoints never move.
    assert waiter.wait() is True
