"""Contacts' write plumbing: every command's events and query rows, in one transaction.

- :class:`ClientWrites` is what the service's commands run through (``_write`` retries
  a command on a concurrent append, ``_load``/``_lock`` the client, ``_save``/
  ``_append_together`` project then append). It needs the service's ``store`` (an
  ``EventSourcedStore``) and nothing else.
- :func:`append_clients` is the same for many clients at once (an import batch, a
  revert), with the query tables written in bulk by :func:`project_batch`.
"""
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from services.common.db import bulk_insert
from services.common.envelope import format_time, utc_now
from services.common.errors import ConcurrencyError, Conflict, NotFound, PreconditionFailed
from services.common.eventstore import StreamAppend

from . import queries, timeline
from .db import client_match_keys_table, client_tags_table, clients_table
from .domain import Client
from .validation import search_text

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # a write without If-Match retries this often on a concurrent append
TAX_FIELDS = ("tax_id", "country", "address")  # what a client's tax id key depends on


def canonical_uuid(value):
    """``value`` as a canonical uuid string, or ``None`` if it is not one."""
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        return None


def tax_conflict(holder):
    return Conflict("a client with this tax id already exists",
                    extra={"existing_id": holder})


@dataclass(frozen=True)
class PendingEvent:
    """An event about to be appended, as the projection sees it."""

    type: str
    data: dict
    stream_version: int
    occurred_at: str


def _pending(version, events):
    now = format_time(utc_now())
    return [PendingEvent(event.type, event.data, version + index, now)
            for index, event in enumerate(events, start=1)]


class ClientWrites:
    """Mixin of ``ContactsService`` and of its command groups: the write plumbing
    (uses ``self.store`` only)."""

    def _write(self, command, expected_version=None):
        """Run ``command(conn)`` in a write transaction.

        A concurrent append to the same stream (``ConcurrencyError``) means the caller's
        version is stale: 412 when it named one (If-Match), otherwise the command runs
        again on fresh state, a few times.
        """
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.store.db.write() as conn:
                    return command(conn)
            except ConcurrencyError:
                if expected_version is not None:
                    raise PreconditionFailed(
                        "the client has changed since that version; read it again") from None
                if attempt + 1 == MAX_ATTEMPTS:
                    raise Conflict("too many concurrent changes to this client; retry") \
                        from None
            except IntegrityError:
                if attempt + 1 == MAX_ATTEMPTS:
                    raise
                log.info("contacts: integrity error on write, retrying", exc_info=True)

    @staticmethod
    def _lock(conn, client_ids):
        """Writers of the same clients take turns (PostgreSQL; SQLite's write lock already
        serialises every writer): each then loads the state the previous one committed,
        instead of failing on the stream version and retrying. Rows are locked in id
        order, so two merges naming the same clients cannot deadlock."""
        ids = sorted({cid for cid in (canonical_uuid(i) for i in client_ids) if cid})
        if ids and conn.dialect.name == "postgresql":
            conn.execute(select(clients_table.c.id).where(clients_table.c.id.in_(ids))
                         .order_by(clients_table.c.id).with_for_update())

    def _load(self, conn, ctx, client_id, lock=True):
        """The client aggregate (``NotFound`` unless it is in the caller's workspace)."""
        stream_id = canonical_uuid(client_id)
        if stream_id is None:
            raise NotFound("no such client")
        if lock:
            self._lock(conn, [stream_id])
        events = self.store.events.read_stream(stream_id, conn=conn)
        client = Client.rehydrate(stream_id, events)
        client.ensure_in(ctx.workspace)
        client.position = events[-1].position
        return client

    @staticmethod
    def _check_version(client, expected_version):
        if expected_version is not None and client.version != expected_version:
            raise PreconditionFailed(
                f"the client is at version {client.version}, not {expected_version}; "
                "read it again", extra={"version": client.version})

    def _save(self, conn, ctx, client, is_new=False):
        """Project the client's pending events, then append them; returns the envelopes.

        The query tables are written first: the append takes the store's position
        counter (a row lock held until commit), so it comes last to keep that short.
        """
        events = client.collect()
        if not events:
            return []
        queries.project(conn, client, _pending(client.version, events), is_new)
        stored = self.store.events.append(
            client.id, client.version, events, workspace=ctx.workspace, actor=ctx.actor,
            correlation_id=ctx.correlation_id, conn=conn)
        client.version = stored[-1].stream_version
        client.position = stored[-1].position
        return stored

    def _answer(self, conn, ctx, client):
        return {"client": queries.get_client(conn, ctx.workspace, client.id),
                "position": client.position}

    def _append_together(self, conn, ctx, clients, merge):
        """Append the clients' and the merge's pending events in ONE batch, then project."""
        pending = {client.id: (client, client.version, client.collect()) for client in clients}
        for client, version, events in pending.values():
            if events:
                queries.project(conn, client, _pending(version, events), is_new=False)
        merge_events = merge.collect()
        appends = [StreamAppend(cid, version, events, ctx.workspace, ctx.actor,
                                ctx.correlation_id)
                   for cid, (_, version, events) in pending.items()]
        appends.append(StreamAppend(merge.id, merge.version, merge_events, ctx.workspace,
                                    ctx.actor, ctx.correlation_id))
        stored = self.store.events.append_batch(appends, conn=conn)
        by_stream = {}
        for envelope in stored:
            by_stream.setdefault(envelope.stream_id, []).append(envelope)
        for cid, (client, _, _) in pending.items():
            envelopes = by_stream.get(cid)
            if envelopes:
                client.version = envelopes[-1].stream_version
                client.position = envelopes[-1].position
        timeline.store_merge_events(conn, by_stream.get(merge.id, []))
        return stored


# -- many clients at once (imports, reverts) ---------------------------------------------

def project_batch(conn, items, occurred_at):
    """The query tables after a batch: ``items`` = [(client, version_before, events,
    is_new)]. The same rows ``queries.project`` writes, in a few bulk statements."""
    new_rows, changed_rows, tag_rows, key_rows, existing = [], [], [], [], []
    for client, version, events, is_new in items:
        last = version + len(events)
        updated_at = client.created_at if last == 1 else occurred_at
        record = queries.client_record(client, last, updated_at)
        row = queries.row_values(record, client.workspace)
        if is_new:
            new_rows.append(row)
        else:
            existing.append(client.id)
            changed_rows.append({**{k: v for k, v in row.items() if k != "id"},
                                 "_id": client.id})
        folded = {search_text(tag)[:100] for tag in record["tags"]}
        folded.discard("")
        tag_rows.extend((client.id, tag, client.workspace) for tag in sorted(folded))
        if not record["archived"]:
            key_rows.extend((client.id, kind, client.workspace, key)
                            for kind, key in queries.match_keys(record).items())
    if new_rows:
        names = tuple(new_rows[0])
        bulk_insert(conn, clients_table, names, [tuple(row[n] for n in names)
                                                 for row in new_rows])
    if changed_rows:
        names = [name for name in changed_rows[0] if name != "_id"]
        conn.execute(update(clients_table).where(clients_table.c.id == bindparam("_id"))
                     .values({name: bindparam(name) for name in names}), changed_rows)
    for start in range(0, len(existing), 500):
        chunk = existing[start:start + 500]
        conn.execute(delete(client_tags_table).where(client_tags_table.c.client_id.in_(chunk)))
        conn.execute(delete(client_match_keys_table)
                     .where(client_match_keys_table.c.client_id.in_(chunk)))
    bulk_insert(conn, client_tags_table, ("client_id", "tag", "workspace"), tag_rows)
    bulk_insert(conn, client_match_keys_table, ("client_id", "kind", "workspace", "key"),
                key_rows)


def append_clients(store, conn, ctx, touched, occurred_at):
    """Project then append the pending events of ``touched`` ({id: (client, version,
    is_new)}) in one batch."""
    items, appends = [], []
    for client, version, is_new in touched.values():
        events = client.collect()
        if not events:
            continue
        items.append((client, version, events, is_new))
        appends.append(StreamAppend(client.id, version, events, ctx.workspace, ctx.actor,
                                    ctx.correlation_id))
    if not items:
        return []
    project_batch(conn, items, occurred_at)
    return store.append_batch(appends, conn=conn)
