"""Input meant to break the API gets a problem+json answer with its exact status, code and
type, never a 500, on SQLite and on PostgreSQL."""
import uuid

import pytest
import requests

PROBLEM = "application/problem+json"


def problem(answer, status, code, field_codes=None):
    """Assert ``answer`` is the problem ``code`` with ``status`` (and these field codes)."""
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == PROBLEM, answer.headers
    body = answer.json()
    assert body["code"] == code, body
    assert body["type"] == "/problems/" + code.replace("_", "-")
    assert body["status"] == status
    if field_codes is not None:
        assert body["codes"] == field_codes, body
        assert set(body["errors"]) == set(field_codes)
    return body


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request, make_stack):
    stack = make_stack(request.param).start()
    session = stack.session(role="member")
    base = f"{stack.url}/api/v1"
    client = session.post(f"{base}/clients", json={"name": "Hostile SL"}, timeout=10)
    project = session.post(f"{base}/projects", json={"name": "Walls"}, timeout=10)
    assert client.status_code == 201 and project.status_code == 201
    return stack, session, base, client.json()["id"], project.json()["id"]


def test_hostile_bodies_parameters_and_requests(api):
    stack, session, base, client_id, project_id = api
    post = lambda path, **kw: session.post(f"{base}{path}", timeout=10, **kw)  # noqa: E731

    # JSON nested 100,000 deep, with and without an Idempotency-Key: 422 json_too_deep.
    deep = b'{"name":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for headers in ({}, {"Idempotency-Key": str(uuid.uuid4())}):
        problem(post("/clients", data=deep, headers={"Content-Type": "application/json",
                                                     **headers}), 422, "json_too_deep")
    problem(post("/projects", json={"name": "x", "code": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[
        [[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}), 422, "json_too_deep")

    # A lone surrogate, escaped or as raw CESU-8 bytes: 422 invalid_unicode on the field.
    for raw in (b'{"name": "a\\ud800b"}', b'{"name": "a\xed\xa0\x80b"}'):
        problem(post("/clients", data=raw, headers={"Content-Type": "application/json"}),
                422, "validation_failed", {"name": ["invalid_unicode"]})
    problem(post("/invoices", data=b'{"client_id": "%s", "currency": "EUR", "lines": [{"desc'
                 b'ription": "\\udfff", "quantity": "1", "unit_price": "1", "tax_rate": "0"}'
                 b']}' % client_id.encode(), headers={"Content-Type": "application/json"}),
            422, "validation_failed", {"lines.0.description": ["invalid_unicode"]})

    # NUL in each kind of text: client, project, task, time entry, invoice line.
    nul = "a\x00b"
    for path, body, field in (
            ("/clients", {"name": nul}, "name"),
            ("/clients", {"name": "ok", "address": {"city": nul}}, "address.city"),
            ("/projects", {"name": nul}, "name"),
            (f"/projects/{project_id}/tasks", {"title": nul}, "title"),
            (f"/projects/{project_id}/time-entries",
             {"date": "2026-01-02", "hours": 1, "description": nul}, "description"),
            ("/invoices", {"client_id": client_id, "currency": "EUR", "lines": [{
                "description": nul, "quantity": "1", "unit_price": "1", "tax_rate": "0"}]},
             "lines.0.description")):
        problem(post(path, json=body), 422, "validation_failed", {field: ["nul_character"]})
    problem(session.patch(f"{base}/clients/{client_id}", json={"notes": nul}, timeout=10),
            422, "validation_failed", {"notes": ["nul_character"]})

    # NUL in a path id, a search and a filter: 400 invalid_parameter.
    for path in (f"/clients/{client_id}%00", "/clients?q=a%00b", "/projects?q=%00",
                 "/invoices?status=%00", f"/clients/{client_id}/overview?as_of=%00"):
        problem(session.get(f"{base}{path}", timeout=10), 400, "invalid_parameter")

    # Dates far away: bounded, 400 on parameters and 422 in bodies.
    for path in ("/clients?added_to=9999-12-31", "/clients/export?added_from=0001-01-01",
                 f"/clients/{client_id}/overview?as_of=9999-12-31",
                 "/invoices?as_of=9999-12-31"):
        body = problem(session.get(f"{base}{path}", timeout=10), 400, "invalid_parameter")
        assert list(body["codes"].values()) == [["date_out_of_range"]]
    problem(post(f"/projects/{project_id}/time-entries", json={"date": "9999-12-31",
                                                               "hours": 1}),
            422, "validation_failed", {"date": ["date_out_of_range"]})
    problem(post("/invoices", json={"client_id": client_id, "currency": "EUR",
                                    "due_date": "9999-12-31"}),
            422, "validation_failed", {"due_date": ["date_out_of_range"]})

    # Currencies are exact ISO 4217 codes.
    for currency in ("EUR ", " EUR", "eur", "EURO", "XXX"):
        problem(post("/invoices", json={"client_id": client_id, "currency": currency}),
                422, "validation_failed", {"currency": ["invalid_currency"]})

    # JSON under another content type: 415; not JSON at all: 400 malformed_json.
    for content_type in ("text/plain", "application/xml", "application/x-www-form-urlencoded"):
        problem(post("/clients", data=b'{"name": "x"}', headers={"Content-Type": content_type}),
                415, "unsupported_media_type")
    problem(post("/clients", data=b'{"name": NaN}', headers={"Content-Type": "application/json"}),
            400, "malformed_json")

    # The server's own answers: 405, 413, 414, 431, 404 as problem+json.
    problem(session.delete(f"{base}/projects", timeout=10), 405, "method_not_allowed")
    problem(post("/clients", data=b"{" + b" " * (2**20 + 1) + b"}",
                 headers={"Content-Type": "application/json"}), 413, "payload_too_large")
    problem(requests.get(f"{base}/clients?q={'x' * 9000}", timeout=10), 414, "uri_too_long")
    problem(requests.get(f"{base}/clients", headers={"X-Long": "x" * 9000}, timeout=10),
            431, "headers_too_large")
    problem(session.get(f"{base}/no-such-thing", timeout=10), 404, "not_found")

    # Still alive, and nothing refused was stored.
    names = [item["name"] for item in session.get(f"{base}/clients", timeout=10).json()["items"]]
    assert names == ["Hostile SL"]


def test_problems_answer_in_the_callers_language(api):
    stack, session, base, client_id, project_id = api
    invalid = {"name": "x" * 201, "country": "Narnia"}
    answers = {language: session.post(f"{base}/clients", json=invalid, timeout=10,
                                      headers={"Accept-Language": language})
               for language in ("en", "es", "pt-PT", "pt-BR,pt;q=0.9", "ca", "de")}
    bodies = {language: problem(answer, 422, "validation_failed",
                                {"name": ["too_long"], "country": ["invalid_country"]})
              for language, answer in answers.items()}
    assert bodies["es"]["detail"] == "algunos campos no son válidos"
    assert bodies["es"]["errors"]["name"] == ["debe tener como máximo 200 caracteres"]
    assert bodies["pt-PT"]["errors"]["name"] == ["tem de ter no máximo 200 caracteres"]
    assert bodies["pt-BR,pt;q=0.9"]["errors"]["name"] == ["precisa ter no máximo 200 caracteres"]
    assert bodies["ca"]["errors"]["name"] == ["ha de tenir com a màxim 200 caràcters"]
    assert bodies["de"] == bodies["en"]
    assert bodies["en"]["errors"]["name"] == ["must be at most 200 characters"]
    assert answers["ca"].headers["Content-Language"] == "ca"
    stale = session.patch(f"{base}/clients/{client_id}", json={"notes": "x"}, timeout=10,
                          headers={"If-Match": '"7"', "Accept-Language": "es"})
    body = problem(stale, 412, "version_mismatch")
    assert body["version"] == 1 and "versión" in body["detail"]
