"""The projects service: nameko entrypoints over the Project aggregate.

Every write is a command of the kernel's unit of work (``store.execute``): it loads
the project from its stream, runs the domain command and, in one transaction,
appends the new events, updates the query tables (``queries.project_changes``) and
records its outcome, so a command received twice takes effect once. Every RPC takes the command context ``ctx`` first; the
workspace always comes from it. The methods are documented in
``docs/rpc-projects.md``.

Which clients may be assigned is answered by the local replica of the
contacts service (``CLIENTS``, fed by the consumer below), never by a
call to contacts. The replica is eventually consistent: a client registered a
moment ago may not have reached it yet. Before refusing a client it does not
know, a command therefore

1. waits (up to 5 s) until the replica has applied the contacts position the
   caller names in ``consistency`` (the ``Consistency-Token`` of the request
   that created the client, forwarded by the gateway), and
2. if the client is still unknown, polls the replica for up to 2 s more.

Only then is the client refused (422). Waiting happens before the write
transaction opens, so it never holds a lock.
"""
import time

from nameko.dependency_providers import Config
from services.common.rpc import rpc

from services.common.context import CommandContext
from services.common.envelope import format_time, utc_now
from services.common.errors import (BadRequest, Conflict, NotFound, PreconditionFailed,
                                    ValidationFailed)
from services.common.extensions import (ConsistencyRpc, EventConsumerProvider,
                                        EventSourcedStore, EventSourceRpc, HealthChecks)
from services.common.migrations import migrator
from services.common.paging import canonical_id
from services.common.times import time_param

from . import domain, queries, schemas
from . import replica as replica_handlers
from .replica import CLIENTS

migrate = migrator(__file__)

CONSISTENCY_WAIT_SECONDS = 5.0  # for the replica to reach a position the caller names
UNKNOWN_CLIENT_WAIT_SECONDS = 2.0  # for a client the replica has not seen yet
NOT_FOUND = "not found"
PROJECT_SORTS = ("-created_at", "created_at", "-updated_at", "updated_at")


def _project_id(value):
    project_id = canonical_id(value)
    if project_id is None:
        raise NotFound("no such project")
    return project_id


def _expected(expected_version):
    if expected_version is None:
        return None
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise BadRequest("the expected version must be an integer",
                         {"If-Match": ["must be a version number"]})
    return expected_version


def _check_version(current, expected, what="project"):
    if expected is not None and current != expected:
        raise PreconditionFailed(f"the {what} is at version {current}, not {expected}",
                                 extra={"version": current})


def check_client(conn, workspace, client_id):
    """Refuse (422 on ``client_id``) a client that is unknown, of another workspace or archived."""
    row = CLIENTS.find(conn, workspace, client_id)
    if row is None:
        raise ValidationFailed("the client does not exist", {"client_id": ["no such client"]})
    if row.archived:
        message = "the client is archived"
        if row.merged_into:
            message += f" (merged into {row.merged_into})"
        raise ValidationFailed("an archived client cannot be assigned", {"client_id": [message]})


class ProjectsService(EventSourceRpc, ConsistencyRpc, HealthChecks):
    name = "projects"
    consumer_attribute = "replica"

    config = Config()
    store = EventSourcedStore("projects", migrate, projector=queries.project_changes)
    # The events this service reacts to: contacts' clients (its replica) and merges.
    handlers = {"contacts": {**CLIENTS.handlers,
                             "ClientsMerged": replica_handlers.clients_merged,
                             "ClientsUnmerged": replica_handlers.clients_unmerged}}
    replica = EventConsumerProvider("projects", "projects", migrate, handlers,
                                    unit_of_work=CLIENTS.unit_of_work(handlers))

    # -- helpers ------------------------------------------------------------------------

    def _load(self, uow, workspace, project_id):
        """The project of ``workspace`` (``NotFound`` for an unknown id and another
        workspace's alike)."""
        project = uow.load(domain.Project, project_id)
        project.ensure_in(workspace)
        return project

    def _await_client(self, workspace, client_id, consistency):
        """Give the client replica a chance to learn about ``client_id`` (see module doc)."""
        CLIENTS.wait_for(self.store.db, self.replica, workspace, [client_id], consistency,
                         token_wait=CONSISTENCY_WAIT_SECONDS,
                         unknown_wait=UNKNOWN_CLIENT_WAIT_SECONDS)

    @staticmethod
    def _position(conn, envelopes, project_id):
        if envelopes:
            return envelopes[-1].position
        return queries.project_positions(conn, [project_id]).get(project_id, 0)

    # -- projects -------------------------------------------------------------------------

    @rpc
    def create_project(self, ctx, data, consistency=None):
        """Create a project, assigning its client at once when ``client_id`` is given
        (``via: create``); returns ``{"project", "position"}``."""
        ctx = CommandContext.load(ctx)
        fields = schemas.load_new_project(data)
        client_id = fields["client_id"]
        if client_id:
            self._await_client(ctx.workspace, client_id, consistency)
        project_id = ctx.new_id("project")
        created_at = format_time(utc_now())

        def work(uow):
            if client_id:
                check_client(uow.conn, ctx.workspace, client_id)
            project = uow.add(domain.Project(project_id))
            project.create(ctx.workspace, fields, created_at)
            stored = uow.save()
            return {"project": queries.get_project(uow.conn, ctx.workspace, project_id),
                    "position": stored[-1].position}

        return self.store.execute(ctx, "create_project", work)

    @rpc
    def get_project(self, ctx, project_id):
        """The project; ``NotFound`` unless it is in the caller's workspace."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            record = queries.get_project(conn, ctx.workspace, _project_id(project_id))
        if record is None:
            raise NotFound("no such project")
        return record

    @rpc
    def list_projects(self, ctx, filters=None, limit=queries.DEFAULT_LIMIT, cursor=None):
        """``{"items", "next_cursor"}``, newest first; ``filters``: ``client_id`` (a client id,
        or ``"none"`` for projects without client), ``status``, ``q`` (name and code,
        case- and accent-insensitive), ``updated_since`` (RFC 3339: changed at or after),
        ``sort`` (``-created_at`` by default, ``created_at``, ``updated_at``, ``-updated_at``)."""
        ctx = CommandContext.load(ctx)
        filters = dict(filters or {})
        unknown = sorted(set(filters) - {"client_id", "status", "q", "updated_since", "sort"})
        if unknown:
            raise BadRequest("unknown filters", {name: ["not a filter"] for name in unknown})
        client_id = filters.get("client_id")
        if client_id in ("none", "null"):
            client_id = queries.UNASSIGNED
        elif client_id not in (None, ""):
            client_id = canonical_id(client_id)
            if client_id is None:
                raise BadRequest("client_id must be a client id",
                                 {"client_id": ["must be an id (a UUID) or none"]})
        else:
            client_id = None
        status = filters.get("status") or None
        if status is not None and status not in domain.STATUSES:
            raise BadRequest("unknown status",
                             {"status": [f"must be one of {', '.join(domain.STATUSES)}"]})
        q = filters.get("q")
        if q is not None and not isinstance(q, str):
            raise BadRequest("q must be a text", {"q": ["must be a text"]})
        updated_since = time_param(filters.get("updated_since"), "updated_since")
        sort = filters.get("sort") or "-created_at"
        if sort not in PROJECT_SORTS:
            raise BadRequest(f"sort must be one of {', '.join(PROJECT_SORTS)}",
                             {"sort": [f"must be one of {', '.join(PROJECT_SORTS)}"]})
        with self.store.db.read() as conn:
            return queries.list_projects(conn, ctx.workspace, client_id, status, q, limit, cursor,
                                         updated_since=updated_since, sort=sort)

    @rpc
    def update_project(self, ctx, project_id, changes, expected_version=None, consistency=None):
        """Change a project's fields from its settings; ``client_id`` in ``changes`` assigns
        that client (``via: settings``) or, when ``None``, clears it. ``expected_version``
        (the caller's ``If-Match``) refuses a stale change with ``PreconditionFailed``.
        Returns ``{"project", "position", "changed"}``."""
        ctx = CommandContext.load(ctx)
        project_id = _project_id(project_id)
        expected = _expected(expected_version)
        values = schemas.load_project_patch(changes)
        has_client = "client_id" in values
        client_id = values.pop("client_id", None)
        if client_id:
            self._await_client(ctx.workspace, client_id, consistency)

        def work(uow):
            conn = uow.conn
            project = self._load(uow, ctx.workspace, project_id)
            _check_version(project.version, expected)
            if has_client and client_id and client_id != project.client_id:
                check_client(conn, ctx.workspace, client_id)

            def change_client():
                if not has_client:
                    return
                if client_id:
                    project.assign_client(client_id, domain.VIA_SETTINGS)
                else:
                    project.unassign_client()

            # An archived project accepts a status change first (restoring it); an
            # active one takes the client before it is archived.
            if project.archived:
                project.update(values)
                change_client()
            else:
                change_client()
                project.update(values)
            stored = uow.save()
            return {"project": queries.get_project(conn, ctx.workspace, project_id),
                    "position": self._position(conn, stored, project_id),
                    "changed": bool(stored)}

        return self.store.execute(ctx, "update_project", work, expected_version=expected,
                                  stale="the project changed meanwhile")

    @rpc
    def assign_client(self, ctx, project_id, client_id, expected_version=None, consistency=None):
        """Assign ``client_id`` to one project from its settings (``via: settings``);
        ``None`` clears the client (``ClientUnassigned``). Same result as ``update_project``."""
        return self.update_project(ctx, project_id, {"client_id": client_id}, expected_version,
                                   consistency)

    @rpc
    def unassign_client(self, ctx, project_id, expected_version=None):
        """Clear the project's client (``ClientUnassigned``, ``via: settings``)."""
        return self.update_project(ctx, project_id, {"client_id": None}, expected_version)

    @rpc
    def bulk_assign_client(self, ctx, client_id, project_ids, consistency=None):
        """Assign one client to up to 1,000 projects in one transaction (``via: bulk``).

        The client is checked once: an invalid one refuses the whole call (422).
        Returns ``{"assigned": [ids], "unchanged": [ids], "failed": [{"id", "error"}],
        "position"}``: a project that already has the client is ``unchanged`` and
        records nothing; an unknown id and another workspace's id both fail with
        ``"not found"``; an archived project fails with ``"the project is archived"``.
        """
        ctx = CommandContext.load(ctx)
        values = schemas.load_bulk_assign({"client_id": client_id, "project_ids": project_ids})
        client_id, raw_ids = values["client_id"], values["project_ids"]
        self._await_client(ctx.workspace, client_id, consistency)
        canonical = {raw: canonical_id(raw) for raw in raw_ids}

        def work(uow):
            conn = uow.conn
            check_client(conn, ctx.workspace, client_id)
            loaded = uow.load_many(domain.Project, [pid for pid in canonical.values() if pid])
            result = {"assigned": [], "unchanged": [], "failed": []}
            for raw in raw_ids:
                project = loaded.get(canonical[raw]) if canonical[raw] else None
                if project is None or project.workspace != ctx.workspace:
                    result["failed"].append({"id": raw, "error": NOT_FOUND})
                    continue
                try:
                    changed = project.assign_client(client_id, domain.VIA_BULK)
                except (Conflict, ValidationFailed) as exc:
                    result["failed"].append({"id": raw, "error": exc.detail})
                    continue
                result["assigned" if changed else "unchanged"].append(raw)
            mine = list({pid: loaded[pid] for pid in canonical.values()
                         if pid in loaded and loaded[pid].workspace == ctx.workspace}.values())
            stored = uow.save()
            if stored:
                result["position"] = stored[-1].position
            else:
                positions = queries.project_positions(conn, [p.id for p in mine])
                result["position"] = max(positions.values(), default=0)
            return result

        return self.store.execute(ctx, "bulk_assign_client", work)

    @rpc
    def client_totals(self, ctx, client_id):
        """``{"client_id", "projects", "total_hours", "open_tasks"}`` over the projects the
        client has now (hours and tasks follow a project to its current client)."""
        ctx = CommandContext.load(ctx)
        client_id = canonical_id(client_id)
        if client_id is None:
            raise NotFound("no such client")
        with self.store.db.read() as conn:
            return queries.client_totals(conn, ctx.workspace, client_id)

    # -- time entries -----------------------------------------------------------------------

    @rpc
    def log_time(self, ctx, project_id, data):
        """Log ``{"date", "hours", "description"}`` on a project (``TimeLogged``);
        returns ``{"time_entry", "project", "position"}``."""
        ctx = CommandContext.load(ctx)
        project_id = _project_id(project_id)
        values = schemas.load_time_entry(data)
        entry_id = ctx.new_id("time entry")

        def work(uow):
            project = self._load(uow, ctx.workspace, project_id)
            project.log_time(entry_id, values["date"], values["hours"], values["description"])
            stored = uow.save()
            return {"time_entry": queries.get_time_entry(uow.conn, ctx.workspace, project_id,
                                                         entry_id),
                    "project": queries.get_project(uow.conn, ctx.workspace, project_id),
                    "position": stored[-1].position}

        return self.store.execute(ctx, "log_time", work)

    @rpc
    def get_time_entry(self, ctx, project_id, entry_id):
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            record = queries.get_time_entry(conn, ctx.workspace, _project_id(project_id),
                                            canonical_id(entry_id))
        if record is None:
            raise NotFound("no such time entry")
        return record

    @rpc
    def list_time_entries(self, ctx, project_id, limit=queries.DEFAULT_LIMIT, cursor=None):
        """``{"items", "next_cursor"}``: the project's time entries, latest date first."""
        ctx = CommandContext.load(ctx)
        project_id = _project_id(project_id)
        with self.store.db.read() as conn:
            if queries.get_project_row(conn, ctx.workspace, project_id) is None:
                raise NotFound("no such project")
            return queries.list_time_entries(conn, ctx.workspace, project_id, limit, cursor)

    # -- tasks -------------------------------------------------------------------------------

    @rpc
    def add_task(self, ctx, project_id, data):
        """Add ``{"title", "due_date"}`` to a project (``TaskAdded``, status ``open``);
        returns ``{"task", "project", "position"}``."""
        ctx = CommandContext.load(ctx)
        project_id = _project_id(project_id)
        values = schemas.load_new_task(data)
        task_id = ctx.new_id("task")

        def work(uow):
            project = self._load(uow, ctx.workspace, project_id)
            project.add_task(task_id, values["title"], values["due_date"])
            stored = uow.save()
            return {"task": queries.get_task(uow.conn, ctx.workspace, project_id, task_id),
                    "project": queries.get_project(uow.conn, ctx.workspace, project_id),
                    "position": stored[-1].position}

        return self.store.execute(ctx, "add_task", work)

    @rpc
    def update_task(self, ctx, project_id, task_id, changes, expected_version=None):
        """Complete/reopen (``status``), reschedule (``due_date``) or rename (``title``) a
        task (``TaskUpdated``). ``expected_version`` is the task's version (its ETag).
        Returns ``{"task", "project", "position", "changed"}``."""
        ctx = CommandContext.load(ctx)
        project_id = _project_id(project_id)
        task_id = canonical_id(task_id)
        expected = _expected(expected_version)
        values = schemas.load_task_patch(changes)

        def work(uow):
            conn = uow.conn
            project = self._load(uow, ctx.workspace, project_id)
            if task_id is None:
                raise NotFound("no such task")
            _check_version(project.task(task_id)["version"], expected, "task")
            project.update_task(task_id, values)
            stored = uow.save()
            return {"task": queries.get_task(conn, ctx.workspace, project_id, task_id),
                    "project": queries.get_project(conn, ctx.workspace, project_id),
                    "position": self._position(conn, stored, project_id),
                    "changed": bool(stored)}

        return self.store.execute(ctx, "update_task", work, expected_version=expected,
                                  stale="the task changed meanwhile")

    @rpc
    def get_task(self, ctx, project_id, task_id):
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            record = queries.get_task(conn, ctx.workspace, _project_id(project_id),
                                      canonical_id(task_id))
        if record is None:
            raise NotFound("no such task")
        return record

    @rpc
    def list_tasks(self, ctx, project_id, status=None, limit=queries.DEFAULT_LIMIT,
                   cursor=None):
        """``{"items", "next_cursor"}``: the project's tasks in the order they were added,
        optionally only ``open`` or ``done`` ones."""
        ctx = CommandContext.load(ctx)
        project_id = _project_id(project_id)
        if status not in (None, "") and status not in domain.TASK_STATUSES:
            raise BadRequest("unknown status",
                             {"status": [f"must be one of {', '.join(domain.TASK_STATUSES)}"]})
        with self.store.db.read() as conn:
            if queries.get_project_row(conn, ctx.workspace, project_id) is None:
                raise NotFound("no such project")
            return queries.list_tasks(conn, ctx.workspace, project_id, status or None, limit,
                                      cursor)
