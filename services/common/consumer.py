"""The event consumer: feeds an ``Inbox`` from RabbitMQ and from ``events_since``.

Per source, one active consumer (leader election across replicas):
1. declare its durable queue ``<consumer>.<source>`` bound with ``#`` to
   ``<source>.events`` (from now on the broker keeps every new event for it);
2. catch up from the source's event log over RPC (``events_since``), which
   covers a first start on existing data and anything published before the
   queue existed;
3. consume in batches: parse, apply through the inbox (duplicates skipped,
   gaps filled from ``events_since``, poison parked), then ack the batch.
Acks happen only after the batch's transaction committed: at-least-once
delivery, exactly-once effect.
"""
import logging
import socket
import time

import eventlet
from kombu import Connection, Consumer, Exchange, Queue
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.standalone.rpc import ClusterRpcProxy

from . import tracing
from .contract import EVENT_TYPES
from .envelope import InvalidEvent, parse_event
from .inbox import Inbox
from .leader import leadership
from .metrics import CONSUMER_LAG
from .personal import reveal
from .relay import CONNECTION_ERRORS, Backoff, connect_any, read_ahead

log = logging.getLogger(__name__)

# A batch is applied as soon as no further message is waiting (so a lone event
# is applied at once), when it is full, or when its first message has waited
# MAX_BATCH_DELAY while a backlog streams in.
MAX_BATCH_DELAY = 0.05


class EventConsumer:
    """Consumes the events of several sources into one database through an ``Inbox``."""

    def __init__(self, name, database, config, handlers, *, batch_size=None,
                 catch_up_interval=5.0, inbox=None, catch_up_on_start=True, on_applied=None,
                 reveal=()):
        """``inbox``: an ``Inbox``, or a callable returning the one to use now
        (a read model being swapped for a rebuilt one changes inbox);
        ``on_applied(source, position)``: called after each committed batch;
        ``reveal``: sources whose events' sealed personal fields are opened by the
        source (its ``reveal_events``) before they are applied (personal.py)."""
        self.reveal = frozenset(reveal)
        self._rpc = {}  # source -> the RPC proxy of its current connection
        self.name = name
        self.service = name  # whose tracer applies the events (the provider's service)
        self.database = database
        self.config = config
        self.amqp_uri = config["AMQP_URI"]
        if inbox is None:
            inbox = Inbox(database, name, handlers)
        self._inbox = inbox if callable(inbox) else (lambda: inbox)
        self.sources = list(handlers)
        self.catch_up_on_start = catch_up_on_start
        self.on_applied = on_applied
        self.listener = None  # set when other replicas' commits are notified (notify.py)
        self.batch_size = int(batch_size or config.get("CONSUMER_BATCH_SIZE") or 500)
        self.catch_up_interval = catch_up_interval
        self.queue_type = config.get("EVENT_QUEUE_TYPE") or "classic"
        self._stopping = False
        self.ready = {source: False for source in self.sources}
        self._ahead = {}  # source -> events received beyond a gap, until the next catch-up
        self.leader = {source: False for source in self.sources}

    @property
    def inbox(self):
        return self._inbox()

    def queue_for(self, source):
        arguments = {"x-queue-type": "quorum"} if self.queue_type == "quorum" else None
        return Queue(
            f"{self.name}.{source}",
            Exchange(f"{source}.events", type="topic", durable=True),
            routing_key="#",
            durable=True,
            queue_arguments=arguments,
        )

    def stop(self):
        self._stopping = True

    def wait_applied(self, wanted, timeout):
        """Block until this consumer's inbox applied every ``{source: position}`` of
        ``wanted`` that it consumes (other sources are ignored), or ``timeout``
        seconds passed; True if it did.

        When this process applies those sources, its commits wake the wait directly;
        in another replica, the applying one's notifications do (PostgreSQL,
        ``notify.py``); without either, the checkpoints are re-read every 20 ms.
        """
        wanted = {source: position for source, position in wanted.items()
                  if source in self.leader}

        def reached(positions):
            return all(positions.get(source, 0) >= position
                       for source, position in wanted.items())

        inbox = self.inbox
        deadline = time.monotonic() + timeout
        while True:
            if reached(inbox.positions()):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            woken = all(self.leader[source] for source in wanted) or \
                (self.listener is not None and self.listener.listening)
            if inbox.progress.wait(reached, min(1.0 if woken else 0.02, remaining)):
                return True

    # -- catch-up ------------------------------------------------------------------

    def catch_up(self, source, rpc, until=None):
        """Apply everything the source has after our checkpoint (or up to ``until``)."""
        self._rpc[source] = rpc
        position = self.inbox.position(source)
        while not self._stopping:
            batch = getattr(rpc, source).events_since(position, self.batch_size)
            if not batch:
                CONSUMER_LAG.labels(self.name, source).set(0)  # at the head of the log
                return position
            events = []
            for body in batch:
                try:
                    events.append(parse_event(body))
                except InvalidEvent as exc:  # a source bug: never silently skip
                    raise RuntimeError(f"{source}.events_since returned a bad event: {exc}")
            result = self._apply(source, events)
            if result.gap_after is not None:
                raise RuntimeError(f"{source}.events_since skipped a position after "
                                   f"{result.gap_after}")
            position = result.position
            CONSUMER_LAG.labels(self.name, source).set(0)
            if len(batch) < self.batch_size or (until is not None and position >= until):
                return position
        return position

    # -- consuming -----------------------------------------------------------------

    def run(self, source):
        """Consume ``source`` until ``stop``; reconnects with backoff."""
        backoff = Backoff()
        lock = f"clientfolio-consumer:{self.name}:{source}"
        while not self._stopping:
            try:
                with leadership(self.database, lock, should_stop=lambda: self._stopping) as held:
                    if not held:
                        return
                    self.leader[source] = True
                    self._consume(source, backoff)
            except CONNECTION_ERRORS as exc:
                delay = backoff.next()
                log.warning("%s consumer of %s: %s; retrying in %.1fs",
                            self.name, source, exc, delay)
                self._sleep(delay)
            except UnknownService:  # the source is not up yet (services start in any order)
                delay = backoff.next()
                log.warning("%s consumer of %s: %s is not running yet; retrying in %.1fs",
                            self.name, source, source, delay)
                self._sleep(delay)
            except RpcTimeout:  # the source is busy or reconnecting to the broker
                delay = backoff.next()
                log.warning("%s consumer of %s: %s did not answer in time; retrying in %.1fs",
                            self.name, source, source, delay)
                self._sleep(delay)
            except Exception:
                delay = backoff.next()
                log.exception("%s consumer of %s failed; retrying in %.1fs",
                              self.name, source, delay)
                self._sleep(delay)
            finally:
                self.leader[source] = False
                self.ready[source] = False

    def _consume(self, source, backoff):
        rpc_config = dict(self.config)
        timeout = float(self.config.get("RPC_TIMEOUT") or 30)
        with Connection(self.amqp_uri, connect_timeout=5, heartbeat=0) as connection, \
                ClusterRpcProxy(rpc_config, timeout=timeout) as rpc:
            connect_any(connection)
            read_ahead(connection)
            self._rpc[source] = rpc
            channel = connection.channel()
            self.queue_for(source)(channel).declare()  # 1. the broker keeps new events
            if self.catch_up_on_start:
                self.catch_up(source, rpc)              # 2. the log fills the past
            buffer = []
            consumer = Consumer(channel, [self.queue_for(source)],
                                on_message=buffer.append, accept=None,
                                prefetch_count=self.batch_size * 2)
            consumer.consume()
            self.ready[source] = True
            backoff.reset()
            last_catch_up = time.monotonic()
            needs_catch_up = False
            first_buffered = None
            while not self._stopping:
                try:
                    connection.drain_events(timeout=0 if buffer else 0.5)
                    if not buffer:
                        continue
                    if first_buffered is None:
                        first_buffered = time.monotonic()
                    if (len(buffer) < self.batch_size and
                            time.monotonic() - first_buffered < MAX_BATCH_DELAY):
                        continue
                except socket.timeout:
                    pass  # nothing more waiting: apply what we have now
                if buffer:
                    batch, buffer[:] = list(buffer), []
                    first_buffered = None
                    if tracing.ENABLED:
                        needs_catch_up |= self._process_traced(source, batch)
                    else:
                        needs_catch_up |= self._process(source, batch)
                    batch[-1].ack(multiple=True)
                now = time.monotonic()
                if needs_catch_up or now - last_catch_up > self.catch_up_interval:
                    # Fills gaps, and anything the broker never delivered to us.
                    self._set_aside_unknown_positions(source, self.catch_up(source, rpc))
                    needs_catch_up = False
                    last_catch_up = now
            consumer.cancel()

    def _process(self, source, messages):
        """Apply one batch of messages; returns True if a gap needs a catch-up."""
        events = []
        for message in messages:
            try:
                events.append(parse_event(message.body))
            except InvalidEvent as exc:
                self.inbox.park(source, message.body, str(exc))
        if not events:
            return False
        result = self._apply(source, events)
        known = EVENT_TYPES.get(source, frozenset())
        for event in result.skipped:
            if event.type not in known:
                # Its position was applied from the source's log: this copy is a message
                # of a type the source never publishes, set aside rather than ignored.
                self.inbox.park(source, event.to_json(),
                                f"unknown event type {event.type!r} at position "
                                f"{event.position}, which was already applied", event)
        # Beyond a gap: checked against the source's log after the catch-up.
        self._ahead.setdefault(source, []).extend(
            e for e in events if e.position > result.position)
        # What this consumer knows exists but has not applied (a gap waiting to be filled).
        CONSUMER_LAG.labels(self.name, source).set(
            max(0, max(e.position for e in events) - result.position))
        return result.gap_after is not None

    def _process_traced(self, source, messages):
        """``_process`` with a consumer span for each message that carries a trace."""
        spans = tracing.consume_spans(self.service, source, messages, self.name)
        error = None
        try:
            return self._process(source, messages)
        except Exception as exc:
            error = exc
            raise
        finally:
            for span in spans:
                tracing.end(span, error)

    def _set_aside_unknown_positions(self, source, head):
        """After a catch-up to the source's ``head``: a message whose position is still
        beyond it is not in the source's log (a real event is committed, hence in the
        log, before it is published), so it is set aside, not silently dropped."""
        for event in self._ahead.pop(source, []):
            if event.position > head:
                self.inbox.park(source, event.to_json(),
                                f"position {event.position} is not in the {source} event "
                                f"log, which ends at {head}", event)

    def _apply(self, source, events):
        if source in self.reveal:
            events = reveal(getattr(self._rpc[source], source), events)
        result = self.inbox.apply(source, events)
        if self.on_applied is not None and result.applied:
            self.on_applied(source, result.position)
        return result

    def _sleep(self, delay):
        deadline = time.monotonic() + delay
        while not self._stopping and time.monotonic() < deadline:
            eventlet.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
