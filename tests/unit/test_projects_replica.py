"""The projects service's storage on a real SQLite file, without broker or nameko:
the client replica (known clients, merges and unmerges re-pointing projects through
the event store) and the query tables with their lists, filters and cursors."""
import uuid
from decimal import Decimal
from itertools import count

import pytest

from services.common.db import Database
from services.common.envelope import EventEnvelope
from services.common.errors import BadRequest, ValidationFailed
from services.common.eventstore import EventStore
from services.common.application import run_within
from services.common.context import CommandContext
from services.projects import queries, replica
from services.projects.domain import Project
from services.projects.service import ProjectsService, check_client, migrate

NOW = "2026-11-23T10:00:00.000000Z"
_positions = count(1)
_ticks = count(1)  # distinct creation times keep the newest-first order certain


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'projects.db'}"
    migrate(url)
    database = Database(url)
    yield database
    database.dispose()


def contacts_event(event_type, data, workspace="acme", stream_id=None):
    return EventEnvelope(
        event_id=str(uuid.uuid4()), type=event_type, version=1, workspace=workspace,
        stream_id=stream_id or data.get("client_id") or f"merge-{data.get('merge_id')}",
        stream_version=1, position=next(_positions), occurred_at=NOW, actor="token:abc",
        correlation_id="corr-1", data=data)


def apply(db, event):
    with db.write() as conn:
        ProjectsService.handlers["contacts"][event.type](conn, event)


def register(db, workspace="acme"):
    client_id = str(uuid.uuid4())
    apply(db, contacts_event("ClientRegistered", {"client_id": client_id, "name": "C",
                                                  "workspace": workspace}, workspace))
    return client_id


def save(db, projects, actor=None):
    """Store what the projects recorded, as a command's unit of work does."""
    def work(uow):
        for project in projects:
            uow.add(project)

    with db.write() as conn:
        run_within(conn, CommandContext(projects[0].workspace, actor), work,
                   queries.project_changes)


def create_project(db, name="Project", client_id=None, workspace="acme", code=None,
                   status="active"):
    project = Project(str(uuid.uuid4()))
    project.create(workspace, {"name": name, "code": code, "client_id": client_id,
                               "status": status},
                   f"2026-11-23T10:00:00.{next(_ticks):06d}Z")
    save(db, [project], "token:abc")
    return project.id


def current(db, project_id):
    return Project.rehydrate(project_id, EventStore(db).read_stream(project_id))


def row(db, project_id, workspace="acme"):
    with db.read() as conn:
        return queries.get_project(conn, workspace, project_id)


# -- known clients ------------------------------------------------------------------------


def test_known_clients_follow_registered_archived_and_restored(db):
    client_id = register(db)
    other = register(db, "globex")
    with db.read() as conn:
        check_client(conn, "acme", client_id)
        with pytest.raises(ValidationFailed) as foreign:
            check_client(conn, "acme", other)
        with pytest.raises(ValidationFailed) as unknown:
            check_client(conn, "acme", str(uuid.uuid4()))
    assert foreign.value.errors == unknown.value.errors == {"client_id": ["no such client"]}

    apply(db, contacts_event("ClientArchived", {"client_id": client_id, "merged_into": None,
                                                "merge_id": None}))
    with db.read() as conn, pytest.raises(ValidationFailed) as archived:
        check_client(conn, "acme", client_id)
    assert archived.value.errors == {"client_id": ["the client is archived"]}

    apply(db, contacts_event("ClientRestored", {"client_id": client_id, "merge_id": None}))
    with db.read() as conn:
        check_client(conn, "acme", client_id)


def test_a_client_archived_by_a_merge_names_the_survivor(db):
    client_id, survivor = register(db), register(db)
    apply(db, contacts_event("ClientArchived", {"client_id": client_id, "merged_into": survivor,
                                                "merge_id": "m1"}))
    with db.read() as conn, pytest.raises(ValidationFailed) as refused:
        check_client(conn, "acme", client_id)
    assert survivor in refused.value.errors["client_id"][0]


# -- merges -----------------------------------------------------------------------------------


def test_a_merge_re_points_the_duplicates_projects_and_its_unmerge_moves_them_back(db):
    survivor, dup_a, dup_b, other = register(db), register(db), register(db), register(db)
    p1 = create_project(db, "One", dup_a)
    p2 = create_project(db, "Two", dup_b, status="archived")
    p3 = create_project(db, "Three", survivor)
    p4 = create_project(db, "Four", other)
    p5 = create_project(db, "Five", dup_a, workspace="globex")  # another workspace's
    store = EventStore(db)
    head = store.head_position()

    merge_id = str(uuid.uuid4())
    apply(db, contacts_event("ClientsMerged", {"survivor_id": survivor,
                                               "merged_ids": [dup_a, dup_b],
                                               "merge_id": merge_id, "fields": {}}))
    moved = store.read_all(head)
    assert sorted((e.stream_id, e.type, e.data["previous_client_id"], e.data["via"],
                   e.data["reason"], e.data["merge_id"]) for e in moved) == sorted(
        [(p1, "ClientAssigned", dup_a, "bulk", "merge", merge_id),
         (p2, "ClientAssigned", dup_b, "bulk", "merge", merge_id)])
    assert all(e.data["client_id"] == survivor and e.actor == "token:abc"
               and e.correlation_id == "corr-1" for e in moved)
    assert current(db, p1).client_id == current(db, p2).client_id == survivor
    assert row(db, p1)["client_id"] == survivor and row(db, p1)["version"] == 3
    assert current(db, p3).client_id == survivor and current(db, p4).client_id == other
    assert current(db, p5).client_id == dup_a

    # A user moves one of them elsewhere after the merge: the unmerge leaves it there.
    project = current(db, p1)
    project.assign_client(other, "settings")
    save(db, [project])
    head = store.head_position()
    apply(db, contacts_event("ClientsUnmerged", {"survivor_id": survivor,
                                                 "merged_ids": [dup_a, dup_b],
                                                 "merge_id": merge_id}))
    back = store.read_all(head)
    assert [(e.stream_id, e.data) for e in back] == [
        (p2, {"project_id": p2, "client_id": dup_b, "previous_client_id": survivor,
              "via": "bulk", "reason": "unmerge", "merge_id": merge_id})]
    assert row(db, p2)["client_id"] == dup_b and row(db, p1)["client_id"] == other
    assert current(db, p3).client_id == survivor

    # An unmerge seen again moves nothing more.
    head = store.head_position()
    apply(db, contacts_event("ClientsUnmerged", {"survivor_id": survivor,
                                                 "merged_ids": [dup_a, dup_b],
                                                 "merge_id": merge_id}))
    assert store.read_all(head) == []


def test_a_merge_without_projects_to_move_appends_nothing(db):
    survivor, dup = register(db), register(db)
    create_project(db, "Mine", survivor)
    head = EventStore(db).head_position()
    apply(db, contacts_event("ClientsMerged", {"survivor_id": survivor, "merged_ids": [dup],
                                               "merge_id": str(uuid.uuid4()), "fields": {}}))
    assert EventStore(db).head_position() == head


# -- query tables -----------------------------------------------------------------------------


def test_time_entries_tasks_and_client_totals(db):
    client_id = register(db)
    project_id = create_project(db, "Hours", client_id)
    project = current(db, project_id)
    entries = [str(uuid.uuid4()) for _ in range(3)]
    project.log_time(entries[0], "2026-03-01", Decimal("2.5"))
    project.log_time(entries[1], "2026-03-03", Decimal("1.25"), "review")
    project.log_time(entries[2], "2026-03-02", Decimal("4"))
    tasks = [str(uuid.uuid4()) for _ in range(3)]
    for index, task_id in enumerate(tasks):
        project.add_task(task_id, f"Task {index}", "2026-04-01")
    project.update_task(tasks[1], {"status": "done"})
    save(db, [project])
    other = create_project(db, "More", client_id)
    more = current(db, other)
    more.log_time(str(uuid.uuid4()), "2026-03-05", Decimal("0.5"))
    save(db, [more])

    with db.read() as conn:
        record = queries.get_project(conn, "acme", project_id)
        assert record["total_hours"] == 7.75 and record["open_tasks"] == 2
        assert record["version"] == 9
        page = queries.list_time_entries(conn, "acme", project_id, limit=2)
        assert [e["id"] for e in page["items"]] == [entries[1], entries[2]]
        assert page["items"][0]["hours"] == 1.25 and page["items"][0]["client_id"] == client_id
        rest = queries.list_time_entries(conn, "acme", project_id, 2, page["next_cursor"])
        assert [e["id"] for e in rest["items"]] == [entries[0]] and rest["next_cursor"] is None
        assert [t["id"] for t in queries.list_tasks(conn, "acme", project_id)["items"]] == tasks
        assert [t["id"] for t in queries.list_tasks(conn, "acme", project_id, "done")["items"]] \
            == [tasks[1]]
        assert queries.get_task(conn, "acme", project_id, tasks[1])["version"] == 2
        assert queries.client_totals(conn, "acme", client_id) == {
            "client_id": client_id, "projects": 2, "total_hours": 8.25, "open_tasks": 2}
        assert queries.client_totals(conn, "globex", client_id)["projects"] == 0
        assert queries.get_time_entry(conn, "globex", project_id, entries[0]) is None


def test_list_filters_text_search_and_cursor(db):
    client_id = register(db)
    ids = [create_project(db, name, client_id if index % 2 else None, code=code)
           for index, (name, code) in enumerate([
               ("São Paulo rollout", "SP-1"), ("Fundació Disseny", None),
               ("Website", "WEB_2026"), ("Müller GmbH audit", "MU-9"), ("100% effort", None)])]
    create_project(db, "São Paulo elsewhere", workspace="globex")

    def names(**kwargs):
        with db.read() as conn:
            return [p["name"] for p in queries.list_projects(conn, "acme", **kwargs)["items"]]

    assert names(q="sao") == ["São Paulo rollout"]
    assert names(q="FUNDACIO") == ["Fundació Disseny"]
    assert names(q="muller") == ["Müller GmbH audit"]
    assert names(q="web_") == ["Website"] and names(q="b_2") == ["Website"]
    assert names(q="%") == ["100% effort"]
    assert names(q="rollout sp") == []  # never across the name and the code
    assert names(client_id=client_id) == ["Müller GmbH audit", "Fundació Disseny"]
    assert names(client_id=queries.UNASSIGNED) == ["100% effort", "Website",
                                                   "São Paulo rollout"]
    assert names(status="archived") == []

    with db.read() as conn:
        seen, cursor = [], None
        while True:
            page = queries.list_projects(conn, "acme", limit=2, cursor=cursor)
            seen += [p["id"] for p in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == list(reversed(ids))
        for bad in ("nope", "W10=", queries.encode_cursor([1, 2])):
            with pytest.raises(BadRequest):
                queries.list_projects(conn, "acme", cursor=bad)
        for limit in (0, 501, "x"):
            with pytest.raises(BadRequest):
                queries.list_projects(conn, "acme", limit=limit)
