"""The projects service's input schemas: what loads, what is refused and how it is reported."""
from decimal import Decimal

import pytest

from services.common.errors import ValidationFailed
from services.projects import schemas

CLIENT = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"


def errors_of(load, data):
    with pytest.raises(ValidationFailed) as refused:
        load(data)
    return refused.value.errors


def test_a_new_project_gets_its_defaults_and_normalised_values():
    values = schemas.load_new_project({"name": "  Web   site ", "code": "", "budget_hours": 120.5,
                                       "client_id": CLIENT.upper(), "start_date": "2026-01-01"})
    assert values == {"name": "Web site", "code": None, "client_id": CLIENT, "status": "active",
                      "start_date": "2026-01-01", "end_date": None,
                      "budget_hours": Decimal("120.5")}


def test_a_new_project_reports_every_invalid_field_by_path():
    errors = errors_of(schemas.load_new_project, {
        "code": "x" * 51, "client_id": "nope", "status": "paused", "start_date": "01/02/2026",
        "budget_hours": -3, "colour": "red", "id": "mine", "version": 3})
    assert errors["name"] == ["the name is required"]
    assert set(errors) == {"name", "code", "client_id", "status", "start_date", "budget_hours",
                           "colour", "id", "version"}
    assert errors["colour"] == ["this field is not recognised"]
    assert "set by the system" in errors["id"][0]


def test_end_date_before_start_date_is_refused():
    errors = errors_of(schemas.load_new_project,
                       {"name": "X", "start_date": "2026-02-01", "end_date": "2026-01-01"})
    assert errors == {"end_date": ["must not be before the start date"]}


def test_not_a_json_object():
    assert errors_of(schemas.load_new_project, ["name"]) == {"_schema": ["must be a JSON object"]}


def test_a_patch_keeps_only_what_was_sent_and_null_clears_the_client():
    assert schemas.load_project_patch({"client_id": None}) == {"client_id": None}
    assert schemas.load_project_patch({"status": "archived", "end_date": None}) == {
        "status": "archived", "end_date": None}
    assert schemas.load_project_patch({}) == {}
    errors = errors_of(schemas.load_project_patch, {"name": None, "status": None,
                                                    "total_hours": 3})
    assert set(errors) == {"name", "status", "total_hours"}


@pytest.mark.parametrize("hours, expected", [(7.5, Decimal("7.5")), ("0.25", Decimal("0.25")),
                                             (24, Decimal("24")), ("8.00", Decimal("8.00"))])
def test_time_entry_hours(hours, expected):
    values = schemas.load_time_entry({"date": "2026-03-02", "hours": hours})
    assert values == {"date": "2026-03-02", "hours": expected, "description": None}


@pytest.mark.parametrize("hours", [0, -1, 24.5, "1.005", "x", None, True, [], "1e400"])
def test_time_entry_hours_out_of_range(hours):
    errors = errors_of(schemas.load_time_entry, {"date": "2026-03-02", "hours": hours})
    assert list(errors) == ["hours"]


def test_time_entry_requires_date_and_hours_and_keeps_line_breaks():
    assert set(errors_of(schemas.load_time_entry, {})) == {"date", "hours"}
    values = schemas.load_time_entry({"date": "2026-03-02", "hours": 1,
                                      "description": " line one\nline two "})
    assert values["description"] == "line one\nline two"
    assert "description" in errors_of(schemas.load_time_entry, {
        "date": "2026-03-02", "hours": 1, "description": "x" * 2001})


def test_tasks():
    assert schemas.load_new_task({"title": "Plan"}) == {"title": "Plan", "due_date": None}
    assert set(errors_of(schemas.load_new_task, {"due_date": "soon"})) == {"title", "due_date"}
    assert schemas.load_task_patch({"status": "done", "due_date": None}) == {
        "status": "done", "due_date": None}
    assert set(errors_of(schemas.load_task_patch, {"status": "closed", "title": None})) == {
        "status", "title"}


def test_bulk_assign_body():
    values = schemas.load_bulk_assign({"client_id": CLIENT,
                                       "project_ids": ["a", "b", "A", "a", "not-a-uuid"]})
    assert values == {"client_id": CLIENT, "project_ids": ["a", "b", "not-a-uuid"]}
    assert set(errors_of(schemas.load_bulk_assign, {"client_id": None, "project_ids": []})) == {
        "client_id", "project_ids"}
    too_many = errors_of(schemas.load_bulk_assign,
                         {"client_id": CLIENT, "project_ids": [str(i) for i in range(1001)]})
    assert too_many == {"project_ids": ["from 1 to 1000 project ids"]}
    assert errors_of(schemas.load_bulk_assign, {"client_id": CLIENT, "project_ids": [1]}) == {
        "project_ids.0": ["must be an id (a UUID)"]}
    assert "project_ids" in errors_of(schemas.load_bulk_assign,
                                      {"client_id": CLIENT, "project_ids": "abc"})
