"""What the projects service knows of the contacts service, kept from its events.

``HANDLERS`` is applied by the service's consumer (``EventConsumerProvider``)
through the kernel's inbox: each handler runs in the inbox's transaction, so
its writes, the event's "applied" mark and the checkpoint commit together.

- ``known_clients`` (id, workspace, archived, merged_into) answers "may this
  client be assigned?" without a call to contacts per request. It is written by
  the kernel's ``EntityReplica`` (``CLIENTS``), a batch of client events at a time.
- ``ClientsMerged`` re-points the duplicates' projects (of the merge's
  workspace, archived projects included) to the survivor: one
  ``ClientAssigned`` (``via: bulk``, ``reason: merge``, the ``merge_id``,
  ``previous_client_id`` = the duplicate)
  per project, appended to the project streams through the event store in the
  handler's transaction, and remembered in ``merge_moves``.
- ``ClientsUnmerged`` moves back exactly the projects that merge moved
  (``reason: unmerge``), those still with the survivor: a project a user
  reassigned since the merge keeps the user's choice.

The re-pointing runs through the kernel's unit of work in the inbox's transaction
(``run_within``): a concurrent command on one of the projects (PostgreSQL, several
writers) makes it rerun from fresh state inside a savepoint, a few times, before the
event is left to the inbox's dead letters.
"""
import logging

from sqlalchemy import insert, select, update

from services.common.application import run_within
from services.common.context import CommandContext
from services.common.replica import EntityReplica
from services.contacts.client.events import CLIENT_REPLICA_RULES

from . import domain, queries
from .db import known_clients_table
from .db import merge_moves_table as moves
from .db import projects_table as projects

log = logging.getLogger(__name__)

#: ``known_clients``, kept by the kernel's entity replica from contacts' events.
CLIENTS = EntityReplica(known_clients_table, "contacts", "client_id", CLIENT_REPLICA_RULES)


def _context(event):
    return CommandContext(event.workspace, event.actor, event.correlation_id)


def clients_merged(conn, event):
    data = event.data
    survivor, merge_id = data["survivor_id"], data["merge_id"]
    merged_ids = [client_id for client_id in data.get("merged_ids") or [] if client_id != survivor]
    if not merged_ids:
        return

    def move(uow):
        ids = conn.execute(
            select(projects.c.id).where(projects.c.workspace == event.workspace)
            .where(projects.c.client_id.in_(merged_ids))
        ).scalars().all()
        loaded = uow.load_many(domain.Project, ids)
        moved = []
        for project_id in ids:
            project = loaded[project_id]
            previous = project.client_id
            if project.workspace == event.workspace and previous in merged_ids \
                    and project.change_client(survivor, "merge", merge_id):
                moved.append({"merge_id": merge_id, "project_id": project_id,
                              "workspace": event.workspace, "from_client_id": previous,
                              "to_client_id": survivor, "undone": False})
        uow.save()
        if moved:
            already = set(conn.execute(select(moves.c.project_id)
                                       .where(moves.c.merge_id == merge_id)).scalars())
            fresh = [row for row in moved if row["project_id"] not in already]
            if fresh:
                conn.execute(insert(moves), fresh)
        return len(moved)

    count = run_within(conn, _context(event), move, queries.project_changes)
    log.info("merge %s moved %d project(s) to %s", merge_id, count, survivor)


def clients_unmerged(conn, event):
    merge_id = event.data["merge_id"]

    def move_back(uow):
        rows = conn.execute(
            select(moves).where(moves.c.merge_id == merge_id)
            .where(moves.c.workspace == event.workspace).where(moves.c.undone.is_(False))
        ).all()
        loaded = uow.load_many(domain.Project, [row.project_id for row in rows])
        count = 0
        for row in rows:
            project = loaded.get(row.project_id)
            if project is not None and project.client_id == row.to_client_id \
                    and project.change_client(row.from_client_id, "unmerge", merge_id):
                count += 1
        uow.save()
        conn.execute(update(moves).where(moves.c.merge_id == merge_id)
                     .where(moves.c.workspace == event.workspace).values(undone=True))
        return count

    count = run_within(conn, _context(event), move_back, queries.project_changes)
    log.info("unmerge %s moved %d project(s) back", merge_id, count)
