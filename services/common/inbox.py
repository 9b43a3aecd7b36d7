"""The consumer inbox: exactly-once effect over at-least-once delivery.

``Inbox.apply`` runs a consumer's handler for each event and, in the same
transaction, advances the source's checkpoint, so:
- a duplicate (a position at or below the checkpoint) is skipped: applied once
  however often it is delivered. Positions are the source's gap-free order and
  events are applied strictly in it, so the checkpoint alone says what was
  applied (``inbox_events``, the applied ids, is no longer written: it cost a
  random index insert per event and consumer and told nothing the checkpoint
  did not; the table stays until a later release drops it);
- events of one source are applied strictly in position order; a jump in
  position stops the batch and reports the gap, which the caller fills from
  the source's ``events_since`` before going on;
- a handler that raises, or an event type the source does not publish, is
  parked in ``dead_letters`` with its reason (and the consumer goes on);
  ``retry_dead_letters`` applies parked events again once the cause is fixed.
"""
import json
import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from .contract import EVENT_TYPES
from .db import bulk_upsert, driver_rows
from .envelope import InvalidEvent, format_time, parse_event, utc_now
from .eventstore import Position
from .metrics import DEAD_LETTERS, EVENTS_APPLIED

log = logging.getLogger(__name__)

class InboxTables:
    """The inbox's three tables, optionally name-prefixed (a read model that is
    rebuilt side by side keeps a whole second set, see the gateway)."""

    def __init__(self, prefix="", metadata=None):
        self.metadata = metadata if metadata is not None else MetaData()
        self.checkpoints = Table(
            f"{prefix}inbox_checkpoints", self.metadata,
            Column("source", String(50), primary_key=True),
            Column("position", Position, nullable=False),
        )
        self.events = Table(
            f"{prefix}inbox_events", self.metadata,
            Column("event_id", String(36), primary_key=True),
            Column("source", String(50), nullable=False),
            Column("position", Position, nullable=False),
        )
        self.dead_letters = Table(
            f"{prefix}dead_letters", self.metadata,
            Column("id", Integer, primary_key=True, autoincrement=True),
            Column("source", String(50), nullable=False),
            Column("event_id", String(36)),
            Column("event_type", String(100)),
            Column("position", Position),
            Column("reason", Text, nullable=False),
            Column("body", Text, nullable=False),
            Column("parked_at", String(32), nullable=False),
            Column("attempts", Integer, nullable=False, default=1),
            Column("resolved", Boolean, nullable=False, default=False),
            Column("resolved_at", String(32)),
        )

    def create(self, bind):
        self.metadata.create_all(bind, tables=[self.checkpoints, self.events, self.dead_letters])


DEFAULT_TABLES = InboxTables()
metadata = DEFAULT_TABLES.metadata
inbox_checkpoints_table = DEFAULT_TABLES.checkpoints
inbox_events_table = DEFAULT_TABLES.events
dead_letters_table = DEFAULT_TABLES.dead_letters


def create_inbox_tables(bind):
    """Create the inbox tables (migration helper)."""
    DEFAULT_TABLES.create(bind)


class Progress:
    """Positions this process has applied, with a way to wait for them (readers
    in the same process as the consumer are woken at commit, without polling)."""

    def __init__(self):
        self.positions = {}
        self._changed = threading.Condition()

    def advance(self, source, position):
        with self._changed:
            if position > self.positions.get(source, 0):
                self.positions[source] = position
                self._changed.notify_all()

    def wait(self, predicate, timeout):
        """Wait up to ``timeout`` for ``predicate(positions)``; returns its last value."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self.positions), timeout)


@dataclass
class ApplyResult:
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    gap_after: int | None = None  # checkpoint at which a missing position was found
    position: int = 0  # checkpoint after the call
    skipped: list = field(default_factory=list)  # events at positions already applied


class Inbox:
    """Applies events from named sources to one database, exactly once each."""

    def __init__(self, database, consumer, handlers, tables=None, unit_of_work=None,
                 durable=True):
        """``handlers``: {source: {event_type: fn(conn, event)}}.

        ``unit_of_work(conn, source, events)``: optional; returns an object with
        ``handlers`` (same shape) and ``flush(inline=False)``, so a consumer can
        apply a whole batch in memory and write it back in a few statements
        (``flush(inline=True)`` may return SQL text instead of writing, see
        ``_handle``).

        ``durable=False`` (PostgreSQL) commits without waiting for the WAL to reach
        the disk (``synchronous_commit off``), for data derived entirely from the
        sources' logs, such as a read model: a database crash can lose the last
        fraction of a second of commits, but then it loses each batch's effects and
        its checkpoint together (the WAL keeps commit order), and the consumer applies
        those events again from the sources (gap repair, catch-up). Never for a
        service's own state.
        """
        self.durable = durable
        self.database = database
        self.consumer = consumer
        self.handlers = handlers
        self.tables = tables or DEFAULT_TABLES
        self.unit_of_work = unit_of_work
        self.progress = Progress()
        self._checkpoint_statement = None  # PostgreSQL's, built on first use

    # -- checkpoints ---------------------------------------------------------------

    def position(self, source, conn=None):
        """The last position of ``source`` applied (0 if none)."""
        query = select(self.tables.checkpoints.c.position).where(
            self.tables.checkpoints.c.source == source)
        if conn is not None:
            return conn.execute(query).scalar() or 0
        with self.database.read() as conn:
            return conn.execute(query).scalar() or 0

    def positions(self):
        """{source: last position applied} (one statement, no transaction round trips)."""
        with self.database.query() as conn:
            return dict(conn.execute(select(self.tables.checkpoints)).all())

    # -- applying ----------------------------------------------------------------

    def apply(self, source, events):
        """Apply ``events`` of ``source`` (any order, duplicates allowed) in one transaction.

        Stops at the first missing position and reports it in ``gap_after``.
        """
        events = sorted(events, key=lambda e: e.position)
        try:
            if self.database.is_postgres:
                result = self._apply_pipelined(source, events)
            else:
                with self.database.write() as conn:
                    result = self._apply(conn, source, events, isolate=False)
        except _HandlerFailed:
            # Rare path: redo the batch with a savepoint per event so that only
            # the failing events are parked and the others still apply.
            with self.database.write() as conn:
                result = self._apply(conn, source, events, isolate=True)
        self.progress.advance(source, result.position)  # committed: wake local readers
        return result

    def _apply_pipelined(self, source, events):
        """PostgreSQL: the batch's transaction with its ``BEGIN`` sent with the first
        statement (the checkpoint read) and its ``COMMIT`` with the last (the writes
        and the checkpoint), on a connection in autocommit mode. psycopg2 otherwise
        sends each of them as a round trip of its own: five per batch where the work
        needs three (the unit of work's read of the rows is the other one)."""
        with self.database.query() as conn:
            try:
                result = self._apply(conn, source, events, isolate=False, pipelined=True)
            except BaseException:
                self._roll_back(conn)
                raise
        self.database.notify_commit()  # as ``write()`` does after its commit
        return result

    @staticmethod
    def _roll_back(conn):
        """End the open transaction of a failed pipelined batch; a connection that
        cannot say ROLLBACK is discarded, never returned to the pool mid-transaction."""
        try:
            conn.connection.driver_connection.cursor().execute("ROLLBACK")
        except Exception:
            conn.invalidate()

    def _apply(self, conn, source, events, isolate, pipelined=False):
        result = ApplyResult()
        checkpoint = self._read_checkpoint(conn, source, begin=pipelined)
        known = EVENT_TYPES.get(source, frozenset())
        accepted, recorded = [], 0
        for event in events:
            if event.position <= checkpoint:
                result.duplicates += 1
                result.skipped.append(event)
                continue
            if event.position != checkpoint + 1:
                result.gap_after = checkpoint
                break
            if event.type not in known:
                self._park(conn, source, event.to_json(), f"unknown event type {event.type!r}",
                           event)
                result.parked += 1
            else:
                accepted.append(event)
                result.applied += 1
            recorded += 1
            checkpoint = event.position
        writes = None  # the batch's own writes, when it leaves them to _record
        if accepted and not isolate:
            try:
                writes = self._handle(conn, source, accepted, inline=True)
            except Exception as exc:
                raise _HandlerFailed() from exc
        elif accepted:
            for event in accepted:
                savepoint = conn.begin_nested()
                try:
                    self._handle(conn, source, [event])
                    savepoint.commit()
                except Exception as exc:
                    savepoint.rollback()
                    log.warning("parking %s %s: %r", source, event.type, exc)
                    self._park(conn, source, event.to_json(),
                               f"handler failed: {type(exc).__name__}: {exc}", event)
                    result.parked += 1
        if recorded:
            self._record(conn, source, checkpoint, writes, commit=pipelined)
            EVENTS_APPLIED.labels(self.consumer, source).inc(recorded)
        elif pipelined:  # nothing new (duplicates, or a gap): end the transaction
            conn.connection.driver_connection.cursor().execute("COMMIT")
        result.position = checkpoint
        return result

    def _handle(self, conn, source, events, inline=False):
        """Run the handlers of ``events`` (in order); with a unit of work, as one batch.

        With ``inline``, a unit of work whose ``flush(inline=True)`` returns SQL text
        (PostgreSQL) has its writes sent by ``_record`` with the checkpoint's, in
        the same round trip; the text is returned. A handler error surfaces here,
        before anything is written."""
        if self.unit_of_work is None:
            handlers = self.handlers.get(source, {})
            for event in events:
                handler = handlers.get(event.type)
                if handler is not None:
                    handler(conn, event)
            return
        batch = self.unit_of_work(conn, source, events)
        handlers = batch.handlers.get(source, {})
        for event in events:
            handler = handlers.get(event.type)
            if handler is not None:
                handler(conn, event)
        if inline and conn.dialect.name == "postgresql":
            return batch.flush(inline=True)
        batch.flush()
        return None

    # A batch's fixed cost is its round trips: under a steady stream of events the
    # consumer applies small batches, so on PostgreSQL the checkpoint is written in
    # the same round trip as the batch's own writes.

    def _read_checkpoint(self, conn, source, begin=False):
        """``begin``: open the transaction in the same round trip (PostgreSQL)."""
        checkpoints = self.tables.checkpoints
        if conn.dialect.name == "postgresql":
            if self._checkpoint_statement is None:
                quote = conn.dialect.identifier_preparer.quote
                self._checkpoint_statement = (f"SELECT position FROM {quote(checkpoints.name)} "
                                              "WHERE source = %s")
            statement = self._checkpoint_statement
            if begin:
                statement = "BEGIN;\n" + statement
            rows = driver_rows(conn, statement, (source,))
            return int(rows[0][0]) if rows else 0
        return self.position(source, conn)

    def _record(self, conn, source, checkpoint, writes=None, commit=False):
        """Move the checkpoint of ``source`` to ``checkpoint``; ``writes``: SQL text
        (PostgreSQL) sent first, in the same round trip; ``commit``: and the
        transaction's COMMIT last."""
        checkpoints = self.tables.checkpoints
        if conn.dialect.name != "postgresql":
            bulk_upsert(conn, checkpoints, ("source", "position"), [(source, checkpoint)],
                        key=("source",))
            return
        import psycopg2

        quote = conn.dialect.identifier_preparer.quote
        statement = (f"INSERT INTO {quote(checkpoints.name)} (source, position) VALUES (%s, %s) "
                     "ON CONFLICT (source) DO UPDATE SET position = excluded.position")
        before = writes + ";\n" if writes else ""
        if not self.durable:  # only this transaction, and only at its commit
            before = "SET LOCAL synchronous_commit TO off;\n" + before
        with conn.connection.driver_connection.cursor() as cursor:
            # ``writes`` is SQL text with its values inlined: a literal % in it must
            # not be read as a placeholder, so the checkpoint is inlined too.
            text = before + cursor.mogrify(statement, (source, checkpoint)).decode()
            if commit:
                text += ";\nCOMMIT"
            try:
                cursor.execute(text)
            except psycopg2.IntegrityError as exc:
                raise IntegrityError(text, None, exc) from exc

    # -- dead letters ----------------------------------------------------------------

    def park(self, source, body, reason, event=None):
        """Set aside a message that cannot be applied (never dropped); an event already
        set aside (same id) is not set aside twice."""
        with self.database.write() as conn:
            if event is not None and conn.execute(
                    select(self.tables.dead_letters.c.id)
                    .where(self.tables.dead_letters.c.source == source)
                    .where(self.tables.dead_letters.c.event_id == event.event_id)
                    .limit(1)).first() is not None:
                return
            self._park(conn, source, body, reason, event)

    def _park(self, conn, source, body, reason, event):
        if isinstance(body, (bytes, bytearray)):
            body = body.decode("utf-8", errors="replace")
        conn.execute(insert(self.tables.dead_letters).values(
            source=source,
            event_id=getattr(event, "event_id", None),
            event_type=getattr(event, "type", None),
            position=getattr(event, "position", None),
            reason=reason[:2000],
            body=body if isinstance(body, str) else json.dumps(body),
            parked_at=format_time(utc_now()),
            attempts=1,
            resolved=False,
        ))
        DEAD_LETTERS.labels(self.consumer, source).inc()
        log.error("dead-lettered a %s message for %s: %s", source, self.consumer, reason)

    def dead_letters(self, include_resolved=False):
        query = select(self.tables.dead_letters).order_by(self.tables.dead_letters.c.id)
        if not include_resolved:
            query = query.where(self.tables.dead_letters.c.resolved.is_(False))
        with self.database.read() as conn:
            return [row._asdict() for row in conn.execute(query)]

    def retry_dead_letters(self, ids=None):
        """Apply parked messages again; returns {id: "applied" | reason}.

        A parked event already counted in the checkpoint is applied directly
        (its position was passed over when it was parked).
        """
        outcome = {}
        for letter in self.dead_letters():
            if ids is not None and letter["id"] not in ids:
                continue
            with self.database.write() as conn:
                reason = self._retry_one(conn, letter)
                values = ({"resolved": True, "resolved_at": format_time(utc_now())}
                          if reason is None else
                          {"reason": reason[:2000], "attempts": letter["attempts"] + 1})
                conn.execute(update(self.tables.dead_letters)
                             .where(self.tables.dead_letters.c.id == letter["id"]).values(**values))
            outcome[letter["id"]] = "applied" if reason is None else reason
        return outcome

    def _retry_one(self, conn, letter):
        source = letter["source"]
        try:
            event = parse_event(letter["body"])
        except InvalidEvent as exc:
            return str(exc)
        if event.type not in EVENT_TYPES.get(source, frozenset()):
            return f"unknown event type {event.type!r}"
        if event.position > self.position(source, conn):
            return "not reached yet: it will be applied in order"
        savepoint = conn.begin_nested()
        try:
            self._handle(conn, source, [event])
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            return f"handler failed: {type(exc).__name__}: {exc}"
        return None


class _HandlerFailed(Exception):
    pass
