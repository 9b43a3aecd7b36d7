"""Event handlers that keep the gateway's read model: {source: {type: fn(conn, event)}}.

Each handler runs inside the inbox's transaction, so its writes and the
event's "applied" mark commit together (exactly-once effect).
"""
from sqlalchemy import insert, update

from .db import overview_clients_table as clients

CLIENT_FIELDS = ("name", "kind", "tax_id", "email", "phone", "country", "category")


def client_registered(conn, event):
    data = event.data
    row = {field: data.get(field) for field in CLIENT_FIELDS}
    row["kind"] = row["kind"] or "company"
    conn.execute(insert(clients).values(
        id=data["client_id"], workspace=event.workspace, version=event.stream_version,
        archived=False, **row))


def client_updated(conn, event):
    changes = {field: value for field, value in (event.data.get("changes") or {}).items()
               if field in CLIENT_FIELDS}
    conn.execute(update(clients).where(clients.c.id == event.data["client_id"])
                 .values(version=event.stream_version, **changes))


def client_archived(conn, event):
    conn.execute(update(clients).where(clients.c.id == event.data["client_id"])
                 .values(version=event.stream_version, archived=True,
                         merged_into=event.data.get("merged_into")))


def client_restored(conn, event):
    conn.execute(update(clients).where(clients.c.id == event.data["client_id"])
                 .values(version=event.stream_version, archived=False, merged_into=None))


HANDLERS = {
    "contacts": {
        "ClientRegistered": client_registered,
        "ClientUpdated": client_updated,
        "ClientArchived": client_archived,
        "ClientRestored": client_restored,
    },
    "projects": {},
    "billing": {},
}
