"""The served OpenAPI document is a valid OpenAPI 3.1 document and covers the contract."""
from openapi_spec_validator import validate

from gateway.api.system import load_openapi


def test_the_openapi_document_is_valid():
    document = load_openapi()
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_contract_path_is_documented():
    paths = set(load_openapi()["paths"])
    for path in ("/api/v1/clients", "/api/v1/clients/{client_id}",
                 "/api/v1/clients/{client_id}/overview", "/api/v1/clients/duplicates",
                 "/api/v1/clients/imports", "/api/v1/clients/export", "/api/v1/projects",
                 "/api/v1/projects/assign-client", "/api/v1/invoices", "/api/v1/tasks",
                 "/api/v1/purchase-orders", "/api/v1/quotes", "/health", "/ready"):
        assert path in paths, path


def test_every_api_operation_documents_401_and_every_write_403():
    """Every /api/v1 operation but the document itself needs a token (401), and every
    write a role above viewer (403): the document says so where it happens."""
    missing = []
    for path, operations in load_openapi()["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/openapi.json":
            continue
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            needed = ["401"] + ([] if method == "get" else ["403"])
            missing += [(method, path, code) for code in needed
                        if code not in operation["responses"]]
    assert not missing


def test_the_documented_date_range_is_the_enforced_one():
    import re
    from datetime import timedelta

    from gateway.apidoc import DATE_PATTERN
    from services.common.schemas import MAX_DATE, MIN_DATE

    for day, inside in ((MIN_DATE, True), (MAX_DATE, True),
                        (MIN_DATE - timedelta(days=1), False),
                        (MAX_DATE + timedelta(days=1), False)):
        assert bool(re.fullmatch(DATE_PATTERN, day.isoformat())) is inside, day


def test_problem_codes_are_documented_and_type_pages_exist():
    from gateway.apidoc import problem_page

    document = load_openapi()
    codes = document["components"]["schemas"]["ProblemCode"]["enum"]
    for code in ("duplicate_tax_id", "version_mismatch", "idempotency_key_in_flight",
                 "transition_not_allowed", "validation_failed", "json_too_deep",
                 "nul_character", "invalid_unicode", "uri_too_long", "headers_too_large"):
        assert code in codes
        assert code in problem_page(code)
    assert problem_page("no_such_code") is None
