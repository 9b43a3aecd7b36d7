"""Clients: forwarded to the contacts service; the overview from the read model."""
from services.common.errors import NotFound
from services.common.web import json_response

from .. import overview
from ..http import api, date_param, json_body, resource, today_utc, written


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
