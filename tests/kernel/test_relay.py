"""The outbox relay against the real RabbitMQ (a fresh vhost per test)."""
import json
import subprocess
import urllib.parse
import uuid

import eventlet
import pytest
from kombu import Connection, Exchange, Queue

from services.common.envelope import NewEvent
from services.common.eventstore import StreamAppend
from services.common.relay import OutboxRelay
from tests.helpers import wait_until


def fill(store, count, per_stream=10):
    appends = [StreamAppend(f"s-{uuid.uuid4()}", 0, [NewEvent("ClientRegistered", {"i": i * per_stream + j})
                                          for j in range(per_stream)], "acme")
               for i in range(count // per_stream)]
    store.append_batch(appends)


class Collector:
    """A queue bound to every event of the exchange, read back for assertions."""

    def __init__(self, amqp_uri, exchange="projects.events"):
        self.connection = Connection(amqp_uri)
        self.queue = Queue("collector", Exchange(exchange, "topic", durable=True),
                           routing_key="#", durable=True)
        self.queue(self.connection.channel()).declare()
        self.messages = []

    def drain(self):
        channel = self.connection.channel()
        while True:
            message = self.queue(channel).get(no_ack=True)
            if message is None:
                return self.messages
            self.messages.append((message.delivery_info["routing_key"],
                                  json.loads(message.body)))

    def positions(self):
        return [body["position"] for _, body in self.drain()]

    def close(self):
        self.connection.release()


@pytest.fixture
def collector(amqp_uri):
    collector = Collector(amqp_uri)
    yield collector
    collector.close()


def start(relay):
    return eventlet.spawn(relay.run)


def test_relay_publishes_every_event_in_order_with_the_envelope(store, database, amqp_uri,
                                                                collector):
    fill(store, 2500)
    relay = OutboxRelay("projects", database, amqp_uri, batch_size=1000)
    thread = start(relay)
    wait_until(lambda: relay.checkpoint == 2500, message="relay to publish the backlog")
    positions = collector.positions()
    assert positions == list(range(1, 2501))
    routing_key, body = collector.messages[0]
    assert routing_key == "ClientRegistered"
    assert set(body) == {"event_id", "type", "version", "workspace", "stream_id",
                         "stream_version", "position", "occurred_at", "actor",
                         "correlation_id", "data"}
    assert body["data"] == {"i": 0}
    # New appends are published promptly (woken by the commit, not a poll).
    database.on_commit(relay.wake)
    fill(store, 10)
    wait_until(lambda: len(collector.positions()) == 2510, message="new events")
    relay.stop()
    thread.wait()
    assert store.relay_checkpoint("outbox") == 2510


@pytest.mark.parametrize("persistent, delivery_mode", [(False, 1), (True, 2)])
def test_relay_publishes_transient_messages_unless_told_persistent(store, database, amqp_uri,
                                                                   collector, persistent,
                                                                   delivery_mode):
    fill(store, 10)
    relay = OutboxRelay("projects", database, amqp_uri, persistent=persistent)
    thread = start(relay)
    wait_until(lambda: relay.checkpoint == 10, message="relay to publish")
    relay.stop()
    thread.wait()
    channel = collector.connection.channel()
    message = collector.queue(channel).get(no_ack=True)
    assert message.properties["delivery_mode"] == delivery_mode


def test_event_delivery_setting_is_checked():
    from services.common.config import event_delivery

    assert event_delivery({}) == "transient"
    assert event_delivery({"EVENT_DELIVERY": " Persistent "}) == "persistent"
    with pytest.raises(ValueError, match="CLIENTFOLIO_EVENT_DELIVERY must be one of"):
        event_delivery({"EVENT_DELIVERY": "durable"})


def test_relay_killed_between_publish_and_checkpoint_resends_and_loses_nothing(
        store, database, amqp_uri, collector, monkeypatch):
    fill(store, 3000)
    relay = OutboxRelay("projects", database, amqp_uri, batch_size=500)
    saved = []
    original_save = relay.store.save_relay_checkpoint

    class Killed(BaseException):
        pass

    def save_then_die(name, position):
        if len(saved) == 2:  # the third batch is confirmed but never checkpointed
            raise Killed()
        saved.append(position)
        original_save(name, position)

    monkeypatch.setattr(relay.store, "save_relay_checkpoint", save_then_die)
    thread = start(relay)
    with pytest.raises(Killed):
        thread.wait()
    assert store.relay_checkpoint("outbox") == 1000

    restarted = OutboxRelay("projects", database, amqp_uri, batch_size=500)
    thread = start(restarted)
    wait_until(lambda: store.relay_checkpoint("outbox") == 3000, message="restart to finish")
    restarted.stop()
    thread.wait()
    positions = collector.positions()
    assert sorted(set(positions)) == list(range(1, 3001))  # nothing lost
    assert len(positions) - 3000 == 500  # the unconfirmed-checkpoint batch, resent once


def test_only_one_relay_publishes_when_replicas_run(store, database, amqp_uri, collector):
    fill(store, 100)
    relays = [OutboxRelay("projects", database, amqp_uri) for _ in range(3)]
    threads = [start(r) for r in relays]
    wait_until(lambda: store.relay_checkpoint("outbox") == 100, message="publishing")
    wait_until(lambda: sum(r.is_leader for r in relays) == 1, message="one leader")
    fill(store, 100)
    wait_until(lambda: store.relay_checkpoint("outbox") == 200, message="more publishing")
    for relay in relays:
        relay.stop()
    for thread in threads:
        thread.wait()
    assert collector.positions() == list(range(1, 201))


def test_relay_reconnects_when_the_broker_drops_its_connection(store, database, amqp_uri,
                                                               collector):
    relay = OutboxRelay("projects", database, amqp_uri)
    database.on_commit(relay.wake)
    thread = start(relay)
    fill(store, 10)
    wait_until(lambda: store.relay_checkpoint("outbox") == 10, message="first events")
    vhost = urllib.parse.unquote(urllib.parse.urlparse(amqp_uri).path.lstrip("/"))
    subprocess.run(["rabbitmqctl", "-q", "close_all_connections", "-p", vhost,
                    "test: broker went away"], check=True, capture_output=True, timeout=60)
    fill(store, 10)
    wait_until(lambda: store.relay_checkpoint("outbox") == 20, timeout=30,
               message="publishing after the reconnect")
    relay.stop()
    thread.wait()
    database.remove_commit_listener(relay.wake)
    collector.connection = Connection(amqp_uri)  # its connection was closed too
    assert sorted(set(collector.positions())) == list(range(1, 21))


def test_a_trickle_saves_the_checkpoint_lazily_and_a_killed_relay_loses_nothing(
        store, database, amqp_uri, collector, monkeypatch):
    """One commit at a time is published at once, without a checkpoint save each (a
    round trip between commit and publication); a relay killed before it saved
    publishes those events again, and nothing is lost."""
    monkeypatch.setattr("services.common.relay.CHECKPOINT_INTERVAL", 3600.0)
    relay = OutboxRelay("projects", database, amqp_uri, poll_interval=3600.0)
    saves = []
    original_save = relay.store.save_relay_checkpoint

    def counted_save(name, position):
        saves.append(position)
        original_save(name, position)

    monkeypatch.setattr(relay.store, "save_relay_checkpoint", counted_save)
    thread = start(relay)
    for count in range(1, 21):
        fill(store, 1, per_stream=1)
        relay.wake()  # as each commit does (woken here only: exactly once per event)
        wait_until(lambda: len(collector.positions()) == count, message=f"event {count}")
    # At most one save: the first wake may reach a relay that already read the first
    # event when it started, and find nothing new (an idle read saves).
    assert len(saves) <= 1
    thread.kill()  # a crash: nothing more is saved
    unsaved = 20 - store.relay_checkpoint("outbox")
    assert unsaved >= 19

    restarted = OutboxRelay("projects", database, amqp_uri)
    thread = start(restarted)
    wait_until(lambda: store.relay_checkpoint("outbox") == 20, message="the idle save")
    restarted.stop()
    thread.wait()
    positions = collector.positions()
    # What was not saved is sent again, in order; nothing is lost.
    assert positions == list(range(1, 21)) + list(range(21 - unsaved, 21))


def test_a_batch_goes_to_the_socket_in_a_few_writes_whole_and_in_order(amqp_uri, collector):
    """The frames of a batch are sent together (flushed every 256 KiB), not one socket
    write per message; the broker gets every message, in order, and confirms them."""
    from services.common.relay import ConfirmingPublisher

    with Connection(amqp_uri) as connection:
        connection.connect()
        publisher = ConfirmingPublisher(connection, "projects.events")
        transport = connection.connection.transport
        real_send, sent = transport._write, []

        def counted_send(data):
            sent.append(len(data))
            real_send(data)

        transport._write = counted_send
        messages = [(n, "ClientRegistered", json.dumps({"position": n, "pad": "x" * 1000}))
                    for n in range(1, 1001)]
        publisher.publish_batch(messages)  # returns once the broker confirmed them all
        assert transport._write == counted_send  # put back as it was
        publisher.close()
    assert 4 <= len(sent) <= 8  # about 1.1 MB in writes of at least 256 KiB
    assert [body["position"] for _, body in collector.drain()] == list(range(1, 1001))


def test_read_ahead_brings_in_waiting_messages_with_few_socket_reads(amqp_uri, collector):
    """With ``read_ahead``, draining 500 waiting messages (1,500 frames) takes a few
    dozen ``recv`` calls, not two per frame; every message arrives whole, in order."""
    from services.common.relay import ConfirmingPublisher, read_ahead

    with Connection(amqp_uri) as connection:
        connection.connect()
        publisher = ConfirmingPublisher(connection, "projects.events")
        publisher.publish_batch([(n, "ClientRegistered", json.dumps({"position": n}))
                                 for n in range(1, 501)])
        publisher.close()
    with Connection(amqp_uri) as connection:
        connection.connect()
        sock, calls = connection.connection.transport.sock, []
        real_recv = sock.recv

        def counted_recv(size, *args):
            calls.append(size)
            return real_recv(size, *args)

        sock.recv = counted_recv
        read_ahead(connection)
        received = []
        consumer = connection.Consumer([collector.queue], accept=["json"],
                                       prefetch_count=1000, callbacks=[
                                           lambda body, message: (received.append(body),
                                                                  message.ack())])
        with consumer:
            while len(received) < 500:
                connection.drain_events(timeout=10)
    assert [body["position"] for body in received] == list(range(1, 501))
    assert len(calls) < 100 and min(calls) >= 64 * 1024
