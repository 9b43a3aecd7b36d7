"""A client's history: its own events plus the events of other services that name it.

The contacts service consumes ``projects.events`` and ``billing.events`` through the
kernel's consumer inbox (exactly once, in position order) and keeps, in
``client_timeline``, each event that names a client (``client_id`` or
``previous_client_id`` in its data): assignments, invoices, purchase orders, quotes
and their re-pointing by merges. Merges (``ClientsMerged``/``ClientsUnmerged``, on
their own streams) are stored there too, for every client they name.

``client_history`` merges the client's stream with those rows, oldest first, in the
contract's format: ``{"type", "at", "actor", "changes": {field: [old, new]}, "data",
"source"}``; ``data`` is the event's payload as published.
"""
import json

from sqlalchemy import insert, select

from .db import client_timeline_table as timeline
from .domain import (CLIENT_ARCHIVED, CLIENT_REGISTERED, CLIENT_RESTORED, CLIENT_UPDATED,
                     FIELDS)

PROJECT_EVENTS = ("ClientAssigned", "ClientUnassigned")
BILLING_EVENTS = (
    "InvoiceIssued", "InvoicePaymentRecorded", "InvoicePaid", "InvoiceVoided",
    "InvoiceClientChanged",
    "PurchaseOrderPlaced", "PurchaseOrderFinalized", "PurchaseOrderClientChanged",
    "QuoteCreated", "QuoteStatusChanged", "QuoteClientChanged",
)


def named_clients(data, keys=("client_id", "previous_client_id")):
    ids = []
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value and value not in ids:
            ids.append(value)
    return ids


def store(conn, source, event, client_ids):
    """Keep ``event`` in the timeline of each of ``client_ids`` (of the event's workspace)."""
    if not client_ids:
        return
    body = json.dumps(event.data, ensure_ascii=False, separators=(",", ":"))
    conn.execute(insert(timeline), [{
        "workspace": event.workspace, "client_id": client_id, "source": source,
        "position": event.position, "event_id": event.event_id, "type": event.type,
        "occurred_at": event.occurred_at, "actor": event.actor, "data": body,
    } for client_id in client_ids])


def _projects_handler(conn, event):
    store(conn, "projects", event, named_clients(event.data))


def _billing_handler(conn, event):
    store(conn, "billing", event, named_clients(event.data))


HANDLERS = {
    "projects": {event_type: _projects_handler for event_type in PROJECT_EVENTS},
    "billing": {event_type: _billing_handler for event_type in BILLING_EVENTS},
}


def store_merge_events(conn, envelopes):
    """Keep ``ClientsMerged``/``ClientsUnmerged`` in the timeline of every client named."""
    for envelope in envelopes:
        data = envelope.data
        ids = [data["survivor_id"], *data["merged_ids"]]
        store(conn, "contacts", envelope, ids)


# -- the history -----------------------------------------------------------------------------

def changes_of(event_type, data):
    """``{field: [old, new]}`` of one of the client's own events."""
    if event_type == CLIENT_REGISTERED:
        return {name: [None, data.get(name)] for name in FIELDS
                if data.get(name) not in (None, [], {})}
    if event_type == CLIENT_UPDATED:
        previous = data.get("previous") or {}
        return {name: [previous.get(name), value]
                for name, value in (data.get("changes") or {}).items()}
    if event_type == CLIENT_ARCHIVED:
        changes = {"archived": [False, True]}
        if data.get("merged_into"):
            changes["merged_into"] = [None, data["merged_into"]]
        return changes
    if event_type == CLIENT_RESTORED:
        return {"archived": [True, False]}
    return {}


_SOURCE_ORDER = {"contacts": 0, "projects": 1, "billing": 2}


def client_history(conn, events, workspace, client_id):
    """The timeline of a client from its stream ``events`` and the stored rows."""
    items = [(event.occurred_at, 0, event.position, {
        "type": event.type, "at": event.occurred_at, "actor": event.actor,
        "changes": changes_of(event.type, event.data), "data": event.data,
        "source": "contacts",
    }) for event in events]
    rows = conn.execute(select(timeline).where(timeline.c.workspace == workspace)
                        .where(timeline.c.client_id == client_id)).all()
    for row in rows:
        items.append((row.occurred_at, _SOURCE_ORDER.get(row.source, 3), row.position, {
            "type": row.type, "at": row.occurred_at, "actor": row.actor, "changes": {},
            "data": json.loads(row.data), "source": row.source,
        }))
    items.sort(key=lambda item: item[:3])
    return [item[3] for item in items]
