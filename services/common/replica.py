"""A service's replica of another service's entities, kept from that service's events.

Projects and billing judge commands on the clients (and billing on the projects) of
another service without a call per request: a table of (``id``, ``workspace``,
``archived``, ``merged_into``) per kind of entity answers "may this one be named
here?". :class:`EntityReplica` is that table's writer and reader; the service says
which of the source's events set which values (``rules``), so no event of any
service is named here.

- ``handlers``: one event at a time (``{event_type: fn(conn, event)}``), for the
  service's consumer;
- ``unit_of_work(other_handlers)``: the inbox's unit of work for a whole batch. The
  replica's events of a batch are folded into one row per entity and written in a few
  statements (an import of 100,000 clients is 100,000 registrations); any other
  handler (a merge re-pointing projects, say) first writes what is pending, so it
  runs on the replica as of its own position;
- ``find``: an entity of a workspace, as the replica has it;
- ``wait_for``: the replica is eventually consistent, so before a command refuses an
  id it does not know it waits for the positions the caller's consistency token
  names, then briefly for the ids themselves (never inside a transaction).

:class:`MergeMoves` remembers what a merge of the source's entities moved here (a
service's records re-pointed from a duplicate to the survivor), so that the merge's
undoing moves back exactly those: one table of the same shape in every service.
"""
import time

import eventlet
from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, and_, delete, \
    insert, select

from .consistency import MalformedToken, parse_token
from .db import bulk_upsert

COLUMNS = ("id", "workspace", "archived", "merged_into")

merge_metadata = MetaData()
merge_moves_table = Table(
    "replica_merge_moves",
    merge_metadata,
    Column("workspace", String(100), nullable=False),
    Column("merge_id", String(64), nullable=False),
    Column("kind", String(30), nullable=False),  # what moved: project, invoice, quote...
    Column("record_id", String(36), nullable=False),
    Column("from_id", String(36), nullable=False),
    Column("to_id", String(36), nullable=False),
    PrimaryKeyConstraint("merge_id", "kind", "record_id", name="pk_replica_merge_moves"),
)


def create_merge_moves_table(bind):
    """Create the merge moves table (migration helper)."""
    merge_metadata.create_all(bind, tables=[merge_moves_table])
POLL_SECONDS = 0.02


class EntityReplica:
    """One kind of another service's entities (see the module doc)."""

    def __init__(self, table, source, id_field, rules):
        """``rules``: ``{event_type: fn(event) -> {"archived": bool, "merged_into": id}}``
        for the events of ``source`` that change an entity, whose id is
        ``event.data[id_field]``."""
        self.table = table
        self.source = source
        self.id_field = id_field
        self.rules = dict(rules)
        self.handlers = {event_type: self.apply for event_type in self.rules}

    def row(self, event):
        """The replica's values for an entity after ``event``."""
        return {"workspace": event.workspace, **self.rules[event.type](event)}

    def apply(self, conn, event):
        self.write(conn, {event.data[self.id_field]: self.row(event)})

    def write(self, conn, rows):
        """Upsert ``rows`` ({entity id: values}) in one statement."""
        bulk_upsert(conn, self.table, COLUMNS,
                    [(entity_id, values["workspace"], values["archived"], values["merged_into"])
                     for entity_id, values in sorted(rows.items())])

    def find(self, conn, workspace, entity_id):
        """The replica's row of an entity of ``workspace`` (None if unknown there)."""
        return conn.execute(select(self.table).where(and_(
            self.table.c.id == entity_id, self.table.c.workspace == workspace))).first()

    def wait_for(self, database, consumer, workspace, entity_ids, consistency, *,
                 token_wait=5.0, unknown_wait=2.0, extra_known=None):
        """Wait (outside any transaction) until the consumer applied the positions of
        ``consistency`` (a token), then up to ``unknown_wait`` seconds while one of
        ``entity_ids`` is still unknown in ``workspace``; True once all are known.
        ``extra_known(conn)``: another condition polled with it (billing's projects)."""
        try:
            wanted = parse_token(consistency)
        except MalformedToken:  # the gateway validated the header already
            wanted = {}
        if wanted:
            consumer.wait_applied(wanted, token_wait)
        ids = [entity_id for entity_id in entity_ids if entity_id]
        deadline = time.monotonic() + unknown_wait
        while True:
            with database.read() as conn:
                known = all(self.find(conn, workspace, entity_id) is not None
                            for entity_id in ids) and (extra_known is None
                                                       or extra_known(conn))
            if known or time.monotonic() >= deadline:
                return known
            eventlet.sleep(POLL_SECONDS)

    def unit_of_work(self, handlers):
        """The inbox's ``unit_of_work`` for a consumer whose ``handlers`` include this
        replica's (as in ``{source: {**replica.handlers, ...}}``)."""
        def begin(conn, source, events):
            return _ReplicaBatch(self, handlers, conn)

        return begin


class _ReplicaBatch:
    """One inbox batch: entity rows held in memory until another handler or the end."""

    def __init__(self, replica, handlers, conn):
        self.replica = replica
        self.conn = conn
        self.pending = {}
        self.handlers = {
            source: {event_type: self._hold if (source == replica.source
                                                and event_type in replica.rules)
                     else self._after_pending(handler)
                     for event_type, handler in by_type.items()}
            for source, by_type in handlers.items()}

    def _hold(self, conn, event):
        self.pending[event.data[self.replica.id_field]] = self.replica.row(event)

    def _after_pending(self, handler):
        def run(conn, event):
            self.flush()
            return handler(conn, event)

        return run

    def flush(self, inline=False):
        # ``inline`` (of the inbox's unit-of-work protocol) is not used: it writes now.
        if self.pending:
            pending, self.pending = self.pending, {}
            self.replica.write(self.conn, pending)


class MergeMoves:
    """What merges moved in this service (see the module doc), in the caller's
    transaction."""

    table = merge_moves_table

    def record(self, conn, workspace, merge_id, moves):
        """Remember ``moves`` = [(kind, record id, from id, to id)] of a merge; a move
        already remembered (the same event handled again) is kept once."""
        if not moves:
            return
        table = self.table
        known = set(conn.execute(select(table.c.kind, table.c.record_id)
                                 .where(table.c.merge_id == merge_id)).all())
        fresh = [{"workspace": workspace, "merge_id": merge_id, "kind": kind,
                  "record_id": record_id, "from_id": from_id, "to_id": to_id}
                 for kind, record_id, from_id, to_id in moves
                 if (kind, record_id) not in known]
        if fresh:
            conn.execute(insert(table), fresh)

    def take(self, conn, workspace, merge_id):
        """What the merge moved, [(kind, record id, from id, to id)] in a stable order,
        forgotten (its undoing moves them back once)."""
        table = self.table
        where = and_(table.c.workspace == workspace, table.c.merge_id == merge_id)
        rows = conn.execute(select(table.c.kind, table.c.record_id, table.c.from_id,
                                   table.c.to_id).where(where)
                            .order_by(table.c.kind, table.c.record_id)).all()
        conn.execute(delete(table).where(where))
        return [tuple(row) for row in rows]
