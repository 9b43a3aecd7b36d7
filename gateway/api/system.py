"""Health, readiness, metrics and the OpenAPI document (no token needed)."""
from pathlib import Path

import yaml

from werkzeug.wrappers import Response

from services.common.errors import NotFound
from services.common.extensions import HealthChecks
from services.common.web import http, json_response

from .. import apidoc

OPENAPI_DIR = Path(__file__).resolve().parent.parent / "openapi"


def load_openapi():
    """The OpenAPI document: ``openapi.yaml`` plus every ``paths-*.yaml`` fragment."""
    with open(OPENAPI_DIR / "openapi.yaml", encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    for fragment in sorted(OPENAPI_DIR.glob("paths-*.yaml")):
        with open(fragment, encoding="utf-8") as handle:
            part = yaml.safe_load(handle) or {}
        document.setdefault("paths", {}).update(part.get("paths", {}))
        for section, items in (part.get("components") or {}).items():
            document.setdefault("components", {}).setdefault(section, {}).update(items)
    return apidoc.complete(document)


class SystemApi(HealthChecks):
    @http("GET", "/api/v1/openapi.json")
    def openapi(self, request):
        return json_response(load_openapi())

    @http("GET", "/problems/<string:slug>")
    def problem_page(self, request, slug):
        page = apidoc.problem_page(slug.replace("-", "_"))
        if page is None:
            raise NotFound("no such endpoint: {path}".format(path=request.path))
        return Response(page, status=200, content_type="text/html; charset=utf-8")

    def health_database(self):
        return self.db
