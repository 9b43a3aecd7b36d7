"""Billing's replica of the clients and projects it bills, kept from their events.

The handlers billing's consumer applies (named in ``service.py``; each runs in
the inbox's transaction: exactly-once effect). It keeps:

- ``billing_clients``: every client with its workspace and whether it is
  archived (a new invoice, order or quote needs a live client of the caller's
  workspace), written by the kernel's ``EntityReplica`` (``CLIENTS``), a batch of
  client events at a time;
- ``billing_projects``: every project with its workspace and current client
  (a document may only name a project of its client);
- client merges: ``ClientsMerged`` re-points the duplicates' invoices, orders
  and quotes to the survivor by appending ``InvoiceClientChanged``,
  ``PurchaseOrderClientChanged`` and ``QuoteClientChanged`` (``reason:
  merge``) to each document's stream in the handler's transaction, and
  remembers each move in the kernel's merge moves (``MOVES``); ``ClientsUnmerged`` moves back
  exactly what that merge moved (``reason: unmerge``) and is still with the
  survivor.

The replica is eventually consistent: a client registered a moment ago may not
be here yet. Before a command refuses an id the replica does not know, it
waits until the replica has applied the positions the caller's
``Consistency-Token`` names, then polls briefly for the ids themselves
(``EntityReplica.wait_for``).
"""
from sqlalchemy import and_, insert, select, update

from services.common.envelope import format_time, utc_now
from services.common.application import run_within
from services.common.context import CommandContext
from services.common.errors import ValidationFailed
from services.common.replica import EntityReplica, MergeMoves
from services.contacts.client.events import CLIENT_REPLICA_RULES

from . import documents, queries
from .db import clients_replica_table as clients
from .db import projects_replica_table as projects

#: What each merge moved (the kernel's table of merge moves).
MOVES = MergeMoves()

#: ``billing_clients``, kept by the kernel's entity replica from contacts' events.
CLIENTS = EntityReplica(clients, "contacts", "client_id", CLIENT_REPLICA_RULES)


def _upsert(conn, table, row_id, values):
    if not conn.execute(update(table).where(table.c.id == row_id).values(**values)).rowcount:
        conn.execute(insert(table).values(id=row_id, **values))


# -- contacts ------------------------------------------------------------------------------


def clients_merged(conn, event):
    """Re-point every document of the duplicates to the survivor; remember what moved."""
    data = event.data
    survivor, merge_id = data["survivor_id"], data["merge_id"]
    for duplicate in data.get("merged_ids") or []:
        if duplicate == survivor:
            continue
        for kind in queries.KINDS.values():
            for document_id in queries.document_ids_of_client(conn, kind, event.workspace,
                                                              duplicate):
                previous = _repoint(conn, event, kind, document_id, survivor, "merge",
                                    merge_id)
                if previous is not None:
                    MOVES.record(conn, event.workspace, merge_id,
                                 [(kind.name, document_id, previous, survivor)])


def clients_unmerged(conn, event):
    """Move back exactly what the merge moved (documents still with the survivor)."""
    merge_id = event.data["merge_id"]
    for kind, document_id, from_id, to_id in MOVES.take(conn, event.workspace, merge_id):
        _repoint(conn, event, queries.KINDS[kind], document_id, from_id, "unmerge", merge_id,
                 only_from=to_id)


def _repoint(conn, event, kind, document_id, client_id, reason, merge_id, only_from=None):
    """Re-point one document through the kernel's unit of work, in the inbox's
    transaction (rerun if a command wrote the document meanwhile).

    Returns the client it was moved from, or None when nothing moved.
    """
    def move(uow):
        document = documents.load(uow, kind, event.workspace, document_id)
        previous = document.client_id
        if only_from is not None and previous != only_from:
            return None
        if not document.change_client(client_id, reason=reason, merge_id=merge_id,
                                      at=format_time(utc_now())):
            return None
        return previous

    return run_within(conn, CommandContext(event.workspace, event.actor, event.correlation_id),
                      move, documents.project_changes)


# -- projects --------------------------------------------------------------------------------


def project_created(conn, event):
    _upsert(conn, projects, event.data["project_id"],
            {"workspace": event.workspace, "client_id": event.data.get("client_id")})


def client_assigned(conn, event):
    _upsert(conn, projects, event.data["project_id"],
            {"workspace": event.workspace, "client_id": event.data["client_id"]})


def client_unassigned(conn, event):
    _upsert(conn, projects, event.data["project_id"],
            {"workspace": event.workspace, "client_id": None})


# -- lookups ----------------------------------------------------------------------------------


def find_project(conn, workspace, project_id):
    """The replica's row of a project of ``workspace`` (None if unknown there)."""
    return conn.execute(select(projects).where(and_(
        projects.c.id == project_id, projects.c.workspace == workspace))).first()


def check_parties(conn, workspace, client_id, project_id, *, check_client=True):
    """Refuse (422) a client that is not a live client of ``workspace`` or a project that
    is not one of that client's; another workspace's ids are refused like unknown ids."""
    errors = {}
    if check_client:
        client = CLIENTS.find(conn, workspace, client_id)
        if client is None:
            errors["client_id"] = ["no such client"]
        elif client.archived:
            errors["client_id"] = ["the client is archived" + (
                f" (merged into {client.merged_into})" if client.merged_into else "")]
    if project_id:
        project = find_project(conn, workspace, project_id)
        if project is None:
            errors["project_id"] = ["no such project"]
        elif project.client_id != client_id:
            errors["project_id"] = ["the project is not one of this client's projects"]
    if errors:
        raise ValidationFailed("the document cannot be billed to this client or project",
                               errors)


