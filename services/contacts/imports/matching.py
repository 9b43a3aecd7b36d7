"""Finding the clients a batch's rows are: by id, tax id, email, or a name alone.

Every lookup is a few bulk queries per batch (chunks of 500 keys), never one per row.
"""
import json
from typing import NamedTuple

from sqlalchemy import false, func, select

from services.common.eventstore import events_table

from ..db import client_match_keys_table, clients_table
from ..domain import Client
from ..sealing import PERSONAL
from ..validation import client_country

CHUNK = 500


class _StoredEvent(NamedTuple):
    type: str
    data: dict
    stream_version: int


def load_clients(conn, client_ids):
    """``{id: Client}`` rebuilt from their streams, in a few queries."""
    streams, rows = {}, []
    ids = sorted(set(client_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        for row in conn.execute(select(events_table.c.stream_id, events_table.c.type,
                                       events_table.c.stream_version, events_table.c.data)
                                .where(events_table.c.stream_id.in_(chunk))
                                .order_by(events_table.c.stream_id,
                                          events_table.c.stream_version)):
            rows.append(row)
    # Personal fields are stored sealed (sealing.py): opened with one key lookup.
    datas = PERSONAL.open_all(conn, [json.loads(row.data) for row in rows])
    for row, data in zip(rows, datas):
        streams.setdefault(row.stream_id, []).append(
            _StoredEvent(row.type, data, row.stream_version))
    return {client_id: Client.rehydrate(client_id, events)
            for client_id, events in streams.items()}


def key_holders(conn, workspace, kind, keys):
    """``{key: client_id}`` of non-archived clients holding each key (lowest id wins)."""
    table = client_match_keys_table
    found = {}
    keys = sorted(set(keys))
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start:start + CHUNK]
        for row in conn.execute(select(table.c.key, table.c.client_id)
                                .where(table.c.workspace == workspace)
                                .where(table.c.kind == kind).where(table.c.key.in_(chunk))
                                .order_by(table.c.client_id)):
            found.setdefault(row.key, row.client_id)
    return found


def same_by_name(fields, held):
    """A row with a client's name alone is that client only if the client too is known
    by its name alone (no tax id, no email: the row must not match, then blank out, a
    client known by them) and is not in another country."""
    if held.get("tax_id") or held.get("email"):
        return False
    country, held_country = client_country(fields), client_country(held)
    return not (country and held_country and country != held_country)


def sole_name_holders(conn, workspace, names):
    """``{folded name: client_id}`` for the names exactly one non-archived client has."""
    table = client_match_keys_table
    found = {}
    names = sorted(set(names))
    for start in range(0, len(names), CHUNK):
        chunk = names[start:start + CHUNK]
        for row in conn.execute(select(table.c.key, func.min(table.c.client_id))
                                .where(table.c.workspace == workspace)
                                .where(table.c.kind == "name").where(table.c.key.in_(chunk))
                                .group_by(table.c.key).having(func.count() == 1)):
            found[row[0]] = row[1]
    return found


def id_holders(conn, workspace, client_ids):
    """Those of ``client_ids`` that are non-archived clients of ``workspace``."""
    ids = sorted(set(client_ids))
    found = set()
    for start in range(0, len(ids), CHUNK):
        found.update(conn.execute(select(clients_table.c.id)
                                  .where(clients_table.c.workspace == workspace)
                                  .where(clients_table.c.archived == false())
                                  .where(clients_table.c.id.in_(ids[start:start + CHUNK])))
                     .scalars())
    return found
