"""The append-only event store.

Guarantees (on SQLite and PostgreSQL alike):
- ``append`` is atomic: all events of the call are stored, or none;
- a unique (stream_id, stream_version) key makes a concurrent writer at the
  same expected version fail with ``ConcurrencyError``, never overwrite;
- ``position`` is global to the service, starts at 1 and is gap-free **in
  commit order**: positions are taken from a one-row counter whose row lock is
  held until commit, so position N+1 can never become visible before N. A
  reader tailing ``read_all(after_position)`` therefore never skips an event.
"""
import json
from collections import namedtuple

import orjson
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from .db import bulk_insert, driver_rows, execute_values
from .envelope import EventEnvelope, format_time, new_event_id, utc_now
from .errors import ConcurrencyError
from .personal import personal_keys_table

metadata = MetaData()

# BIGINT on PostgreSQL; SQLite integers are 64-bit anyway.
Position = BigInteger().with_variant(Integer(), "sqlite")

events_table = Table(
    "events",
    metadata,
    Column("position", Position, primary_key=True, autoincrement=False),
    # Not indexed: ids are random UUIDs nobody looks events up by, and a unique
    # index on them would cost every append a random B-tree insert.
    Column("event_id", String(36), nullable=False),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("occurred_at", String(32), nullable=False),
    Column("actor", String(200)),
    Column("correlation_id", String(100)),
    Column("data", Text, nullable=False),
    UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
)

# One row: the last position handed out. Updating it takes a row lock that is
# held until commit, which serialises position assignment in commit order.
head_table = Table(
    "event_store_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", Position, nullable=False),
)

# Where each outbox relay (normally one per service) has published up to.
relay_checkpoints_table = Table(
    "relay_checkpoints",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", Position, nullable=False),
)


def create_event_store_tables(bind):
    """Create the event store tables and seed the position counter (migration helper)."""
    metadata.create_all(bind)
    has_head = bind.execute(select(func.count()).select_from(head_table)).scalar()
    if not has_head:
        bind.execute(insert(head_table).values(id=1, position=0))


@dataclass
class StreamAppend:
    """One stream's share of a batch append."""

    stream_id: str
    expected_version: int
    events: list  # of NewEvent
    workspace: str
    actor: str | None = None
    correlation_id: str | None = None


def _row_to_envelope(row, data=None):
    return EventEnvelope(
        event_id=row.event_id,
        type=row.type,
        version=row.version,
        workspace=row.workspace,
        stream_id=row.stream_id,
        stream_version=row.stream_version,
        position=row.position,
        occurred_at=row.occurred_at,
        actor=row.actor,
        correlation_id=row.correlation_id,
        data=json.loads(row.data) if data is None else data,
    )


def envelope_json_from_row(row):
    """The published JSON body of a stored row, without decoding ``data``."""
    head = {
        "event_id": row.event_id,
        "type": row.type,
        "version": row.version,
        "workspace": row.workspace,
        "stream_id": row.stream_id,
        "stream_version": row.stream_version,
        "position": row.position,
        "occurred_at": row.occurred_at,
        "actor": row.actor,
        "correlation_id": row.correlation_id,
    }
    text = json.dumps(head, separators=(",", ":"), ensure_ascii=False)
    return text[:-1] + ',"data":' + row.data + "}"


_COLUMNS = ("position", "event_id", "stream_id", "stream_version", "type", "version",
            "workspace", "occurred_at", "actor", "correlation_id", "data")
_EventRow = namedtuple("_EventRow", _COLUMNS)

# PostgreSQL statements of the hot paths, run by the driver (see ``driver_rows``).
_APPEND = (  # % count; then execute_values' VALUES %s (rows numbered 1..count)
    "WITH head AS (UPDATE event_store_head SET position = position + %d WHERE id = 1 "
    "RETURNING position), appended AS (INSERT INTO events (" + ", ".join(_COLUMNS) + ") "
    "SELECT head.position - %d + v.number, " + ", ".join(f"v.{c}" for c in _COLUMNS[1:])
    + " FROM head, (VALUES %%s) AS v (number, " + ", ".join(_COLUMNS[1:]) + ")) "
    "SELECT position FROM head")
_READ_AFTER = f"SELECT {', '.join(_COLUMNS)} FROM events WHERE position > %s " \
    "ORDER BY position LIMIT %s"
# Opened reads take the key of each event's stream with it (personal fields are mostly
# their own stream's person's): no second round trip for the keys.
_READ_AFTER_OPENED = f"SELECT {', '.join(_COLUMNS)}, (SELECT key FROM personal_keys k " \
    "WHERE k.subject = events.stream_id) FROM events WHERE position > %s " \
    "ORDER BY position LIMIT %s"
_KeyedRow = namedtuple("_KeyedRow", _COLUMNS + ("subject_key",))
_SUBJECT_KEY = (select(personal_keys_table.c.key)
                .where(personal_keys_table.c.subject == events_table.c.stream_id)
                .scalar_subquery().label("subject_key"))
# The relay's checkpoint is only a bookmark: a commit lost in a database crash makes the
# relay publish a few events again (consumers skip duplicates), so it does not wait for
# the disk. In autocommit, the two statements form one implicit transaction.
_SAVE_RELAY_CHECKPOINT = "SET LOCAL synchronous_commit TO off; " \
    "INSERT INTO relay_checkpoints (name, position) VALUES (%s, %s) " \
    "ON CONFLICT (name) DO UPDATE SET position = excluded.position RETURNING position"


def _insert_rows(conn, rows):
    bulk_insert(conn, events_table, _COLUMNS, rows)


class EventStore:
    """Append and read events of one service's database."""

    def __init__(self, database, personal=None):
        """``personal``: the service's ``personal.PersonalData``, if its events carry
        personal fields: they are stored sealed and opened when read back by the
        service itself (``read_stream``, ``read_streams``, ``read_all(opened=True)``);
        what leaves the service (the relay, ``events_since``) stays sealed."""
        self.database = database
        self.personal = personal

    # -- writing -----------------------------------------------------------------

    def append(self, stream_id, expected_version, events, *, workspace, actor=None,
               correlation_id=None, conn=None):
        """Atomically store ``events`` after ``expected_version`` of the stream.

        Raises ``ConcurrencyError`` if the stream is not at ``expected_version``.
        Returns the stored ``EventEnvelope``s (with their positions).
        """
        return self.append_batch(
            [StreamAppend(stream_id, expected_version, list(events), workspace, actor,
                          correlation_id)],
            conn=conn,
        )

    def append_batch(self, appends, *, conn=None):
        """Store several streams' events in one transaction (bulk work such as imports).

        All or nothing: one stale ``expected_version`` fails the whole batch
        with ``ConcurrencyError``.
        """
        if conn is None:
            with self.database.write() as conn:
                return self._append_batch(conn, appends)
        return self._append_batch(conn, appends)

    def _append_batch(self, conn, appends):
        appends = [a for a in appends if a.events]
        if not appends:
            return []
        self._check_versions(conn, appends)
        occurred_at = format_time(utc_now())
        # Rows numbered 1..count; the position of row n is (last - count + n), where
        # ``last`` is the counter after taking ``count`` positions.
        rows, pending = [], []
        stored_data = None
        if self.personal is not None:
            stored_data = iter(self.personal.seal_all(
                conn, [(new.type, stream.workspace, new.data)
                       for stream in appends for new in stream.events]))
        for stream in appends:
            version = stream.expected_version
            for new in stream.events:
                version += 1
                event_id = new_event_id()
                pending.append((event_id, stream, version, new))
                rows.append((
                    len(rows) + 1, event_id, stream.stream_id, version, new.type, new.version,
                    stream.workspace, occurred_at, stream.actor, stream.correlation_id,
                    orjson.dumps(new.data if stored_data is None
                                 else next(stored_data)).decode(),
                ))
        count = len(rows)
        try:
            if conn.dialect.name == "postgresql":
                # Positions taken and rows inserted in one statement (one round trip);
                # the counter's row lock is still held to commit, taken last.
                last = execute_values(conn, _APPEND % (count, count), rows, page_size=count,
                                      fetch=True)[0][0]
            else:
                # Taking positions last keeps the counter's row lock as short as possible.
                last = conn.execute(self._take_positions, {"count": count}).scalar_one()
                _insert_rows(conn, [(last - count + row[0],) + row[1:] for row in rows])
        except IntegrityError as exc:
            # The unique (stream_id, stream_version) key: another writer got there
            # first. The caller's transaction is rolled back with this error.
            raise ConcurrencyError(
                "a concurrent writer appended to the stream first",
                extra={"streams": [a.stream_id for a in appends][:20]},
            ) from exc
        first = last - count
        return [EventEnvelope(event_id, new.type, new.version, stream.workspace,
                              stream.stream_id, version, first + number, occurred_at,
                              stream.actor, stream.correlation_id, new.data)
                for number, (event_id, stream, version, new) in enumerate(pending, 1)]

    _take_positions = (
        update(head_table)
        .where(head_table.c.id == 1)
        .values(position=head_table.c.position + bindparam("count"))
        .returning(head_table.c.position)
    )

    def _check_versions(self, conn, appends):
        """Refuse a stale expected version before writing anything.

        A new stream (expected version 0) needs no query: its first row collides
        with the unique key if the stream exists. An existing stream must be at
        exactly the expected version (else the insert could leave a hole).
        """
        expected = {a.stream_id: a.expected_version for a in appends}
        if len(expected) != len(appends):
            raise ValueError("a batch may name each stream once")
        existing = [s for s, v in expected.items() if v > 0]
        current = {}
        for start in range(0, len(existing), 500):
            chunk = existing[start:start + 500]
            current.update(conn.execute(
                select(events_table.c.stream_id, func.max(events_table.c.stream_version))
                .where(events_table.c.stream_id.in_(chunk))
                .group_by(events_table.c.stream_id)
            ).all())
        stale = {s: current.get(s, 0) for s in existing if current.get(s, 0) != expected[s]}
        if stale:
            raise ConcurrencyError(
                "the stream is not at the expected version",
                extra={"streams": sorted(stale)[:20]},
            )

    # -- reading -----------------------------------------------------------------

    def read_stream(self, stream_id, after_version=0, *, conn=None):
        """The stream's events with a version above ``after_version``, oldest first."""
        query = (
            self._select(opened=True)
            .where(events_table.c.stream_id == stream_id)
            .where(events_table.c.stream_version > after_version)
            .order_by(events_table.c.stream_version)
        )
        return self._envelopes(self._rows(query, conn), conn, opened=True)

    def _select(self, opened):
        """The events' columns, and their stream's key when they are read opened."""
        if opened and self.personal is not None:
            return select(events_table, _SUBJECT_KEY)
        return select(events_table)

    def _envelopes(self, rows, conn, opened):
        """Envelopes of stored rows, their personal fields opened if ``opened``."""
        if not opened or self.personal is None:
            return [_row_to_envelope(r) for r in rows]
        datas = [orjson.loads(r.data) for r in rows]
        if any(self.personal.is_sealed(data) for data in datas):
            known = {r.stream_id: bytes(r.subject_key) for r in rows
                     if getattr(r, "subject_key", None) is not None}
            if conn is not None or not self.personal.missing(datas, known):
                datas = self.personal.open_all(conn, datas, known)
            else:
                with self.database.read() as conn:
                    datas = self.personal.open_all(conn, datas, known)
        return [_row_to_envelope(r, data) for r, data in zip(rows, datas)]

    def read_streams(self, stream_ids, *, conn=None, chunk=500):
        """``{stream_id: [events, oldest first]}`` for those of ``stream_ids`` that have
        events, read a chunk of streams per statement (bulk commands, merges)."""
        ids = list(dict.fromkeys(str(stream_id) for stream_id in stream_ids))
        found = {}
        for start in range(0, len(ids), chunk):
            query = (self._select(opened=True)
                     .where(events_table.c.stream_id.in_(ids[start:start + chunk]))
                     .order_by(events_table.c.stream_id, events_table.c.stream_version))
            for envelope in self._envelopes(self._rows(query, conn), conn, opened=True):
                found.setdefault(envelope.stream_id, []).append(envelope)
        return found

    def read_all(self, after_position=0, limit=1000, *, conn=None, opened=False):
        """Up to ``limit`` events with a position above ``after_position``, in position order,
        as stored (personal fields sealed) unless ``opened``.

        Never skips an event: positions become visible in order (see module doc).
        """
        return self._envelopes(self._read_after(after_position, limit, conn, opened), conn,
                               opened)

    def read_positions(self, positions, *, conn=None, opened=False):
        """The stored events at ``positions`` (those that exist), in position order."""
        positions = sorted({int(p) for p in positions})
        rows = []
        for start in range(0, len(positions), 500):
            query = (self._select(opened)
                     .where(events_table.c.position.in_(positions[start:start + 500]))
                     .order_by(events_table.c.position))
            rows.extend(self._rows(query, conn))
        return self._envelopes(rows, conn, opened)

    def read_all_json(self, after_position=0, limit=1000, *, conn=None):
        """Like ``read_all`` but ``(position, type, json_body)`` tuples for publishing."""
        return [(r.position, r.type, envelope_json_from_row(r))
                for r in self._read_after(after_position, limit, conn)]

    def _read_after(self, after_position, limit, conn, opened=False):
        keyed = opened and self.personal is not None
        if not self.database.is_postgres:
            query = (self._select(opened).where(events_table.c.position > after_position)
                     .order_by(events_table.c.position).limit(limit))
            return self._rows(query, conn)
        # The relay's and events_since's hot read: one statement, no transaction
        # round trips (positions are visible in order, so one snapshot is enough).
        statement, row = (_READ_AFTER_OPENED, _KeyedRow) if keyed else (_READ_AFTER, _EventRow)
        if conn is not None:
            return [row(*r) for r in driver_rows(conn, statement, (after_position, limit))]
        with self.database.query() as conn:
            return [row(*r) for r in driver_rows(conn, statement, (after_position, limit))]

    def stream_positions(self, stream_ids, *, conn=None):
        """``{stream_id: position of its last event}`` for those of ``stream_ids`` that
        have events."""
        stream_ids = sorted({str(stream_id) for stream_id in stream_ids})
        if not stream_ids:
            return {}
        query = (select(events_table.c.stream_id, func.max(events_table.c.position))
                 .where(events_table.c.stream_id.in_(stream_ids))
                 .group_by(events_table.c.stream_id))
        if conn is not None:
            return {stream_id: position for stream_id, position in conn.execute(query)}
        with self.database.read() as conn:
            return {stream_id: position for stream_id, position in conn.execute(query)}

    def head_position(self, *, conn=None):
        """The highest committed position (0 for an empty store)."""
        query = select(func.coalesce(func.max(events_table.c.position), 0))
        if conn is not None:
            return conn.execute(query).scalar_one()
        with self.database.read() as conn:
            return conn.execute(query).scalar_one()

    def _rows(self, query, conn):
        if conn is not None:
            return conn.execute(query).all()
        with self.database.read() as conn:
            return conn.execute(query).all()

    # -- relay checkpoints ---------------------------------------------------------

    def relay_checkpoint(self, name):
        with self.database.query() as conn:
            value = conn.execute(
                select(relay_checkpoints_table.c.position)
                .where(relay_checkpoints_table.c.name == name)
            ).scalar()
        return value or 0

    def save_relay_checkpoint(self, name, position):
        """Record that every event up to ``position`` is confirmed by the broker."""
        if self.database.is_postgres:
            # One statement, atomic on its own: no BEGIN/COMMIT round trips per batch.
            with self.database.query() as conn:
                driver_rows(conn, _SAVE_RELAY_CHECKPOINT, (name, position))
            return
        with self.database.write() as conn:
            updated = conn.execute(
                update(relay_checkpoints_table)
                .where(relay_checkpoints_table.c.name == name)
                .values(position=position)
            ).rowcount
            if not updated:
                conn.execute(insert(relay_checkpoints_table).values(name=name, position=position))
