"""Projects, time entries and tasks: forwarded to the projects service.

The three ways of giving a project its client:
- ``POST /api/v1/projects`` with ``client_id`` (while creating, ``via: create``);
- ``PATCH /api/v1/projects/{id}`` with ``client_id`` (from its settings, ``via: settings``;
  ``null`` clears it);
- ``POST /api/v1/projects/assign-client`` (up to 1,000 projects at once, ``via: bulk``).

A command naming a client forwards a consistency token (``http.command_token``): the
caller's, raised to the client's current position in contacts. The projects service
waits until its client replica has applied it, so a client created a moment ago can
be assigned at once and one archived a moment ago cannot.
"""

from services.common.errors import BadRequest, ValidationFailed
from services.common.paging import check_limit

from ..http import api, command_token, if_match, json_body, resource, written



def page_args(request):
    """``limit`` and ``cursor`` of a list request (400 for a malformed limit)."""
    return {"limit": check_limit(request.args.get("limit") or None),
            "cursor": request.args.get("cursor") or None}


class ProjectsApi:
    # Method names are unique across the gateway's mixins (one class composes them all).
    # -- projects -------------------------------------------------------------------------

    @api("POST", "/api/v1/projects", role="member")
    def create_project(self, request, principal):
        body = json_body(request)
        result = self.projects_rpc.create_project(
            self.command_context(request, principal), body,
            consistency=command_token(self, request, body.get("client_id")))
        project = result["project"]
        return written(project, 201, "projects", result["position"],
                       {"Location": f"/api/v1/projects/{project['id']}"})

    @api("GET", "/api/v1/projects")
    def list_projects(self, request, principal):
        filters = {name: request.args[name]
                   for name in ("client_id", "status", "q", "updated_since", "sort")
                   if request.args.get(name) not in (None, "")}
        return resource(self.projects_rpc.list_projects(
            self.command_context(request, principal), filters, **page_args(request)))

    @api("POST", "/api/v1/projects/assign-client", role="member")
    def bulk_assign_project_client(self, request, principal):
        body = json_body(request)
        unknown = sorted(set(body) - {"client_id", "project_ids"})
        if unknown:
            raise ValidationFailed("some fields are invalid",
                                   {name: ["this field is not recognised"] for name in unknown})
        result = self.projects_rpc.bulk_assign_client(
            self.command_context(request, principal), body.get("client_id"),
            body.get("project_ids"), consistency=command_token(self, request,
                                                               body.get("client_id")))
        position = result.pop("position")
        return written(result, 200, "projects", position)

    @api("GET", "/api/v1/projects/totals")
    def project_client_totals(self, request, principal):
        client_id = request.args.get("client_id")
        if not client_id:
            raise BadRequest("client_id is required", {"client_id": ["the client is required"]})
        return resource(self.projects_rpc.client_totals(self.command_context(request, principal),
                                                        client_id))

    @api("GET", "/api/v1/projects/<string:project_id>")
    def get_project(self, request, principal, project_id):
        return resource(self.projects_rpc.get_project(self.command_context(request, principal),
                                                      project_id))

    @api("PATCH", "/api/v1/projects/<string:project_id>", role="member")
    def update_project(self, request, principal, project_id):
        body = json_body(request)
        result = self.projects_rpc.update_project(
            self.command_context(request, principal), project_id, body,
            if_match(request), consistency=command_token(self, request, body.get("client_id")))
        return written(result["project"], 200, "projects", result["position"])

    # -- time entries ---------------------------------------------------------------------

    @api("POST", "/api/v1/projects/<string:project_id>/time-entries", role="member")
    def log_project_time(self, request, principal, project_id):
        result = self.projects_rpc.log_time(self.command_context(request, principal), project_id,
                                            json_body(request))
        entry = result["time_entry"]
        return written(entry, 201, "projects", result["position"], {
            "Location": f"/api/v1/projects/{entry['project_id']}/time-entries/{entry['id']}"})

    @api("GET", "/api/v1/projects/<string:project_id>/time-entries")
    def list_project_time_entries(self, request, principal, project_id):
        return resource(self.projects_rpc.list_time_entries(
            self.command_context(request, principal), project_id, **page_args(request)))

    @api("GET", "/api/v1/projects/<string:project_id>/time-entries/<string:entry_id>")
    def get_project_time_entry(self, request, principal, project_id, entry_id):
        return resource(self.projects_rpc.get_time_entry(
            self.command_context(request, principal), project_id, entry_id))

    # -- tasks ------------------------------------------------------------------------------

    @api("POST", "/api/v1/projects/<string:project_id>/tasks", role="member")
    def add_project_task(self, request, principal, project_id):
        result = self.projects_rpc.add_task(self.command_context(request, principal), project_id,
                                            json_body(request))
        task = result["task"]
        return written(task, 201, "projects", result["position"], {
            "Location": f"/api/v1/projects/{task['project_id']}/tasks/{task['id']}"})

    @api("GET", "/api/v1/projects/<string:project_id>/tasks")
    def list_project_tasks(self, request, principal, project_id):
        status = request.args.get("status") or None
        return resource(self.projects_rpc.list_tasks(
            self.command_context(request, principal), project_id, status, **page_args(request)))

    @api("GET", "/api/v1/projects/<string:project_id>/tasks/<string:task_id>")
    def get_project_task(self, request, principal, project_id, task_id):
        return resource(self.projects_rpc.get_task(self.command_context(request, principal),
                                                   project_id, task_id))

    @api("PATCH", "/api/v1/projects/<string:project_id>/tasks/<string:task_id>",
         role="member")
    def update_project_task(self, request, principal, project_id, task_id):
        result = self.projects_rpc.update_task(
            self.command_context(request, principal), project_id, task_id, json_body(request),
            if_match(request))
        return written(result["task"], 200, "projects", result["position"])
