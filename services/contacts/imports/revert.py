"""Undoing a finished job as events: the clients it created are archived, and the fields
it changed get their previous values back (``ClientUpdated``) unless they were changed
again since."""
import json

import eventlet
from sqlalchemy import select, update

from services.common.application import with_retries
from services.common.envelope import format_time, utc_now
from services.common.errors import ConcurrencyError, Conflict

from .. import queries
from ..domain import unmerge_reverts
from ..writes import append_clients
from .matching import load_clients
from .tables import find_job, jobs, rows_table

CHUNK_ROWS = 500  # rows undone per transaction
TAX_FIELDS = ("tax_id", "country", "address")


def revert(service_store, ctx, job_id):
    """Undo a finished job as events; returns what was undone. A repeat of the same
    command answers the first outcome (its last transaction records it)."""
    database, store = service_store.db, service_store.events
    answered = service_store.recorded(ctx, "revert_import")
    if answered is not None:
        return answered
    with database.read() as conn:
        job = find_job(conn, ctx.workspace, job_id)
        if job.dry_run:
            raise Conflict("a dry run changed nothing: there is nothing to revert")
        if job.status != "done":
            raise Conflict("only a finished import can be reverted")
        if job.reverted_at:
            raise Conflict("this import was already reverted")
        rows = conn.execute(select(rows_table.c.row, rows_table.c.outcome,
                                   rows_table.c.client_id, rows_table.c.changes,
                                   rows_table.c.previous)
                            .where(rows_table.c.job_id == job.id)
                            .where(rows_table.c.outcome.in_(("created", "updated")))
                            .order_by(rows_table.c.row.desc())).all()
    result = {"id": job.id, "archived": 0, "restored": 0, "skipped": [], "position": None}
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start:start + CHUNK_ROWS]
        outcome = with_retries(lambda: _revert_chunk(database, store, ctx, chunk),
                               errors=(ConcurrencyError,))
        result["archived"] += outcome["archived"]
        result["restored"] += outcome["restored"]
        result["skipped"].extend(outcome["skipped"])
        result["position"] = outcome["position"] or result["position"]
        eventlet.sleep(0)
    with database.write() as conn:
        conn.execute(update(jobs).where(jobs.c.id == job.id)
                     .values(reverted_at=format_time(utc_now())))
        service_store.application.record(conn, ctx, "revert_import", result)
    return result


def _revert_chunk(database, store, ctx, chunk):
    outcome = {"archived": 0, "restored": 0, "skipped": [], "position": None}
    occurred_at = format_time(utc_now())
    with database.write() as conn:
        clients = load_clients(conn, [row.client_id for row in chunk])
        touched = {}
        for row in chunk:
            client = clients.get(row.client_id)
            if client is None:
                continue
            version = touched[client.id][1] if client.id in touched else client.version
            try:
                if row.outcome == "created":
                    if client.archived:
                        outcome["skipped"].append({"row": row.row, "client_id": client.id,
                                                   "reason": "already archived"})
                        continue
                    client.archive()
                    outcome["archived"] += 1
                else:
                    if client.archived:
                        outcome["skipped"].append({"row": row.row, "client_id": client.id,
                                                   "reason": "archived since"})
                        continue
                    reverts = unmerge_reverts(client, json.loads(row.changes or "{}"),
                                              json.loads(row.previous or "{}"))
                    if any(name in reverts for name in TAX_FIELDS):
                        after = {**client.state(), **reverts}
                        if queries.tax_id_holder(conn, ctx.workspace, after,
                                                 exclude=[client.id]):
                            outcome["skipped"].append({
                                "row": row.row, "client_id": client.id,
                                "reason": "another client has its previous tax id now"})
                            continue
                    if client.update(reverts):
                        outcome["restored"] += 1
            except Conflict as exc:
                outcome["skipped"].append({"row": row.row, "client_id": client.id,
                                           "reason": exc.detail})
                continue
            touched[client.id] = (client, version, False)
        stored = append_clients(store, conn, ctx, touched, occurred_at)
        if stored:
            outcome["position"] = stored[-1].position
    return outcome
