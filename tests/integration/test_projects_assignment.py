"""Assigning clients to projects through the gateway: the three ways (while creating,
from the project's settings, in bulk), the clients that cannot be assigned, and the
merges of contacts re-pointing projects.

Clients are created through the gateway. What contacts offers no endpoint for yet
(archiving, merging) is appended to the contacts event store exactly as contacts
would, so its relay publishes it and the projects replica applies it.
"""
import time
import uuid

import eventlet
import pytest
from sqlalchemy import select

from services.common.envelope import NewEvent
from services.common.replica import EntityReplica
from services.common.eventstore import EventStore
from services.projects.db import known_clients_table
from tests.helpers import wait_until

PROBLEM = "application/problem+json"


# -- helpers (shared with test_projects_api) ------------------------------------------------


def create_client(stack, session, name="Alan Insurance"):
    """A client created through the API; returns ``(id, Consistency-Token)``."""
    answer = session.post(f"{stack.url}/api/v1/clients", json={"name": name}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"], answer.headers["Consistency-Token"]


def create_project(stack, session, expect=201, headers=None, **body):
    body.setdefault("name", "Website")
    answer = session.post(f"{stack.url}/api/v1/projects", json=body, headers=headers or {},
                          timeout=10)
    assert answer.status_code == expect, answer.text
    return answer.json() if expect == 201 else answer


def projects_events(stack, event_type=None):
    events = stack.rpc.projects.events_since(0, 5000)
    return [e for e in events if event_type is None or e["type"] == event_type]


def append_contacts_event(stack, stream_id, event_type, data, workspace="acme"):
    """Append one event at the end of a contacts stream, as contacts would."""
    store = EventStore(stack.database("contacts"))
    version = len(store.read_stream(stream_id))
    return store.append(stream_id, version, [NewEvent(event_type, data)], workspace=workspace,
                        actor="token:test")[-1]


def replica_row(stack, client_id):
    with stack.database("projects").read() as conn:
        return conn.execute(select(known_clients_table)
                            .where(known_clients_table.c.id == client_id)).first()


def archive_client(stack, client_id, merged_into=None, merge_id=None, workspace="acme"):
    append_contacts_event(stack, client_id, "ClientArchived",
                          {"client_id": client_id, "merged_into": merged_into,
                           "merge_id": merge_id}, workspace)
    wait_until(lambda: (row := replica_row(stack, client_id)) is not None and row.archived,
               timeout=15, message="the archive in the projects replica")


def get_project(stack, session, project_id):
    answer = session.get(f"{stack.url}/api/v1/projects/{project_id}", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def bulk(stack, session, client_id, project_ids, expect=200):
    answer = session.post(f"{stack.url}/api/v1/projects/assign-client",
                          json={"client_id": client_id, "project_ids": project_ids}, timeout=30)
    assert answer.status_code == expect, answer.text
    return answer


# -- the three ways -----------------------------------------------------------------------------


def test_the_three_ways_of_assigning_a_client_each_end_with_the_right_via(stack):
    session = stack.session(role="member")
    alan, token = create_client(stack, session, "Alan Insurance")
    bruno, _ = create_client(stack, session, "Bruno Ltd")

    # 1. While creating ("Step 1: basic information").
    created = session.post(f"{stack.url}/api/v1/projects",
                           json={"name": "Claims portal", "code": "CP-1", "client_id": alan},
                           headers={"Consistency-Token": token}, timeout=10)
    assert created.status_code == 201, created.text
    first = created.json()
    assert created.headers["Location"] == f"/api/v1/projects/{first['id']}"
    assert created.headers["ETag"] == '"2"'
    assert created.headers["Consistency-Token"].startswith("projects:")
    assert first["client_id"] == alan and first["version"] == 2 and first["status"] == "active"
    assert first["total_hours"] == 0 and first["open_tasks"] == 0

    # 2. From the project's settings.
    second = create_project(stack, session, name="Mobile app")
    assert second["client_id"] is None and second["version"] == 1
    patched = session.patch(f"{stack.url}/api/v1/projects/{second['id']}",
                            json={"client_id": bruno}, headers={"If-Match": '"1"'}, timeout=10)
    assert patched.status_code == 200, patched.text
    assert patched.json()["client_id"] == bruno and patched.headers["ETag"] == '"2"'
    changed = session.patch(f"{stack.url}/api/v1/projects/{second['id']}",
                            json={"client_id": alan}, timeout=10)
    assert changed.json()["client_id"] == alan

    # 3. In bulk (one of them already has the client).
    third = create_project(stack, session, name="Intranet")
    fourth = create_project(stack, session, name="Data warehouse", client_id=bruno)
    answer = bulk(stack, session, alan, [third["id"], fourth["id"], first["id"]])
    assert answer.json() == {"assigned": [third["id"], fourth["id"]],
                             "unchanged": [first["id"]], "failed": []}
    assert answer.headers["Consistency-Token"].startswith("projects:")

    assigned = [e["data"] for e in projects_events(stack, "ClientAssigned")]
    assert assigned == [
        {"project_id": first["id"], "client_id": alan, "previous_client_id": None,
         "via": "create"},
        {"project_id": second["id"], "client_id": bruno, "previous_client_id": None,
         "via": "settings"},
        {"project_id": second["id"], "client_id": alan, "previous_client_id": bruno,
         "via": "settings"},
        {"project_id": fourth["id"], "client_id": bruno, "previous_client_id": None,
         "via": "create"},
        {"project_id": third["id"], "client_id": alan, "previous_client_id": None,
         "via": "bulk"},
        {"project_id": fourth["id"], "client_id": alan, "previous_client_id": bruno,
         "via": "bulk"},
    ]
    created_events = projects_events(stack, "ProjectCreated")
    assert created_events[0]["data"]["client_id"] == alan
    assert created_events[0]["stream_id"] == first["id"]
    assert created_events[0]["workspace"] == "acme"

    # Clearing the client from the settings.
    cleared = session.patch(f"{stack.url}/api/v1/projects/{second['id']}",
                            json={"client_id": None}, timeout=10)
    assert cleared.status_code == 200 and cleared.json()["client_id"] is None
    assert [e["data"] for e in projects_events(stack, "ClientUnassigned")] == [
        {"project_id": second["id"], "previous_client_id": alan, "via": "settings"}]

    listed = session.get(f"{stack.url}/api/v1/projects", params={"client_id": alan},
                         timeout=10).json()
    assert {p["id"] for p in listed["items"]} == {first["id"], third["id"], fourth["id"]}
    totals = session.get(f"{stack.url}/api/v1/projects/totals", params={"client_id": alan},
                         timeout=10).json()
    assert totals == {"client_id": alan, "projects": 3, "total_hours": 0, "open_tasks": 0}


def test_a_client_created_a_moment_ago_can_be_assigned_at_once(stack):
    """Without a Consistency-Token the service waits briefly for its replica."""
    session = stack.session()
    for index in range(5):
        client_id, _ = create_client(stack, session, f"Fresh client {index}")
        project = create_project(stack, session, name=f"Fresh {index}", client_id=client_id)
        assert project["client_id"] == client_id


def test_commands_just_after_an_archive_a_restore_or_a_reassignment_see_it_without_a_token(
        stack, monkeypatch):
    """The services judge clients and projects on their replicas, which learn of a write a
    few milliseconds after it is answered (here 0.2 s: the replicas' writes are slowed
    down). The gateway raises each command's token to where its client and project are
    now, so a caller that sends no token is judged on fresh state too."""
    write = EntityReplica.write

    def slow_write(self, conn, rows):
        eventlet.sleep(0.2)
        return write(self, conn, rows)

    monkeypatch.setattr(EntityReplica, "write", slow_write)
    session = stack.session()
    client_id, _ = create_client(stack, session, "Óptica Güell")
    other_id, _ = create_client(stack, session, "Globex Ibérica")
    project = create_project(stack, session, name="Tienda online")
    url = f"{stack.url}/api/v1"
    for attempt in range(3):
        archived = session.post(f"{url}/clients/{client_id}/archive", timeout=10)
        assert archived.status_code == 200, archived.text
        refused = session.patch(f"{url}/projects/{project['id']}",
                                json={"client_id": client_id}, timeout=10)
        assert refused.status_code == 422, (attempt, refused.text)
        restored = session.post(f"{url}/clients/{client_id}/restore", timeout=10)
        assert restored.status_code == 200, restored.text
        assigned = session.patch(f"{url}/projects/{project['id']}",
                                 json={"client_id": client_id}, timeout=10)
        assert assigned.status_code == 200, (attempt, assigned.text)
        # reassigned, then billed at once to the new client with the project
        moved = session.patch(f"{url}/projects/{project['id']}",
                              json={"client_id": other_id}, timeout=10)
        assert moved.status_code == 200, moved.text
        invoice = session.post(f"{url}/invoices", json={
            "client_id": other_id, "project_id": project["id"], "currency": "EUR",
            "lines": [{"description": "Diseño", "quantity": "1", "unit_price": "100.00",
                       "tax_rate": "21"}]},
            timeout=10)
        assert invoice.status_code == 201, (attempt, invoice.text)
    positions = stack.rpc.contacts.stream_positions([client_id, str(uuid.uuid4())])
    assert list(positions) == [client_id] and positions[client_id] > 0
    with pytest.raises(Exception, match="at most 1000 ids"):
        stack.rpc.contacts.stream_positions([client_id] * 1001)


def test_a_command_goes_on_when_contacts_cannot_say_where_its_client_is(stack, monkeypatch,
                                                                          caplog):
    """Asking for the client's position is a refinement: a failing answer leaves the
    judgement to the replica, it never fails the command."""
    from services.contacts.service import ContactsService

    session = stack.session()
    client_id, token = create_client(stack, session, "Fundació Sant Pau")
    create_project(stack, session, name="Primer", client_id=client_id,
                   headers={"Consistency-Token": token})  # the replica knows the client

    def broken(self, stream_ids):
        raise RuntimeError("the contacts database is away")

    monkeypatch.setattr(ContactsService, "stream_positions", broken)
    project = create_project(stack, session, name="Segon", client_id=client_id)
    assert project["client_id"] == client_id
    assert "contacts did not give the position of" in caplog.text


# -- bulk -----------------------------------------------------------------------------------------


def test_bulk_mixes_valid_unknown_other_workspace_and_already_assigned_ids(stack):
    acme = stack.session("acme", "member")
    globex = stack.session("globex", "member")
    client_id, token = create_client(stack, acme, "Alan Insurance")
    other_client, _ = create_client(stack, acme, "Bruno Ltd")
    free = [create_project(stack, acme, name=f"Free {i}")["id"] for i in range(3)]
    moved = create_project(stack, acme, name="Moved", client_id=other_client,
                           headers={"Consistency-Token": token})["id"]
    already = create_project(stack, acme, name="Already", client_id=client_id)["id"]
    archived = create_project(stack, acme, name="Old", status="archived")["id"]
    foreign = create_project(stack, globex, name="Globex project")["id"]
    unknown = str(uuid.uuid4())
    before = len(projects_events(stack))

    answer = bulk(stack, acme, client_id, [free[0], unknown, foreign, already, free[1],
                                           "not-a-uuid", moved, archived, free[2], free[0]])
    result = answer.json()
    assert result["assigned"] == [free[0], free[1], moved, free[2]]
    assert result["unchanged"] == [already]
    assert result["failed"] == [
        {"id": unknown, "error": "not found"},
        {"id": foreign, "error": "not found"},
        {"id": "not-a-uuid", "error": "not found"},
        {"id": archived, "error": "the project is archived"},
    ]
    new = projects_events(stack)[before:]
    assert [(e["type"], e["stream_id"], e["data"]["via"], e["data"]["previous_client_id"])
            for e in new] == [("ClientAssigned", free[0], "bulk", None),
                              ("ClientAssigned", free[1], "bulk", None),
                              ("ClientAssigned", moved, "bulk", other_client),
                              ("ClientAssigned", free[2], "bulk", None)]
    assert len({e["occurred_at"] for e in new}) == 1  # one append, one transaction
    assert get_project(stack, globex, foreign)["client_id"] is None

    # Again: everything is unchanged and nothing is recorded.
    again = bulk(stack, acme, client_id, free + [moved]).json()
    assert again == {"assigned": [], "unchanged": free + [moved], "failed": []}
    assert len(projects_events(stack)) == before + 4

    # An invalid client refuses the whole call.
    for bad_client in (str(uuid.uuid4()), "nope"):
        refused = bulk(stack, acme, bad_client, free, expect=422)
        assert refused.headers["Content-Type"] == PROBLEM and "client_id" in refused.json()["errors"]
    globex_client, _ = create_client(stack, globex, "Globex client")
    refused = bulk(stack, acme, globex_client, free, expect=422)
    assert refused.json()["errors"] == {"client_id": ["no such client"]}
    assert len(projects_events(stack)) == before + 4

    # The body itself.
    for body, field in (({"client_id": client_id, "project_ids": []}, "project_ids"),
                        ({"client_id": client_id,
                          "project_ids": [str(uuid.uuid4()) for _ in range(1001)]},
                         "project_ids"),
                        ({"project_ids": free}, "client_id"),
                        ({"client_id": client_id, "project_ids": free, "workspace": "x"},
                         "workspace")):
        answer = acme.post(f"{stack.url}/api/v1/projects/assign-client", json=body, timeout=10)
        assert answer.status_code == 422 and field in answer.json()["errors"], answer.text
    viewer = stack.session("acme", "viewer")
    denied = viewer.post(f"{stack.url}/api/v1/projects/assign-client",
                         json={"client_id": client_id, "project_ids": free}, timeout=10)
    assert denied.status_code == 403


def test_bulk_assigns_many_projects_in_one_transaction(stack):
    session = stack.session()
    client_id, _ = create_client(stack, session)
    ctx = {"workspace": "acme", "actor": "token:test", "correlation_id": None}
    ids = [stack.rpc.projects.create_project(ctx, {"name": f"Project {i:03d}"})["project"]["id"]
           for i in range(300)]
    before = len(projects_events(stack))
    started = time.monotonic()
    result = bulk(stack, session, client_id, ids).json()
    elapsed = time.monotonic() - started
    assert result["assigned"] == ids and result["failed"] == []
    new = projects_events(stack)[before:]
    assert len(new) == 300 and len({e["occurred_at"] for e in new}) == 1
    assert [e["position"] for e in new] == list(range(new[0]["position"],
                                                      new[0]["position"] + 300))
    assert elapsed < 10, elapsed
    listed = session.get(f"{stack.url}/api/v1/projects",
                         params={"client_id": client_id, "limit": 500}, timeout=10).json()
    assert len(listed["items"]) == 300 and listed["next_cursor"] is None


# -- clients that cannot be assigned ------------------------------------------------------------


def test_an_archived_unknown_or_foreign_client_is_refused_but_stays_where_it_is(stack):
    session = stack.session()
    client_id, token = create_client(stack, session, "Alan Insurance")
    kept = create_project(stack, session, name="Kept", client_id=client_id,
                          headers={"Consistency-Token": token})
    other = create_project(stack, session, name="Other")
    archive_client(stack, client_id)

    refused = create_project(stack, session, expect=422, name="New", client_id=client_id)
    assert refused.headers["Content-Type"] == PROBLEM
    assert refused.json()["errors"] == {"client_id": ["the client is archived"]}
    patch = session.patch(f"{stack.url}/api/v1/projects/{other['id']}",
                          json={"client_id": client_id}, timeout=10)
    assert patch.status_code == 422 and "client_id" in patch.json()["errors"]
    assert bulk(stack, session, client_id, [other["id"]], expect=422).json()["status"] == 422

    # Archived after the assignment: it stays, and the project can still be edited.
    assert get_project(stack, session, kept["id"])["client_id"] == client_id
    renamed = session.patch(f"{stack.url}/api/v1/projects/{kept['id']}",
                            json={"name": "Kept (renamed)", "client_id": client_id}, timeout=10)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["client_id"] == client_id
    unknown_bulk = bulk(stack, session, str(uuid.uuid4()), [kept["id"]], expect=422)
    assert unknown_bulk.json()["errors"] == {"client_id": ["no such client"]}

    unknown = create_project(stack, session, expect=422, name="X", client_id=str(uuid.uuid4()))
    globex_client, _ = create_client(stack, stack.session("globex"), "Globex client")
    foreign = create_project(stack, session, expect=422, name="Y", client_id=globex_client)
    assert unknown.json()["errors"] == foreign.json()["errors"] == {
        "client_id": ["no such client"]}
    assert [e["data"]["project_id"] for e in projects_events(stack, "ClientAssigned")] == [
        kept["id"]]

    # Restored: assignable again.
    append_contacts_event(stack, client_id, "ClientRestored",
                          {"client_id": client_id, "merge_id": None})
    wait_until(lambda: not replica_row(stack, client_id).archived, timeout=15,
               message="the restore in the projects replica")
    assert create_project(stack, session, name="Again", client_id=client_id)["client_id"] \
        == client_id


# -- merges -------------------------------------------------------------------------------------


def merge(stack, survivor, duplicates):
    """Merge ``duplicates`` into ``survivor`` as contacts does; returns the merge id."""
    merge_id = str(uuid.uuid4())
    append_contacts_event(stack, f"merge-{merge_id}", "ClientsMerged", {
        "survivor_id": survivor, "merged_ids": duplicates, "merge_id": merge_id, "fields": {}})
    for duplicate in duplicates:
        append_contacts_event(stack, duplicate, "ClientArchived", {
            "client_id": duplicate, "merged_into": survivor, "merge_id": merge_id})
    return merge_id


def unmerge(stack, merge_id, survivor, duplicates):
    append_contacts_event(stack, f"merge-{merge_id}", "ClientsUnmerged", {
        "survivor_id": survivor, "merged_ids": duplicates, "merge_id": merge_id})
    for duplicate in duplicates:
        append_contacts_event(stack, duplicate, "ClientRestored", {
            "client_id": duplicate, "merge_id": merge_id})


def test_a_merge_moves_the_duplicates_projects_and_an_unmerge_moves_them_back(stack):
    session = stack.session()
    survivor, _ = create_client(stack, session, "Alan Insurance")
    dup_a, _ = create_client(stack, session, "Alan Insurance S.L.")
    dup_b, token = create_client(stack, session, "ALAN INSURANCE")
    hint = {"Consistency-Token": token}
    p_a = create_project(stack, session, name="A", client_id=dup_a, headers=hint)["id"]
    p_b = create_project(stack, session, name="B", client_id=dup_b, status="archived")["id"]
    p_s = create_project(stack, session, name="S", client_id=survivor)["id"]
    p_user = create_project(stack, session, name="User's", client_id=dup_a)["id"]

    merge_id = merge(stack, survivor, [dup_a, dup_b])
    wait_until(lambda: all(get_project(stack, session, pid)["client_id"] == survivor
                           for pid in (p_a, p_b, p_user)), timeout=15, message="the merge")
    merged = [e for e in projects_events(stack, "ClientAssigned")
              if e["data"].get("reason") == "merge"]
    assert {(e["data"]["via"], e["data"]["merge_id"]) for e in merged} == {("bulk", merge_id)}
    assert sorted((e["stream_id"], e["data"]["previous_client_id"]) for e in merged) == sorted(
        [(p_a, dup_a), (p_b, dup_b), (p_user, dup_a)])
    assert all(e["data"]["client_id"] == survivor for e in merged)
    listed = session.get(f"{stack.url}/api/v1/projects", params={"client_id": survivor},
                         timeout=10).json()["items"]
    assert {p["id"] for p in listed} == {p_a, p_b, p_s, p_user}
    # A merged duplicate cannot be assigned any more.
    refused = create_project(stack, session, expect=422, name="Z", client_id=dup_a)
    assert survivor in refused.json()["errors"]["client_id"][0]

    # A user moves one project elsewhere meanwhile: the unmerge leaves it there.
    other, _ = create_client(stack, session, "Other client")
    moved = session.patch(f"{stack.url}/api/v1/projects/{p_user}", json={"client_id": other},
                          timeout=10)
    assert moved.status_code == 200, moved.text

    unmerge(stack, merge_id, survivor, [dup_a, dup_b])
    wait_until(lambda: get_project(stack, session, p_a)["client_id"] == dup_a
               and get_project(stack, session, p_b)["client_id"] == dup_b,
               timeout=15, message="the unmerge")
    back = [e for e in projects_events(stack, "ClientAssigned")
            if e["data"].get("reason") == "unmerge"]
    assert sorted((e["stream_id"], e["data"]["client_id"], e["data"]["previous_client_id"])
                  for e in back) == sorted([(p_a, dup_a, survivor), (p_b, dup_b, survivor)])
    assert get_project(stack, session, p_s)["client_id"] == survivor
    assert get_project(stack, session, p_user)["client_id"] == other
    wait_until(lambda: not replica_row(stack, dup_a).archived, timeout=15,
               message="the restore of the duplicate")
    assert create_project(stack, session, name="Back", client_id=dup_a)["client_id"] == dup_a


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.fixture
def postgres_stack(make_stack):
    """A stack on PostgreSQL whose connections are closed as soon as the test ends
    (the server's connection slots are shared by the whole test session)."""
    from services.common.db import forget_database

    stack = make_stack("postgres").start()
    yield stack
    stack.kill()
    for database_url in stack.database_urls.values():
        forget_database(database_url)


@pytest.mark.postgres
def test_assignment_bulk_and_merge_on_postgresql(postgres_stack):
    stack = postgres_stack
    session = stack.session()
    survivor, token = create_client(stack, session, "Fundació Catalana de Disseny")
    duplicate, token = create_client(stack, session, "Fundacio Catalana Disseny")
    hint = {"Consistency-Token": token}
    created = create_project(stack, session, name="Exposició", client_id=duplicate,
                             headers=hint)
    others = [create_project(stack, session, name=f"Other {i}")["id"] for i in range(5)]
    result = bulk(stack, session, survivor, others + [str(uuid.uuid4())]).json()
    assert result["assigned"] == others and len(result["failed"]) == 1

    # Concurrent writers on one project: without If-Match each is retried and succeeds.
    import concurrent.futures

    def log(hours):
        return session.post(f"{stack.url}/api/v1/projects/{created['id']}/time-entries",
                            json={"date": "2026-11-20", "hours": hours}, timeout=30).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(log, [1, 2, 3, 1.5, 0.5, 4]))
    assert statuses == [201] * 6
    assert get_project(stack, session, created["id"])["total_hours"] == 12

    merge(stack, survivor, [duplicate])
    wait_until(lambda: get_project(stack, session, created["id"])["client_id"] == survivor,
               timeout=15, message="the merge on PostgreSQL")
    vias = [(e["data"]["via"], e["data"].get("reason"))
            for e in projects_events(stack, "ClientAssigned")]
    assert vias == [("create", None)] + [("bulk", None)] * 5 + [("bulk", "merge")]
    found = session.get(f"{stack.url}/api/v1/projects", params={"q": "EXPOSICIO"},
                        timeout=10).json()["items"]
    assert [p["id"] for p in found] == [created["id"]]
