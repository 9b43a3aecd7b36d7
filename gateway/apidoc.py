"""What the OpenAPI document states from the code itself, so that the two cannot drift.

``gateway/openapi/*.yaml`` describe each operation; :func:`complete` adds the rules
every handler shares:

- the problem codes (every code a message can carry, from the registry the services
  fill) as the ``Problem`` schema's ``code`` enum, with ``codes`` and the ``type`` URI;
- the statuses every operation can answer besides its own: 400 (a malformed
  parameter or header), 401, 403 for writes, 404 where the path names a resource,
  413/415/422 where a JSON body is read, 409/422 where an ``Idempotency-Key`` is taken;
- ``additionalProperties: false`` on every JSON request body object (unknown members
  are refused with 422 ``unknown_field``);
- the date range (``MIN_DATE``..``MAX_DATE``) on every date, the ISO 4217 codes a
  currency may be, and the formats of the ``Consistency-Token`` and ``If-Match`` headers.
"""
import copy

import pycountry
from iso4217 import Currency

from gateway import problems
from services.common.errors import registered
from services.common.schemas import MAX_DATE, MIN_DATE
from services.common.web import PROBLEM_JSON, problem_type

# YYYY-MM-DD from MIN_DATE (1900) to MAX_DATE (2199).
DATE_PATTERN = r"^(19[0-9]{2}|2[01][0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"
SOURCES = "(contacts|projects|billing)"
CONSISTENCY_TOKEN_PATTERN = rf"^{SOURCES}:[0-9]{{1,18}}(,{SOURCES}:[0-9]{{1,18}})*$"
IF_MATCH_PATTERN = r'^(\*|(W/)?"[1-9][0-9]{0,17}"|[1-9][0-9]{0,17})$'
CLASS_CODES = ("bad_request", "not_found", "conflict", "version_mismatch",
               "validation_failed", "concurrent_modification", "unauthorized", "forbidden",
               "payload_too_large", "unsupported_media_type", "method_not_allowed",
               "uri_too_long", "headers_too_large", "internal_error")
METHODS = ("get", "put", "post", "patch", "delete")
PROBLEM_REF = {"$ref": "#/components/responses/Problem"}
# Links a client follows from a created resource to what it can do with it next
# (operationId of the creation -> {link name: (operationId, path parameter)}).
LINKS = {
    "createClient": {"GetClient": ("getClient", "client_id"),
                     "UpdateClient": ("updateClient", "client_id"),
                     "ArchiveClient": ("archiveClient", "client_id"),
                     "RestoreClient": ("restoreClient", "client_id"),
                     "GetClientOverview": ("getClientOverview", "client_id"),
                     "GetClientHistory": ("getClientHistory", "client_id")},
    "createProject": {"GetProject": ("getProject", "project_id"),
                      "UpdateProject": ("updateProject", "project_id"),
                      "LogTime": ("logTime", "project_id"),
                      "AddTask": ("addTask", "project_id"),
                      "ListTimeEntries": ("listTimeEntries", "project_id"),
                      "ListProjectTasks": ("listProjectTasks", "project_id")},
    "addTask": {"GetTask": ("getTask", "task_id"), "UpdateTask": ("updateTask", "task_id")},
    "logTime": {"GetTimeEntry": ("getTimeEntry", "entry_id")},
    "createInvoice": {"GetInvoice": ("getInvoice", "invoice_id"),
                      "UpdateInvoice": ("updateInvoice", "invoice_id"),
                      "IssueInvoice": ("issueInvoice", "invoice_id"),
                      "RecordInvoicePayment": ("recordInvoicePayment", "invoice_id"),
                      "VoidInvoice": ("voidInvoice", "invoice_id")},
    "placePurchaseOrder": {"GetPurchaseOrder": ("getPurchaseOrder", "purchase_order_id"),
                           "FinalizePurchaseOrder": ("finalizePurchaseOrder",
                                                     "purchase_order_id")},
    "createQuote": {"GetQuote": ("getQuote", "quote_id"),
                    "ChangeQuoteStatus": ("changeQuoteStatus", "quote_id")},
}
# A created task or time entry also names its project.
PARENT = {"addTask": ("project_id", "$response.body#/project_id"),
          "logTime": ("project_id", "$response.body#/project_id")}


def problem_codes():
    """Every problem and field code, sorted."""
    return sorted({code for code, _ in registered()} | set(CLASS_CODES))


def complete(document):
    """``document`` (the YAML files merged) with the shared rules stated; returns it."""
    assert problems.LOCALES  # the services' message registries are loaded
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _problem_schemas(schemas)
    _currencies(schemas)
    _client_requests(schemas)
    _headers(components.setdefault("parameters", {}))
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method in METHODS and path.startswith("/api/v1/") \
                    and path != "/api/v1/openapi.json":
                _shared_statuses(document, path, method, operation)
                _closed_request_body(document, operation)
    _bounded_dates(document)
    _empty_means_absent(document)
    _links(document)
    return document


NO_NUL_PATTERN = "^[^\\u0000]*$"


def _no_nul(schema):
    """A query text may not hold a NUL (400 ``invalid_parameter``): stated as a pattern."""
    if isinstance(schema, dict) and schema.get("type") == "string" \
            and not {"pattern", "enum", "format", "const"} & set(schema):
        schema["pattern"] = NO_NUL_PATTERN


def _empty_means_absent(document):
    """An optional query parameter or header sent empty (``?status=``, as a form sends an
    unfilled field) is read as left out: the document allows the empty value too."""
    done = set()
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for parameter in operation.get("parameters", ()):
                parameter = _resolve(document, parameter)
                if id(parameter) in done or parameter.get("required") \
                        or parameter.get("in") not in ("query", "header"):
                    continue
                done.add(id(parameter))
                if parameter.get("name") == "country" and parameter.get("in") == "query":
                    parameter["schema"] = {
                        "type": "string", "description": "ISO 3166-1 alpha-2",
                        "enum": sorted(country.alpha_2 for country in pycountry.countries)}
                schema = parameter.get("schema")
                _no_nul(schema)
                if schema:
                    parameter["schema"] = {"anyOf": [schema, {"type": "string", "maxLength": 0}]}


def _links(document):
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            links = LINKS.get(operation.get("operationId")) if isinstance(operation, dict) \
                else None
            if not links:
                continue
            status = "201" if "201" in operation["responses"] else "200"
            created = copy.deepcopy(_resolve(document, operation["responses"][status]))
            operation["responses"][status] = created
            declared = created.setdefault("links", {})
            for name, (target, parameter) in links.items():
                parameters = {parameter: "$response.body#/id"}
                if operation["operationId"] in PARENT:
                    key, expression = PARENT[operation["operationId"]]
                    parameters[key] = expression
                declared.setdefault(name, {"operationId": target, "parameters": parameters})


def _problem_schemas(schemas):
    codes = problem_codes()
    schemas["ProblemCode"] = {
        "type": "string", "enum": codes,
        "description": "What went wrong, for programs: stable across versions and languages. "
                       "The problem's `type` is `/problems/` and the code with `-` for `_`."}
    schemas["Problem"] = {
        "type": "object",
        "description": "RFC 9457 problem details. `detail` and the `errors` messages are in "
                       "the request's `Accept-Language` (en, es, pt-PT, pt-BR, ca; English "
                       "otherwise, with `Content-Language` naming the language); `code`, "
                       "`codes` and `type` never change with the language.",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string", "pattern": "^/problems/[a-z0-9-]+$",
                     "description": "A relative URI per problem code (`/problems/duplicate-tax-id`)"
                                    "; `GET` it for a short description.",
                     "examples": [problem_type("duplicate_tax_id")]},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"$ref": "#/components/schemas/ProblemCode"},
            "errors": {
                "type": "object",
                "description": "Field path -> messages (validation errors only)",
                "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            "codes": {
                "type": "object",
                "description": "Field path -> codes, in the order of `errors`",
                "additionalProperties": {"type": "array",
                                         "items": {"$ref": "#/components/schemas/ProblemCode"}}},
        },
    }


def _currencies(schemas):
    codes = sorted(currency.code for currency in Currency if currency.exponent is not None)
    schemas["CurrencyCode"] = {
        "type": "string", "enum": codes, "example": "EUR",
        "description": "An ISO 4217 code with a minor unit, exactly as ISO writes it"}


def _closed(schema):
    schema = copy.deepcopy(schema)
    schema["additionalProperties"] = False
    return schema


def _client_requests(schemas):
    """``ClientFields`` also serves the answers (with more members): the request bodies get
    closed copies of it."""
    fields = schemas.get("ClientFields")
    if not fields:
        return
    for part in ("Address", "Company"):
        schemas[part] = _closed(schemas[part])
    schemas["NewClient"] = {**_closed(fields), "required": ["name"]}
    schemas["ClientPatch"] = _closed(fields)


def _headers(parameters):
    if "ConsistencyToken" in parameters:
        parameters["ConsistencyToken"]["schema"] = {
            "type": "string", "pattern": CONSISTENCY_TOKEN_PATTERN, "example": "contacts:0"}
    if "IfMatch" in parameters:
        parameters["IfMatch"]["schema"] = {"type": "string", "pattern": IF_MATCH_PATTERN,
                                           "example": '"3"'}


def _resolve(document, schema):
    while isinstance(schema, dict) and "$ref" in schema:
        _, _, section, name = schema["$ref"].split("/")
        schema = document["components"][section][name]
    return schema


def _json_body(operation):
    content = (operation.get("requestBody") or {}).get("content") or {}
    return content.get("application/json")


def _shared_statuses(document, path, method, operation):
    responses = operation.setdefault("responses", {})
    wanted = ["400", "401"]
    if method != "get":
        wanted.append("403")
    if "{" in path:
        wanted.append("404")
    if _json_body(operation) is not None:
        wanted += ["413", "415", "422"]
    parameters = [_resolve(document, parameter) for parameter in operation.get("parameters", ())]
    if any(parameter.get("name") == "Idempotency-Key" for parameter in parameters):
        wanted += ["409", "422"]
    for status in wanted:
        responses.setdefault(status, dict(PROBLEM_REF))
    for status, response in responses.items():
        if status[0] in "45" and "content" not in _resolve(document, response):
            responses[status] = dict(PROBLEM_REF)


def _closed_request_body(document, operation):
    body = _json_body(operation)
    if body is None:
        return
    seen = set()

    def close(schema):
        if not isinstance(schema, dict) or id(schema) in seen:
            return
        seen.add(id(schema))
        target = _resolve(document, schema)
        if target is not schema:
            close(target)
            return
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for key in ("allOf", "oneOf", "anyOf"):
            for inner in schema.get(key, ()):
                close(inner)
        for inner in (schema.get("properties") or {}).values():
            close(inner)
        close(schema.get("items"))

    close(body.get("schema"))


def _bounded_dates(node):
    if isinstance(node, dict):
        if node.get("format") == "date" and "pattern" not in node:
            node["pattern"] = DATE_PATTERN
        for value in node.values():
            _bounded_dates(value)
    elif isinstance(node, list):
        for value in node:
            _bounded_dates(value)


def problem_page(code):
    """A short HTML page about a problem code (what ``type`` URIs lead to), or None."""
    if code not in problem_codes():
        return None
    templates = [template for known, template in registered() if known == code]
    items = "".join(f"<li>{_escape(template)}</li>" for template in templates[:20])
    return (f"<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{code}</title>"
            f"<h1>{code}</h1><p>A Clientfolio API problem (RFC 9457). Programs branch on "
            f"the <code>code</code> member; its messages read like:</p><ul>{items}</ul>"
            f"<p>Answered as <code>{PROBLEM_JSON}</code>.</p></html>")


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
