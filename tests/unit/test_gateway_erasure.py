"""What the gateway keeps of a client once ``ClientErased`` is applied (docs/privacy.md)."""
import json
import uuid

from sqlalchemy import insert, select

from gateway.db import client_erasures_table, idempotency_keys_table
from gateway.erasure import recorded_erasures
from gateway.projections import ERASED_KIND, unit_of_work_for
from gateway.readmodel import ReadModel
from gateway.service import migrate
from services.common.db import Database
from services.common.envelope import EventEnvelope

CLIENT = str(uuid.uuid4())
OTHER = str(uuid.uuid4())


def envelope(position, event_type, data, stream=CLIENT):
    return EventEnvelope(str(uuid.uuid4()), event_type, 1, "acme", stream, position, position,
                         "2026-12-01T00:00:00.000000Z", None, None, data)


def test_the_read_model_the_stored_answers_and_the_set_aside_events_forget_the_person(
        tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate(database.url)
    model = ReadModel(database, unit_of_work_for)
    model.ensure()
    tables = model.tables()
    with database.write() as conn:
        conn.execute(insert(idempotency_keys_table), [
            {"workspace": "acme", "key": "create", "fingerprint": "f", "created_at": "t",
             "status": 201, "headers": json.dumps({"Location": f"/api/v1/clients/{CLIENT}"}),
             "body": json.dumps({"id": CLIENT, "name": "Ana Lopes"})},
            {"workspace": "acme", "key": "erase", "fingerprint": "f", "created_at": "t",
             "status": 200, "headers": "{}", "body": json.dumps(
                 {"client_id": CLIENT, "erased_ids": [CLIENT], "erased": True})},
            {"workspace": "acme", "key": "other", "fingerprint": "f", "created_at": "t",
             "status": 201, "headers": "{}", "body": json.dumps({"id": OTHER})}])
        conn.execute(insert(tables.inbox.dead_letters).values(
            source="contacts", event_id=str(uuid.uuid4()), event_type="ClientUpdated",
            position=9, reason="a handler failed", parked_at="2026-12-01T00:00:00.000000Z",
            body=json.dumps(
                {"type": "ClientUpdated", "data": {"client_id": CLIENT, "changes": {
                    "email": "ana@lopes.example.pt", "category": "Retail"}}})))
    inbox = model.inbox()
    inbox.apply("contacts", [
        envelope(1, "ClientRegistered", {"client_id": CLIENT, "workspace": "acme",
                                         "kind": "person", "name": "Ana Lopes",
                                         "email": "ana@lopes.example.pt", "country": "PT"}),
        envelope(2, "ClientRegistered", {"client_id": OTHER, "workspace": "acme",
                                         "name": "Other"}, stream=OTHER),
        envelope(3, "ClientErased", {"client_id": CLIENT, "workspace": "acme"})])
    with database.read() as conn:
        row = conn.execute(select(tables.clients).where(tables.clients.c.id == CLIENT)).one()
        assert (row.kind, row.name, row.email, row.country, row.archived) == \
            (ERASED_KIND, "", None, "PT", True)
        other = conn.execute(select(tables.clients.c.name)
                             .where(tables.clients.c.id == OTHER)).scalar()
        assert other == "Other"
        answers = dict(conn.execute(select(idempotency_keys_table.c.key,
                                           idempotency_keys_table.c.status)).all())
        assert answers == {"create": 410, "erase": 200, "other": 201}
        created = conn.execute(select(idempotency_keys_table.c.body)
                               .where(idempotency_keys_table.c.key == "create")).scalar()
        assert "Ana" not in created and json.loads(created)["code"] == "client_erased"
        parked = conn.execute(select(tables.inbox.dead_letters.c.body)).scalar()
        assert "ana@lopes" not in parked and json.loads(parked)["data"]["changes"] == {
            "category": "Retail"}
        assert conn.execute(select(client_erasures_table.c.client_id)).scalars().all() == \
            [CLIENT]
    assert recorded_erasures(database) == [("acme", CLIENT)]
    database.dispose()
