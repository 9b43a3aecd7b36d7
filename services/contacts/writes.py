"""Contacts' write plumbing: every command's events and query rows, in one transaction.

- :class:`ClientWrites` is what the service's commands run through: ``_write`` runs a
  command in the kernel's unit of work, ``_load``/``_lock`` the client, ``_save``
  appends and projects what aggregates recorded (``project_changes``). It needs the
  service's ``store`` (an ``EventSourcedStore``) and nothing else.
- :func:`append_clients` is the same for many clients at once (an import batch, a
  revert), with the query tables written in bulk by :func:`project_batch`.
"""
import logging
import uuid

from sqlalchemy import bindparam, delete, select, update

from services.common.db import bulk_insert
from services.common.errors import Conflict, NotFound, PreconditionFailed
from services.common.eventstore import StreamAppend

from . import queries, timeline
from .db import client_match_keys_table, client_tags_table, clients_table
from .domain import Client
from .validation import search_text

log = logging.getLogger(__name__)

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


def project_changes(conn, changes):
    """The unit of work's projector: a client's query rows after its events, a merge's
    record in the timeline (``application.Change``)."""
    for change in changes:
        if isinstance(change.aggregate, Client):
            queries.project(conn, change.aggregate, change.envelopes, change.created)
        else:
            timeline.store_merge_events(conn, change.envelopes)


class ClientWrites:
    """Mixin of ``ContactsService`` and of its command groups: contacts' commands run
    through the kernel's unit of work (``store.execute``: exactly once per command id,
    events, query rows and the command's outcome in one transaction)."""

    def _write(self, ctx, name, command, expected_version=None):
        """Run ``command(uow)`` as the command ``name``: a concurrent append reruns it on
        fresh state, or is 412 when the caller named the version it expects (If-Match)."""
        return self.store.execute(
            ctx, name, command, expected_version=expected_version,
            stale="the client has changed since that version; read it again")

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

    def _load(self, uow, ctx, client_id, lock=True):
        """The client aggregate (``NotFound`` unless it is in the caller's workspace)."""
        stream_id = canonical_uuid(client_id)
        if stream_id is None:
            raise NotFound("no such client")
        if lock:
            self._lock(uow.conn, [stream_id])
        client = uow.load(Client, stream_id)
        client.ensure_in(ctx.workspace)
        return client

    @staticmethod
    def _check_version(client, expected_version):
        if expected_version is not None and client.version != expected_version:
            raise PreconditionFailed(
                f"the client is at version {client.version}, not {expected_version}; "
                "read it again", extra={"version": client.version})

    @staticmethod
    def _save(uow, *aggregates):
        """Append what the aggregates recorded (one batch) and project it."""
        for aggregate in aggregates:
            uow.add(aggregate)
        return uow.save()

    def _answer(self, conn, ctx, client):
        return {"client": queries.get_client(conn, ctx.workspace, client.id),
                "position": client.position}


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
    """Append then project the pending events of ``touched`` ({id: (client, version,
    is_new)}) in one batch (the unit of work's order, with bulk statements)."""
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
    stored = store.append_batch(appends, conn=conn)
    project_batch(conn, items, occurred_at)
    return stored
