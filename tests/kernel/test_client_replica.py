"""The kernel's client replica (projects' ``known_clients``, billing's ``billing_clients``)
on SQLite and PostgreSQL: a batch applied through the inbox's unit of work ends as the
same rows as one event at a time, and a handler in the middle of a batch sees the
replica as of its own position."""
import uuid

from sqlalchemy import select

from services.common.envelope import EventEnvelope
from services.common.inbox import Inbox
from services.common.replica import EntityReplica
from services.contacts.client.events import CLIENT_REPLICA_RULES
from services.projects.db import known_clients_table


def event(position, event_type, **data):
    return EventEnvelope(
        event_id=str(uuid.uuid4()), type=event_type, version=1, workspace="acme",
        stream_id=data.get("client_id", "merge"), stream_version=1, position=position,
        occurred_at="2026-11-23T10:00:00.000000Z", actor=None, correlation_id=None, data=data)


def history():
    return [
        event(1, "ClientRegistered", client_id="a"),
        event(2, "ClientRegistered", client_id="b"),
        event(3, "ClientRegistered", client_id="c"),
        event(4, "ClientsMerged", survivor_id="a", merged_ids=["a", "b"], merge_id="m"),
        event(5, "ClientArchived", client_id="b", merged_into="a"),
        event(6, "ClientArchived", client_id="c"),
        event(7, "ClientRestored", client_id="c"),
        event(8, "ClientRegistered", client_id="d"),
        event(9, "ClientArchived", client_id="d"),
    ]


def rows(database):
    with database.read() as conn:
        return {row.id: (row.workspace, row.archived, row.merged_into)
                for row in conn.execute(select(known_clients_table))}


def make_inbox(database, batched, seen_by_merge):
    replica = EntityReplica(known_clients_table, "contacts", "client_id", CLIENT_REPLICA_RULES)

    def merged(conn, event):  # what a merge handler finds in the replica
        seen_by_merge.append(sorted(conn.execute(select(known_clients_table.c.id)).scalars()))

    handlers = {"contacts": {**replica.handlers, "ClientsMerged": merged}}
    return Inbox(database, "replica-test", handlers,
                 unit_of_work=replica.unit_of_work(handlers) if batched else None)


def test_a_batch_gives_the_rows_of_one_event_at_a_time(database):
    one_by_one = []
    inbox = make_inbox(database, batched=False, seen_by_merge=one_by_one)
    for item in history():
        inbox.apply("contacts", [item])
    expected = rows(database)
    assert expected == {"a": ("acme", False, None), "b": ("acme", True, "a"),
                        "c": ("acme", False, None), "d": ("acme", True, None)}

    with database.write() as conn:
        conn.execute(known_clients_table.delete())
    batched = []
    inbox = make_inbox(database, batched=True, seen_by_merge=batched)
    with database.write() as conn:
        conn.execute(inbox.tables.checkpoints.delete())
        conn.execute(inbox.tables.events.delete())
    result = inbox.apply("contacts", history())
    assert result.applied == len(history())
    assert rows(database) == expected
    # The merge ran after a, b and c were written, in both ways of applying.
    assert batched == one_by_one == [["a", "b", "c"]]


def test_a_client_already_in_the_replica_is_updated_in_a_batch(database):
    inbox = make_inbox(database, batched=True, seen_by_merge=[])
    inbox.apply("contacts", [event(1, "ClientRegistered", client_id="a")])
    inbox.apply("contacts", [event(2, "ClientArchived", client_id="a"),
                             event(3, "ClientRegistered", client_id="e")])
    assert rows(database) == {"a": ("acme", True, None), "e": ("acme", False, None)}
