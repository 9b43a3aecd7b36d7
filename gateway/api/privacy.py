"""A client's erasure and the export of its personal data (docs/privacy.md)."""
from services.common.errors import ValidationFailed
from services.common.web import json_response

from ..http import api, json_body, written

ERASE_KEYS = ("confirmation",)
MAX_CONFIRMATION = 300


def erase_confirmation(body):
    """The body's ``confirmation`` (the service compares it with the client), checked."""
    errors = {name: ["this field is not recognised"] for name in sorted(set(body) -
                                                                        set(ERASE_KEYS))}
    confirmation = body.get("confirmation")
    if confirmation is None or confirmation == "":
        errors["confirmation"] = ["type the client's id or legal name to confirm the erasure"]
        raise ValidationFailed("some fields are invalid", errors, code="erasure_not_confirmed")
    if not isinstance(confirmation, str):
        errors["confirmation"] = ["must be text"]
    elif len(confirmation) > MAX_CONFIRMATION:
        errors["confirmation"] = [f"must be at most {MAX_CONFIRMATION} characters"]
    if errors:
        raise ValidationFailed("some fields are invalid", errors)
    return confirmation


def every_page(fetch):
    """Every item of a paged list (``fetch(cursor)`` answers ``{"items", "next_cursor"}``)."""
    items, cursor = [], None
    while True:
        page = fetch(cursor)
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


class PrivacyApi:
    @api("POST", "/api/v1/clients/<string:client_id>/erase", role="admin")
    def erase_client(self, request, principal, client_id):
        """Erase the client's personal data for good (GDPR art. 17, LGPD art. 18).
        ``confirmation`` must repeat the client's id or legal name."""
        confirmation = erase_confirmation(json_body(request))
        result = self.contacts_rpc.erase_client(self.command_context(request, principal),
                                                client_id, confirmation)
        return written({"client_id": result["client_id"], "erased_ids": result["erased_ids"],
                        "erased": True}, 200, "contacts", result["position"])

    @api("GET", "/api/v1/clients/<string:client_id>/personal-data", role="admin")
    def client_personal_data(self, request, principal, client_id):
        """Everything held about the client (GDPR art. 15 and 20), as one JSON document."""
        ctx = self.command_context(request, principal)
        data = self.contacts_rpc.personal_data(ctx, client_id)
        client = data["client"]["id"]
        # What the other services hold about the client: its projects and documents.
        data["projects"] = every_page(lambda cursor: self.projects_rpc.list_projects(
            ctx, {"client_id": client}, limit=500, cursor=cursor))
        for key, method in (("invoices", "list_invoices"),
                            ("purchase_orders", "list_purchase_orders"),
                            ("quotes", "list_quotes")):
            data[key] = every_page(lambda cursor, method=method: getattr(
                self.billing_rpc, method)(ctx, {"client_id": client, "limit": 500,
                                                **({"cursor": cursor} if cursor else {})}))
        return json_response(data, headers={
            "Content-Disposition": f'attachment; filename="client-{data["client"]["id"]}.json"'})
