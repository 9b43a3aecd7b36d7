"""The command path every service shares: one unit of work per command, exactly once.

A command runs as ``store.execute(ctx, name, work)``; ``work(uow)`` loads aggregates
through the ``UnitOfWork``, calls their domain methods and returns the command's
answer. In ONE transaction, in this order:

1. the command record of ``(workspace, command id, name)`` is looked up: a command
   seen before answers its recorded outcome and does nothing else;
2. ``work(uow)`` runs: it loads aggregates (``uow.load``) or adds new ones
   (``uow.add``), and may call ``uow.save()`` before it reads query tables back;
3. what is still pending is saved: the events of every aggregate are appended in one
   batch (positions taken), then the service's projector updates its query tables
   from the stored envelopes;
4. the outcome is recorded beside the events, and the transaction commits.

Guarantees, on SQLite and PostgreSQL alike:
- a command id's effect happens once however often the command arrives (an RPC
  redelivered after a crash between commit and acknowledgement, a retry with the
  same Idempotency-Key, a gateway taking over an abandoned key); the repeat answers
  what the first run answered;
- a concurrent append to the same stream reruns the command on fresh state, at most
  ``RetryPolicy.attempts`` times with jittered backoff, unless the caller named the
  version it expects (then ``PreconditionFailed``);
- a command refused by a domain rule commits nothing and records nothing: it changed
  nothing, so a repeat is judged again.

A command without an id of its caller's (``ctx.command_id``) is identified by the
RPC request that carried it, which a redelivery keeps (``rpc.py``).
"""
import json
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

import eventlet
from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, Text, delete
from sqlalchemy.exc import IntegrityError

from . import faults, tracing
from .db import driver_rows
from .envelope import format_time, utc_now
from .errors import ClientfolioError, ConcurrencyError, PreconditionFailed
from .eventstore import EventStore, StreamAppend
from .metrics import COMMANDS

log = logging.getLogger(__name__)

metadata = MetaData()

#: What each command answered, kept beside the events it appended.
command_records_table = Table(
    "command_records",
    metadata,
    Column("workspace", String(100), nullable=False),
    Column("command_id", String(250), nullable=False),
    Column("command", String(100), nullable=False),
    Column("outcome", Text, nullable=False),
    Column("recorded_at", String(32), nullable=False, index=True),
    PrimaryKeyConstraint("workspace", "command_id", "command", name="pk_command_records"),
)


_LOOKUP = ("SELECT outcome FROM command_records WHERE workspace = ? AND command_id = ? "
           "AND command = ?")
_RECORD = ("INSERT INTO command_records (workspace, command_id, command, outcome, recorded_at) "
           "VALUES (?, ?, ?, ?, ?)")


def psycopg2_integrity_error():
    import psycopg2

    return psycopg2.IntegrityError


def create_command_records_table(bind):
    """Create the command record table (migration helper)."""
    metadata.create_all(bind, tables=[command_records_table])


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with full jitter: attempt n waits up to ``min(cap, base * 2**n)``."""

    attempts: int = 8
    base: float = 0.005
    cap: float = 0.2

    def pause(self, attempt):
        """Sleep before retry ``attempt`` (1-based); never in a transaction."""
        eventlet.sleep(random.uniform(0, min(self.cap, self.base * 2 ** attempt)))


DEFAULT_RETRY = RetryPolicy()


class UnitOfWork:
    """The aggregates one command touches, saved together in its transaction."""

    def __init__(self, conn, ctx, events, projector):
        self.conn = conn
        self.ctx = ctx
        self.events = events
        self.projector = projector
        self.stored = []  # every envelope this unit of work appended
        self._tracked = {}

    def read_stream(self, stream_id):
        """The stream's stored events, oldest first."""
        return self.events.read_stream(stream_id, conn=self.conn)

    def load(self, aggregate_class, stream_id):
        """The aggregate rebuilt from its stream (``exists`` is False for an empty
        one), tracked for saving; ``position`` is its last event's."""
        tracked = self._tracked.get(stream_id)
        if tracked is not None:
            return tracked
        events = self.read_stream(stream_id)
        aggregate = aggregate_class.rehydrate(stream_id, events)
        aggregate.position = events[-1].position if events else 0
        self._tracked[stream_id] = aggregate
        return aggregate

    def load_many(self, aggregate_class, stream_ids):
        """``{id: aggregate}`` for those of ``stream_ids`` that have events (of any
        workspace: the caller checks), read in bulk and tracked for saving."""
        wanted = [stream_id for stream_id in dict.fromkeys(stream_ids)
                  if stream_id not in self._tracked]
        streams = self.events.read_streams(wanted, conn=self.conn)
        for stream_id in wanted:  # tracked, hence saved, in the order asked for
            events = streams.get(stream_id)
            if events:
                aggregate = aggregate_class.rehydrate(stream_id, events)
                aggregate.position = events[-1].position
                self._tracked[stream_id] = aggregate
        return {stream_id: self._tracked[stream_id] for stream_id in stream_ids
                if stream_id in self._tracked}

    def add(self, aggregate):
        """Track an aggregate built outside ``load`` (a new one, or one loaded in bulk)."""
        if not hasattr(aggregate, "position"):
            aggregate.position = 0
        self._tracked[aggregate.id] = aggregate
        return aggregate

    def save(self):
        """Append every tracked aggregate's pending events in one batch, then project
        them; returns the envelopes stored now (empty if nothing was pending)."""
        changed = [(aggregate, aggregate.version) for aggregate in self._tracked.values()
                   if aggregate.pending]
        if not changed:
            return []
        ctx = self.ctx
        appends = [StreamAppend(aggregate.id, version, aggregate.collect(), ctx.workspace,
                                ctx.actor, ctx.correlation_id)
                   for aggregate, version in changed]
        stored = self.events.append_batch(appends, conn=self.conn)
        by_stream = {}
        for envelope in stored:
            by_stream.setdefault(envelope.stream_id, []).append(envelope)
        changes = []
        for aggregate, version in changed:
            envelopes = by_stream[aggregate.id]
            aggregate.version = envelopes[-1].stream_version
            aggregate.position = envelopes[-1].position
            changes.append(Change(aggregate, envelopes, version == 0))
        if self.projector is not None:
            self.projector(self.conn, changes)
        self.stored.extend(stored)
        return stored


@dataclass(frozen=True)
class Change:
    """One aggregate's share of a save, as the service's projector sees it."""

    aggregate: object
    envelopes: list
    created: bool


def run_within(conn, ctx, work, projector, retry=DEFAULT_RETRY):
    """Run ``work(uow)`` in the caller's transaction (an event handler reacting to
    another service's event: its inbox commits it with the checkpoint), in a savepoint
    rerun on fresh state when a command appended to the same stream meanwhile."""
    for attempt in range(1, retry.attempts + 1):
        savepoint = conn.begin_nested()
        try:
            uow = UnitOfWork(conn, ctx, EventStore(None), projector)
            result = work(uow)
            uow.save()
        except ConcurrencyError:
            savepoint.rollback()
            if attempt == retry.attempts:
                raise
            # No pause: this runs inside the inbox's transaction, holding its locks.
            log.info("a stream changed while an event was applied; retrying (%d)", attempt)
            continue
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()
        return result


def with_retries(run, retry=DEFAULT_RETRY, errors=(ConcurrencyError, IntegrityError)):
    """``run()`` (a whole transaction), rerun when a concurrent write committed first:
    the kernel's one retry policy (bounded, jittered). Never call it inside a
    transaction."""
    for attempt in range(1, retry.attempts + 1):
        try:
            return run()
        except errors:
            if attempt == retry.attempts:
                raise
            log.info("a concurrent write committed first; retrying (%d)", attempt)
            retry.pause(attempt)


class Application:
    """Runs commands against one service's event store (see the module doc)."""

    def __init__(self, database, events, projector, retry=DEFAULT_RETRY, service=None):
        """``projector(conn, changes)`` writes the service's query tables from a list
        of ``Change`` (same transaction, after the append); ``service`` labels its
        metrics."""
        self.service = service or "unknown"
        self.database = database
        self.events = events
        self.projector = projector
        self.retry = retry

    def execute(self, ctx, name, work, *, expected_version=None, command_id=None,
                stale="the resource has changed since that version; read it again"):
        """Run ``work(uow)`` once for the command id (``command_id``, else
        ``ctx.command_id``) and answer its outcome; a repeat answers the first outcome.

        ``expected_version``: the caller's If-Match; a concurrent append then is
        ``PreconditionFailed`` (``stale``) instead of a rerun."""
        outcome = "failed"
        try:
            answer, outcome = self._execute(ctx, name, work, expected_version, command_id,
                                            stale)
            return answer
        except ClientfolioError:
            outcome = "refused"
            raise
        finally:
            COMMANDS.labels(self.service, name, outcome).inc()

    def _execute(self, ctx, name, work, expected_version, command_id, stale):
        """``(answer, "done" or "repeat")``; see ``execute``."""
        command_id = command_id or getattr(ctx, "command_id", None)
        for attempt in range(1, self.retry.attempts + 1):
            try:
                with tracing.span(self.service, f"command {name}", attempt=attempt), \
                        self.database.write() as conn:
                    if command_id:
                        recorded = self.recorded(conn, ctx.workspace, command_id, name)
                        if recorded is not None:
                            return recorded, "repeat"
                    uow = UnitOfWork(conn, ctx, self.events, self.projector)
                    outcome = work(uow)
                    uow.save()
                    if command_id:
                        self._record(conn, ctx.workspace, command_id, name, outcome)
                    if tracing.ENABLED and uow.stored:
                        tracing.remember_events(self.service, uow.stored)
                faults.reached("after_commit", name)
                return outcome, "done"
            except ConcurrencyError:
                if expected_version is not None:
                    raise PreconditionFailed(stale) from None
                if attempt == self.retry.attempts:
                    raise
            except IntegrityError:
                # A twin of this command (same id) or a uniqueness race committed first:
                # the next attempt answers its record or judges the new state.
                if attempt == self.retry.attempts:
                    raise
                log.info("%s: a concurrent write committed first; retrying", name)
            self.retry.pause(attempt)

    @staticmethod
    def recorded(conn, workspace, command_id, name):
        """The recorded outcome of a command (None if it never ran)."""
        # The driver's own statements: on every command, SQLAlchemy's statement
        # handling would cost more CPU than the lookup itself.
        if conn.dialect.name == "postgresql":
            rows = driver_rows(conn, _LOOKUP.replace("?", "%s"), (workspace, command_id, name))
        else:
            rows = conn.exec_driver_sql(_LOOKUP, (workspace, command_id, name)).all()
        return json.loads(rows[0][0]) if rows else None

    def record(self, conn, ctx, name, outcome):
        """Record a command's outcome in the caller's transaction, for a command that
        writes in several transactions (a revert in chunks): its last one records."""
        if ctx.command_id:
            self._record(conn, ctx.workspace, ctx.command_id, name, outcome)

    @staticmethod
    def _record(conn, workspace, command_id, name, outcome):
        values = (workspace, command_id, name,
                  json.dumps(outcome, default=str, separators=(",", ":")),
                  format_time(utc_now()))
        if conn.dialect.name == "postgresql":
            try:
                driver_rows(conn, _RECORD.replace("?", "%s") + " RETURNING 1", values)
            except psycopg2_integrity_error() as exc:
                raise IntegrityError(_RECORD, None, exc) from exc
        else:
            conn.exec_driver_sql(_RECORD, values)

    def prune(self, older_than_seconds):
        """Forget command records older than the given age (a repeat after that runs
        again); returns how many were removed."""
        cutoff = format_time(utc_now() - timedelta(seconds=older_than_seconds))
        with self.database.write() as conn:
            return conn.execute(delete(command_records_table).where(
                command_records_table.c.recorded_at < cutoff)).rowcount
