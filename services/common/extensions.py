"""nameko glue of the kernel: the event-sourced store, the consumer, shared entrypoints."""
import logging
import time

import eventlet
from greenlet import GreenletExit
from kombu import Connection
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from sqlalchemy import text

from .application import Application
from .config import database_url, event_delivery
from .consistency import parse_token
from .consumer import EventConsumer
from .db import get_database
from .errors import BadRequest
from .eventstore import EventStore
from .inbox import Inbox
from .logs import bind
from .metrics import observe_rpc, render
from .notify import Listener, Notifier, parse_positions
from .relay import OutboxRelay
from . import tracing
from .rpc import rpc
from .web import http, json_response, text_response

log = logging.getLogger(__name__)

MAX_EVENTS_PAGE = 5000
MAX_STREAM_IDS = 1000
CAUGHT_UP_WAIT_SECONDS = 5.0
# How long a stopping service waits for a background thread (relay, consumer, import
# runner) told to stop before it kills it; see ``stop_within``.
STOP_GRACE_SECONDS = 5.0


def stop_within(threads, seconds=None):
    """Wait for managed threads that were told to stop, and kill those still blocked
    after ``seconds`` (one deadline for all).

    Each loop notices the stop within a poll, but a call in flight does not: a consumer
    catching up from a service that stopped first waits for the whole RPC timeout, and
    held a whole deployment's shutdown for 25 s. Killing it loses nothing: its
    transaction rolls back, the broker redelivers what it did not acknowledge, and a
    relay republishes from its last checkpoint.
    """
    threads = [thread for thread in threads if thread is not None]
    with eventlet.Timeout(STOP_GRACE_SECONDS if seconds is None else seconds, False):
        for thread in threads:
            _ended(thread)
    for thread in threads:
        if not thread.dead:
            thread.kill()
            with eventlet.Timeout(1, False):  # its clean-up (a rollback, a close) may yield
                _ended(thread)


def _ended(thread):
    try:
        thread.wait()
    except GreenletExit:
        pass


class ServiceStore:
    """What a service worker gets: its database, its event store, its relay, and
    ``execute``, the one command path (``application.py``)."""

    def __init__(self, service, database, relay=None, projector=None, personal=None):
        self.service = service
        self.db = database
        self.events = EventStore(database, personal)
        self.relay = relay
        self.application = Application(database, self.events, projector, service=service)

    def execute(self, ctx, name, work, **options):
        """Run the command ``name`` exactly once per command id (``Application.execute``)."""
        return self.application.execute(ctx, name, work, **options)

    def recorded(self, ctx, name):
        """The outcome of the command ``name`` of ``ctx``'s command id if it ran, else
        None: for a command whose input is consumed by its first run (an upload's parts)."""
        if not ctx.command_id:
            return None
        with self.db.read() as conn:
            return self.application.recorded(conn, ctx.workspace, ctx.command_id, name)


class EventSourcedStore(DependencyProvider):
    """The service's database with its migrations applied, its event store, and
    the outbox relay that publishes what is appended (running in this process;
    replicas elect one active relay).

    The relay is woken by this process's commits; on PostgreSQL, a replica that
    is not the relay's leader notifies the one that is (``notify.py``), so a
    command served by any replica is published at once, not at the next poll."""

    def __init__(self, service, migrate, relay=True, projector=None, personal=None):
        """``projector(conn, changes)``: the service's query tables, written by every
        command after its append (``application.Change``); ``personal``: the
        ``personal.PersonalData`` of its events (stored sealed, see personal.py)."""
        self.personal = personal
        self.service = service
        self.migrate = migrate
        self.projector = projector
        self.relay_enabled = relay
        self.store = None
        self.notifier = self.listener = None
        self._threads = []
        self._started = {}
        self._stopping = False

    def setup(self):
        config = self.container.config
        url = database_url(config, self.service)
        self.migrate(url)
        database = get_database(url)
        relay = None
        if self.relay_enabled:
            relay = OutboxRelay(
                self.service, database, config["AMQP_URI"],
                batch_size=config.get("RELAY_BATCH_SIZE") or 1000,
                poll_interval=config.get("RELAY_POLL_INTERVAL") or 0.5,
                persistent=event_delivery(config) == "persistent",
            )
            if database.is_postgres:
                channel = f"clientfolio.{self.service}.events"
                self.notifier = Notifier(database, channel)
                self.listener = Listener(database, channel, lambda payload: relay.wake())
            database.on_commit(self._committed)
        self.store = ServiceStore(self.service, database, relay, self.projector,
                                  self.personal)
        self.record_days = float(config.get("COMMAND_RECORD_DAYS") or 7)

    def _committed(self):
        relay = self.store.relay
        relay.wake()
        if self.notifier is not None and not relay.is_leader:
            self.notifier.poke()

    def start(self):
        spawn = self.container.spawn_managed_thread
        self._threads.append(spawn(self._prune_records,
                                   identifier=f"{self.service}.command-records"))
        relay = self.store.relay
        if relay is None:
            return
        self._threads.append(spawn(relay.run, identifier=f"{self.service}.relay"))
        if self.listener is not None:
            self._threads.append(spawn(self.notifier.run,
                                       identifier=f"{self.service}.relay.notifier"))
            self._threads.append(spawn(self.listener.run,
                                       identifier=f"{self.service}.relay.listener"))

    def _prune_records(self):
        """Forget command records older than COMMAND_RECORD_DAYS, hourly (any replica
        may do it; the delete is idempotent)."""
        while not self._stopping:
            try:
                self.store.application.prune(self.record_days * 86400)
            except Exception:
                log.warning("%s: pruning command records failed", self.service, exc_info=True)
            for _ in range(3600 * 5):
                if self._stopping:
                    return
                eventlet.sleep(0.2)

    def _stop_loops(self):
        self._stopping = True
        for loop in (self.store.relay if self.store else None, self.notifier, self.listener):
            if loop is not None:
                loop.stop()

    def stop(self):
        self._stop_loops()
        if self.store is not None and self.store.relay is not None:
            self.store.db.remove_commit_listener(self._committed)
        stop_within(self._threads)

    def kill(self):
        self._stop_loops()

    def get_dependency(self, worker_ctx):
        return self.store

    # RPC latency for /metrics: every service has this provider, so it times
    # each of its RPC workers here.
    def worker_setup(self, worker_ctx):
        self._started[worker_ctx.call_id] = time.perf_counter()
        ctx = worker_ctx.args[0] if worker_ctx.args else None
        if isinstance(ctx, dict) and "workspace" in ctx:  # a command context: log with it
            bind(ctx.get("workspace"), ctx.get("correlation_id"))

    def worker_teardown(self, worker_ctx):
        started = self._started.pop(worker_ctx.call_id, None)
        if started is not None and isinstance(worker_ctx.entrypoint, Rpc):
            observe_rpc(self.service, worker_ctx.entrypoint.method_name,
                        time.perf_counter() - started)


class EventConsumerProvider(DependencyProvider):
    """Runs an ``EventConsumer`` for the given sources while the container runs.

    ``handlers``: {source: {event_type: fn(conn, event)}}; ``service`` names the
    database the consumer writes to (its inbox tables live there).
    """

    def __init__(self, name, service, migrate, handlers, inbox_factory=None,
                 unit_of_work=None, reveal=()):
        """``inbox_factory(database)``: optional, returns what ``EventConsumer``
        takes as ``inbox`` (an Inbox or a callable giving the current one);
        ``unit_of_work``: optional, the inbox's (see ``Inbox``); ``reveal``: the
        sources whose personal fields this consumer keeps (``EventConsumer``)."""
        self.reveal = tuple(reveal)
        self.name = name
        self.service = service
        self.migrate = migrate
        self.handlers = handlers
        self.inbox_factory = inbox_factory
        self.unit_of_work = unit_of_work
        self.consumer = None
        self.notifier = None
        self._threads = []

    def setup(self):
        config = self.container.config
        url = database_url(config, self.service)
        self.migrate(url)
        database = get_database(url)
        inbox = (self.inbox_factory(database) if self.inbox_factory else
                 Inbox(database, self.name, self.handlers, unit_of_work=self.unit_of_work))
        self.consumer = EventConsumer(self.name, database, config, self.handlers, inbox=inbox,
                                      reveal=self.reveal)
        self.consumer.service = self.container.service_name
        if database.is_postgres:
            # The replica applying a source tells the others what it committed, so
            # their Consistency-Token waits end at once instead of at a poll.
            channel = f"clientfolio.{self.name}.applied"
            self.notifier = Notifier(database, channel)
            self.consumer.on_applied = lambda source, position: \
                self.notifier.poke({source: position})
            self.consumer.listener = Listener(database, channel, self._notified)

    def _notified(self, payload):
        progress = self.consumer.inbox.progress
        for source, position in parse_positions(payload).items():
            progress.advance(source, position)

    def start(self):
        spawn = self.container.spawn_managed_thread
        for source in self.consumer.sources:
            self._threads.append(spawn(
                lambda source=source: self.consumer.run(source),
                identifier=f"{self.name}.consumer.{source}"))
        if self.notifier is not None:
            self._threads.append(spawn(self.notifier.run, identifier=f"{self.name}.notifier"))
            self._threads.append(spawn(self.consumer.listener.run,
                                       identifier=f"{self.name}.listener"))

    def _stop_loops(self):
        if self.consumer is not None:
            self.consumer.stop()
        for loop in (self.notifier, self.consumer.listener if self.consumer else None):
            if loop is not None:
                loop.stop()

    def stop(self):
        self._stop_loops()
        stop_within(self._threads)

    def kill(self):
        self._stop_loops()

    def get_dependency(self, worker_ctx):
        return self.consumer


class EventSourceRpc:
    """Mixin: the catch-up entrypoint every service exposes."""

    @rpc
    def events_since(self, position, limit=1000):
        """Events after ``position`` in position order, at most ``limit`` (<= 5000):
        lets a consumer fill a gap or rebuild without the broker."""
        limit = max(1, min(int(limit), MAX_EVENTS_PAGE))
        return [e.to_dict() for e in self.store.events.read_all(int(position), limit)]

    @rpc
    def reveal_events(self, positions):
        """``{position: data}`` of the events at ``positions`` (at most 5,000) with their
        personal fields opened (personal.py): a consumer that keeps a person's data
        (the gateway's read model) gets it here, never from a message. The data of a
        person erased since comes back without them."""
        if not isinstance(positions, (list, tuple)) or len(positions) > MAX_EVENTS_PAGE or \
                not all(isinstance(p, int) and not isinstance(p, bool) for p in positions):
            raise BadRequest(f"positions must be a list of at most {MAX_EVENTS_PAGE} positions")
        return {str(e.position): e.data
                for e in self.store.events.read_positions(positions, opened=True)}

    @rpc
    def stream_positions(self, stream_ids):
        """``{stream_id: position of its last event}`` for at most 1,000 ids (unknown ids
        are left out). A command that another service judges on its replica of these
        streams names the positions in its consistency token, so that the judgement sees
        the streams as they are now (an assignment just after an archive is refused)."""
        if not isinstance(stream_ids, (list, tuple)) or len(stream_ids) > MAX_STREAM_IDS:
            raise BadRequest(f"stream_ids must be a list of at most {MAX_STREAM_IDS} ids")
        return self.store.events.stream_positions(stream_ids)


class ConsistencyRpc:
    """Mixin for a service that reacts to other services' events (projects and billing
    re-point their documents when contacts merges clients): a caller that wrote to a
    source learns the position this service reached by reacting to that write, and
    can put it in its ``Consistency-Token``. The service's consumer is the dependency
    named by ``consumer_attribute``."""

    consumer_attribute = "consumer"

    @rpc
    def caught_up(self, positions, timeout=CAUGHT_UP_WAIT_SECONDS):
        """Wait (at most ``timeout`` s, capped at 10) until this service applied
        ``positions`` ({source: position} or a token) of the sources it consumes; then
        its own head position: whatever it appended in reaction is at or before it.
        ``None`` if the wait timed out."""
        wanted = parse_token(positions)
        consumer = getattr(self, self.consumer_attribute)
        if not consumer.wait_applied(wanted, min(float(timeout), 10.0)):
            return None
        return self.store.events.head_position()


class TraceContext(DependencyProvider):
    """Runs each worker in its trace (``tracing.py``): an RPC handled in a server span
    under its caller's ``traceparent`` header, an HTTP request's worker in its request's
    span. Nothing when tracing is off."""

    def __init__(self):
        self._running = {}

    def worker_setup(self, worker_ctx):
        if not tracing.ENABLED:
            return
        traceparent = worker_ctx.data.get(tracing.TRACEPARENT)
        entrypoint = worker_ctx.entrypoint
        if isinstance(entrypoint, Rpc):
            from opentelemetry.trace import SpanKind

            span = tracing.tracer(self.container.service_name).start_span(
                f"{self.container.service_name}.{entrypoint.method_name}",
                context=tracing.extract(traceparent), kind=SpanKind.SERVER,
                attributes={"rpc.system": "nameko", "rpc.method": entrypoint.method_name,
                            "rpc.service": self.container.service_name})
            self._running[worker_ctx.call_id] = (span, tracing.attach(span))
        elif traceparent:
            self._running[worker_ctx.call_id] = (None, tracing.attach(
                tracing.extract(traceparent)))

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        running = self._running.get(worker_ctx.call_id) if tracing.ENABLED else None
        if running and running[0] is not None and exc_info is not None and \
                not isinstance(exc_info[1], worker_ctx.entrypoint.expected_exceptions):
            running[0].record_exception(exc_info[1])

    def worker_teardown(self, worker_ctx):
        running = self._running.pop(worker_ctx.call_id, None)
        if running is None:
            return
        span, token = running
        tracing.detach(token)
        if span is not None:
            span.end()

    def get_dependency(self, worker_ctx):
        return None


class HealthChecks:
    """Mixin: ``/health``, ``/ready`` and ``/metrics`` on the service's HTTP port; and
    the trace context of every worker (``TraceContext``)."""

    trace_context = TraceContext()

    _ready_cache = {}

    @http("GET", "/health")
    def health(self, request):
        return json_response({"status": "ok", "service": self.name})

    @http("GET", "/ready")
    def ready(self, request):
        problems = self.readiness_problems()
        status = 200 if not problems else 503
        return json_response({"status": "ready" if not problems else "not ready",
                              "service": self.name, "problems": problems}, status)

    @http("GET", "/metrics")
    def metrics(self, request):
        body, content_type = render()
        return text_response(body, content_type=content_type)

    def health_database(self):
        return self.store.db

    def readiness_problems(self):
        """What keeps this process from serving (checked at most once a second)."""
        cached = HealthChecks._ready_cache.get(self.name)
        if cached and time.monotonic() - cached[0] < 1.0:
            return cached[1]
        problems = []
        try:
            with self.health_database().engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            problems.append(f"database: {type(exc).__name__}")
        try:
            with Connection(self.config["AMQP_URI"], connect_timeout=2) as conn:
                with eventlet.Timeout(3):
                    conn.ensure_connection(max_retries=1)
        except BaseException as exc:  # eventlet.Timeout is not an Exception
            problems.append(f"broker: {type(exc).__name__}")
        HealthChecks._ready_cache[self.name] = (time.monotonic(), problems)
        return problems
