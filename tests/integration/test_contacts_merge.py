"""Duplicates, merge and unmerge over HTTP, and the client's history with the events of
projects and billing that name it."""
import uuid

import pytest

from tests.helpers import wait_until
from tests.integration.conftest import Stack, running, sqlite_urls
from tests.integration.test_contacts_clients import Client

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def stack(vhosts, tmp_path_factory):
    with running(Stack(vhosts.create(),
                       sqlite_urls(tmp_path_factory.mktemp("contacts-merge")))) as stack:
        yield stack


@pytest.fixture
def http(stack):
    return Client(stack, stack.session(f"ws-{uuid.uuid4().hex[:10]}"))


def create(http, **fields):
    answer = http.post("/api/v1/clients", json=fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


def groups(http):
    answer = http.get("/api/v1/clients/duplicates")
    assert answer.status_code == 200, answer.text
    return {tuple(g["client_ids"]): (g["reasons"], g["score"]) for g in answer.json()["items"]}


def test_the_duplicates_list_groups_on_normalised_values_and_stays_current(http):
    a = create(http, name="Acme, S.L.", email="Info@ACME.example.com", country="ES",
               phone="612345678")
    b = create(http, name="ACME SL", email="info@acme.example.com")
    c = create(http, name="acme", phone="+34 612 34 56 78")
    create(http, name="Someone Else", email="else@example.com")
    found = groups(http)
    assert found == {
        (a["id"], b["id"]): (["email", "name"], 0.9),
        (a["id"], c["id"]): (["phone", "name"], 0.8),
        (a["id"], b["id"], c["id"]): (["name"], 0.5),
    }
    listed = http.get("/api/v1/clients/duplicates").json()
    assert [g["score"] for g in listed["items"]] == [0.9, 0.8, 0.5]
    assert listed["next_cursor"] is None

    # A PATCH moves a client out of (and into) groups at once.
    assert http.patch(f"/api/v1/clients/{b['id']}",
                      json={"name": "Globex", "email": "sales@globex.example.com"}
                      ).status_code == 200
    assert groups(http) == {(a["id"], c["id"]): (["phone", "name"], 0.8)}
    assert http.patch(f"/api/v1/clients/{b['id']}", json={"phone": "+34612345678"}
                      ).status_code == 200
    assert groups(http) == {
        (a["id"], b["id"], c["id"]): (["phone"], 0.6),
        (a["id"], c["id"]): (["phone", "name"], 0.8),
    }
    # Archived clients are not duplicates.
    assert http.post(f"/api/v1/clients/{c['id']}/archive").status_code == 200
    assert groups(http) == {(a["id"], b["id"]): (["phone"], 0.6)}
    page = http.get("/api/v1/clients/duplicates", params={"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_cursor"] is None
    assert http.get("/api/v1/clients/duplicates", params={"limit": "0"}).status_code == 400
    assert http.get("/api/v1/clients/duplicates", params={"cursor": "%%"}).status_code == 400


def test_duplicates_pages(http):
    for i in range(3):
        create(http, name=f"Twin {i}", email=f"twin{i}@example.com")
        create(http, name=f"Twin {i} Ltd", email=f"twin{i}@example.com")
    first = http.get("/api/v1/clients/duplicates", params={"limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = http.get("/api/v1/clients/duplicates",
                      params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    ids = {tuple(g["client_ids"]) for g in first["items"] + second["items"]}
    assert len(ids) == 3


def test_merge_dry_run_then_merge_then_unmerge(http, stack):
    survivor = create(http, name="Alan Insurance", email=None, country="GB",
                      tags=["broker"])
    dup = create(http, name="Alan Insurance Ltd", email="hello@alan.example.com",
                 phone="+44 20 7946 0018", category="Insurance")
    dup2 = create(http, name="ALAN INSURANCE", notes="old record")
    token = http.post(f"/api/v1/clients/{dup2['id']}/archive").headers["Consistency-Token"]
    assert http.post(f"/api/v1/clients/{dup2['id']}/restore").status_code == 200
    # A project of the duplicate: the merge moves it (projects consumes ClientsMerged).
    project = http.post("/api/v1/projects", json={"name": "Fleet cover", "client_id": dup["id"]},
                        headers={"Consistency-Token": token})
    assert project.status_code == 201, project.text
    project = project.json()
    path = f"/api/v1/clients/{survivor['id']}"
    body = {"duplicate_ids": [dup["id"], dup2["id"]],
            "fields": {"email": dup["id"], "phone": dup["id"], "notes": dup2["id"]},
            "dry_run": True}

    dry = http.post(f"{path}/merge", json=body)
    assert dry.status_code == 200, dry.text
    preview = dry.json()
    assert preview["dry_run"] is True and preview["merge_id"] is None
    assert preview["id"] == survivor["id"] and preview["version"] == 1
    assert preview["email"] == "hello@alan.example.com" and preview["notes"] == "old record"
    assert preview["category"] is None  # not chosen: the survivor's value stays
    assert preview["changes"] == {"email": [None, "hello@alan.example.com"],
                                  "phone": [None, "+442079460018"],
                                  "notes": [None, "old record"]}
    assert preview["merged_ids"] == [dup["id"], dup2["id"]]
    assert preview["moves"]["from"] == [dup["id"], dup2["id"]]
    assert preview["moves"]["records"] == ["projects", "invoices", "purchase_orders", "quotes"]
    assert preview["moves"]["counts"]["projects"] == 1
    assert http.get(path).json()["version"] == 1  # nothing happened
    assert "Consistency-Token" not in dry.headers

    merged = http.post(f"{path}/merge", json={**body, "dry_run": False})
    assert merged.status_code == 200, merged.text
    result = merged.json()
    merge_id = result["merge_id"]
    uuid.UUID(merge_id)
    assert result["id"] == survivor["id"] and result["version"] == 2
    assert merged.headers["ETag"] == '"2"'
    # Read-your-writes across the reaction: the token names projects' and billing's
    # positions after they re-pointed, so the overview shows the moved project at once.
    token = merged.headers["Consistency-Token"]
    assert {part.split(":")[0] for part in token.split(",")} == {
        "contacts", "projects", "billing"}
    seen = http.get(f"{path}/overview", headers={"Consistency-Token": token}).json()
    assert [p["id"] for p in seen["projects"]["items"]] == [project["id"]]
    assert result["email"] == "hello@alan.example.com" and result["tags"] == ["broker"]
    for dup_id in (dup["id"], dup2["id"]):
        gone = http.get(f"/api/v1/clients/{dup_id}").json()
        assert gone["archived"] is True and gone["merged_into"] == survivor["id"]
        refused = http.patch(f"/api/v1/clients/{dup_id}", json={"notes": "x"})
        assert refused.status_code == 409
        assert http.post(f"/api/v1/clients/{dup_id}/restore").status_code == 409
    assert groups(http) == {}

    # One transaction: the survivor's update, both archives and ClientsMerged together.
    events = stack.rpc.contacts.events_since(0, 5000)
    last = merged_position(events, merge_id)
    batch = [e for e in events if last - 3 <= e["position"] <= last]
    assert [e["type"] for e in batch] == ["ClientUpdated", "ClientArchived", "ClientArchived",
                                          "ClientsMerged"]
    assert len({e["occurred_at"] for e in batch}) == 1
    merged_event = batch[-1]
    assert merged_event["stream_id"] == f"merge-{merge_id}"
    # The fields are the survivor's personal data: sealed with its key (docs/privacy.md).
    assert merged_event["data"]["fields"] == {}
    assert merged_event["data"]["personal"]["subject"] == survivor["id"]
    opened = stack.rpc.contacts.reveal_events([merged_event["position"]])
    assert opened[str(merged_event["position"])] == {
        "survivor_id": survivor["id"], "merged_ids": [dup["id"], dup2["id"]],
        "merge_id": merge_id,
        "fields": {"email": "hello@alan.example.com", "phone": "+442079460018",
                   "notes": "old record"}}
    assert batch[1]["data"] == {"client_id": dup["id"], "merged_into": survivor["id"],
                                "merge_id": merge_id}

    # Projects re-pointed the duplicate's project; the survivor's history shows it.
    def history_types(client_id):
        return [item["type"] for item in
                http.get(f"/api/v1/clients/{client_id}/history").json()["items"]]

    wait_until(lambda: "ClientAssigned" in history_types(survivor["id"]), timeout=15,
               message="the project's re-pointing in the survivor's history")
    history = http.get(f"{path}/history").json()["items"]
    assert [i["type"] for i in history][:3] == ["ClientRegistered", "ClientUpdated",
                                                "ClientsMerged"]
    assigned = [i for i in history if i["type"] == "ClientAssigned"][0]
    assert assigned["data"]["via"] == "bulk" and assigned["source"] == "projects"
    assert assigned["data"]["reason"] == "merge" and assigned["data"]["merge_id"] == merge_id
    assert assigned["data"]["project_id"] == project["id"]
    dup_history = history_types(dup["id"])
    assert dup_history[:1] == ["ClientRegistered"] and "ClientsMerged" in dup_history

    # Refusals.
    again = http.post(f"{path}/merge", json={"duplicate_ids": [dup["id"]]})
    assert again.status_code == 409 and again.json()["merged_into"] == survivor["id"]
    assert http.post(f"/api/v1/clients/{dup['id']}/merge",
                     json={"duplicate_ids": [survivor["id"]]}).status_code == 409

    # Unmerge: duplicates back, survivor's fields back (those nobody changed since).
    assert http.patch(path, json={"notes": "edited after the merge"}).status_code == 200
    undone = http.post(f"{path}/unmerge", json={"merge_id": merge_id})
    assert undone.status_code == 200, undone.text
    restored = undone.json()
    assert restored["email"] is None and restored["phone"] is None
    assert restored["notes"] == "edited after the merge"
    assert restored["restored_ids"] == [dup["id"], dup2["id"]]
    assert restored["changes"] == {"email": ["hello@alan.example.com", None],
                                   "phone": ["+442079460018", None]}
    token = undone.headers["Consistency-Token"]
    assert "projects:" in token and "billing:" in token
    back_home = http.get(f"/api/v1/clients/{dup['id']}/overview",
                         headers={"Consistency-Token": token}).json()
    assert [p["id"] for p in back_home["projects"]["items"]] == [project["id"]]
    assert http.get(f"{path}/overview", headers={"Consistency-Token": token}
                    ).json()["projects"]["count"] == 0
    for dup_id in (dup["id"], dup2["id"]):
        back = http.get(f"/api/v1/clients/{dup_id}").json()
        assert back["archived"] is False and back["merged_into"] is None
    twice = http.post(f"{path}/unmerge", json={"merge_id": merge_id})
    assert twice.status_code == 409 and twice.headers["Content-Type"] == PROBLEM
    events = stack.rpc.contacts.events_since(0, 5000)
    unmerged = [e for e in events if e["type"] == "ClientsUnmerged"]
    assert [e["data"] for e in unmerged] == [{"survivor_id": survivor["id"],
                                              "merged_ids": [dup["id"], dup2["id"]],
                                              "merge_id": merge_id}]
    restored_events = [e for e in events if e["type"] == "ClientRestored"
                       and e["data"]["merge_id"] == merge_id]
    assert len(restored_events) == 2
    wait_until(lambda: http.get("/api/v1/projects", params={"client_id": dup["id"]}
                                ).json()["items"], timeout=15, message="project moved back")


def merged_position(events, merge_id):
    return next(e["position"] for e in events if e["type"] == "ClientsMerged"
                and e["data"]["merge_id"] == merge_id)


def test_merge_refusals(http, stack):
    a = create(http, name="Keeper")
    b = create(http, name="Dup")
    archived = create(http, name="Sleeping")
    http.post(f"/api/v1/clients/{archived['id']}/archive")
    path = f"/api/v1/clients/{a['id']}"

    def merge(body, target=path):
        return http.post(f"{target}/merge", json=body)

    itself = merge({"duplicate_ids": [a["id"]]})
    assert itself.status_code == 422 and "duplicate_ids" in itself.json()["errors"]
    assert merge({"duplicate_ids": []}).status_code == 422
    assert merge({}).status_code == 422
    assert merge({"duplicate_ids": "nope"}).status_code == 422
    assert merge({"duplicate_ids": [b["id"]], "colour": 1}).status_code == 422
    bad_fields = merge({"duplicate_ids": [b["id"]],
                        "fields": {"email": str(uuid.uuid4()), "planet": b["id"]}})
    assert bad_fields.status_code == 422
    assert set(bad_fields.json()["errors"]) == {"fields.email", "fields.planet"}
    assert merge({"duplicate_ids": [b["id"]], "dry_run": "yes"}).status_code == 422
    assert merge({"duplicate_ids": [archived["id"]]}).status_code == 409
    assert merge({"duplicate_ids": [str(uuid.uuid4())]}).status_code == 404
    assert merge({"duplicate_ids": [b["id"]]}, f"/api/v1/clients/{uuid.uuid4()}"
                 ).status_code == 404
    assert merge({"duplicate_ids": [b["id"]]}, f"/api/v1/clients/{archived['id']}"
                 ).status_code == 409
    other = Client(stack, stack.session(f"ws-{uuid.uuid4().hex[:10]}"))
    foreign = other.post("/api/v1/clients", json={"name": "Foreign"}).json()
    assert merge({"duplicate_ids": [foreign["id"]]}).status_code == 404
    assert http.get(f"/api/v1/clients/{foreign['id']}").status_code == 404

    unknown = http.post(f"{path}/unmerge", json={"merge_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    assert http.post(f"{path}/unmerge", json={"merge_id": "x"}).status_code == 404
    assert http.post(f"{path}/unmerge", json={}).status_code == 422
    done = merge({"duplicate_ids": [b["id"]]}).json()
    # Another client's path, or another workspace, does not know this merge.
    assert http.post(f"/api/v1/clients/{b['id']}/unmerge",
                     json={"merge_id": done["merge_id"]}).status_code == 404
    assert other.post(f"{path}/unmerge", json={"merge_id": done["merge_id"]}
                      ).status_code == 404
    assert http.post(f"{path}/unmerge", json={"merge_id": done["merge_id"]}).status_code == 200


def test_a_merge_that_takes_a_duplicates_tax_id(http):
    survivor = create(http, name="Lusa", country="PT")
    dup = create(http, name="Lusa Lda", tax_id="PT501964843")
    merged = http.post(f"/api/v1/clients/{survivor['id']}/merge",
                       json={"duplicate_ids": [dup["id"]], "fields": {"tax_id": dup["id"]}})
    assert merged.status_code == 200, merged.text
    assert merged.json()["tax_id"] == "PT501964843"
    # The tax id now belongs to the survivor.
    taken = http.post("/api/v1/clients", json={"name": "Copy", "tax_id": "501964843",
                                               "country": "PT"})
    assert taken.status_code == 409 and taken.json()["existing_id"] == survivor["id"]
    # Unmerge hands it back.
    undone = http.post(f"/api/v1/clients/{survivor['id']}/unmerge",
                       json={"merge_id": merged.json()["merge_id"]})
    assert undone.status_code == 200 and undone.json()["tax_id"] is None
    taken = http.post("/api/v1/clients", json={"name": "Copy", "tax_id": "501964843",
                                               "country": "PT"})
    assert taken.status_code == 409 and taken.json()["existing_id"] == dup["id"]


def test_history_includes_assignments_and_invoices_naming_the_client(http):
    client = create(http, name="Historia Seguros", country="ES")
    answer = http.post("/api/v1/clients", json={"name": "Otro Cliente"})
    other = answer.json()
    created = http.post("/api/v1/projects", json={"name": "Obra", "client_id": client["id"]},
                        headers={"Consistency-Token": answer.headers["Consistency-Token"]})
    assert created.status_code == 201, created.text
    project = created.json()
    moved = http.patch(f"/api/v1/projects/{project['id']}", json={"client_id": other["id"]})
    assert moved.status_code == 200, moved.text
    invoice = http.post("/api/v1/invoices", json={
        "client_id": other["id"], "project_id": project["id"], "currency": "EUR",
        "issue_date": "2026-11-01", "due_date": "2026-12-01",
        "lines": [{"description": "Work", "quantity": "1", "unit_price": "100.00",
                   "tax_rate": "21"}]}, headers={"Consistency-Token": moved.headers[
                       "Consistency-Token"]})
    assert invoice.status_code == 201, invoice.text
    issued = http.post(f"/api/v1/invoices/{invoice.json()['id']}/issue")
    assert issued.status_code == 200, issued.text

    def types(client_id):
        return [item["type"] for item in
                http.get(f"/api/v1/clients/{client_id}/history").json()["items"]]

    wait_until(lambda: types(client["id"]) == ["ClientRegistered", "ClientAssigned",
                                               "ClientAssigned"],
               timeout=15, message="assignments in the first client's history")
    wait_until(lambda: types(other["id"]) == ["ClientRegistered", "ClientAssigned",
                                              "InvoiceIssued"],
               timeout=15, message="assignment and invoice in the second client's history")
    items = http.get(f"/api/v1/clients/{other['id']}/history").json()["items"]
    assert items[1]["data"]["previous_client_id"] == client["id"]
    assert items[1]["data"]["via"] == "settings"
    assert items[2]["data"]["client_id"] == other["id"] and items[2]["source"] == "billing"
    assert items[2]["data"]["number"]
    assert [i["at"] for i in items] == sorted(i["at"] for i in items)
