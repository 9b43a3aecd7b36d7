"""The per-client overview and its drill-downs, answered from the read model."""
from services.common.errors import NotFound
from services.common.web import json_response

from .. import overview
from ..http import api, date_param, today_utc


class OverviewApi:
    @api("GET", "/api/v1/clients/<string:client_id>/overview")
    def client_overview(self, request, principal, client_id):
        as_of = date_param(request, "as_of", today_utc())
        with self.db.read() as conn:
            body = overview.client_overview(conn, principal.workspace, client_id, as_of)
        if body is None:
            raise NotFound("no such client")
        return json_response(body)
