"""The event consumer against real RabbitMQ, with a real nameko source service.

The source ("contacts") has its outbox relay switched off so the test decides
what the broker delivers: gaps, duplicates, poison and late starts.
"""
import json

import pytest
from kombu import Connection, Exchange, Producer
from nameko.dependency_providers import Config
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from services.common.config import load_config
from services.common.consumer import EventConsumer
from services.common.db import get_database
from services.common.envelope import NewEvent
from services.common.eventstore import EventStore
from services.common.extensions import (EventConsumerProvider, EventSourcedStore,
                                        EventSourceRpc)
from services.projects.service import migrate
from tests.helpers import wait_until

sink_metadata = MetaData()
applied_table = Table("test_applied", sink_metadata,
                      Column("id", Integer, primary_key=True, autoincrement=True),
                      Column("position", Integer), Column("name", String(50)))


def record(conn, event):
    conn.execute(insert(applied_table).values(position=event.position,
                                              name=event.data.get("name")))


class FakeContacts(EventSourceRpc):
    name = "contacts"
    config = Config()
    store = EventSourcedStore("contacts", migrate, relay=False)


@pytest.fixture
def source(container_factory, amqp_uri, tmp_path):
    config = load_config(overrides={
        "AMQP_URI": amqp_uri,
        "DATABASE_URLS": {"contacts": f"sqlite:///{tmp_path / 'contacts.db'}"}})
    container = container_factory(FakeContacts, config)
    container.start()
    return EventStore(get_database(config["DATABASE_URLS"]["contacts"]))


@pytest.fixture
def consumer(amqp_uri, tmp_path):
    url = f"sqlite:///{tmp_path / 'consumer.db'}"
    migrate(url)
    database = get_database(url)
    sink_metadata.create_all(database.engine)
    config = load_config(overrides={"AMQP_URI": amqp_uri, "CONSUMER_BATCH_SIZE": 100})
    consumer = EventConsumer("sink", database, config,
                             {"contacts": {"ClientRegistered": record}},
                             catch_up_interval=3600)
    yield consumer
    consumer.stop()


def applied(consumer):
    with consumer.database.read() as conn:
        return [row.position for row in conn.execute(
            select(applied_table).order_by(applied_table.c.id))]


def register(store, name):
    return store.append(f"client-{name}", 0, [NewEvent("ClientRegistered", {"name": name})],
                        workspace="acme")[0]


def publish(amqp_uri, *bodies, routing_key="ClientRegistered"):
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel(), Exchange("contacts.events", "topic", durable=True))
        for body in bodies:
            producer.publish(body if isinstance(body, (bytes, str)) else json.dumps(body),
                             routing_key=routing_key, content_type="application/json",
                             delivery_mode=2, declare=[producer.exchange])


def run(consumer):
    import eventlet

    thread = eventlet.spawn(consumer.run, "contacts")
    wait_until(lambda: consumer.ready["contacts"], message="consumer ready")
    return thread


def test_a_consumer_started_late_catches_up_from_the_event_log(source, consumer, amqp_uri):
    for name in ("ana", "bea", "carles"):
        register(source, name)  # published before any queue existed: the broker dropped them
    thread = run(consumer)
    assert applied(consumer) == [1, 2, 3]
    consumer.stop()
    thread.wait()


def test_a_gap_in_delivery_is_filled_from_events_since(source, consumer, amqp_uri):
    thread = run(consumer)
    events = [register(source, name) for name in ("ana", "bea", "carles", "dani")]
    publish(amqp_uri, events[3].to_dict())  # 1-3 never delivered by the broker
    wait_until(lambda: applied(consumer) == [1, 2, 3, 4], message="gap repaired")
    publish(amqp_uri, events[1].to_dict(), events[3].to_dict())  # late duplicates
    register(source, "eva")
    publish(amqp_uri, source.read_all(4)[0].to_dict())
    wait_until(lambda: applied(consumer) == [1, 2, 3, 4, 5], message="next event")
    assert consumer.inbox.position("contacts") == 5
    consumer.stop()
    thread.wait()


def test_poison_messages_are_parked_and_the_consumer_keeps_going(source, consumer, amqp_uri):
    thread = run(consumer)
    first = register(source, "ana")
    publish(amqp_uri, b"\xff not json at all", "{\"half\": ", first.to_dict())
    wait_until(lambda: applied(consumer) == [1], message="the good event")
    wait_until(lambda: len(consumer.inbox.dead_letters()) == 2, message="poison parked")
    second = register(source, "bea")
    publish(amqp_uri, second.to_dict())
    wait_until(lambda: applied(consumer) == [1, 2], message="consumer still going")
    reasons = [letter["reason"] for letter in consumer.inbox.dead_letters()]
    assert any("not UTF-8" in r for r in reasons) and any("not valid JSON" in r for r in reasons)
    consumer.stop()
    thread.wait()


def test_messages_of_unknown_type_or_position_are_set_aside_not_dropped(source, consumer,
                                                                         amqp_uri):
    """A message the source never published: an unknown type at a position already
    applied, or a position beyond the source's log. Parked (once), never silently
    acknowledged away; the lag it suggested does not stay."""
    import uuid

    from services.common.metrics import CONSUMER_LAG

    thread = run(consumer)
    first = register(source, "ana")
    publish(amqp_uri, first.to_dict())
    wait_until(lambda: applied(consumer) == [1], message="the good event")
    unknown = {**first.to_dict(), "event_id": str(uuid.uuid4()), "type": "ClientExploded"}
    ahead = {**first.to_dict(), "event_id": str(uuid.uuid4()), "position": 1000}
    publish(amqp_uri, unknown, unknown, routing_key="ClientExploded")
    publish(amqp_uri, ahead)
    wait_until(lambda: len(consumer.inbox.dead_letters()) == 2, message="both set aside")
    letters = {letter["event_id"]: letter for letter in consumer.inbox.dead_letters()}
    assert letters[unknown["event_id"]]["reason"] == (
        "unknown event type 'ClientExploded' at position 1, which was already applied")
    assert letters[ahead["event_id"]]["reason"] == (
        "position 1000 is not in the contacts event log, which ends at 1")
    assert CONSUMER_LAG.labels("sink", "contacts")._value.get() == 0
    second = register(source, "bea")
    publish(amqp_uri, second.to_dict())
    wait_until(lambda: applied(consumer) == [1, 2], message="consumer still going")
    assert len(consumer.inbox.dead_letters()) == 2
    consumer.stop()
    thread.wait()


def test_redelivered_events_after_a_restart_are_applied_once(source, consumer, amqp_uri):
    thread = run(consumer)
    events = [register(source, name) for name in ("ana", "bea")]
    publish(amqp_uri, *[e.to_dict() for e in events])
    wait_until(lambda: applied(consumer) == [1, 2], message="first delivery")
    consumer.stop()
    thread.wait()
    consumer._stopping = False
    publish(amqp_uri, *[e.to_dict() for e in events])  # redelivered while it was down
    thread = run(consumer)
    register(source, "carles")
    publish(amqp_uri, source.read_all(2)[0].to_dict())
    wait_until(lambda: applied(consumer) == [1, 2, 3], message="after restart")
    consumer.stop()
    thread.wait()


class Sink:
    name = "sink"
    consumer = EventConsumerProvider("sink", "sink", migrate,
                                     {"contacts": {"ClientRegistered": record}})


def test_a_consumer_waiting_on_a_stopped_source_does_not_hold_the_shutdown(
        container_factory, amqp_uri, tmp_path, monkeypatch):
    """The source stops first (a whole deployment going down); the consumer's catch-up
    call to it would wait for the RPC timeout. The container stops after the grace
    instead, and the killed catch-up applied nothing it should not have."""
    import eventlet

    from services.common import extensions

    monkeypatch.setattr(extensions, "STOP_GRACE_SECONDS", 0.5)
    url = f"sqlite:///{tmp_path / 'sink.db'}"
    migrate(url)
    sink_metadata.create_all(get_database(url).engine)
    config = load_config(overrides={
        "AMQP_URI": amqp_uri, "RPC_TIMEOUT": 600,
        "DATABASE_URLS": {"sink": url, "contacts": f"sqlite:///{tmp_path / 'contacts.db'}"}})
    contacts = container_factory(FakeContacts, config)
    contacts.start()
    source = EventStore(get_database(config["DATABASE_URLS"]["contacts"]))
    sink = container_factory(Sink, config)
    sink.start()
    consumer = next(ext for ext in sink.extensions
                    if isinstance(ext, EventConsumerProvider)).consumer
    wait_until(lambda: consumer.ready["contacts"], message="consumer ready")
    events = [register(source, name) for name in ("ana", "bea")]
    contacts.stop()  # contacts is gone; its RPC queue stays
    publish(amqp_uri, events[1].to_dict())  # a gap: the consumer asks contacts, in vain

    def waiting_calls():
        with Connection(amqp_uri) as conn:
            return conn.default_channel.queue_declare(
                "rpc-contacts", passive=True).message_count

    wait_until(lambda: waiting_calls() == 1, message="the catch-up call waiting")
    with eventlet.Timeout(30):  # without the grace: the RPC timeout, 600 s
        sink.stop()
    assert all(thread.dead for thread in sink._managed_threads)
    assert consumer.inbox.position("contacts") == 0


def test_a_consumer_started_before_its_source_waits_for_it_with_a_warning(
        container_factory, consumer, amqp_uri, tmp_path, caplog):
    """Services start in any order: until the source's RPC queue exists, the catch-up
    call finds no route. That is a warning without a traceback, then a retry."""
    import logging

    import eventlet

    caplog.set_level(logging.WARNING, logger="services.common.consumer")
    thread = eventlet.spawn(consumer.run, "contacts")
    wait_until(lambda: any("contacts is not running yet" in r.getMessage()
                           for r in caplog.records), message="the warning")
    assert not consumer.ready["contacts"]
    config = load_config(overrides={
        "AMQP_URI": amqp_uri,
        "DATABASE_URLS": {"contacts": f"sqlite:///{tmp_path / 'contacts.db'}"}})
    container_factory(FakeContacts, config).start()
    register(EventStore(get_database(config["DATABASE_URLS"]["contacts"])), "ana")
    wait_until(lambda: consumer.ready["contacts"], timeout=15, message="consumer ready")
    wait_until(lambda: applied(consumer) == [1], message="the event applied")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    consumer.stop()
    thread.wait()
