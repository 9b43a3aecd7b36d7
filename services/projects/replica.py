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
  handler's transaction, and remembered in the kernel's merge moves (``MOVES``).
- ``ClientsUnmerged`` moves back exactly the projects that merge moved
  (``reason: unmerge``), those still with the survivor: a project a user
  reassigned since the merge keeps the user's choice.

The re-pointing runs through the kernel's unit of work in the inbox's transaction
(``run_within``): a concurrent command on one of the projects (PostgreSQL, several
writers) makes it rerun from fresh state inside a savepoint, a few times, before the
event is left to the inbox's dead letters.
"""
import logging

from sqlalchemy import select

from services.common.application import run_within
from services.common.context import CommandContext
from services.common.replica import EntityReplica, MergeMoves
from services.contacts.client.events import CLIENT_REPLICA_RULES

from . import domain, queries
from .db import known_clients_table
from .db import projects_table as projects

log = logging.getLogger(__name__)

#: What each merge moved (the kernel's table of merge moves).
MOVES = MergeMoves()
PROJECT = "project"

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
                moved.append((PROJECT, project_id, previous, survivor))
        uow.save()
        MOVES.record(conn, event.workspace, merge_id, moved)
        return len(moved)

    count = run_within(conn, _context(event), move, queries.project_changes)
    log.info("merge %s moved %d project(s) to %s", merge_id, count, survivor)


def clients_unmerged(conn, event):
    merge_id = event.data["merge_id"]

    def move_back(uow):
        moved = MOVES.take(conn, event.workspace, merge_id)
        loaded = uow.load_many(domain.Project, [record_id for _, record_id, _, _ in moved])
        count = 0
        for _, project_id, from_id, to_id in moved:
            project = loaded.get(project_id)
            if project is not None and project.client_id == to_id \
                    and project.change_client(from_id, "unmerge", merge_id):
                count += 1
        uow.save()
        return count

    count = run_within(conn, _context(event), move_back, queries.project_changes)
    log.info("unmerge %s moved %d project(s) back", merge_id, count)
