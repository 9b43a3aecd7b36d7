"""The Project aggregate: every command, transition and refusal, without I/O."""
from decimal import Decimal
from types import SimpleNamespace

import pytest

from services.common.errors import Conflict, NotFound, ValidationFailed
from services.projects import domain
from services.projects.domain import Project

PID = "11111111-1111-4111-8111-111111111111"
CLIENT_A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
CLIENT_B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
TASK = "22222222-2222-4222-8222-222222222222"
ENTRY = "33333333-3333-4333-8333-333333333333"
NOW = "2026-11-23T10:00:00.000000Z"


def new_project(**fields):
    project = Project(PID)
    project.create("acme", {"name": "Website", **fields}, NOW)
    return project


def stored(project):
    """The project as loaded again from its (simulated) stored events."""
    events = [SimpleNamespace(type=e.type, data=e.data, stream_version=i + 1, workspace="acme")
              for i, e in enumerate(project.pending)]
    return Project.rehydrate(project.id, events)


def types(project):
    return [event.type for event in project.pending]


def last(project):
    return project.pending[-1].data


# -- creating -----------------------------------------------------------------------------


def test_create_without_client_records_project_created_only():
    project = new_project(code="WEB-1", start_date="2026-01-01", end_date="2026-06-30",
                          budget_hours=Decimal("120.50"))
    assert types(project) == ["ProjectCreated"]
    assert last(project) == {
        "project_id": PID, "name": "Website", "code": "WEB-1", "client_id": None,
        "status": "active", "start_date": "2026-01-01", "end_date": "2026-06-30",
        "budget_hours": "120.5", "created_at": NOW,
    }
    assert project.next_version == 1 and project.workspace == "acme"


def test_create_with_client_assigns_it_via_create():
    project = new_project(client_id=CLIENT_A)
    assert types(project) == ["ProjectCreated", "ClientAssigned"]
    assert project.pending[0].data["client_id"] == CLIENT_A
    assert last(project) == {"project_id": PID, "client_id": CLIENT_A,
                             "previous_client_id": None, "via": "create"}
    assert stored(project).client_id == CLIENT_A


def test_create_refuses_twice_a_blank_name_a_bad_status_and_dates_out_of_order():
    with pytest.raises(Conflict):
        stored(new_project()).create("acme", {"name": "Again"}, NOW)
    with pytest.raises(ValidationFailed) as blank:
        Project(PID).create("acme", {"name": "  "}, NOW)
    assert "name" in blank.value.errors
    with pytest.raises(ValidationFailed) as status:
        Project(PID).create("acme", {"name": "X", "status": "paused"}, NOW)
    assert "status" in status.value.errors
    with pytest.raises(ValidationFailed) as dates:
        Project(PID).create("acme", {"name": "X", "start_date": "2026-02-01",
                                     "end_date": "2026-01-31"}, NOW)
    assert "end_date" in dates.value.errors
    with pytest.raises(ValidationFailed):
        Project(PID).create("acme", {"name": "X", "budget_hours": "-1"}, NOW)


def test_created_with_a_status_other_than_active():
    assert stored(new_project(status="completed")).status == "completed"


# -- loading and workspaces ---------------------------------------------------------------


def test_rehydrate_rebuilds_the_same_state_and_version():
    project = new_project(client_id=CLIENT_A)
    project.log_time(ENTRY, "2026-03-01", Decimal("7.25"), "design")
    project.add_task(TASK, "Wireframes", "2026-03-10")
    again = stored(project)
    assert again.version == 4 and again.client_id == CLIENT_A
    assert again.total_hours == Decimal("7.25")
    assert again.tasks[TASK] == {"title": "Wireframes", "due_date": "2026-03-10",
                                 "status": "open", "version": 1}
    assert again.open_tasks == 1


def test_ensure_in_hides_unknown_and_other_workspace_projects_alike():
    project = stored(new_project())
    project.ensure_in("acme")
    with pytest.raises(NotFound) as other:
        project.ensure_in("globex")
    with pytest.raises(NotFound) as unknown:
        Project(PID).ensure_in("acme")
    assert str(other.value) == str(unknown.value)


# -- editing --------------------------------------------------------------------------------


def test_update_records_only_what_changed():
    project = stored(new_project(code="W"))
    assert project.update({"name": "Website 2", "code": "W"}) is True
    assert last(project) == {"project_id": PID, "changes": {"name": "Website 2"}}
    assert project.update({"name": "Website 2"}) is False  # same value: nothing recorded
    assert types(project) == ["ProjectUpdated"]


def test_update_normalises_dates_and_budget():
    project = stored(new_project())
    project.update({"start_date": "2026-01-05", "budget_hours": "40.00"})
    assert last(project)["changes"] == {"start_date": "2026-01-05", "budget_hours": "40"}
    assert project.update({"budget_hours": Decimal("40")}) is False


def test_update_refuses_unknown_fields_blank_name_bad_status_and_dates_out_of_order():
    project = stored(new_project(start_date="2026-03-01"))
    with pytest.raises(ValidationFailed) as unknown:
        project.update({"client_id": CLIENT_A})
    assert "client_id" in unknown.value.errors
    with pytest.raises(ValidationFailed):
        project.update({"name": ""})
    with pytest.raises(ValidationFailed):
        project.update({"status": "deleted"})
    with pytest.raises(ValidationFailed) as dates:
        project.update({"end_date": "2026-02-28"})  # before the stored start date
    assert "end_date" in dates.value.errors
    with pytest.raises(ValidationFailed):
        project.update({"start_date": "31/12/2026"})
    assert project.pending == []


@pytest.mark.parametrize("start, target", [
    ("active", "completed"), ("active", "archived"), ("completed", "active"),
    ("completed", "archived"), ("archived", "active"), ("archived", "completed"),
])
def test_every_status_transition_is_allowed(start, target):
    project = stored(new_project(status=start))
    assert project.update({"status": target}) is True
    assert last(project)["changes"] == {"status": target}
    assert project.status == target


def test_an_archived_project_is_read_only_except_for_its_status():
    project = new_project(client_id=CLIENT_A)
    project.add_task(TASK, "T")
    project.update({"status": "archived"})
    project = stored(project)
    for attempt in (
        lambda: project.update({"name": "Renamed"}),
        lambda: project.assign_client(CLIENT_B, "settings"),
        lambda: project.assign_client(CLIENT_B, "bulk"),
        lambda: project.unassign_client(),
        lambda: project.log_time(ENTRY, "2026-01-01", Decimal("1")),
        lambda: project.add_task(TASK + "x", "New"),
        lambda: project.update_task(TASK, {"status": "done"}),
    ):
        with pytest.raises(Conflict):
            attempt()
    assert project.pending == []
    # Restoring it and editing in the same change is allowed.
    assert project.update({"status": "active", "name": "Renamed"}) is True
    assert last(project)["changes"] == {"status": "active", "name": "Renamed"}


def test_a_completed_project_still_takes_time_and_tasks():
    project = stored(new_project(status="completed"))
    assert project.log_time(ENTRY, "2026-01-01", Decimal("2"))
    assert project.add_task(TASK, "Invoice it")


# -- the client ------------------------------------------------------------------------------


def test_assign_from_settings_then_change_then_clear():
    project = stored(new_project())
    assert project.assign_client(CLIENT_A, "settings") is True
    assert last(project) == {"project_id": PID, "client_id": CLIENT_A,
                             "previous_client_id": None, "via": "settings"}
    assert project.assign_client(CLIENT_B, "settings") is True
    assert last(project)["previous_client_id"] == CLIENT_A
    assert project.unassign_client() is True
    assert last(project) == {"project_id": PID, "previous_client_id": CLIENT_B,
                             "via": "settings"}
    assert types(project) == ["ClientAssigned", "ClientAssigned", "ClientUnassigned"]
    assert project.client_id is None


def test_assigning_the_same_client_or_clearing_none_records_nothing():
    project = stored(new_project(client_id=CLIENT_A))
    assert project.assign_client(CLIENT_A, "bulk") is False
    assert project.assign_client(CLIENT_A, "settings") is False
    cleared = stored(new_project())
    assert cleared.unassign_client() is False
    assert project.pending == [] and cleared.pending == []


def test_bulk_assignment_records_via_bulk():
    project = stored(new_project(client_id=CLIENT_A))
    assert project.assign_client(CLIENT_B, "bulk") is True
    assert last(project) == {"project_id": PID, "client_id": CLIENT_B,
                             "previous_client_id": CLIENT_A, "via": "bulk"}


def test_assign_client_refuses_other_vias_and_no_client():
    project = stored(new_project())
    with pytest.raises(ValueError):
        project.assign_client(CLIENT_A, "merge")
    with pytest.raises(ValueError):
        project.assign_client(CLIENT_A, "create")
    with pytest.raises(ValidationFailed):
        project.assign_client(None, "settings")


def test_merges_re_point_even_archived_projects():
    project = stored(new_project(client_id=CLIENT_A, status="archived"))
    assert project.change_client(CLIENT_B, "merge", "m-1") is True
    # ``via`` stays among the contract's values; ``reason`` and ``merge_id`` tell why.
    assert last(project) == {"project_id": PID, "client_id": CLIENT_B,
                             "previous_client_id": CLIENT_A, "via": "bulk",
                             "reason": "merge", "merge_id": "m-1"}
    assert project.change_client(CLIENT_A, "unmerge", "m-1") is True
    assert last(project)["reason"] == "unmerge" and last(project)["via"] == "bulk"
    assert project.client_id == CLIENT_A
    assert project.change_client(CLIENT_A, "unmerge", "m-1") is False
    with pytest.raises(ValueError):
        project.change_client(CLIENT_B, "settings", "m-1")


# -- time ------------------------------------------------------------------------------------


def test_log_time_carries_the_current_client_and_normalised_hours():
    project = stored(new_project(client_id=CLIENT_A))
    assert project.log_time(ENTRY, "2026-03-02", Decimal("7.50"), "meeting") is True
    assert last(project) == {"project_id": PID, "entry_id": ENTRY, "client_id": CLIENT_A,
                             "date": "2026-03-02", "hours": "7.5", "description": "meeting"}
    project.log_time(ENTRY + "2", "2026-03-03", "0.25")
    assert project.total_hours == Decimal("7.75")


@pytest.mark.parametrize("hours", ["0", "-1", "24.01", "25", "1.234", "abc", None, True,
                                   "NaN", "Infinity"])
def test_log_time_refuses_hours_out_of_range(hours):
    project = stored(new_project())
    with pytest.raises(ValidationFailed) as refused:
        project.log_time(ENTRY, "2026-03-02", hours)
    assert "hours" in refused.value.errors and project.pending == []


def test_log_time_refuses_a_missing_or_bad_date_and_a_repeated_entry():
    project = stored(new_project())
    with pytest.raises(ValidationFailed) as missing:
        project.log_time(ENTRY, None, "1")
    assert "date" in missing.value.errors
    with pytest.raises(ValidationFailed):
        project.log_time(ENTRY, "2026-13-01", "1")
    project.log_time(ENTRY, "2026-03-02", "24")
    with pytest.raises(Conflict):
        project.log_time(ENTRY, "2026-03-02", "1")


def test_hours_helpers():
    assert domain.format_hours(Decimal("8.00")) == "8"
    assert domain.format_hours(Decimal("10")) == "10"
    assert domain.format_hours(Decimal("0.50")) == "0.5"
    assert domain.to_centihours("7.25") == 725
    assert domain.parse_hours(7.5) == Decimal("7.5")
    assert domain.parse_hours("1000", maximum=None) == Decimal("1000")


# -- tasks -----------------------------------------------------------------------------------


def test_add_complete_reopen_reschedule_and_rename_a_task():
    project = stored(new_project())
    assert project.add_task(TASK, "Wireframes", "2026-03-10") is True
    assert last(project) == {"project_id": PID, "task_id": TASK, "title": "Wireframes",
                             "due_date": "2026-03-10", "status": "open"}
    assert project.update_task(TASK, {"status": "done"}) is True
    assert last(project) == {"project_id": PID, "task_id": TASK, "title": "Wireframes",
                             "due_date": "2026-03-10", "status": "done"}
    assert project.open_tasks == 0
    assert project.update_task(TASK, {"status": "open", "due_date": "2026-04-01"}) is True
    assert last(project)["due_date"] == "2026-04-01" and last(project)["status"] == "open"
    assert project.update_task(TASK, {"title": "Mock-ups", "due_date": None}) is True
    assert last(project) == {"project_id": PID, "task_id": TASK, "title": "Mock-ups",
                             "due_date": None, "status": "open"}
    assert project.tasks[TASK]["version"] == 4
    assert types(project) == ["TaskAdded", "TaskUpdated", "TaskUpdated", "TaskUpdated"]


def test_a_task_without_due_date_and_an_unchanged_update():
    project = stored(new_project())
    project.add_task(TASK, "Kick-off")
    assert last(project)["due_date"] is None
    assert project.update_task(TASK, {"status": "open", "title": "Kick-off"}) is False
    assert types(project) == ["TaskAdded"]


def test_task_refusals():
    project = stored(new_project())
    with pytest.raises(ValidationFailed):
        project.add_task(TASK, " ")
    with pytest.raises(ValidationFailed):
        project.add_task(TASK, "T", "tomorrow")
    project.add_task(TASK, "T")
    with pytest.raises(Conflict):
        project.add_task(TASK, "Again")
    with pytest.raises(NotFound):
        project.update_task(TASK + "x", {"status": "done"})
    with pytest.raises(ValidationFailed):
        project.update_task(TASK, {"status": "cancelled"})
    with pytest.raises(ValidationFailed):
        project.update_task(TASK, {"title": ""})
    with pytest.raises(ValidationFailed):
        project.update_task(TASK, {"priority": "high"})
    assert types(project) == ["TaskAdded"]
