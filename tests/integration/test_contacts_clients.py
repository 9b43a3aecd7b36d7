"""Clients over HTTP: the full record, validation, tax id uniqueness, If-Match, archive,
restore, tenant isolation, and the RPC methods other services use."""
import concurrent.futures
import json
import uuid

import pytest

from tests.integration.conftest import Stack, running, sqlite_urls

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def stack(vhosts, tmp_path_factory):
    """One stack for the module; each test works in its own workspace."""
    with running(Stack(vhosts.create(),
                       sqlite_urls(tmp_path_factory.mktemp("contacts-clients")))) as stack:
        yield stack


@pytest.fixture
def workspace():
    return f"ws-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def http(stack, workspace):
    return Client(stack, stack.session(workspace))


class Client:
    """A session bound to the stack's gateway URL."""

    def __init__(self, stack, session):
        self.stack = stack
        self.session = session

    def __getattr__(self, method):
        def call(path, **kwargs):
            kwargs.setdefault("timeout", 30)
            return self.session.request(method.upper(), f"{self.stack.url}{path}", **kwargs)
        return call


FULL = {
    "kind": "company",
    "name": "Fundació Catalana de Disseny, S.L.",
    "tax_id": "B-58.378.431",
    "email": "Hola@FCD.example.com",
    "phone": "612 34 56 78",
    "country": "España",
    "language": "català",
    "gender": None,
    "category": "Design",
    "tags": ["VIP", "export"],
    "address": {"street": "Carrer de Mallorca 401", "city": "Barcelona",
                "postal_code": "08013", "region": "Catalunya", "country": "ES"},
    "company": {"name": "FCD", "website": "www.fcd.example.com", "email": "info@fcd.example.com",
                "phone": "+34 934 567 890"},
    "notes": "Prefers email.",
}


def test_create_and_read_the_full_record(http):
    created = http.post("/api/v1/clients", json=FULL)
    assert created.status_code == 201, created.text
    client = created.json()
    assert created.headers["ETag"] == '"1"'
    assert created.headers["Location"] == f"/api/v1/clients/{client['id']}"
    assert created.headers["Consistency-Token"].startswith("contacts:")
    expected = {
        "version": 1, "kind": "company", "name": "Fundació Catalana de Disseny, S.L.",
        "tax_id": "B58378431", "email": "Hola@fcd.example.com", "phone": "+34612345678",
        "country": "ES", "language": "ca", "gender": None, "category": "Design",
        "tags": ["VIP", "export"],
        "address": {"street": "Carrer de Mallorca 401", "city": "Barcelona",
                    "postal_code": "08013", "region": "Catalunya", "country": "ES"},
        "company": {"name": "FCD", "website": "https://www.fcd.example.com",
                    "email": "info@fcd.example.com", "phone": "+34934567890"},
        "notes": "Prefers email.", "archived": False, "merged_into": None, "photo": None,
    }
    assert {k: client[k] for k in expected} == expected
    assert client["created_at"] == client["updated_at"]
    uuid.UUID(client["id"])

    read = http.get(f"/api/v1/clients/{client['id']}")
    assert read.status_code == 200 and read.json() == client
    assert read.headers["ETag"] == '"1"'


def test_every_invalid_field_is_reported_at_once(http):
    answer = http.post("/api/v1/clients", json={
        "name": "", "kind": "robot", "email": "nope", "country": "Atlantis",
        "language": "klingon", "tags": ["ok", 42 * "x" + "y" * 20],
        "address": {"city": "Porto", "planet": "Earth"}, "company": {"website": "ftp://x"},
        "id": "mine", "photo": {"size": 1}, "colour": "red"})
    assert answer.status_code == 422 and answer.headers["Content-Type"] == PROBLEM
    errors = answer.json()["errors"]
    assert set(errors) == {"name", "kind", "email", "country", "language", "tags.1",
                           "address.planet", "company.website", "id", "photo", "colour"}
    assert all(isinstance(messages, list) and messages for messages in errors.values())
    tax = http.post("/api/v1/clients", json={"name": "X", "country": "ES", "tax_id": "123"})
    assert tax.status_code == 422 and "Spanish" in tax.json()["errors"]["tax_id"][0]
    not_object = http.post("/api/v1/clients", json=["a list"])
    assert not_object.status_code == 400


def test_a_duplicate_tax_id_after_normalisation_is_a_conflict_naming_the_existing_client(http):
    first = http.post("/api/v1/clients", json={"name": "Acme", "tax_id": "B58378431",
                                               "country": "ES"}).json()
    again = http.post("/api/v1/clients", json={"name": "Acme bis", "tax_id": "ES B-58378431"})
    assert again.status_code == 409 and again.headers["Content-Type"] == PROBLEM
    assert again.json()["existing_id"] == first["id"]
    # PATCH onto an existing tax id is refused the same way.
    other = http.post("/api/v1/clients", json={"name": "Other", "country": "ES"}).json()
    patched = http.patch(f"/api/v1/clients/{other['id']}", json={"tax_id": "b58378431"})
    assert patched.status_code == 409 and patched.json()["existing_id"] == first["id"]
    # Archived clients do not hold their tax id; restoring then conflicts.
    assert http.post(f"/api/v1/clients/{first['id']}/archive").status_code == 200
    taken = http.post("/api/v1/clients", json={"name": "New owner", "tax_id": "ESB58378431"})
    assert taken.status_code == 201
    restored = http.post(f"/api/v1/clients/{first['id']}/restore")
    assert restored.status_code == 409 and restored.json()["existing_id"] == taken.json()["id"]


def test_a_tax_id_without_a_country_is_the_same_number_in_any_country(http):
    spanish = http.post("/api/v1/clients", json={"name": "Talleres", "tax_id": "B05236195",
                                                 "country": "ES"}).json()
    bare = http.post("/api/v1/clients", json={"name": "Talleres (sin país)",
                                              "tax_id": "b-05236195"})
    assert bare.status_code == 409 and bare.json()["existing_id"] == spanish["id"]
    # The other way round: a number held without a country blocks it with one.
    alone = http.post("/api/v1/clients", json={"name": "Sem país", "tax_id": "509442013"})
    assert alone.status_code == 201, alone.text
    with_country = http.post("/api/v1/clients", json={"name": "Com país", "country": "PT",
                                                      "tax_id": "PT 509 442 013"})
    assert with_country.status_code == 409
    assert with_country.json()["existing_id"] == alone.json()["id"]
    # Held without a country, the number is taken in every country...
    assert http.post("/api/v1/clients", json={"name": "Other country", "country": "US",
                                              "tax_id": "50-9442013"}).status_code == 409
    # ...but the same digits in two known countries are two different tax ids.
    assert http.post("/api/v1/clients", json={"name": "Lisboa", "country": "PT",
                                              "tax_id": "501964843"}).status_code == 201
    us = http.post("/api/v1/clients", json={"name": "Boston", "country": "US",
                                            "tax_id": "50-1964843"})
    assert us.status_code == 201, us.text


def test_concurrent_creates_with_the_same_tax_id_create_one(http):
    def create(i):
        return http.post("/api/v1/clients", json={"name": f"Race {i}", "tax_id": "PT501964843"})

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(create, range(6)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5


def test_patch_with_if_match_and_the_history_of_changes(http):
    client = http.post("/api/v1/clients", json={"name": "Alan Insurance", "country": "GB"}).json()
    path = f"/api/v1/clients/{client['id']}"
    patched = http.patch(path, json={"email": "alan@insurance.example.com",
                                     "address": {"city": "London"}},
                         headers={"If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    body = patched.json()
    assert body["email"] == "alan@insurance.example.com" and body["version"] == 2
    assert body["address"]["city"] == "London"
    assert body["updated_at"] > body["created_at"]

    stale = http.patch(path, json={"category": "x"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["Content-Type"] == PROBLEM
    assert stale.json()["version"] == 2  # the current version, an integer as in ETag
    bad = http.patch(path, json={"category": "x"}, headers={"If-Match": "yesterday"})
    assert bad.status_code == 400
    unknown = http.patch(f"/api/v1/clients/{uuid.uuid4()}", json={"name": "x"})
    assert unknown.status_code == 404
    invalid = http.patch(path, json={"name": None, "email": "x"})
    assert invalid.status_code == 422 and set(invalid.json()["errors"]) == {"name", "email"}

    history = http.get(f"{path}/history").json()["items"]
    assert [item["type"] for item in history] == ["ClientRegistered", "ClientUpdated"]
    update = history[1]
    assert update["changes"] == {
        "email": [None, "alan@insurance.example.com"],
        "address": [None, {"street": None, "city": "London", "postal_code": None,
                           "region": None, "country": None}]}
    assert update["actor"].startswith("token:") and update["at"].endswith("Z")
    assert update["data"]["client_id"] == client["id"]
    assert set(update["data"]) == {"client_id", "changes", "previous"}
    assert history[0]["changes"]["name"] == [None, "Alan Insurance"]

    first = http.get(f"{path}/history", params={"limit": 1}).json()
    assert [i["type"] for i in first["items"]] == ["ClientRegistered"] and first["next_cursor"]
    rest = http.get(f"{path}/history", params={"cursor": first["next_cursor"]}).json()
    assert [i["type"] for i in rest["items"]] == ["ClientUpdated"] and rest["next_cursor"] is None
    for params in ({"limit": 501}, {"cursor": "nope"}):
        refused = http.get(f"{path}/history", params=params)
        assert refused.status_code == 400 and set(refused.json()["errors"]) == set(params)


def test_patch_without_changes_appends_nothing(http, stack):
    client = http.post("/api/v1/clients", json={"name": "Same", "email": "same@example.com"})
    client = client.json()
    path = f"/api/v1/clients/{client['id']}"
    for body in ({}, {"name": " Same ", "email": "same@EXAMPLE.com"}, {"tags": None}):
        again = http.patch(path, json=body, headers={"If-Match": '"1"'})
        assert again.status_code == 200 and again.json()["version"] == 1, (body, again.text)
    history = http.get(f"{path}/history").json()["items"]
    assert [item["type"] for item in history] == ["ClientRegistered"]


def test_concurrent_patches_with_the_same_if_match_give_one_200_and_one_412(http):
    client = http.post("/api/v1/clients", json={"name": "Contested"}).json()
    path = f"/api/v1/clients/{client['id']}"
    for round_ in range(3):
        version = http.get(path).json()["version"]

        def patch(i, version=version):
            return http.patch(path, json={"notes": f"writer {round_}-{i}"},
                              headers={"If-Match": f'"{version}"'})

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(patch, range(2)))
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]


def test_concurrent_patches_without_if_match_all_apply(http):
    client = http.post("/api/v1/clients", json={"name": "Busy"}).json()
    path = f"/api/v1/clients/{client['id']}"

    def patch(i):
        return http.patch(path, json={"tags": [f"t{i}"]})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(patch, range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert http.get(path).json()["version"] == 1 + len({a.json()["version"] for a in answers})


def test_archive_and_restore(http):
    client = http.post("/api/v1/clients", json={"name": "Sleepy"}).json()
    path = f"/api/v1/clients/{client['id']}"
    archived = http.post(f"{path}/archive")
    assert archived.status_code == 200 and archived.json()["archived"] is True
    assert archived.headers["ETag"] == '"2"'
    token = archived.headers["Consistency-Token"]
    assert http.post(f"{path}/archive").status_code == 409
    # Still readable, overview included; not changeable.
    assert http.get(path).json()["archived"] is True
    overview = http.get(f"{path}/overview", headers={"Consistency-Token": token})
    assert overview.status_code == 200 and overview.json()["client"]["archived"] is True
    refused = http.patch(path, json={"notes": "x"})
    assert refused.status_code == 409 and refused.headers["Content-Type"] == PROBLEM
    stale = http.post(f"{path}/restore", headers={"If-Match": '"1"'})
    assert stale.status_code == 412
    restored = http.post(f"{path}/restore", headers={"If-Match": '"2"'})
    assert restored.status_code == 200 and restored.json()["archived"] is False
    assert http.post(f"{path}/restore").status_code == 409
    assert http.patch(path, json={"notes": "awake"}).status_code == 200
    types = [item["type"] for item in http.get(f"{path}/history").json()["items"]]
    assert types == ["ClientRegistered", "ClientArchived", "ClientRestored", "ClientUpdated"]


def test_roles(stack, workspace):
    viewer = Client(stack, stack.session(workspace, "viewer"))
    member = Client(stack, stack.session(workspace, "member"))
    client = member.post("/api/v1/clients", json={"name": "Roles"}).json()
    path = f"/api/v1/clients/{client['id']}"
    assert viewer.get(path).status_code == 200
    assert viewer.get("/api/v1/clients").status_code == 200
    for method, sub in (("patch", ""), ("post", "/archive"), ("post", "/merge"),
                        ("put", "/photo"), ("post", "/files"), ("delete", "/photo")):
        answer = getattr(viewer, method)(f"{path}{sub}", json={})
        assert answer.status_code == 403, (method, sub)
    assert member.patch(path, json={"notes": "ok"}).status_code == 200


def test_another_workspace_never_sees_changes_finds_or_merges_a_client(stack, http):
    mine = http.post("/api/v1/clients", json={"name": "Secreto Seguros", "tax_id": "A58818501",
                                              "country": "ES"}).json()
    path = f"/api/v1/clients/{mine['id']}"
    other = Client(stack, stack.session(f"other-{uuid.uuid4().hex[:8]}"))
    theirs = other.post("/api/v1/clients", json={"name": "Theirs"}).json()
    unknown = f"/api/v1/clients/{uuid.uuid4()}"
    for target in (path, unknown):
        answers = [
            other.get(target), other.patch(target, json={"name": "Hacked"}),
            other.post(f"{target}/archive"), other.post(f"{target}/restore"),
            other.get(f"{target}/history"), other.get(f"{target}/files"),
            other.get(f"{target}/photo"), other.put(f"{target}/photo", data=b"\x89PNG\r\n\x1a\n"),
            other.post(f"{target}/unmerge", json={"merge_id": str(uuid.uuid4())}),
        ]
        assert [a.status_code for a in answers] == [404] * len(answers), \
            [(a.request.method, a.request.url, a.status_code) for a in answers]
        assert all(a.headers["Content-Type"] == PROBLEM for a in answers)
    merged = other.post(f"/api/v1/clients/{theirs['id']}/merge",
                        json={"duplicate_ids": [mine["id"]]})
    assert merged.status_code == 404
    merged = other.post(f"{path}/merge", json={"duplicate_ids": [theirs["id"]]})
    assert merged.status_code == 404
    found = other.get("/api/v1/clients", params={"q": "secreto"}).json()
    assert found["items"] == []
    # Same tax id in another workspace is not a duplicate of ours.
    same = other.post("/api/v1/clients", json={"name": "Doppel", "tax_id": "A58818501",
                                               "country": "ES"})
    assert same.status_code == 201
    assert http.get(path).json()["name"] == "Secreto Seguros"
    assert stack.rpc.contacts.get_clients({"workspace": "nobody"}, [mine["id"]]) == {}


def test_rpc_methods_for_other_services(stack, workspace):
    rpc = stack.rpc.contacts
    ctx = {"workspace": workspace, "actor": "service:test", "correlation_id": "c-1"}
    created = rpc.create_client(ctx, {"name": "Lusa Tecnologia, Lda.", "country": "PT",
                                      "tax_id": "501964843", "email": "geral@lusa.example.com",
                                      "phone": "912345678"})
    client = created["client"]
    assert created["position"] >= 1 and client["tax_id"] == "501964843"
    assert rpc.get_client(ctx, client["id"]) == client
    assert rpc.get_clients(ctx, [client["id"], str(uuid.uuid4())]) == {client["id"]: client}
    found = rpc.find_clients(ctx, tax_id="PT 501 964 843")["items"]
    assert [(f["client"]["id"], f["matched"]) for f in found] == [(client["id"], ["tax_id"])]
    found = rpc.find_clients(ctx, email="GERAL@lusa.example.com", name="LUSA TECNOLOGIA")
    assert found["items"][0]["matched"] == ["email", "name"]
    assert rpc.find_clients(ctx, email="nobody@example.com")["items"] == []
    updated = rpc.update_client(ctx, client["id"], {"category": "Retail"}, 1)
    assert updated["client"]["version"] == 2 and updated["position"] > created["position"]
    unchanged = rpc.update_client(ctx, client["id"], {"category": "Retail"})
    assert unchanged["position"] == updated["position"]
    archived = rpc.archive_client(ctx, client["id"])
    assert archived["client"]["archived"] is True
    assert rpc.find_clients(ctx, tax_id="501964843")["items"] == []
    restored = rpc.restore_client(ctx, client["id"])
    assert restored["client"]["archived"] is False
    listed = rpc.list_clients(ctx, {"q": "lusa"})
    assert [c["id"] for c in listed["items"]] == [client["id"]]
    events = [e for e in rpc.events_since(0, 5000) if e["stream_id"] == client["id"]]
    assert [e["type"] for e in events] == ["ClientRegistered", "ClientUpdated",
                                           "ClientArchived", "ClientRestored"]
    assert events[0]["actor"] == "service:test" and events[0]["correlation_id"] == "c-1"
    registered = events[0]["data"]
    # Personal fields travel sealed (docs/privacy.md); the service opens them on request.
    assert set(registered) == {"client_id", "workspace", "created_at", "kind", "country",
                               "language", "category", "personal"}
    assert registered["personal"]["subject"] == client["id"]
    assert "Lusa" not in json.dumps(registered)
    opened = rpc.reveal_events([events[0]["position"]])[str(events[0]["position"])]
    assert set(opened) == {"client_id", "workspace", "created_at", "kind", "name", "tax_id",
                           "email", "phone", "country", "language", "gender", "category",
                           "tags", "address", "company", "notes"}
    assert opened["tax_id"] == "501964843"
    assert events[2]["data"] == {"client_id": client["id"], "merged_into": None,
                                 "merge_id": None}
    assert events[3]["data"] == {"client_id": client["id"], "merge_id": None}
    from services.common.errors import NotFound, PreconditionFailed

    with pytest.raises(PreconditionFailed):
        rpc.update_client(ctx, client["id"], {"notes": "x"}, 1)
    with pytest.raises(NotFound):
        rpc.get_client({"workspace": "elsewhere"}, client["id"])


def test_client_errors_over_rpc_are_logged_as_expected(stack, workspace, caplog):
    """A 4xx is an answer, not a failure: nameko logs it as an "(expected)" WARNING, as
    projects and billing do, not as an ERROR that pages an operator."""
    import base64
    import logging

    from services.common.errors import NotFound, UnsupportedMediaType, ValidationFailed

    rpc = stack.rpc.contacts
    ctx = {"workspace": workspace, "actor": "service:test", "correlation_id": "c-2"}
    client = rpc.create_client(ctx, {"name": "Quiet Logs"})["client"]
    caplog.set_level(logging.WARNING, logger="nameko.containers")
    with pytest.raises(ValidationFailed):
        rpc.create_client(ctx, {"name": "x", "no_such_field": 1})
    with pytest.raises(NotFound):
        rpc.get_client(ctx, str(uuid.uuid4()))
    with pytest.raises(UnsupportedMediaType):
        rpc.set_photo(ctx, client["id"], base64.b64encode(b"not an image").decode())
    handled = [r for r in caplog.records if r.name == "nameko.containers"
               and "contacts." in r.getMessage()]
    assert len(handled) == 3, [r.getMessage() for r in handled]
    assert all(r.levelno == logging.WARNING and r.getMessage().startswith("(expected)")
               for r in handled), [(r.levelname, r.getMessage()) for r in handled]


@pytest.mark.postgres
def test_concurrency_rules_hold_on_postgresql(make_stack):
    """On PostgreSQL writers really run in parallel: the stream version and the per-tax-id
    lock, not a database-wide write lock, decide."""
    stack = make_stack("postgres").start()
    http = Client(stack, stack.session(f"ws-{uuid.uuid4().hex[:10]}"))
    client = http.post("/api/v1/clients", json={"name": "Contested"}).json()
    path = f"/api/v1/clients/{client['id']}"
    for round_ in range(3):
        version = http.get(path).json()["version"]

        def patch(i, version=version):
            return http.patch(path, json={"notes": f"writer {round_}-{i}"},
                              headers={"If-Match": f'"{version}"'})

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(patch, range(2)))
        assert sorted(a.status_code for a in answers) == [200, 412], [a.text for a in answers]

    def untagged(i):
        return http.patch(path, json={"tags": [f"t{i}"]})

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(untagged, range(8)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]

    def create(i):
        return http.post("/api/v1/clients", json={"name": f"Race {i}", "tax_id": "PT501964843"})

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(create, range(6)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
    winner = next(a.json()["id"] for a in answers if a.status_code == 201)
    assert all(a.json()["existing_id"] == winner for a in answers if a.status_code == 409)

    # The same number with and without a country: one lock per number, one winner.
    def create_either(i):
        body = {"name": f"Either {i}", "tax_id": "B05236195"}
        if i % 2:
            body["country"] = "ES"
        return http.post("/api/v1/clients", json=body)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(create_either, range(6)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 5
