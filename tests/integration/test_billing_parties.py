"""Who can be billed: live clients and their projects of the caller's workspace only;
workspaces never see each other's documents; client merges re-point documents."""
import uuid

from tests.helpers import wait_until
from tests.integration.test_billing_api import (LINES, PROBLEM, append_event,
                                                billing_event_types, create_client,
                                                new_invoice, url, wait_for_replica)


def project_of(stack, session, client_id, name="Website"):
    """A project created through the API with ``client_id`` assigned while creating."""
    answer = session.post(url(stack, "projects"), json={"name": name, "client_id": client_id})
    assert answer.status_code == 201, answer.text
    project_id = answer.json()["id"]
    wait_for_replica(stack, "billing_projects", project_id, client_id=client_id)
    return project_id


def post(session, stack, path, body, **kwargs):
    return session.post(url(stack, path), json=body, **kwargs)


def documents_for(client_id, project_id=None):
    return {
        "invoices": {"client_id": client_id, "project_id": project_id, "currency": "EUR",
                     "lines": LINES},
        "purchase-orders": {"client_id": client_id, "project_id": project_id,
                            "currency": "EUR", "total": "100", "date": "2026-02-01"},
        "quotes": {"client_id": client_id, "project_id": project_id, "currency": "EUR",
                   "total": "100", "valid_until": "2026-06-30"},
    }


def test_only_live_clients_of_the_workspace_can_be_billed(stack):
    acme, globex = stack.session("acme", "member"), stack.session("globex", "member")
    theirs = create_client(stack, globex, "Globex Corporation")
    archived = create_client(stack, acme, "Gone Ltd")
    append_event(stack, "contacts", archived, "ClientArchived",
                 {"client_id": archived, "merged_into": None, "merge_id": None})
    wait_for_replica(stack, "billing_clients", archived, archived=True)
    unknown = str(uuid.uuid4())
    for client_id, message in ((unknown, "no such client"), (theirs, "no such client"),
                               (archived, "the client is archived")):
        for path, body in documents_for(client_id).items():
            answer = post(acme, stack, path, body)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.headers["Content-Type"] == PROBLEM
            assert answer.json()["errors"] == {"client_id": [message]}, path
    malformed = post(acme, stack, "invoices", {"client_id": "nope", "currency": "EUR"})
    assert malformed.status_code == 422 and "client_id" in malformed.json()["errors"]
    # Nothing was stored for any refused request.
    assert billing_event_types(stack) == []


def test_a_document_may_only_name_a_project_of_its_client(stack):
    session = stack.session(role="member")
    mine, other = create_client(stack, session, "Mine"), create_client(stack, session, "Other")
    project = project_of(stack, session, mine)
    others_project = project_of(stack, session, other, "Other's project")
    theirs = project_of(stack, stack.session("globex", "member"),
                        create_client(stack, stack.session("globex"), "Globex"), "Theirs")
    for project_id, message in ((others_project, "the project is not one of this client's "
                                                 "projects"),
                                (theirs, "no such project"),
                                (str(uuid.uuid4()), "no such project")):
        for path, body in documents_for(mine, project_id).items():
            answer = post(session, stack, path, body)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.json()["errors"] == {"project_id": [message]}, path
    for path, body in documents_for(mine, project).items():
        answer = post(session, stack, path, body)
        assert answer.status_code == 201, answer.text
        assert answer.json()["project_id"] == project

    # Editing a draft: only a project of the invoice's client.
    draft = new_invoice(stack, session, mine)
    path = url(stack, f"invoices/{draft['id']}")
    refused = session.patch(path, json={"project_id": others_project})
    assert refused.status_code == 422 and "project_id" in refused.json()["errors"]
    assert session.patch(path, json={"project_id": project}).json()["project_id"] == project
    assert session.patch(path, json={"project_id": None}).json()["project_id"] is None

    # A project reassigned to another client is no longer billable to the first.
    moved = session.patch(url(stack, f"projects/{project}"), json={"client_id": other})
    assert moved.status_code == 200, moved.text
    wait_for_replica(stack, "billing_projects", project, client_id=other)
    answer = post(session, stack, "invoices", documents_for(mine, project)["invoices"])
    assert answer.status_code == 422 and "project_id" in answer.json()["errors"]
    assert post(session, stack, "invoices",
                documents_for(other, project)["invoices"]).status_code == 201


def test_a_client_created_a_moment_ago_can_be_billed(stack):
    session = stack.session(role="member")
    for attempt in range(3):
        created = session.post(url(stack, "clients"), json={"name": f"Brand new {attempt}"})
        assert created.status_code == 201
        headers = {"Consistency-Token": created.headers["Consistency-Token"]} \
            if attempt % 2 == 0 else {}
        answer = post(session, stack, "invoices",
                      {"client_id": created.json()["id"], "currency": "EUR"}, headers=headers)
        assert answer.status_code == 201, answer.text


def test_workspaces_never_see_each_others_documents(stack):
    acme, globex = stack.session("acme", "member"), stack.session("globex", "member")
    client_id = create_client(stack, acme)
    invoice = new_invoice(stack, acme, client_id)
    order = post(acme, stack, "purchase-orders",
                 documents_for(client_id)["purchase-orders"]).json()
    quote = post(acme, stack, "quotes", documents_for(client_id)["quotes"]).json()
    missing = str(uuid.uuid4())
    requests = [
        ("get", f"invoices/{invoice['id']}", None), ("patch", f"invoices/{invoice['id']}", {}),
        ("post", f"invoices/{invoice['id']}/issue", {}),
        ("post", f"invoices/{invoice['id']}/payments", {"amount": "1", "date": "2026-03-02"}),
        ("post", f"invoices/{invoice['id']}/void", {}),
        ("get", f"purchase-orders/{order['id']}", None),
        ("post", f"purchase-orders/{order['id']}/finalize", None),
        ("get", f"quotes/{quote['id']}", None),
        ("post", f"quotes/{quote['id']}/send", None),
    ]
    for method, path, body in requests:
        theirs = getattr(globex, method)(url(stack, path), json=body)
        unknown = getattr(globex, method)(url(stack, path.replace(
            path.split("/")[1], missing)), json=body)
        assert theirs.status_code == unknown.status_code == 404, (method, path, theirs.text)
        assert theirs.json()["detail"] == unknown.json()["detail"]
        assert theirs.headers["Content-Type"] == PROBLEM
    for path in ("invoices", "purchase-orders", "quotes"):
        assert globex.get(url(stack, path)).json() == {"items": [], "next_cursor": None}
        assert globex.get(url(stack, path), params={"client_id": client_id}).json()["items"] \
            == []
        assert len(acme.get(url(stack, path)).json()["items"]) == 1
    # Nothing changed in acme, and each workspace numbers its own invoices.
    assert acme.get(url(stack, f"invoices/{invoice['id']}")).json()["version"] == 1
    assert acme.get(url(stack, f"quotes/{quote['id']}")).json()["status"] == "draft"
    theirs = new_invoice(stack, globex, create_client(stack, globex, "Globex"))
    assert post(globex, stack, f"invoices/{theirs['id']}/issue", {}).json()["number"] \
        == "2026-000001"
    assert post(acme, stack, f"invoices/{invoice['id']}/issue", {}).json()["number"] \
        == "2026-000001"


def test_a_merge_repoints_documents_and_an_unmerge_moves_them_back(stack):
    session = stack.session(role="member")
    survivor = create_client(stack, session, "Alan Insurance")
    duplicate = create_client(stack, session, "Alan Insurance Ltd")
    bystander = create_client(stack, session, "Globex")
    issued = new_invoice(stack, session, duplicate)
    assert post(session, stack, f"invoices/{issued['id']}/issue", {}).status_code == 200
    draft = new_invoice(stack, session, duplicate)
    order = post(session, stack, "purchase-orders",
                 documents_for(duplicate)["purchase-orders"]).json()
    quote = post(session, stack, "quotes", documents_for(duplicate)["quotes"]).json()
    own = new_invoice(stack, session, survivor)
    unrelated = new_invoice(stack, session, bystander)
    documents = {f"invoices/{issued['id']}", f"invoices/{draft['id']}",
                 f"purchase-orders/{order['id']}", f"quotes/{quote['id']}"}

    def client_of(path):
        return session.get(url(stack, path)).json()["client_id"]

    merge_id = str(uuid.uuid4())
    append_event(stack, "contacts", f"merge-{merge_id}", "ClientsMerged", {
        "survivor_id": survivor, "merged_ids": [duplicate], "merge_id": merge_id,
        "fields": {}})
    append_event(stack, "contacts", duplicate, "ClientArchived",
                 {"client_id": duplicate, "merged_into": survivor, "merge_id": merge_id})
    wait_until(lambda: all(client_of(path) == survivor for path in documents), timeout=15,
               message="documents re-pointed by the merge")
    assert client_of(f"invoices/{own['id']}") == survivor
    assert client_of(f"invoices/{unrelated['id']}") == bystander
    events = [e for e in stack.rpc.billing.events_since(0, 5000)
              if e["type"].endswith("ClientChanged")]
    assert sorted(e["type"] for e in events) == [
        "InvoiceClientChanged", "InvoiceClientChanged", "PurchaseOrderClientChanged",
        "QuoteClientChanged"]
    for event in events:
        assert event["data"]["reason"] == "merge" and event["data"]["merge_id"] == merge_id
        assert event["data"]["previous_client_id"] == duplicate
        assert event["data"]["client_id"] == survivor
    listed = session.get(url(stack, "invoices"), params={"client_id": survivor}).json()
    assert {item["id"] for item in listed["items"]} == {issued["id"], draft["id"], own["id"]}
    wait_for_replica(stack, "billing_clients", duplicate, archived=True)
    refused = post(session, stack, "invoices", {"client_id": duplicate, "currency": "EUR"})
    assert refused.json()["errors"] == {
        "client_id": [f"the client is archived (merged into {survivor})"]}

    append_event(stack, "contacts", f"merge-{merge_id}", "ClientsUnmerged", {
        "survivor_id": survivor, "merged_ids": [duplicate], "merge_id": merge_id})
    append_event(stack, "contacts", duplicate, "ClientRestored",
                 {"client_id": duplicate, "merge_id": merge_id})
    wait_until(lambda: all(client_of(path) == duplicate for path in documents), timeout=15,
               message="documents moved back by the unmerge")
    assert client_of(f"invoices/{own['id']}") == survivor  # it never moved
    back = [e for e in stack.rpc.billing.events_since(0, 5000)
            if e["type"].endswith("ClientChanged") and e["data"]["reason"] == "unmerge"]
    assert len(back) == 4 and {e["data"]["merge_id"] for e in back} == {merge_id}
    wait_for_replica(stack, "billing_clients", duplicate, archived=False)
    assert post(session, stack, "invoices",
                {"client_id": duplicate, "currency": "EUR"}).status_code == 201
