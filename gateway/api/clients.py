"""Clients: forwarded to the contacts service."""
from ..http import api, json_body, resource, written


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
