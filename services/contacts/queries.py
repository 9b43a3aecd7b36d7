"""Read side of contacts: the clients query table, kept in step with the events."""
import json

from sqlalchemy import insert, select

from .db import clients_table


def project(conn, client, envelopes):
    """Write the client's current state after ``envelopes`` were appended (same transaction)."""
    last = envelopes[-1]
    record = client_record(client, last.stream_version, last.occurred_at)
    row = {k: record[k] for k in ("id", "version", "kind", "name", "tax_id", "email",
                                  "created_at", "updated_at", "archived")}
    row["workspace"] = client.workspace
    row["record"] = json.dumps(record, ensure_ascii=False)
    if client.version == 0:
        conn.execute(insert(clients_table).values(**row))
    else:
        conn.execute(clients_table.update().where(clients_table.c.id == client.id).values(**row))


def client_record(client, version, updated_at):
    fields = client.fields
    return {
        "id": client.id,
        "version": version,
        "kind": fields.get("kind", "company"),
        "name": fields.get("name"),
        "tax_id": fields.get("tax_id"),
        "email": fields.get("email"),
        "created_at": client.created_at,
        "updated_at": updated_at,
        "archived": client.archived,
    }


def get_client(conn, workspace, client_id):
    row = conn.execute(
        select(clients_table.c.record)
        .where(clients_table.c.id == client_id)
        .where(clients_table.c.workspace == workspace)
    ).first()
    return json.loads(row.record) if row else None
