"""Projects, time entries and tasks through the gateway: every endpoint, its headers and
its error codes (assignment itself is in test_projects_assignment)."""
import uuid

import requests

from gateway.consistency import secret_from_config
from services.common.consistency import open_token
from tests.integration.test_projects_assignment import (PROBLEM, create_client,
                                                        create_project, projects_events)


def url(stack, path):
    return f"{stack.url}/api/v1{path}"


def test_create_read_edit_and_archive_a_project(stack):
    session = stack.session(role="member")
    created = session.post(url(stack, "/projects"), json={
        "name": "Relaunch", "code": "RL-26", "start_date": "2026-01-05",
        "end_date": "2026-06-30", "budget_hours": "120.5"}, timeout=10)
    assert created.status_code == 201, created.text
    project = created.json()
    assert project == {
        "id": project["id"], "version": 1, "name": "Relaunch", "code": "RL-26",
        "client_id": None, "status": "active", "start_date": "2026-01-05",
        "end_date": "2026-06-30", "budget_hours": 120.5, "total_hours": 0, "open_tasks": 0,
        "created_at": project["created_at"], "updated_at": project["updated_at"]}
    uuid.UUID(project["id"])
    token = created.headers["Consistency-Token"]
    # Sealed for the workspace: it opens to exactly this write's position.
    assert open_token(token, "acme", secret_from_config(stack.config("gateway"))) == \
        {"projects": projects_events(stack)[-1]["position"]}

    read = session.get(url(stack, f"/projects/{project['id']}"),
                       headers={"Consistency-Token": token}, timeout=10)
    assert read.status_code == 200 and read.json() == project and read.headers["ETag"] == '"1"'

    # Partial update with If-Match; a stale one is refused with 412.
    edited = session.patch(url(stack, f"/projects/{project['id']}"),
                           json={"name": "Relaunch 2026", "end_date": None},
                           headers={"If-Match": '"1"'}, timeout=10)
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Relaunch 2026" and edited.json()["end_date"] is None
    assert edited.headers["ETag"] == '"2"' and edited.json()["code"] == "RL-26"
    assert projects_events(stack)[-1]["data"] == {
        "project_id": project["id"], "changes": {"name": "Relaunch 2026", "end_date": None}}
    stale = session.patch(url(stack, f"/projects/{project['id']}"), json={"code": "X"},
                          headers={"If-Match": '"1"'}, timeout=10)
    assert stale.status_code == 412 and stale.headers["Content-Type"] == PROBLEM
    assert isinstance(stale.json()["version"], int)
    weak = session.patch(url(stack, f"/projects/{project['id']}"), json={"code": "RL-27"},
                         headers={"If-Match": 'W/"2"'}, timeout=10)
    assert weak.status_code == 200 and weak.headers["ETag"] == '"3"'
    malformed = session.patch(url(stack, f"/projects/{project['id']}"), json={"code": "X"},
                              headers={"If-Match": "yesterday"}, timeout=10)
    assert malformed.status_code == 400
    unchanged = session.patch(url(stack, f"/projects/{project['id']}"), json={"code": "RL-27"},
                              timeout=10)
    assert unchanged.status_code == 200 and unchanged.headers["ETag"] == '"3"'

    # Complete, archive (read-only: 409), restore.
    for status in ("completed", "archived"):
        answer = session.patch(url(stack, f"/projects/{project['id']}"),
                               json={"status": status}, timeout=10)
        assert answer.status_code == 200 and answer.json()["status"] == status
    for path, body in ((f"/projects/{project['id']}", {"name": "Renamed"}),
                       (f"/projects/{project['id']}/time-entries",
                        {"date": "2026-02-01", "hours": 1}),
                       (f"/projects/{project['id']}/tasks", {"title": "Late task"})):
        method = session.patch if path.endswith(project["id"]) else session.post
        refused = method(url(stack, path), json=body, timeout=10)
        assert refused.status_code == 409 and refused.headers["Content-Type"] == PROBLEM, path
    restored = session.patch(url(stack, f"/projects/{project['id']}"),
                             json={"status": "active", "name": "Relaunch again"}, timeout=10)
    assert restored.status_code == 200 and restored.json()["name"] == "Relaunch again"


def test_project_input_errors_and_not_found(stack):
    session = stack.session()
    invalid = session.post(url(stack, "/projects"), json={
        "code": "x" * 80, "status": "paused", "start_date": "2026-05-01",
        "budget_hours": -1, "colour": "red", "client_id": "not-an-id"}, timeout=10)
    assert invalid.status_code == 422 and invalid.headers["Content-Type"] == PROBLEM
    assert set(invalid.json()["errors"]) == {"name", "code", "status", "budget_hours", "colour",
                                             "client_id"}
    order = session.post(url(stack, "/projects"), json={
        "name": "X", "start_date": "2026-05-01", "end_date": "2026-04-30"}, timeout=10)
    assert order.status_code == 422 and list(order.json()["errors"]) == ["end_date"]
    malformed = session.post(url(stack, "/projects"), data=b"{nope",
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert malformed.status_code == 400
    assert session.post(url(stack, "/projects"), json=["x"], timeout=10).status_code == 400

    project = create_project(stack, session, name="Mine")
    ends_before = session.patch(url(stack, f"/projects/{project['id']}"),
                                json={"start_date": "2026-05-01", "end_date": "2026-01-01"},
                                timeout=10)
    assert ends_before.status_code == 422
    read_only = session.patch(url(stack, f"/projects/{project['id']}"),
                              json={"id": str(uuid.uuid4()), "total_hours": 3}, timeout=10)
    assert read_only.status_code == 422 and set(read_only.json()["errors"]) == {
        "id", "total_hours"}

    other = stack.session("globex")
    for path in (f"/projects/{project['id']}", f"/projects/{uuid.uuid4()}",
                 "/projects/not-a-uuid", f"/projects/{project['id']}/time-entries",
                 f"/projects/{project['id']}/tasks"):
        answer = other.get(url(stack, path), timeout=10)
        assert answer.status_code == 404 and answer.headers["Content-Type"] == PROBLEM, path
    foreign_patch = other.patch(url(stack, f"/projects/{project['id']}"), json={"name": "Mine!"},
                                timeout=10)
    unknown_patch = other.patch(url(stack, f"/projects/{uuid.uuid4()}"), json={"name": "Mine!"},
                                timeout=10)
    assert foreign_patch.status_code == unknown_patch.status_code == 404
    assert foreign_patch.json()["detail"] == unknown_patch.json()["detail"]
    foreign_time = other.post(url(stack, f"/projects/{project['id']}/time-entries"),
                              json={"date": "2026-01-01", "hours": 1}, timeout=10)
    assert foreign_time.status_code == 404
    assert session.get(url(stack, f"/projects/{project['id']}"), timeout=10).json()["name"] \
        == "Mine"


def test_roles_and_authentication(stack):
    member = stack.session(role="member")
    project = create_project(stack, member, name="Roles")
    viewer = stack.session(role="viewer")
    assert viewer.get(url(stack, f"/projects/{project['id']}"), timeout=10).status_code == 200
    assert viewer.get(url(stack, "/projects"), timeout=10).status_code == 200
    for method, path, body in (
            ("post", "/projects", {"name": "No"}),
            ("patch", f"/projects/{project['id']}", {"name": "No"}),
            ("post", f"/projects/{project['id']}/time-entries", {"date": "2026-01-01",
                                                                  "hours": 1}),
            ("post", f"/projects/{project['id']}/tasks", {"title": "No"})):
        denied = getattr(viewer, method)(url(stack, path), json=body, timeout=10)
        assert denied.status_code == 403 and denied.headers["Content-Type"] == PROBLEM, path
        anonymous = getattr(requests, method)(url(stack, path), json=body, timeout=10)
        assert anonymous.status_code == 401, path
    assert [e["type"] for e in projects_events(stack)] == ["ProjectCreated"]


def test_list_filters_search_and_pages(stack):
    session = stack.session()
    client_id, token = create_client(stack, session, "São Paulo Seguros")
    hint = {"Consistency-Token": token}
    names = ["São Paulo rollout", "Fundació Disseny", "Website", "Müller audit", "Claims app"]
    ids = []
    for index, name in enumerate(names):
        body = {"name": name, "code": f"C-{index}"}
        if index % 2:
            body["client_id"] = client_id
        if index == 4:
            body["status"] = "completed"
        ids.append(create_project(stack, session, headers=hint, **body)["id"])
    create_project(stack, stack.session("globex"), name="São Paulo (globex)")

    def listed(**params):
        answer = session.get(url(stack, "/projects"), params=params, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    everything = listed()
    assert [p["id"] for p in everything["items"]] == list(reversed(ids))  # newest first
    assert everything["next_cursor"] is None
    assert [p["name"] for p in listed(q="SAO PAULO")["items"]] == ["São Paulo rollout"]
    assert [p["name"] for p in listed(q="fundacio")["items"]] == ["Fundació Disseny"]
    assert [p["name"] for p in listed(q="c-2")["items"]] == ["Website"]
    assert [p["name"] for p in listed(client_id=client_id)["items"]] == [
        "Müller audit", "Fundació Disseny"]
    assert [p["name"] for p in listed(client_id="none", status="active")["items"]] == [
        "Website", "São Paulo rollout"]
    assert [p["name"] for p in listed(status="completed")["items"]] == ["Claims app"]
    assert listed(client_id=str(uuid.uuid4()))["items"] == []

    seen, cursor = [], None
    while True:
        page = listed(limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))

    for params in ({"limit": 0}, {"limit": 501}, {"limit": "ten"}, {"limit": "²"},
                   {"cursor": "garbage"}, {"status": "paused"}, {"client_id": "not-an-id"}):
        answer = session.get(url(stack, "/projects"), params=params, timeout=10)
        assert answer.status_code == 400 and answer.headers["Content-Type"] == PROBLEM, params


def test_time_entries_and_the_hours_of_project_and_client(stack):
    session = stack.session()
    client_id, token = create_client(stack, session)
    project = create_project(stack, session, name="Hours", client_id=client_id,
                             headers={"Consistency-Token": token})
    other = create_project(stack, session, name="More hours", client_id=client_id)
    path = f"/projects/{project['id']}/time-entries"

    logged = session.post(url(stack, path), json={"date": "2026-03-02", "hours": 7.5,
                                                  "description": "Workshop"}, timeout=10)
    assert logged.status_code == 201, logged.text
    entry = logged.json()
    assert entry == {"id": entry["id"], "project_id": project["id"], "version": 1,
                     "date": "2026-03-02", "hours": 7.5, "description": "Workshop",
                     "client_id": client_id, "logged_at": entry["logged_at"]}
    assert logged.headers["Location"] == f"/api/v1{path}/{entry['id']}"
    assert logged.headers["Consistency-Token"].startswith("projects:")
    session.post(url(stack, path), json={"date": "2026-03-03", "hours": "0.25"}, timeout=10)
    session.post(url(stack, f"/projects/{other['id']}/time-entries"),
                 json={"date": "2026-03-01", "hours": "8"}, timeout=10)
    assert [e["data"] for e in projects_events(stack, "TimeLogged")][0] == {
        "project_id": project["id"], "entry_id": entry["id"], "client_id": client_id,
        "date": "2026-03-02", "hours": "7.5", "description": "Workshop"}

    read = session.get(url(stack, f"/projects/{project['id']}"), timeout=10).json()
    assert read["total_hours"] == 7.75 and read["version"] == 4
    listed = session.get(url(stack, path), timeout=10).json()
    assert [e["date"] for e in listed["items"]] == ["2026-03-03", "2026-03-02"]
    one = session.get(url(stack, f"{path}/{entry['id']}"), timeout=10)
    assert one.status_code == 200 and one.json() == entry and one.headers["ETag"] == '"1"'
    assert session.get(url(stack, f"{path}/{uuid.uuid4()}"), timeout=10).status_code == 404
    paged = session.get(url(stack, path), params={"limit": 1}, timeout=10).json()
    assert len(paged["items"]) == 1 and paged["next_cursor"]

    totals = session.get(url(stack, "/projects/totals"), params={"client_id": client_id},
                         timeout=10).json()
    assert totals == {"client_id": client_id, "projects": 2, "total_hours": 15.75,
                      "open_tasks": 0}
    assert session.get(url(stack, "/projects/totals"), timeout=10).status_code == 400

    for body, field in (({"date": "2026-03-02", "hours": 0}, "hours"),
                        ({"date": "2026-03-02", "hours": 24.5}, "hours"),
                        ({"date": "2026-03-02", "hours": "1.234"}, "hours"),
                        ({"date": "02/03/2026", "hours": 1}, "date"),
                        ({"hours": 1}, "date")):
        refused = session.post(url(stack, path), json=body, timeout=10)
        assert refused.status_code == 422 and field in refused.json()["errors"], body
    missing = session.post(url(stack, f"/projects/{uuid.uuid4()}/time-entries"),
                           json={"date": "2026-03-02", "hours": 1}, timeout=10)
    assert missing.status_code == 404
    assert len(projects_events(stack, "TimeLogged")) == 3


def test_tasks_are_added_completed_and_rescheduled(stack):
    session = stack.session()
    project = create_project(stack, session, name="Tasks")
    path = f"/projects/{project['id']}/tasks"
    added = session.post(url(stack, path), json={"title": "Wireframes",
                                                 "due_date": "2026-03-10"}, timeout=10)
    assert added.status_code == 201, added.text
    task = added.json()
    assert task == {"id": task["id"], "project_id": project["id"], "version": 1,
                    "title": "Wireframes", "due_date": "2026-03-10", "status": "open",
                    "created_at": task["created_at"], "updated_at": task["updated_at"]}
    assert added.headers["Location"] == f"/api/v1{path}/{task['id']}"
    assert added.headers["ETag"] == '"1"'
    second = session.post(url(stack, path), json={"title": "Copy"}, timeout=10).json()
    assert second["due_date"] is None
    assert session.get(url(stack, f"/projects/{project['id']}"), timeout=10).json()[
        "open_tasks"] == 2

    done = session.patch(url(stack, f"{path}/{task['id']}"), json={"status": "done"},
                         headers={"If-Match": '"1"'}, timeout=10)
    assert done.status_code == 200 and done.json()["status"] == "done"
    assert done.headers["ETag"] == '"2"'
    stale = session.patch(url(stack, f"{path}/{task['id']}"), json={"status": "open"},
                          headers={"If-Match": '"1"'}, timeout=10)
    assert stale.status_code == 412
    moved = session.patch(url(stack, f"{path}/{task['id']}"),
                          json={"status": "open", "due_date": "2026-04-01",
                                "title": "Wireframes v2"}, timeout=10)
    assert moved.status_code == 200 and moved.json()["due_date"] == "2026-04-01"
    assert [e["data"] for e in projects_events(stack, "TaskUpdated")] == [
        {"project_id": project["id"], "task_id": task["id"], "title": "Wireframes",
         "due_date": "2026-03-10", "status": "done"},
        {"project_id": project["id"], "task_id": task["id"], "title": "Wireframes v2",
         "due_date": "2026-04-01", "status": "open"}]
    assert projects_events(stack, "TaskAdded")[0]["data"] == {
        "project_id": project["id"], "task_id": task["id"], "title": "Wireframes",
        "due_date": "2026-03-10", "status": "open"}

    session.patch(url(stack, f"{path}/{second['id']}"), json={"status": "done"}, timeout=10)
    listed = session.get(url(stack, path), timeout=10).json()
    assert [t["id"] for t in listed["items"]] == [task["id"], second["id"]]
    open_only = session.get(url(stack, path), params={"status": "open"}, timeout=10).json()
    assert [t["id"] for t in open_only["items"]] == [task["id"]]
    assert session.get(url(stack, path), params={"status": "late"},
                       timeout=10).status_code == 400
    one = session.get(url(stack, f"{path}/{task['id']}"), timeout=10)
    assert one.status_code == 200 and one.json()["title"] == "Wireframes v2"
    assert session.get(url(stack, f"/projects/{project['id']}"), timeout=10).json()[
        "open_tasks"] == 1

    for body, field in (({"title": ""}, "title"), ({"title": "T", "due_date": "soon"},
                                                   "due_date"), ({}, "title")):
        refused = session.post(url(stack, path), json=body, timeout=10)
        assert refused.status_code == 422 and field in refused.json()["errors"], body
    bad_status = session.patch(url(stack, f"{path}/{task['id']}"), json={"status": "closed"},
                               timeout=10)
    assert bad_status.status_code == 422
    for task_path in (f"{path}/{uuid.uuid4()}", f"{path}/nope"):
        assert session.patch(url(stack, task_path), json={"status": "done"},
                             timeout=10).status_code == 404
        assert session.get(url(stack, task_path), timeout=10).status_code == 404


def test_idempotent_create_and_the_openapi_document(stack):
    session = stack.session()
    headers = {"Idempotency-Key": "project-relaunch-1"}
    first = session.post(url(stack, "/projects"), json={"name": "Relaunch"}, headers=headers,
                         timeout=10)
    again = session.post(url(stack, "/projects"), json={"name": "Relaunch"}, headers=headers,
                         timeout=10)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert [e["type"] for e in projects_events(stack)] == ["ProjectCreated"]

    document = requests.get(url(stack, "/openapi.json"), timeout=10).json()
    for path in ("/api/v1/projects", "/api/v1/projects/{project_id}",
                 "/api/v1/projects/assign-client", "/api/v1/projects/{project_id}/time-entries",
                 "/api/v1/projects/{project_id}/tasks/{task_id}"):
        assert path in document["paths"], path
    assert {"Project", "NewProject", "BulkAssignResult"} <= set(document["components"]["schemas"])
