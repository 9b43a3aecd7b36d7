"""The Projects screens, composed into the gateway service like ``pages.WebApp``.

The list with its bulk ``Actions -> Assign client``, a new project (step 1, *Basic
information*), a project's page (hours and tasks) and its settings, and the client
picker every form that names a client uses (``/clients/picker``). They call the
projects service's RPC commands as the JSON API does (the same three ways to assign a
client: ``create``, ``settings``, ``bulk``) and decide no rule themselves.

Every write waits (a few seconds at most) until the gateway's read model has applied
the position it answers, as a request sending its ``Consistency-Token`` would: the
client's overview shows the change as soon as the person goes back to it.
"""
import re
import urllib.parse

from babel.numbers import NumberFormatError, parse_decimal
from sqlalchemy import select

from services.common.errors import (BadRequest, Conflict, NotFound,
                                    PreconditionFailed, ValidationFailed)

from ..http import command_token, today_utc, wait_for_consistency
from .labels import N_
from .pages import fetch_all, is_htmx, localized, page
from .render import redirect

PROJECT_PAGE_SIZE = 50
PROJECT_STATUSES = ("active", "completed", "archived")
PICKER_SIZE = 20
ENTRIES_SHOWN = 200
TASKS_SHOWN = 500
PROJECT_FIELDS = ("name", "code", "status", "start_date", "end_date", "budget_hours")
MAX_BULK_IDS = 1000
MISSING_LOOKUPS = 100  # projects the read model lacks, asked one by one (names only)
UUID_TEXT = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
# Ids and field names a picker is rendered with (they land in HTML ids and names).
PICKER_ID = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
PICKER_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# The reasons the bulk assignment gives per project, in the page's words.
BULK_REASONS = {"not found": N_("Not found: unknown, or of another workspace"),
                "the project is archived": N_("The project is archived")}


def project_values(project=None):
    """Form values of a stored project (all text, as the form shows them)."""
    project = project or {}
    values = {name: "" if project.get(name) is None else str(project.get(name))
              for name in PROJECT_FIELDS}
    values["status"] = values["status"] or "active"
    values["client_id"] = project.get("client_id") or ""
    return values


def posted_values(form):
    values = {name: (form.get(name) or "").strip() for name in PROJECT_FIELDS}
    values["client_id"] = (form.get("client_id") or "").strip()
    return values


def decimal_text(value, locale):
    """``value`` as typed in ``locale`` ("7,5" in Spanish) as a decimal string the service
    judges; what cannot be read in the locale goes as typed (the service names the fault)."""
    value = (value or "").strip()
    if not value:
        return value
    try:
        return str(parse_decimal(value, locale=locale, strict=True))
    except (NumberFormatError, ValueError):
        return value


def project_data(values, locale, current=None):
    """JSON for ``create_project`` (blank fields left out) or, with ``current`` (the
    stored project's values), the changes for ``update_project`` (blank clears)."""
    data = {}
    for name in PROJECT_FIELDS:
        value = values.get(name, "")
        if name == "budget_hours":
            value = decimal_text(value, locale)
        if current is None:
            if value:
                data[name] = value
            continue
        before = current.get(name, "")
        if name == "budget_hours" and before and value:
            try:
                if float(before) == float(value):
                    continue
            except ValueError:
                pass
        if value != before:
            data[name] = value or None
    client_id = values.get("client_id") or None
    if current is None:
        if client_id:
            data["client_id"] = client_id
    elif client_id != (current.get("client_id") or None):
        data["client_id"] = client_id
    return data


def answer_status(view, status):
    """htmx swaps only 2xx answers: a refusal it shows in place (a message next to the
    field) answers 200 to htmx, and its real status to a plain form post."""
    return 200 if is_htmx(view.request) else status


def picker_params(args):
    """The picker's id, field name and whether "no client" is offered, from a request."""
    picker = args.get("picker") or "client-picker"
    field = args.get("field") or "client_id"
    if not PICKER_ID.match(picker) or not PICKER_FIELD.match(field):
        raise BadRequest("the client picker's parameters are invalid")
    return {"picker": picker, "field": field, "allow_none": args.get("none") == "1"}


class ProjectPages:
    # Method names are unique across the gateway's mixins (one class composes them all).

    # -- the client picker ----------------------------------------------------------------

    def picker_search(self, view, query=""):
        """The reply of the picker's search, asked now and read later (``call_async``),
        so a page can ask its other questions meanwhile."""
        params = {"archived": "false", "sort": "name", "limit": str(PICKER_SIZE)}
        if query:
            params["q"] = query[:200]
        return self.contacts_rpc.list_clients.call_async(view.ctx, params)

    def picker_options(self, view, query="", selected=None, search=None):
        """``(options, chosen)``: the active clients matching ``query`` (by name, at most
        ``PICKER_SIZE``), with the ``selected`` client first when it is not among them (an
        archived client a project already has stays shown); ``chosen`` is the selected id,
        else, after a search, the first match."""
        search = search or self.picker_search(view, query)
        try:
            options = search.result()["items"]
        except BadRequest:
            options = []
        chosen = selected or None
        if chosen and chosen not in {client["id"] for client in options}:
            found = self.contacts_rpc.get_clients(view.ctx, [chosen]).get(chosen) \
                if UUID_TEXT.match(chosen) else None
            if found is None:
                chosen = None
            elif not query:
                options = [found, *options]
            else:
                chosen = None
        if query and chosen is None and options:
            chosen = options[0]["id"]
        return options, chosen

    def picker_context(self, view, picker, field="client_id", selected=None, query="",
                       allow_none=False, errors=None, added=None, new_name="", search=None):
        options, chosen = self.picker_options(view, query, selected, search)
        return {"picker": picker, "field": field, "options": options, "chosen": chosen,
                "query": query, "allow_none": allow_none, "picker_errors": errors or {},
                "added": added, "new_name": new_name}

    @page("GET", "/clients/picker")
    def web_client_picker(self, view):
        """The picker's drop-down for what was typed (``client_q``): htmx swaps it in."""
        args = view.request.args
        params = picker_params(args)
        context = self.picker_context(view, params["picker"], params["field"],
                                      args.get(params["field"]),
                                      (args.get("client_q") or "").strip(),
                                      params["allow_none"])
        return view.render("client_picker_select.html", **context)

    @page("POST", "/clients/picker/new", role="member")
    def web_client_picker_new(self, view):
        """Adds a client by its name from inside a form and answers the whole picker with
        it chosen (the form around it is left as the person filled it)."""
        params = picker_params(view.request.args)
        added, errors, name = self.picker_add_client(view)
        context = self.picker_context(view, params["picker"], params["field"],
                                      added["id"] if added else
                                      view.request.form.get(params["field"]),
                                      "", params["allow_none"], errors, added, name)
        return view.render("client_picker_box.html", answer_status(view, 422 if errors else 200),
                           **context)

    def picker_add_client(self, view):
        """``(client, errors, typed name)`` of the picker's "add a new client"."""
        name = (view.request.form.get("new_client_name") or "").strip()
        try:
            result = self.contacts_rpc.create_client(view.ctx, {"name": name})
        except (ValidationFailed, Conflict) as exc:
            detail, fields = localized(exc, view.locale)
            return None, {"new_client_name": fields.get("name") or [detail]}, name
        return result["client"], {}, ""

    # -- the list and the bulk assignment -------------------------------------------------

    def project_list(self, view, args):
        """The list's filters, page of projects, their clients and page links."""
        filters = {"q": (args.get("q") or "").strip()[:200],
                   "status": args.get("status") or "", "client": args.get("client") or ""}
        if filters["status"] not in PROJECT_STATUSES:
            filters["status"] = ""
        query = {name: value for name, value in filters.items() if value}
        rpc_filters = {name: value for name, value in (("q", filters["q"]),
                                                       ("status", filters["status"]),
                                                       ("client_id", filters["client"]))
                       if value}
        cursor = args.get("cursor") or None
        error, items, next_cursor = None, [], None
        try:
            answer = self.projects_rpc.list_projects(view.ctx, rpc_filters, PROJECT_PAGE_SIZE,
                                                     cursor)
            items, next_cursor = answer["items"], answer.get("next_cursor")
        except BadRequest as exc:
            detail, fields = localized(exc, view.locale)
            error = [message for messages in fields.values() for message in messages] or \
                [detail]
        client_ids = sorted({item["client_id"] for item in items if item.get("client_id")})
        if UUID_TEXT.match(filters["client"]):
            client_ids = sorted({*client_ids, filters["client"]})
        clients = self.client_records(view, client_ids)
        return {"filters": filters, "items": items, "clients": clients, "list_error": error,
                "filtered": bool(query), "cursor": cursor or "",
                "filter_client": clients.get(filters["client"]),
                "next_url": "/projects?" + urllib.parse.urlencode({**query, "cursor":
                                                                   next_cursor})
                if next_cursor else None,
                "first_url": "/projects?" + urllib.parse.urlencode(query) if cursor else None,
                "statuses": PROJECT_STATUSES}

    def client_records(self, view, client_ids):
        """``{id: {"id", "name", "archived"}}`` of the list's clients: from the gateway's
        read model (one query, no RPC), and from contacts for a client it does not know
        yet (created a moment ago)."""
        if not client_ids:
            return {}
        workspace = view.principal.workspace

        def read(conn, tables):
            table = tables.clients
            rows = conn.execute(select(table.c.id, table.c.name, table.c.archived)
                                .where(table.c.workspace == workspace)
                                .where(table.c.id.in_(client_ids))).all()
            return {row.id: {"id": row.id, "name": row.name, "archived": row.archived}
                    for row in rows}

        found = self.read_model.read(read)
        missing = [client_id for client_id in client_ids if client_id not in found]
        if missing:
            found.update(self.contacts_rpc.get_clients(view.ctx, missing))
        return found

    @page("GET", "/projects")
    def web_projects(self, view):
        request = view.request
        partial = is_htmx(request) and request.headers.get("HX-Target") == "project-results"
        search = None if partial or not view.can("member") else self.picker_search(view)
        context = self.project_list(view, request.args)
        if partial:
            return view.render("projects_results.html", **context)
        picker = self.picker_context(view, "bulk-client", search=search) if search else {}
        return view.render("projects.html", result=None, **picker, **context)

    @page("POST", "/projects/assign-client", role="member")
    def web_bulk_assign(self, view):
        """``Actions -> Assign client``: one bulk command, answered per project."""
        form = view.request.form
        list_args = {name: form.get(name) or "" for name in ("q", "status", "client",
                                                               "cursor")}
        project_ids = list(dict.fromkeys(pid for pid in form.getlist("project_ids") if pid))
        client_id = (form.get("client_id") or "").strip()
        if form.get("picker_action") == "add_client":  # the picker's "add" without JavaScript
            added, errors, name = self.picker_add_client(view)
            return self._bulk_answer(view, list_args, None, project_ids,
                                     added["id"] if added else client_id, errors, added, name)
        problem = None
        if not project_ids:
            problem = "no_projects"
        elif len(project_ids) > MAX_BULK_IDS:
            problem = "too_many"
        elif not client_id:
            problem = "no_client"
        if problem:
            return self._bulk_answer(view, list_args, {"problem": problem}, project_ids,
                                     client_id, status=422)
        try:
            answer = self.projects_rpc.bulk_assign_client(
                view.ctx, client_id, project_ids,
                consistency=command_token(self, view.request, client_id))
        except ValidationFailed as exc:
            detail, fields = localized(exc, view.locale)
            # The client is refused for every project at once: each project failed for it.
            reason = " ".join(fields.get("client_id") or []) or detail
            if set(fields) - {"client_id"}:
                reason = " ".join(message for messages in fields.values()
                                  for message in messages)
            answer = {"assigned": [], "unchanged": [],
                      "failed": [{"id": pid, "error": reason} for pid in project_ids]}
        else:
            wait_for_consistency(self.projector, f"projects:{answer.pop('position')}")
        return self._bulk_answer(view, list_args, self._bulk_rows(view, answer, project_ids),
                                 project_ids, client_id)

    def _bulk_rows(self, view, answer, project_ids):
        """The answer as ``{"rows": [{"id", "project", "outcome", "reason"}], counts}``,
        in the order the projects were chosen."""
        outcome = {pid: ("assigned", "") for pid in answer["assigned"]}
        outcome.update({pid: ("unchanged", "") for pid in answer["unchanged"]})
        outcome.update({item["id"]: ("failed", item["error"]) for item in answer["failed"]})
        known = [pid for pid in project_ids
                 if outcome.get(pid, ("", ""))[1] != "not found"]
        projects = self.project_records(view, known)
        rows = []
        for pid in project_ids:
            result, reason = outcome.get(pid, ("failed", ""))
            rows.append({"id": pid, "project": projects.get(pid), "outcome": result,
                         "reason": reason})
        counts = {name: sum(1 for row in rows if row["outcome"] == name)
                  for name in ("assigned", "unchanged", "failed")}
        return {"rows": rows, "counts": counts, "reasons": BULK_REASONS}

    def project_records(self, view, project_ids):
        """``{id: {"id", "name"}}`` of the workspace's projects among ``project_ids``: from
        the gateway's read model (one query), and from the projects service for the few it
        has not applied yet."""
        workspace = view.principal.workspace
        ids = [pid for pid in project_ids if UUID_TEXT.match(pid)]

        def read(conn, tables):
            table = tables.projects
            rows = conn.execute(select(table.c.id, table.c.name)
                                .where(table.c.workspace == workspace)
                                .where(table.c.id.in_(ids))).all()
            return {row.id: {"id": row.id, "name": row.name} for row in rows}

        found = self.read_model.read(read) if ids else {}
        missing = [pid for pid in ids if pid not in found][:MISSING_LOOKUPS]
        replies = [(pid, self.projects_rpc.get_project.call_async(view.ctx, pid))
                   for pid in missing]
        for pid, reply in replies:
            try:
                found[pid] = reply.result()
            except NotFound:
                pass
        return found

    def _bulk_answer(self, view, list_args, result, project_ids, client_id, errors=None,
                     added=None, new_name="", status=200):
        context = self.project_list(view, list_args)
        clients = self.contacts_rpc.get_clients(view.ctx, [client_id]) \
            if client_id and UUID_TEXT.match(client_id) else {}
        if result is not None:
            result["client"] = clients.get(client_id)
        picker = self.picker_context(view, "bulk-client", selected=client_id, errors=errors,
                                     added=added, new_name=new_name)
        if is_htmx(view.request):
            return view.render("projects_assign_result.html", answer_status(view, status),
                               result=result,
                               **picker, **context)
        return view.render("projects.html", status, result=result, chosen_ids=project_ids,
                           **picker, **context)

    # -- a new project --------------------------------------------------------------------

    @page("GET,POST", "/projects/new", role="member")
    def web_new_project(self, view):
        request = view.request
        if request.method == "GET":
            values = project_values()
            values["client_id"] = request.args.get("client_id") or ""
            return self._project_form(view, "project_new.html", values, {})
        values = posted_values(request.form)
        if request.form.get("picker_action") == "add_client":
            added, errors, name = self.picker_add_client(view)
            if added:
                values["client_id"] = added["id"]
            return self._project_form(view, "project_new.html", values, {},
                                      422 if errors else 200, picker_errors=errors,
                                      added=added, new_name=name)
        try:
            result = self.projects_rpc.create_project(
                view.ctx, project_data(values, view.locale),
                consistency=command_token(self, request, values["client_id"] or None))
        except ValidationFailed as exc:
            return self._project_form(view, "project_new.html", values,
                                      localized(exc, view.locale)[1], 422)
        wait_for_consistency(self.projector, f"projects:{result['position']}")
        return redirect(f"/projects/{result['project']['id']}?created=1")

    def _project_form(self, view, template, values, errors, status=200, picker_errors=None,
                      added=None, new_name="", **context):
        picker = self.picker_context(view, "project-client", selected=values.get("client_id"),
                                     allow_none=True, errors=picker_errors, added=added,
                                     new_name=new_name)
        if errors.get("client_id"):
            picker["picker_errors"] = {**picker["picker_errors"],
                                       "client_id": errors["client_id"]}
        return view.render(template, answer_status(view, status), values=values,
                           errors=errors, statuses=PROJECT_STATUSES, **picker, **context)

    # -- a project's page: hours and tasks ------------------------------------------------

    def _project_page(self, view, project_id, status=200, time_errors=None, time_values=None,
                      task_errors=None, task_values=None, notice=None, partial=None):
        ctx = view.ctx
        project = self.projects_rpc.get_project(ctx, project_id)  # 404 if not ours
        entries, entries_more = fetch_all(lambda cursor: self.projects_rpc.list_time_entries(
            ctx, project_id, 200, cursor), limit=ENTRIES_SHOWN)
        tasks, tasks_more = fetch_all(lambda cursor: self.projects_rpc.list_tasks(
            ctx, project_id, None, 500, cursor), limit=TASKS_SHOWN)
        client = None
        if project.get("client_id"):
            client = self.contacts_rpc.get_clients(ctx, [project["client_id"]]).get(
                project["client_id"])
        today = today_utc().isoformat()
        context = dict(project=project, client=client, entries=entries[:ENTRIES_SHOWN],
                       entries_more=entries_more or len(entries) > ENTRIES_SHOWN,
                       tasks=tasks, tasks_more=tasks_more, today=today,
                       time_errors=time_errors or {},
                       time_values=time_values or {"date": today, "hours": "",
                                                   "description": ""},
                       task_errors=task_errors or {},
                       task_values=task_values or {"title": "", "due_date": ""},
                       notice=notice, created=view.request.args.get("created") == "1")
        if partial and is_htmx(view.request):
            return view.render(partial, answer_status(view, status), **context)
        return view.render("project.html", status, **context)

    @page("GET", "/projects/<string:project_id>")
    def web_project(self, view, project_id):
        return self._project_page(view, project_id)

    @page("POST", "/projects/<string:project_id>/time-entries", role="member")
    def web_log_time(self, view, project_id):
        form = view.request.form
        values = {name: (form.get(name) or "").strip() for name in ("date", "hours",
                                                                    "description")}
        data = {"date": values["date"] or None, "hours": decimal_text(values["hours"],
                                                                      view.locale) or None}
        if values["description"]:
            data["description"] = values["description"]
        try:
            result = self.projects_rpc.log_time(view.ctx, project_id, data)
        except (ValidationFailed, Conflict) as exc:
            detail, fields = localized(exc, view.locale)
            return self._project_page(view, project_id, 422, time_errors=fields or
                                      {"": [detail]}, time_values=values,
                                      partial="project_work.html")
        wait_for_consistency(self.projector, f"projects:{result['position']}")
        return self._project_page(view, project_id, notice="time_logged",
                                  time_values={"date": values["date"], "hours": "",
                                               "description": ""},
                                  partial="project_work.html")

    @page("POST", "/projects/<string:project_id>/tasks", role="member")
    def web_add_task(self, view, project_id):
        form = view.request.form
        values = {name: (form.get(name) or "").strip() for name in ("title", "due_date")}
        data = {"title": values["title"] or None}
        if values["due_date"]:
            data["due_date"] = values["due_date"]
        try:
            result = self.projects_rpc.add_task(view.ctx, project_id, data)
        except (ValidationFailed, Conflict) as exc:
            detail, fields = localized(exc, view.locale)
            return self._project_page(view, project_id, 422, task_errors=fields or
                                      {"": [detail]}, task_values=values,
                                      partial="project_work.html")
        wait_for_consistency(self.projector, f"projects:{result['position']}")
        return self._project_page(view, project_id, notice="task_added",
                                  partial="project_work.html")

    @page("POST", "/projects/<string:project_id>/tasks/<string:task_id>", role="member")
    def web_change_task(self, view, project_id, task_id):
        """Complete or reopen a task (``status`` done|open); ``version`` is the task's."""
        form = view.request.form
        status = form.get("status") or ""
        if status not in ("open", "done"):
            raise BadRequest("the task's status must be open or done")
        try:
            version = int(form.get("version") or "")
        except ValueError:
            version = None
        try:
            result = self.projects_rpc.update_task(view.ctx, project_id, task_id,
                                                   {"status": status}, version)
        except PreconditionFailed:
            return self._project_page(view, project_id, 409, notice="task_stale",
                                      partial="project_work.html")
        except (ValidationFailed, Conflict) as exc:
            detail, fields = localized(exc, view.locale)
            return self._project_page(view, project_id, 422, task_errors={"": [detail]},
                                      partial="project_work.html")
        wait_for_consistency(self.projector, f"projects:{result['position']}")
        return self._project_page(view, project_id, notice="task_" + status,
                                  partial="project_work.html")

    # -- a project's settings -------------------------------------------------------------

    @page("GET,POST", "/projects/<string:project_id>/settings")
    def web_project_settings(self, view, project_id):
        request = view.request
        project = self.projects_rpc.get_project(view.ctx, project_id)  # 404 if not ours
        if request.method == "GET":
            return self._settings(view, project, project_values(project), {},
                                  saved=request.args.get("saved") == "1")
        view.principal.require("member")
        values = posted_values(request.form)
        try:
            version = int(request.form.get("version") or "")
        except ValueError:
            raise BadRequest("the form lost the project's version; reload the page") from None
        if request.form.get("picker_action") == "add_client":
            added, errors, name = self.picker_add_client(view)
            if added:
                values["client_id"] = added["id"]
            return self._settings(view, project, values, {}, 422 if errors else 200,
                                  version=version, picker_errors=errors, added=added,
                                  new_name=name)
        changes = project_data(values, view.locale, current=project_values(project))
        if not changes:
            return redirect(f"/projects/{project_id}/settings?saved=1")
        try:
            result = self.projects_rpc.update_project(
                view.ctx, project_id, changes, version,
                consistency=command_token(self, request, changes.get("client_id")))
        except PreconditionFailed:
            current = self.projects_rpc.get_project(view.ctx, project_id)
            return self._settings(view, current, values, {}, 412, stale=True)
        except (ValidationFailed, Conflict) as exc:
            detail, fields = localized(exc, view.locale)
            return self._settings(view, project, values, fields or {"": [detail]}, 422,
                                  version=version)
        wait_for_consistency(self.projector, f"projects:{result['position']}")
        return redirect(f"/projects/{project_id}/settings?saved=1")

    def _settings(self, view, project, values, errors, status=200, **context):
        context.setdefault("version", project["version"])
        client = None
        if project.get("client_id"):
            client = self.contacts_rpc.get_clients(view.ctx, [project["client_id"]]).get(
                project["client_id"])
        return self._project_form(view, "project_settings.html", values, errors, status,
                                  project=project, client=client, **context)

