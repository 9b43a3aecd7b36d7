"""The per-client overview and the tasks drill-down, answered from the read model."""
from services.common.errors import BadRequest, Gone, NotFound
from services.common.web import json_response
from services.common.paging import check_limit

from .. import overview
from ..http import api, date_param, id_param, today_utc
from ..projections import ERASED_KIND


def client_gone():
    return Gone("this client was erased at the request of the person it described",
                code="client_erased")

TASK_DUE = ("overdue", "due", "upcoming", "open")


class OverviewApi:
    @api("GET", "/api/v1/clients/<string:client_id>/overview")
    def client_overview(self, request, principal, client_id):
        as_of = date_param(request, "as_of", today_utc())
        body = self.read_model.read(lambda conn, tables: overview.client_overview(
            conn, tables, principal.workspace, client_id, as_of))
        if body is None:
            raise NotFound("no such client")
        if body["client"]["kind"] == ERASED_KIND:
            raise client_gone()
        return json_response(body)

    @api("GET", "/api/v1/tasks")
    def list_tasks(self, request, principal):
        """The tasks a client's overview counts: ``due`` = overdue | due | upcoming | open,
        one page at a time (``limit``, ``cursor``)."""
        client_id = id_param(request, "client_id")  # a malformed id is 400, not 404
        if client_id is None:
            raise BadRequest("client_id is required", {"client_id": ["required"]})
        due = request.args.get("due") or "open"
        if due not in TASK_DUE:
            raise BadRequest(f"due must be one of {', '.join(TASK_DUE)}",
                             {"due": ["not a known value"]})
        as_of = date_param(request, "as_of", today_utc())
        limit = check_limit(request.args.get("limit") or None)
        def tasks(conn, tables):
            client = overview.find_client(conn, tables, principal.workspace, client_id)
            if client is None:
                raise NotFound("no such client")
            if client.kind == ERASED_KIND:
                raise client_gone()
            return overview.client_tasks(conn, tables, principal.workspace, client_id, due,
                                         as_of, limit, request.args.get("cursor"))

        return json_response(self.read_model.read(tasks, snapshot=True))
