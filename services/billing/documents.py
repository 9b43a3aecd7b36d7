"""Loading and storing billing documents: event stream and query row, one transaction.

Used by the service's commands and by the replica's merge handlers alike, so a
document's query row always moves with its events.
"""
from services.common.errors import NotFound
from services.common.eventstore import EventStore

from . import queries

#: Appends and reads that are always given a connection need no database of their own.
STORE = EventStore(None)


def load(conn, kind, workspace, document_id):
    """``(document, last_position)``: a document of ``workspace`` rebuilt from its events.

    ``NotFound`` for an unknown id and for another workspace's id alike.
    """
    document_id = str(document_id)
    if not queries.exists(conn, kind, workspace, document_id):
        raise NotFound(f"no such {kind.noun}")
    stream = STORE.read_stream(document_id, conn=conn)
    document = kind.aggregate.rehydrate(document_id, stream)
    document.ensure_in(workspace)
    return document, stream[-1].position


def save(conn, kind, document, *, workspace, actor=None, correlation_id=None):
    """Append the document's pending events at its version and update its query row.

    Returns the position of the last event appended. ``ConcurrencyError`` if
    another writer appended to the stream first (the transaction rolls back).
    """
    created = document.version == 0
    stored = STORE.append(document.id, document.version, document.collect(),
                          workspace=workspace, actor=actor, correlation_id=correlation_id,
                          conn=conn)
    document.version = stored[-1].stream_version
    queries.project(conn, kind, document, stored, created)
    return stored[-1].position
