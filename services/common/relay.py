"""The outbox relay: publishes a service's stored events to RabbitMQ.

It tails the event store by position and publishes each event to the topic
exchange ``<service>.events`` with the event type as routing key, persistent,
with publisher confirms. A backlog goes out in batches: publish the whole
batch, then wait for the broker's confirms, then advance the checkpoint. So:
- at-least-once: a crash between publish and checkpoint resends, never loses;
- order: events are published in position order (consumers still check it);
- one active relay per service: replicas elect a leader (``leader.py``).
"""
import logging
import random
import socket
import time
from contextlib import contextmanager

import amqp
import eventlet
from kombu import Connection
from kombu.exceptions import OperationalError

from .eventstore import EventStore
from .leader import leadership
from . import tracing
from .metrics import EVENTS_PUBLISHED, RELAY_BACKLOG
from .notify import Wakeup

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 0.2  # seconds between checkpoint saves under a steady trickle
CONNECTION_ERRORS = (OSError, socket.timeout, amqp.exceptions.AMQPError, ConnectionError,
                     OperationalError)


class PublishNotConfirmed(Exception):
    """The broker nacked a message or did not confirm in time; the batch is resent."""


class Backoff:
    """Exponential backoff with a ceiling and full jitter, reset after a success.

    The jitter spreads the replicas that lost the broker together, so they do not all
    reconnect in the same instant when it comes back; the ceiling keeps a loop's
    first attempt after the broker's return within a few seconds."""

    def __init__(self, first=0.2, ceiling=4.0):
        self.first, self.ceiling, self.current = first, ceiling, first

    def next(self):
        """The next delay: uniform between ``first`` and the current step."""
        step, self.current = self.current, min(self.current * 2, self.ceiling)
        return random.uniform(self.first, step)

    def reset(self):
        self.current = self.first


READ_AHEAD = 64 * 1024


def connect_any(connection):
    """Connect ``connection`` to the first of its URLs that answers.

    ``AMQP_URI`` may list the nodes of a RabbitMQ cluster separated by ``;`` (kombu's
    failover): each is tried once, in order, so a node that died is skipped at once."""
    connection.ensure_connection(max_retries=len(connection.alt or ()) or 1,
                                 interval_start=0, interval_step=0.2, interval_max=1)
    return connection


def read_ahead(connection):
    """Let a connected kombu ``connection`` read the socket in blocks.

    py-amqp reads each frame with two ``recv`` calls of exactly the bytes it needs,
    so a message (three frames) costs six system calls and eventlet switches. Its
    plain TCP transport keeps whatever a ``recv`` returns beyond the request in its
    read buffer, so asking for at least ``READ_AHEAD`` bytes lets one call bring in
    every message already waiting. Other transports (TLS) are left as they are.
    """
    transport = getattr(connection.connection, "transport", None)
    if type(transport).__name__ != "TCPTransport" or \
            getattr(transport, "_quick_recv", None) is None:
        return
    recv = transport.sock.recv
    transport._quick_recv = lambda size: recv(max(size, READ_AHEAD))


class ConfirmingPublisher:
    """Publishes many messages, then waits for all of their confirms at once."""

    def __init__(self, connection, exchange, confirm_timeout=30.0, persistent=False):
        self.connection = connection
        self.exchange = exchange
        self.delivery_mode = 2 if persistent else 1
        self.confirm_timeout = confirm_timeout
        self.channel = connection.channel()
        self.channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
        self.channel.confirm_select()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)
        self._next_tag = 0
        self._unconfirmed = set()
        self._nacked = False

    def _on_ack(self, delivery_tag, multiple):
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_nack(self, delivery_tag, multiple):
        self._nacked = True
        self._on_ack(delivery_tag, multiple)

    def publish_batch(self, messages, headers=None):
        """Publish ``(position, type, json_body)`` messages; return once all are confirmed.
        ``headers``: optional ``{position: {name: value}}`` added to those messages'."""
        with self._coalesced_writes():
            for position, event_type, body in messages:
                self._next_tag += 1
                self._unconfirmed.add(self._next_tag)
                message = amqp.Message(
                    body.encode("utf-8"),
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=self.delivery_mode,
                    type=event_type,
                    application_headers={"position": position, **headers[position]}
                    if headers and position in headers else {"position": position},
                )
                self.channel.basic_publish(message, exchange=self.exchange,
                                           routing_key=event_type)
        deadline = time.monotonic() + self.confirm_timeout
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishNotConfirmed(f"{len(self._unconfirmed)} messages not confirmed")
            try:
                self.connection.drain_events(timeout=min(remaining, 1.0))
            except socket.timeout:
                continue
        if self._nacked:
            self._nacked = False
            raise PublishNotConfirmed("the broker refused a message")

    @contextmanager
    def _coalesced_writes(self, flush_at=256 * 1024):
        """Send the frames of many messages in a few socket writes.

        py-amqp writes each message's frames with a socket send of its own (a system
        call and an eventlet switch each: a fifth of a service's CPU during an
        import). Its transport sends through ``_write``; that is wrapped here to
        collect the frames (copied: py-amqp reuses its buffer) and send them together.
        Without that attribute (another py-amqp), messages are written one by one.
        """
        transport = getattr(self.connection.connection, "transport", None)
        send = getattr(transport, "_write", None)
        if send is None:
            yield
            return
        pending, size = [], 0

        def collect(data):
            nonlocal size
            pending.append(bytes(data))
            size += len(data)
            if size >= flush_at:
                flush()

        def flush():
            nonlocal size
            if pending:
                data = b"".join(pending)
                pending.clear()
                size = 0
                send(data)

        transport._write = collect
        try:
            yield
        finally:
            transport._write = send
        flush()

    def close(self):
        try:
            self.channel.close()
        except Exception:
            log.debug("closing the relay channel failed", exc_info=True)


class OutboxRelay:
    """Publishes the events of one service's store, from its checkpoint onwards."""

    def __init__(self, service, database, amqp_uri, *, batch_size=1000, poll_interval=0.5,
                 checkpoint_name="outbox", persistent=False):
        """``persistent``: publish messages the broker writes to disk before it
        confirms them. Not needed by Clientfolio's own consumers: the event store
        is the record, and a consumer catches up from ``events_since`` whenever it
        (re)connects or sees a gap, so a broker restart delays events, never loses
        them. Transient messages cost the broker a third of the CPU and confirm
        about three times sooner (measured, docs/events.md)."""
        self.persistent = bool(persistent)
        self.service = service
        self.store = EventStore(database)
        self.database = database
        self.amqp_uri = amqp_uri
        self.exchange = f"{service}.events"
        self.batch_size = int(batch_size)
        self.poll_interval = float(poll_interval)
        self.checkpoint_name = checkpoint_name
        self._wakeup = Wakeup()
        self._stopping = False
        self.checkpoint = None
        self._saved = None  # the checkpoint last written to the database
        self._saved_at = 0.0
        self.is_leader = False

    def wake(self):
        """Ask the relay to look for new events now (called after each commit)."""
        self._wakeup.set()

    def stop(self):
        """Finish the batch in flight, then return from ``run``."""
        self._stopping = True
        self.wake()

    def publish_pending(self, publisher):
        """Publish one batch after the checkpoint; return how many events went out."""
        if self.checkpoint is None:
            self.checkpoint = self._saved = self.store.relay_checkpoint(self.checkpoint_name)
            self._saved_at = time.monotonic()
        batch = self.store.read_all_json(self.checkpoint, self.batch_size)
        if not batch:
            RELAY_BACKLOG.labels(self.service).set(0)
            self._save_checkpoint()  # idle: the bookmark catches up
            return 0
        if tracing.ENABLED:
            self._publish_traced(publisher, batch)
        else:
            publisher.publish_batch(batch)
        last = batch[-1][0]
        self.checkpoint = last
        # Under a steady trickle of commits, a save per batch would be one more round
        # trip between a commit and its publication: the bookmark is saved for every
        # full batch (a backlog), at most every CHECKPOINT_INTERVAL otherwise, and when
        # idle. A relay that dies republishes what it had not saved; consumers skip it.
        if len(batch) == self.batch_size or \
                time.monotonic() - self._saved_at >= CHECKPOINT_INTERVAL:
            self._save_checkpoint()
        EVENTS_PUBLISHED.labels(self.service).inc(len(batch))
        backlog = 0 if len(batch) < self.batch_size else self.store.head_position() - last
        RELAY_BACKLOG.labels(self.service).set(backlog)
        return len(batch)

    def _publish_traced(self, publisher, batch):
        """Publish ``batch`` with a producer span for each event whose command is traced."""
        spans = tracing.publish_spans(self.service, self.exchange, batch)
        error = None
        try:
            publisher.publish_batch(batch, {position: headers for position, (_, headers)
                                            in spans.items()})
        except Exception as exc:
            error = exc
            raise
        finally:
            for span, _ in spans.values():
                tracing.end(span, error)

    def _save_checkpoint(self):
        if self.checkpoint is not None and self.checkpoint != self._saved:
            self.store.save_relay_checkpoint(self.checkpoint_name, self.checkpoint)
            self._saved = self.checkpoint
        self._saved_at = time.monotonic()

    def run(self):
        """Publish forever (until ``stop``), reconnecting with backoff."""
        backoff = Backoff()
        lock_name = f"clientfolio-relay:{self.exchange}:{self.checkpoint_name}"
        while not self._stopping:
            try:
                with leadership(self.database, lock_name,
                                should_stop=lambda: self._stopping) as leader:
                    if not leader:
                        return
                    self.is_leader = True
                    self.checkpoint = self._saved = None  # another leader may have moved it
                    with Connection(self.amqp_uri, connect_timeout=5, heartbeat=0) as connection:
                        connect_any(connection)
                        read_ahead(connection)
                        publisher = ConfirmingPublisher(connection, self.exchange,
                                                        persistent=self.persistent)
                        log.info("relay for %s publishing from position %s", self.service,
                                 self.store.relay_checkpoint(self.checkpoint_name))
                        backoff.reset()
                        while not self._stopping:
                            if self.publish_pending(publisher) < self.batch_size:
                                self._wait_for_work()
                        self._save_checkpoint()
                        publisher.close()
            except CONNECTION_ERRORS + (PublishNotConfirmed,) as exc:
                delay = backoff.next()
                log.warning("relay for %s: %s; retrying in %.1fs", self.service, exc, delay)
                self._sleep(delay)
            except Exception:
                delay = backoff.next()
                log.exception("relay for %s failed; retrying in %.1fs", self.service, delay)
                self._sleep(delay)
            finally:
                self.is_leader = False

    def _wait_for_work(self):
        self._wakeup.wait(self.poll_interval)

    def _sleep(self, delay):
        # Not woken by commits: a broker that is down is retried on the backoff only.
        deadline = time.monotonic() + delay
        while not self._stopping and time.monotonic() < deadline:
            eventlet.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
