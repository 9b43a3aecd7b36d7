"""The gateway: the public HTTP API, auth, and the overview read model's projector."""
from pathlib import Path

import yaml
from nameko.dependency_providers import Config
from nameko.rpc import RpcProxy

from services.common.db import DatabaseProvider
from services.common.errors import NotFound
from services.common.extensions import EventConsumerProvider, HealthChecks
from services.common.migrations import migrator
from services.common.web import http, json_response

from . import overview
from .http import api, date_param, json_body, resource, today_utc, written
from .projections import HANDLERS

migrate = migrator(__file__)
OPENAPI_DIR = Path(__file__).with_name("openapi")


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
    return document


class SystemApi(HealthChecks):
    @http("GET", "/api/v1/openapi.json")
    def openapi(self, request):
        return json_response(load_openapi())

    def health_database(self):
        return self.db


class ClientsApi:
    @api("POST", "/api/v1/clients", role="member")
    def create_client(self, request, principal):
        result = self.contacts_rpc.create_client(self.command_context(request, principal),
                                                 json_body(request))
        client = result["client"]
        return written(client, 201, "contacts", result["position"],
                       {"Location": f"/api/v1/clients/{client['id']}"})

    @api("GET", "/api/v1/clients/<string:client_id>")
    def get_client(self, request, principal, client_id):
        return resource(self.contacts_rpc.get_client(self.command_context(request, principal),
                                                     client_id))

    @api("GET", "/api/v1/clients/<string:client_id>/overview")
    def client_overview(self, request, principal, client_id):
        as_of = date_param(request, "as_of", today_utc())
        with self.db.read() as conn:
            body = overview.client_overview(conn, principal.workspace, client_id, as_of)
        if body is None:
            raise NotFound("no such client")
        return json_response(body)


class GatewayService(SystemApi, ClientsApi):
    name = "gateway"

    config = Config()
    db = DatabaseProvider("gateway", migrate)
    projector = EventConsumerProvider("gateway", "gateway", migrate, HANDLERS)
    contacts_rpc = RpcProxy("contacts")

    @staticmethod
    def command_context(request, principal):
        return {"workspace": principal.workspace, "actor": principal.actor,
                "correlation_id": request.headers.get("X-Correlation-Id")}
