"""The overview fed by the real contacts, projects and billing services, over HTTP."""
import pytest

from tests.helpers import wait_until

AS_OF = "2026-11-20"


def call(session, stack, method, path, body=None, expect=(200, 201)):
    response = session.request(method, f"{stack.url}/api/v1{path}", json=body)
    assert response.status_code in expect, response.text
    return response.json(), response.headers.get("Consistency-Token")


def overview(session, stack, client_id, token=None):
    headers = {"Consistency-Token": token} if token else {}
    response = session.get(f"{stack.url}/api/v1/clients/{client_id}/overview",
                           params={"as_of": AS_OF}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def settle(session, stack, client_id, check):
    return wait_until(lambda: (lambda body: body if check(body) else None)(
        overview(session, stack, client_id)), timeout=20, message="the overview to settle")


@pytest.fixture
def acme(stack):
    session = stack.session()
    alan, _ = call(session, stack, "POST", "/clients", {"name": "Alan Insurance",
                                                        "country": "ES"})
    sps, _ = call(session, stack, "POST", "/clients", {"name": "São Paulo Seguros",
                                                       "country": "BR"})
    project, _ = call(session, stack, "POST", "/projects", {"name": "Web", "client_id":
                                                            alan["id"]})
    call(session, stack, "POST", f"/projects/{project['id']}/time-entries",
         {"date": "2026-11-02", "hours": "7.5", "description": "design"})
    call(session, stack, "POST", f"/projects/{project['id']}/tasks",
         {"title": "Review", "due_date": "2026-11-10"})
    invoice, _ = call(session, stack, "POST", "/invoices", {
        "client_id": alan["id"], "project_id": project["id"], "currency": "EUR",
        "issue_date": "2026-11-01", "due_date": "2026-11-15",
        "lines": [{"description": "Design", "quantity": "10", "unit_price": "100.00",
                   "tax_rate": "21"}]})
    _, token = call(session, stack, "POST", f"/invoices/{invoice['id']}/issue",
                    {"issue_date": "2026-11-01"})
    return session, alan["id"], sps["id"], project["id"], token


def test_reassignment_moves_hours_and_tasks_but_not_issued_invoices(stack, acme):
    session, alan, sps, project, token = acme
    before = overview(session, stack, alan, token)
    before = settle(session, stack, alan, lambda b: b["projects"]["total_hours"] == 7.5)
    assert before["tasks"]["overdue"] == 1
    assert before["invoices"]["overdue"] == {"count": 1, "amount": {"EUR": "1210.00"}}
    assert before["projects"]["items"][0]["invoiced"] == {"EUR": "1210.00"}

    _, token = call(session, stack, "PATCH", f"/projects/{project}", {"client_id": sps})
    alan_after = overview(session, stack, alan, token)
    sps_after = overview(session, stack, sps, token)
    assert alan_after["projects"] == {"count": 0, "total_hours": 0, "items": []}
    assert alan_after["tasks"]["open"] == 0
    assert alan_after["invoices"]["overdue"]["count"] == 1  # issued to Alan: stays
    assert sps_after["projects"]["count"] == 1 and sps_after["projects"]["total_hours"] == 7.5
    assert sps_after["tasks"]["overdue"] == 1
    assert sps_after["invoices"]["authorized"]["count"] == 0
    assert sps_after["projects"]["items"][0]["invoiced"] == {}
    # The drill-downs list what the figures count.
    listed = session.get(f"{stack.url}/api/v1/invoices", params={
        "client_id": alan, "status": "overdue", "as_of": AS_OF}).json()["items"]
    assert len(listed) == 1
    tasks = session.get(f"{stack.url}/api/v1/tasks", params={
        "client_id": sps, "due": "overdue", "as_of": AS_OF}).json()["items"]
    assert len(tasks) == 1


def test_merge_moves_everything_to_the_survivor_and_unmerge_moves_it_back(stack, acme):
    session, alan, sps, project, token = acme
    settle(session, stack, alan, lambda b: b["invoices"]["authorized"]["count"] == 1)
    merged, token = call(session, stack, "POST", f"/clients/{sps}/merge",
                         {"duplicate_ids": [alan], "fields": {}, "dry_run": False})
    survivor = settle(session, stack, sps, lambda b: b["projects"]["count"] == 1
                      and b["invoices"]["authorized"]["count"] == 1)
    assert survivor["projects"]["total_hours"] == 7.5
    assert survivor["invoices"]["overdue"]["amount"] == {"EUR": "1210.00"}
    duplicate = overview(session, stack, alan)
    assert duplicate["client"]["archived"] is True  # archived clients still answer
    assert duplicate["projects"]["count"] == 0 and duplicate["invoices"]["authorized"]["count"] == 0

    call(session, stack, "POST", f"/clients/{sps}/unmerge", {"merge_id": merged["merge_id"]})
    restored = settle(session, stack, alan, lambda b: b["projects"]["count"] == 1
                      and b["invoices"]["authorized"]["count"] == 1
                      and not b["client"]["archived"])
    assert restored["projects"]["total_hours"] == 7.5
    emptied = settle(session, stack, sps, lambda b: b["projects"]["count"] == 0
                     and b["invoices"]["authorized"]["count"] == 0)
    assert emptied["tasks"]["open"] == 0


def test_the_client_list_can_carry_each_clients_figures(stack, acme):
    session, alan, sps, project, token = acme
    settle(session, stack, alan, lambda b: b["invoices"]["overdue"]["count"] == 1)
    listed = session.get(f"{stack.url}/api/v1/clients", params={
        "figures": "true", "as_of": AS_OF, "sort": "name"})
    assert listed.status_code == 200, listed.text
    figures = {item["name"]: item["figures"] for item in listed.json()["items"]}
    assert figures["Alan Insurance"] == {
        "projects": 1, "outstanding": {"count": 1, "amount": {"EUR": "1210.00"}},
        "overdue": {"count": 1, "amount": {"EUR": "1210.00"}}}
    assert figures["São Paulo Seguros"]["projects"] == 0
    plain = session.get(f"{stack.url}/api/v1/clients").json()["items"]
    assert all("figures" not in item for item in plain)
    bad = session.get(f"{stack.url}/api/v1/clients", params={"figures": "banana"})
    assert bad.status_code == 400 and "figures" in bad.json()["errors"]
