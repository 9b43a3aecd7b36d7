"""Billing documents in the kernel's unit of work: loading a workspace's document,
and the projector that keeps each document's query row with its events.

Used by the service's commands and by the replica's merge handlers alike, so a
document's query row always moves with its events.
"""
from services.common.errors import NotFound

from . import queries

_KIND_OF = {kind.aggregate: kind for kind in queries.KINDS.values()}


def load(uow, kind, workspace, document_id):
    """A document of ``workspace`` rebuilt from its events and tracked by ``uow``
    (``position``: its last event's). ``NotFound`` for an unknown id, another
    workspace's id and another kind's id alike."""
    document_id = str(document_id)
    if not queries.exists(uow.conn, kind, workspace, document_id):
        raise NotFound(f"no such {kind.noun}")
    document = uow.load(kind.aggregate, document_id)
    document.ensure_in(workspace)
    return document


def project_changes(conn, changes):
    """The unit of work's projector: each changed document's query row."""
    for change in changes:
        document = change.aggregate
        queries.project(conn, _KIND_OF[type(document)], document, change.envelopes,
                        change.created)
