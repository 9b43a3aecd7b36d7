"""The Project aggregate and its events: client assignment, time entries, tasks.

Pure: no I/O, no clock. Ids and times (``created_at``) are handed in by the
service; hours leave as decimal strings (``"7.5"``), dates as ``YYYY-MM-DD``.
Every event's ``data`` is exactly what ``docs/events.md`` lists for the
projects source, so a consumer never needs to call back.

A project's stream holds everything about it: ``ProjectCreated``,
``ProjectUpdated``, ``ClientAssigned`` / ``ClientUnassigned``, ``TimeLogged``,
``TaskAdded`` and ``TaskUpdated``. Its ``version`` is the stream version, so
logging time or changing a task moves the project's version (and ETag) too.

Rules (anything else is refused):

* ``status`` is ``active``, ``completed`` or ``archived``; any status may be
  set from any other (``completed`` -> ``active`` reopens, ``archived`` ->
  ``active`` restores).
* An archived project is read-only: the only change it accepts is a new
  ``status`` (a change that restores it may edit other fields at once). Editing its fields, assigning or clearing its client, logging
  time and adding or changing tasks are refused with ``Conflict`` (409).
  Client merges are the exception: a merge re-points archived projects too
  (``change_client``: ``ClientAssigned`` with ``via: bulk``, as the contract's
  values go, and ``reason`` ``merge`` / ``unmerge`` with the ``merge_id``).
* A completed project still accepts time entries and tasks (late entries).
* ``end_date`` may not be before ``start_date`` (422 on ``end_date``), judged
  on the project's state after the change.
* ``0 < hours <= 24`` with at most two decimals (422 on ``hours``).
* A command that changes nothing (same values, the client it already has, a
  project without client cleared again) records no event and returns
  ``False``; commands that record something return ``True``.
"""
from datetime import date as Date
from decimal import Decimal, InvalidOperation

from services.common.aggregate import Aggregate
from services.common.errors import Conflict, NotFound, ValidationFailed

from . import messages  # noqa: F401  (registers the codes of the messages below)

# -- event types ----------------------------------------------------------------------

PROJECT_CREATED = "ProjectCreated"
PROJECT_UPDATED = "ProjectUpdated"
CLIENT_ASSIGNED = "ClientAssigned"
CLIENT_UNASSIGNED = "ClientUnassigned"
TIME_LOGGED = "TimeLogged"
TASK_ADDED = "TaskAdded"
TASK_UPDATED = "TaskUpdated"

# -- values ---------------------------------------------------------------------------

ACTIVE, COMPLETED, ARCHIVED = "active", "completed", "archived"
STATUSES = (ACTIVE, COMPLETED, ARCHIVED)

OPEN, DONE = "open", "done"
TASK_STATUSES = (OPEN, DONE)

# How a client came to a project (``ClientAssigned.via``).
VIA_CREATE, VIA_SETTINGS, VIA_BULK = "create", "settings", "bulk"
USER_VIAS = (VIA_CREATE, VIA_SETTINGS, VIA_BULK)
# Why a merge re-pointed a project (``ClientAssigned.reason``, beside ``via: bulk``).
MERGE_REASONS = ("merge", "unmerge")

# The fields ``ProjectUpdated.changes`` may name (never the client).
EDITABLE_FIELDS = ("name", "code", "status", "start_date", "end_date", "budget_hours")

MAX_HOURS = Decimal("24")
HUNDREDTH = Decimal("0.01")


# -- small pure helpers ------------------------------------------------------------------


def parse_hours(value, field="hours", maximum=MAX_HOURS):
    """A ``Decimal`` from a number or decimal string: ``> 0``, ``<= maximum``, two decimals.

    ``maximum=None`` allows any positive amount (budgets). Raises ``ValidationFailed``.
    """
    if isinstance(value, bool) or value is None:
        raise ValidationFailed("invalid hours", {field: ["must be a number of hours"]})
    try:
        hours = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationFailed("invalid hours", {field: ["must be a number of hours"]}) from None
    if not hours.is_finite():
        raise ValidationFailed("invalid hours", {field: ["must be a number of hours"]})
    if hours <= 0 or (maximum is not None and hours > maximum):
        limit = f" and at most {format_hours(maximum)}" if maximum is not None else ""
        raise ValidationFailed("invalid hours", {field: [f"must be more than 0{limit}"]})
    try:
        exact = hours.quantize(HUNDREDTH) == hours
    except InvalidOperation:  # too many digits to have two decimals
        exact = False
    if not exact:
        raise ValidationFailed("invalid hours", {field: ["at most two decimals"]})
    return hours


def format_hours(hours):
    """``Decimal("7.50")`` -> ``"7.5"``, ``Decimal("8.00")`` -> ``"8"`` (never exponents)."""
    text = format(Decimal(hours).quantize(HUNDREDTH), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def to_centihours(hours):
    """Hours as whole hundredths (exact sums in any database): ``"7.5"`` -> 750."""
    return int((Decimal(hours) * 100).to_integral_value())


def _date_text(value, field):
    """``YYYY-MM-DD`` text from a date or text (``None`` stays ``None``)."""
    if value is None:
        return None
    if isinstance(value, Date):
        return value.isoformat()
    try:
        return Date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise ValidationFailed("invalid date", {field: ["must be a date (YYYY-MM-DD)"]}) from None


class Project(Aggregate):
    """A project of a workspace, its client, its time entries and its tasks."""

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.workspace = None
        self.name = None
        self.code = None
        self.client_id = None
        self.status = None
        self.start_date = None
        self.end_date = None
        self.budget_hours = None
        self.created_at = None
        self.total_hours = Decimal("0")
        self.entry_ids = set()
        self.tasks = {}  # task_id -> {"title", "due_date", "status", "version"}

    @classmethod
    def rehydrate(cls, aggregate_id, events):
        """Rebuild from stored envelopes; the workspace is the stream's (the envelope's)."""
        project = super().rehydrate(aggregate_id, events)
        if events:
            project.workspace = events[0].workspace
        return project

    # -- queries -------------------------------------------------------------------------

    def ensure_in(self, workspace):
        """Raise ``NotFound`` unless the project exists in ``workspace`` (no other hint)."""
        if not self.exists or self.workspace != workspace:
            raise NotFound("no such project")

    @property
    def archived(self):
        return self.status == ARCHIVED

    def task(self, task_id):
        task = self.tasks.get(task_id)
        if task is None:
            raise NotFound("no such task")
        return task

    @property
    def open_tasks(self):
        return sum(1 for task in self.tasks.values() if task["status"] == OPEN)

    # -- commands ------------------------------------------------------------------------

    def create(self, workspace, fields, created_at):
        """Record ``ProjectCreated`` and, when ``fields["client_id"]`` is set,
        ``ClientAssigned`` (``via: create``). The client must have been checked."""
        if self.exists:
            raise Conflict("this project already exists")
        name = fields.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValidationFailed("invalid project", {"name": ["the name is required"]})
        status = fields.get("status") or ACTIVE
        self._check_status(status)
        start = _date_text(fields.get("start_date"), "start_date")
        end = _date_text(fields.get("end_date"), "end_date")
        self._check_dates(start, end)
        budget = fields.get("budget_hours")
        budget = None if budget is None else format_hours(
            parse_hours(budget, "budget_hours", maximum=None))
        client_id = fields.get("client_id")
        self.workspace = workspace
        self._record(PROJECT_CREATED, {
            "project_id": self.id, "name": name, "code": fields.get("code"),
            "client_id": client_id, "status": status, "start_date": start, "end_date": end,
            "budget_hours": budget, "created_at": created_at,
        })
        if client_id is not None:
            self._record(CLIENT_ASSIGNED, {
                "project_id": self.id, "client_id": client_id, "previous_client_id": None,
                "via": VIA_CREATE,
            })
        return True

    def update(self, changes):
        """Change some of ``EDITABLE_FIELDS``; records ``ProjectUpdated`` with what changed."""
        unknown = sorted(set(changes) - set(EDITABLE_FIELDS))
        if unknown:
            raise ValidationFailed("these fields cannot be changed here",
                                   {field: ["this field cannot be changed"] for field in unknown})
        values = dict(changes)
        if "name" in values:
            if not isinstance(values["name"], str) or not values["name"].strip():
                raise ValidationFailed("invalid project", {"name": ["the name is required"]})
        if "status" in values:
            self._check_status(values["status"])
        for field in ("start_date", "end_date"):
            if field in values:
                values[field] = _date_text(values[field], field)
        if values.get("budget_hours") is not None:
            values["budget_hours"] = format_hours(
                parse_hours(values["budget_hours"], "budget_hours", maximum=None))
        changed = {field: value for field, value in values.items()
                   if getattr(self, field) != value}
        if not changed:
            return False
        if self.archived and changed.get("status", ARCHIVED) == ARCHIVED \
                and set(changed) - {"status"}:
            raise Conflict("the project is archived: restore it (status active) to edit it")
        self._check_dates(changed.get("start_date", self.start_date),
                          changed.get("end_date", self.end_date))
        self._record(PROJECT_UPDATED, {"project_id": self.id, "changes": changed})
        return True

    def assign_client(self, client_id, via):
        """Assign (or change) the project's client by a user (``create`` is in ``create``)."""
        if via not in (VIA_SETTINGS, VIA_BULK):
            raise ValueError(f"a user assigns a client via settings or bulk, not {via!r}")
        if not client_id:
            raise ValidationFailed("a client is needed", {"client_id": ["the client is required"]})
        if client_id == self.client_id:
            return False
        if self.archived:
            raise Conflict("the project is archived")
        self._record(CLIENT_ASSIGNED, {
            "project_id": self.id, "client_id": client_id,
            "previous_client_id": self.client_id, "via": via,
        })
        return True

    def unassign_client(self):
        """Clear the project's client from its settings."""
        if self.client_id is None:
            return False
        if self.archived:
            raise Conflict("the project is archived")
        self._record(CLIENT_UNASSIGNED, {
            "project_id": self.id, "previous_client_id": self.client_id, "via": VIA_SETTINGS,
        })
        return True

    def change_client(self, client_id, reason, merge_id):
        """Re-point the project after a client merge (``reason`` ``merge``) or unmerge
        (``unmerge``); works whatever the project's status. ``via`` stays among the
        contract's values (``bulk``: many projects at once, not by a user's hand);
        ``reason`` and ``merge_id`` say which merge did it."""
        if reason not in MERGE_REASONS:
            raise ValueError(f"change_client is for merges, not {reason!r}")
        if not client_id or client_id == self.client_id:
            return False
        self._record(CLIENT_ASSIGNED, {
            "project_id": self.id, "client_id": client_id,
            "previous_client_id": self.client_id, "via": VIA_BULK,
            "reason": reason, "merge_id": merge_id,
        })
        return True

    def log_time(self, entry_id, date, hours, description=None):
        """Record ``TimeLogged`` (with the project's client at that moment)."""
        if self.archived:
            raise Conflict("the project is archived")
        if entry_id in self.entry_ids:
            raise Conflict("this time entry already exists")
        if date is None:
            raise ValidationFailed("invalid time entry", {"date": ["the date is required"]})
        self._record(TIME_LOGGED, {
            "project_id": self.id, "entry_id": entry_id, "client_id": self.client_id,
            "date": _date_text(date, "date"), "hours": format_hours(parse_hours(hours)),
            "description": description,
        })
        return True

    def add_task(self, task_id, title, due_date=None):
        if self.archived:
            raise Conflict("the project is archived")
        if task_id in self.tasks:
            raise Conflict("this task already exists")
        if not isinstance(title, str) or not title.strip():
            raise ValidationFailed("invalid task", {"title": ["the title is required"]})
        self._record(TASK_ADDED, {
            "project_id": self.id, "task_id": task_id, "title": title,
            "due_date": _date_text(due_date, "due_date"), "status": OPEN,
        })
        return True

    def update_task(self, task_id, changes):
        """Complete, reopen, reschedule or rename a task; ``TaskUpdated`` carries its full state."""
        task = self.task(task_id)
        unknown = sorted(set(changes) - {"title", "due_date", "status"})
        if unknown:
            raise ValidationFailed("these fields cannot be changed here",
                                   {field: ["this field cannot be changed"] for field in unknown})
        after = {"title": task["title"], "due_date": task["due_date"], "status": task["status"]}
        if "title" in changes:
            if not isinstance(changes["title"], str) or not changes["title"].strip():
                raise ValidationFailed("invalid task", {"title": ["the title is required"]})
            after["title"] = changes["title"]
        if "due_date" in changes:
            after["due_date"] = _date_text(changes["due_date"], "due_date")
        if "status" in changes:
            if changes["status"] not in TASK_STATUSES:
                raise ValidationFailed("invalid task",
                                       {"status": [f"must be one of {', '.join(TASK_STATUSES)}"]})
            after["status"] = changes["status"]
        if all(after[key] == task[key] for key in after):
            return False
        if self.archived:
            raise Conflict("the project is archived")
        self._record(TASK_UPDATED, {"project_id": self.id, "task_id": task_id, **after})
        return True

    # -- invariants ----------------------------------------------------------------------

    @staticmethod
    def _check_status(status):
        if status not in STATUSES:
            raise ValidationFailed("invalid status",
                                   {"status": [f"must be one of {', '.join(STATUSES)}"]})

    @staticmethod
    def _check_dates(start, end):
        if start is not None and end is not None and end < start:
            raise ValidationFailed("the project would end before it starts",
                                   {"end_date": ["must not be before the start date"]})

    # -- state changes -------------------------------------------------------------------

    def apply_project_created(self, data):
        self.name = data["name"]
        self.code = data.get("code")
        self.client_id = data.get("client_id")
        self.status = data.get("status") or ACTIVE
        self.start_date = data.get("start_date")
        self.end_date = data.get("end_date")
        self.budget_hours = data.get("budget_hours")
        self.created_at = data.get("created_at")

    def apply_project_updated(self, data):
        for field, value in data["changes"].items():
            if field in EDITABLE_FIELDS:
                setattr(self, field, value)

    def apply_client_assigned(self, data):
        self.client_id = data["client_id"]

    def apply_client_unassigned(self, data):
        self.client_id = None

    def apply_time_logged(self, data):
        self.entry_ids.add(data["entry_id"])
        self.total_hours += Decimal(data["hours"])

    def apply_task_added(self, data):
        self.tasks[data["task_id"]] = {"title": data["title"], "due_date": data.get("due_date"),
                                       "status": data.get("status") or OPEN, "version": 1}

    def apply_task_updated(self, data):
        task = self.tasks[data["task_id"]]
        task.update(title=data["title"], due_date=data.get("due_date"), status=data["status"],
                    version=task["version"] + 1)
