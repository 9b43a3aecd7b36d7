"""Personal fields sealed with a key per person (services/common/personal.py), on SQLite
and PostgreSQL: stored sealed, read back opened by the service, published sealed, gone
with the key, and events stored in plain text before sealed in place."""
import json
import uuid

import pytest
from sqlalchemy import text

from services.common.db import Database
from services.common.envelope import NewEvent
from services.common.eventstore import EventStore, StreamAppend
from services.common.personal import (SEALED, PersonalData, PersonalFields,
                                      create_personal_keys_table, reveal, seal_rows)

RULES = PersonalData({
    "PersonSeen": PersonalFields("person_id", ("name", "email")),
    "PersonChanged": PersonalFields("person_id", ("name", "email"), within=("changes",)),
})
NAME = "Zoë Hartmann-Ibáñez"


@pytest.fixture
def sealed(database):
    with database.write() as conn:
        create_personal_keys_table(conn)
    return EventStore(database, RULES)


def seen(person_id, **fields):
    return NewEvent("PersonSeen", {"person_id": person_id, "city": "Lyon", **fields})


def raw(database):
    with database.read() as conn:
        return {row.position: json.loads(row.data) for row in conn.execute(
            text("SELECT position, data FROM events ORDER BY position"))}


def test_personal_fields_are_stored_sealed_and_read_back_opened(sealed, database):
    person = str(uuid.uuid4())
    stored = sealed.append(person, 0, [
        seen(person, name=NAME, email="zoe@example.org"),
        NewEvent("PersonChanged", {"person_id": person, "changes": {"email": "z@example.org",
                                                                    "city": "Nice"}})],
        workspace="acme")
    assert stored[0].data["name"] == NAME  # the caller's projector sees plain data
    on_disk = raw(database)
    first, second = on_disk[stored[0].position], on_disk[stored[1].position]
    assert set(first) == {"person_id", "city", SEALED} and "Hartmann" not in json.dumps(first)
    assert second["changes"] == {"city": "Nice"} and "z@example.org" not in json.dumps(second)
    read = sealed.read_stream(person)
    assert read[0].data == {"person_id": person, "city": "Lyon", "name": NAME,
                            "email": "zoe@example.org"}
    assert read[1].data["changes"] == {"email": "z@example.org", "city": "Nice"}
    # What leaves the service stays sealed; opened only on request.
    published = sealed.read_all(0)
    assert SEALED in published[0].data and "name" not in published[0].data
    assert [e.data for e in sealed.read_all(0, opened=True)] == [e.data for e in read]
    assert sealed.read_streams([person])[person][0].data["name"] == NAME


def test_a_destroyed_key_leaves_the_events_without_their_personal_fields(sealed, database):
    person, other = str(uuid.uuid4()), str(uuid.uuid4())
    sealed.append_batch([StreamAppend(person, 0, [seen(person, name=NAME)], "acme"),
                         StreamAppend(other, 0, [seen(other, name="Other Person")], "acme")])
    with database.write() as conn:
        RULES.erase(conn, [person], "acme")
    assert sealed.read_stream(person)[0].data == {"person_id": person, "city": "Lyon"}
    assert sealed.read_stream(other)[0].data["name"] == "Other Person"
    # Nothing personal is ever stored for an erased person again, nor a new key made.
    sealed.append(person, 1, [seen(person, name=NAME)], workspace="acme")
    assert "Hartmann" not in json.dumps(raw(database))
    with database.read() as conn:
        keys = conn.execute(text("SELECT key FROM personal_keys WHERE subject = :s"),
                            {"s": person}).all()
    assert keys == [(None,)]


def test_plain_text_events_read_as_they_are_and_are_sealed_in_place(sealed, database):
    plain = EventStore(database)  # a release before sealing
    person = str(uuid.uuid4())
    stored = plain.append(person, 0, [seen(person, name=NAME, email="zoe@example.org")],
                          workspace="acme")
    assert sealed.read_stream(person)[0].data["name"] == NAME
    with database.write() as conn:
        rows = conn.execute(text("SELECT position, type, workspace, data FROM events")).all()
        assert seal_rows(conn, RULES, rows) == 1
        assert seal_rows(conn, RULES, conn.execute(
            text("SELECT position, type, workspace, data FROM events")).all()) == 0
    on_disk = raw(database)[stored[0].position]
    assert SEALED in on_disk and "Hartmann" not in json.dumps(on_disk)
    assert sealed.read_stream(person)[0].data["name"] == NAME  # same position, same meaning
    with database.write() as conn:
        RULES.erase(conn, [person], "acme")
    assert "name" not in sealed.read_stream(person)[0].data


def test_a_consumer_has_sealed_events_opened_by_their_source(sealed):
    person = str(uuid.uuid4())
    sealed.append(person, 0, [seen(person, name=NAME)], workspace="acme")
    events = sealed.read_all(0)

    class Source:
        calls = []

        def reveal_events(self, positions):
            self.calls.append(positions)
            return {str(e.position): e.data for e in sealed.read_positions(positions,
                                                                           opened=True)}

    source = Source()
    assert reveal(source, events)[0].data["name"] == NAME
    assert source.calls == [[events[0].position]]
    assert reveal(source, events) and len(source.calls) == 1  # nothing sealed left


def test_two_writers_of_a_new_person_share_one_key(database_url):
    database = Database(database_url)
    try:
        from services.projects.service import migrate

        migrate(database_url)
        with database.write() as conn:
            create_personal_keys_table(conn)
        store = EventStore(database, RULES)
        person = str(uuid.uuid4())
        with database.write() as conn:
            first = RULES._keys_for_writing(conn, {person: "acme"})
        with database.write() as conn:
            second = RULES._keys_for_writing(conn, {person: "acme"})
        assert first == second and len(first[person]) == 32
        store.append(person, 0, [seen(person, name=NAME)], workspace="acme")
        assert store.read_stream(person)[0].data["name"] == NAME
    finally:
        database.dispose()
