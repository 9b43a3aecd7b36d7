"""A client's erasure and the export of its personal data (docs/privacy.md)."""
from services.common.errors import ValidationFailed

from ..http import api, json_body, written
from services.common.web import json_response

ERASE_KEYS = ("confirmation",)


class PrivacyApi:
    @api("POST", "/api/v1/clients/<string:client_id>/erase", role="admin")
    def erase_client(self, request, principal, client_id):
        """Erase the client's personal data for good (GDPR art. 17, LGPD art. 18).
        ``confirmation`` must repeat the client's id or legal name."""
        body = json_body(request)
        unknown = sorted(set(body) - set(ERASE_KEYS))
        if unknown:
            raise ValidationFailed("some fields are invalid",
                                   {name: ["this field is not recognised"] for name in unknown})
        result = self.contacts_rpc.erase_client(self.command_context(request, principal),
                                                client_id, body.get("confirmation"))
        return written({"client_id": result["client_id"], "erased_ids": result["erased_ids"],
                        "erased": True}, 200, "contacts", result["position"])

    @api("GET", "/api/v1/clients/<string:client_id>/personal-data", role="admin")
    def client_personal_data(self, request, principal, client_id):
        """Everything held about the client (GDPR art. 15 and 20), as one JSON document."""
        ctx = self.command_context(request, principal)
        data = self.contacts_rpc.personal_data(ctx, client_id)
        return json_response(data, headers={
            "Content-Disposition": f'attachment; filename="client-{data["client"]["id"]}.json"'})
