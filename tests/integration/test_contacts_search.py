"""The clients list over HTTP: search, filters, sorting and keyset pagination, on SQLite
and on PostgreSQL (where it runs on the pg_trgm index)."""
import base64
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from tests.integration.conftest import SERVICES, Stack, running, sqlite_urls
from services.contacts.validation import search_text
from tests.integration.test_contacts_clients import Client

NAMES = [
    "São Paulo Seguros", "Sao Bento Imóveis", "Fundació Catalana de Disseny", "Müller GmbH",
    "Ødegaard Shipping AS", "Alan Insurance", "alan partners", "Álvarez & Hijos, S.L.",
    "Zürich Consulting", "Ñandú Importaciones", "Łódź Logistics", "Çelik Yapı",
    "Émile Dubois", "Eva García", "Bodega 100% Natural", "under_score Ltd",
    "Porto Vinhos Lda.", "Lisboa Digital", "Barcelona Tech", "Madrid Foods",
    "Sevilla Solar", "Valencia Naranjas", "Bilbao Steel",
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres",
                                                               marks=pytest.mark.postgres)])
def stack(request, vhosts, tmp_path_factory):
    if request.param == "postgres":
        postgres = request.getfixturevalue("postgres")
        urls = {service: postgres.create(f"search_{service}") for service in SERVICES}
    else:
        urls = sqlite_urls(tmp_path_factory.mktemp("contacts-search"))
    with running(Stack(vhosts.create(), urls)) as stack:
        yield stack


@pytest.fixture
def http(stack):
    return Client(stack, stack.session(f"ws-{uuid.uuid4().hex[:10]}"))


@pytest.fixture
def clients(http):
    """The NAMES, with a few fields to filter on; {name: client}."""
    made = {}
    for index, name in enumerate(NAMES):
        body = {"name": name, "category": ["Retail", "Industry", "Services"][index % 3],
                "tags": ["VIP"] if index % 4 == 0 else ["regular"],
                "country": ["ES", "PT", "DE"][index % 3]}
        if name == "São Paulo Seguros":
            body.update(tax_id="B58378431", country="ES", email="contato@sps.example.com",
                        company={"name": "Grupo Ibérico"})
        answer = http.post("/api/v1/clients", json=body)
        assert answer.status_code == 201, answer.text
        made[name] = answer.json()
    return made


def names(answer):
    assert answer.status_code == 200, answer.text
    return [item["name"] for item in answer.json()["items"]]


def search(http, **params):
    return names(http.get("/api/v1/clients", params=params))




def test_search_is_case_and_accent_insensitive_on_name_tax_id_email_and_company(http, clients):
    assert set(search(http, q="sao")) == {"São Paulo Seguros", "Sao Bento Imóveis"}
    assert search(http, q="SÃO PAULO") == ["São Paulo Seguros"]
    assert search(http, q="sao paulo") == ["São Paulo Seguros"]
    assert search(http, q="fundacio") == ["Fundació Catalana de Disseny"]
    assert search(http, q="MULLER") == ["Müller GmbH"]
    assert search(http, q="odegaard") == ["Ødegaard Shipping AS"]
    assert search(http, q="lodz") == ["Łódź Logistics"]
    assert search(http, q="nandu") == ["Ñandú Importaciones"]
    assert search(http, q="alvarez") == ["Álvarez & Hijos, S.L."]
    assert search(http, q="58378") == ["São Paulo Seguros"]          # tax id
    assert search(http, q="b-58.378.431") == ["São Paulo Seguros"]   # as people type it
    assert search(http, q="ESB58378431") == ["São Paulo Seguros"]    # its EU VAT form
    assert search(http, q="es-b58378431") == ["São Paulo Seguros"]
    assert search(http, q="contato@sps") == ["São Paulo Seguros"]    # email
    # Long terms: the trigram index is asked for a part, the whole term is checked.
    assert search(http, q="CONTATO@SPS.EXAMPLE.COM") == ["São Paulo Seguros"]
    assert search(http, q="fundacio catalana de disseny") == ["Fundació Catalana de Disseny"]
    assert search(http, q="fundacio catalana de disseny, s.l.") == []
    assert search(http, q="iberico") == ["São Paulo Seguros"]        # company name
    assert set(search(http, q="alan")) == {"Alan Insurance", "alan partners",
                                           "Fundació Catalana de Disseny"}  # cat-ALAN-a
    assert search(http, q="100%") == ["Bodega 100% Natural"]         # no wildcards
    assert search(http, q="a_s") == []  # "_" is not a wildcard ("sevilla solar")
    assert search(http, q="under_") == ["under_score Ltd"]
    assert search(http, q="zz-nothing") == []
    short = search(http, q="ç")  # shorter than a trigram: still a substring match
    assert "Çelik Yapı" in short and "Fundació Catalana de Disseny" in short
    assert set(search(http, q="  ")) == set(NAMES)


def test_filters(http, clients):
    assert set(search(http, category="retail")) == {n for i, n in enumerate(NAMES) if i % 3 == 0}
    assert set(search(http, tag="vip")) == {n for i, n in enumerate(NAMES) if i % 4 == 0}
    assert set(search(http, country="Portugal")) == {
        n for i, n in enumerate(NAMES) if i % 3 == 1}
    assert search(http, q="sao", country="es", category="RETAIL") == ["São Paulo Seguros"]
    today = datetime.now(timezone.utc).date()
    day = timedelta(days=1)
    assert len(search(http, added_from=today.isoformat(), added_to=today.isoformat(),
                      limit=500)) == len(NAMES)
    assert search(http, added_to=(today - day).isoformat()) == []
    assert search(http, added_from=(today + day).isoformat()) == []
    # Archived clients: hidden by default.
    archived = clients["Bilbao Steel"]
    assert http.post(f"/api/v1/clients/{archived['id']}/archive").status_code == 200
    assert "Bilbao Steel" not in search(http, limit=500)
    assert search(http, archived="true") == ["Bilbao Steel"]
    assert len(search(http, archived="all", limit=500)) == len(NAMES)
    assert search(http, q="bilbao", archived="all") == ["Bilbao Steel"]


def test_bad_parameters_are_400_naming_each(http, clients):
    answer = http.get("/api/v1/clients", params={
        "limit": "501", "sort": "colour", "archived": "maybe", "added_from": "yesterday",
        "country": "Atlantis", "colour": "red"})
    assert answer.status_code == 400
    assert set(answer.json()["errors"]) == {"limit", "sort", "archived", "added_from",
                                            "country", "colour"}
    assert http.get("/api/v1/clients", params={"limit": "0"}).status_code == 400
    assert http.get("/api/v1/clients", params={"cursor": "garbage"}).status_code == 400
    first = http.get("/api/v1/clients", params={"limit": 2, "sort": "name"}).json()
    other_sort = http.get("/api/v1/clients", params={"cursor": first["next_cursor"],
                                                     "sort": "-created_at"})
    assert other_sort.status_code == 400


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at"])
def test_paging_through_every_sort_without_duplicates_or_gaps(http, clients, sort):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        answer = http.get("/api/v1/clients", params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= 4
        seen.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == -(-len(NAMES) // 4)
    assert len(seen) == len(NAMES) == len({item["id"] for item in seen})
    key = {"name": lambda c: (search_text(c["name"]), c["id"]),
           "created_at": lambda c: (c["created_at"], c["id"])}[sort.lstrip("-")]
    assert [c["id"] for c in seen] == [c["id"] for c in sorted(
        seen, key=key, reverse=sort.startswith("-"))]
    # The default page size is 50, and the cursor is opaque base64url.
    assert len(http.get("/api/v1/clients").json()["items"]) == len(NAMES)
    first = http.get("/api/v1/clients", params={"limit": 1}).json()["next_cursor"]
    json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))


def test_pages_stay_consistent_while_clients_are_added(http, clients):
    first = http.get("/api/v1/clients", params={"limit": 10, "sort": "name"}).json()
    # A client sorting before the cursor does not shift the next page.
    assert http.post("/api/v1/clients", json={"name": "AAA First"}).status_code == 201
    rest, cursor = [], first["next_cursor"]
    while cursor:
        body = http.get("/api/v1/clients", params={"limit": 10, "sort": "name",
                                                   "cursor": cursor}).json()
        rest.extend(body["items"])
        cursor = body["next_cursor"]
    ids = [c["id"] for c in first["items"] + rest]
    assert len(ids) == len(set(ids)) == len(NAMES)


def test_search_never_returns_another_workspaces_clients(stack, http, clients):
    other = Client(stack, stack.session(f"ws-{uuid.uuid4().hex[:10]}"))
    assert search(other, q="sao") == []
    assert search(other, limit=500) == []
    assert other.get("/api/v1/clients/duplicates").json()["items"] == []
