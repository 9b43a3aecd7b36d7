"""Read side of projects: the query tables, kept in step with the project streams.

``apply_events`` is the only writer of ``projects``, ``time_entries`` and
``tasks``: every command (and the client replica, on merges) calls it with the
envelopes it has just appended, in the same transaction, so the tables always
match the event store. The other functions read them and shape the records
the RPC methods return.

Lists are keyset-paginated with an opaque cursor (base64 of the last row's sort
key): projects newest first, time entries by date (latest first), tasks in the
order they were added.
"""
import unicodedata
from decimal import Decimal

from sqlalchemy import and_, bindparam, func, insert, or_, select, update

from services.common.paging import DEFAULT_LIMIT, check_limit, decode_cursor, encode_cursor

from . import domain
from .db import projects_table as projects
from .db import tasks_table as tasks
from .db import time_entries_table as entries


# Letters that Unicode decomposition does not reduce to a base letter.
_EXTRA_FOLDS = str.maketrans({
    "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
    "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "ı": "i", "ß": "ss",
    "\u00b7": "", "\u2219": "",  # Catalan middle dot: col·lectiu
})


def fold(value):
    """Text folded for case- and accent-insensitive matching ("São" -> "sao")."""
    if not value:
        return ""
    text = unicodedata.normalize("NFKD", str(value).translate(_EXTRA_FOLDS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(text.casefold().translate(_EXTRA_FOLDS).split())


def search_text(name, code):
    # A newline keeps a query from matching across the end of the name and the code.
    return f"{fold(name)}\n{fold(code)}"


def hours_number(centihours):
    """Hundredths of hours -> a JSON number (``750`` -> ``7.5``, ``800`` -> ``8``)."""
    centihours = int(centihours or 0)
    return centihours // 100 if centihours % 100 == 0 else centihours / 100


def _decimal_number(text):
    if text is None:
        return None
    return hours_number(domain.to_centihours(Decimal(text)))


# -- the projection ---------------------------------------------------------------------


def project_changes(conn, changes):
    """The unit of work's projector: the query tables after a command's appends."""
    apply_events(conn, [envelope for change in changes for envelope in change.envelopes])


def apply_events(conn, envelopes):
    """Bring the query tables up to date with ``envelopes`` just appended (any streams)."""
    if envelopes and all(e.type == domain.CLIENT_ASSIGNED for e in envelopes) \
            and len({e.stream_id for e in envelopes}) == len(envelopes):
        _apply_assignments(conn, envelopes)  # bulk assignments and merges: one statement
        return
    for envelope in envelopes:
        _APPLY[envelope.type](conn, envelope)


def _touch(envelope):
    return {"version": envelope.stream_version, "position": envelope.position,
            "updated_at": envelope.occurred_at}


def _update_project(conn, envelope, **values):
    conn.execute(update(projects).where(projects.c.id == envelope.stream_id)
                 .values(**_touch(envelope), **values))


def _project_created(conn, envelope):
    data = envelope.data
    conn.execute(insert(projects).values(
        id=data["project_id"], workspace=envelope.workspace, name=data["name"],
        code=data.get("code"), client_id=data.get("client_id"),
        status=data.get("status") or domain.ACTIVE, start_date=data.get("start_date"),
        end_date=data.get("end_date"), budget_hours=data.get("budget_hours"),
        created_at=data.get("created_at") or envelope.occurred_at, total_centihours=0,
        open_tasks=0, task_count=0, search=search_text(data["name"], data.get("code")),
        **_touch(envelope)))


def _project_updated(conn, envelope):
    changes = {field: value for field, value in envelope.data["changes"].items()
               if field in domain.EDITABLE_FIELDS}
    if "name" in changes or "code" in changes:
        current = conn.execute(select(projects.c.name, projects.c.code)
                               .where(projects.c.id == envelope.stream_id)).one()
        changes["search"] = search_text(changes.get("name", current.name),
                                        changes.get("code", current.code))
    _update_project(conn, envelope, **changes)


def _client_assigned(conn, envelope):
    _update_project(conn, envelope, client_id=envelope.data["client_id"])


def _apply_assignments(conn, envelopes):
    conn.execute(
        update(projects).where(projects.c.id == bindparam("b_id")).values(
            client_id=bindparam("b_client_id"), version=bindparam("b_version"),
            position=bindparam("b_position"), updated_at=bindparam("b_updated_at")),
        [{"b_id": e.stream_id, "b_client_id": e.data["client_id"],
          "b_version": e.stream_version, "b_position": e.position,
          "b_updated_at": e.occurred_at} for e in envelopes])


def _client_unassigned(conn, envelope):
    _update_project(conn, envelope, client_id=None)


def _time_logged(conn, envelope):
    data = envelope.data
    centihours = domain.to_centihours(Decimal(data["hours"]))
    conn.execute(insert(entries).values(
        id=data["entry_id"], project_id=envelope.stream_id, workspace=envelope.workspace,
        client_id=data.get("client_id"), date=data["date"], centihours=centihours,
        description=data.get("description"), logged_at=envelope.occurred_at,
        actor=envelope.actor, position=envelope.position))
    _update_project(conn, envelope,
                    total_centihours=projects.c.total_centihours + centihours)


def _task_added(conn, envelope):
    data = envelope.data
    status = data.get("status") or domain.OPEN
    conn.execute(insert(tasks).values(
        id=data["task_id"], project_id=envelope.stream_id, workspace=envelope.workspace,
        title=data["title"], due_date=data.get("due_date"), status=status, version=1,
        created_at=envelope.occurred_at, updated_at=envelope.occurred_at,
        position=envelope.position))
    _update_project(conn, envelope,
                    open_tasks=projects.c.open_tasks + (1 if status == domain.OPEN else 0),
                    task_count=projects.c.task_count + 1)


def _task_updated(conn, envelope):
    data = envelope.data
    before = conn.execute(select(tasks.c.status).where(tasks.c.id == data["task_id"])).scalar_one()
    conn.execute(update(tasks).where(tasks.c.id == data["task_id"]).values(
        title=data["title"], due_date=data.get("due_date"), status=data["status"],
        version=tasks.c.version + 1, updated_at=envelope.occurred_at))
    delta = (data["status"] == domain.OPEN) - (before == domain.OPEN)
    _update_project(conn, envelope, open_tasks=projects.c.open_tasks + delta)


_APPLY = {
    domain.PROJECT_CREATED: _project_created,
    domain.PROJECT_UPDATED: _project_updated,
    domain.CLIENT_ASSIGNED: _client_assigned,
    domain.CLIENT_UNASSIGNED: _client_unassigned,
    domain.TIME_LOGGED: _time_logged,
    domain.TASK_ADDED: _task_added,
    domain.TASK_UPDATED: _task_updated,
}


# -- records ------------------------------------------------------------------------------


def project_record(row):
    return {
        "id": row.id,
        "version": row.version,
        "name": row.name,
        "code": row.code,
        "client_id": row.client_id,
        "status": row.status,
        "start_date": row.start_date,
        "end_date": row.end_date,
        "budget_hours": _decimal_number(row.budget_hours),
        "total_hours": hours_number(row.total_centihours),
        "open_tasks": row.open_tasks,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def time_entry_record(row):
    return {
        "id": row.id,
        "project_id": row.project_id,
        "version": 1,  # a time entry never changes
        "date": row.date,
        "hours": hours_number(row.centihours),
        "description": row.description,
        "client_id": row.client_id,
        "logged_at": row.logged_at,
    }


def task_record(row):
    return {
        "id": row.id,
        "project_id": row.project_id,
        "version": row.version,
        "title": row.title,
        "due_date": row.due_date,
        "status": row.status,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


# -- cursors ------------------------------------------------------------------------------


def _page(rows, limit, record, key):
    items = [record(row) for row in rows[:limit]]
    next_cursor = encode_cursor(key(rows[limit - 1])) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor}


# -- projects --------------------------------------------------------------------------------


def get_project_row(conn, workspace, project_id):
    return conn.execute(select(projects).where(projects.c.id == project_id)
                        .where(projects.c.workspace == workspace)).first()


def get_project(conn, workspace, project_id):
    row = get_project_row(conn, workspace, project_id)
    return project_record(row) if row is not None else None


def project_positions(conn, project_ids):
    """{project id: position of its last event} for the ids that exist."""
    found = {}
    ids = list(project_ids)
    for start in range(0, len(ids), 500):
        found.update(conn.execute(select(projects.c.id, projects.c.position)
                                  .where(projects.c.id.in_(ids[start:start + 500]))).all())
    return found


UNASSIGNED = object()  # the ``client_id`` filter that lists projects without a client


def list_projects(conn, workspace, client_id=None, status=None, q=None, limit=DEFAULT_LIMIT,
                  cursor=None, updated_since=None, sort="-created_at"):
    """Projects newest first (or by ``sort``: ``[-]created_at``, ``[-]updated_at``),
    filtered by client (``UNASSIGNED`` for none), status, text and ``updated_since``
    (stored time text: changed at or after it)."""
    limit = check_limit(limit)
    after = decode_cursor(cursor, (str, str))
    column = projects.c.updated_at if sort.lstrip("-") == "updated_at" else projects.c.created_at
    descending = sort.startswith("-")
    query = select(projects).where(projects.c.workspace == workspace)
    if updated_since is not None:
        query = query.where(projects.c.updated_at >= updated_since)
    if client_id is UNASSIGNED:
        query = query.where(projects.c.client_id.is_(None))
    elif client_id is not None:
        query = query.where(projects.c.client_id == client_id)
    if status is not None:
        query = query.where(projects.c.status == status)
    folded = fold(q)
    if folded:
        pattern = "%" + folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(projects.c.search.like(pattern, escape="\\"))
    if after is not None:
        value, last_id = after
        if descending:
            query = query.where(or_(column < value, and_(column == value,
                                                         projects.c.id < last_id)))
        else:
            query = query.where(or_(column > value, and_(column == value,
                                                         projects.c.id > last_id)))
    order = (column.desc(), projects.c.id.desc()) if descending else (column, projects.c.id)
    rows = conn.execute(query.order_by(*order).limit(limit + 1)).all()
    return _page(rows, limit, project_record,
                 lambda row: [getattr(row, column.name), row.id])


def client_totals(conn, workspace, client_id):
    """What the client's projects add up to (hours and tasks follow a project's client)."""
    row = conn.execute(
        select(func.count(), func.coalesce(func.sum(projects.c.total_centihours), 0),
               func.coalesce(func.sum(projects.c.open_tasks), 0))
        .where(projects.c.workspace == workspace).where(projects.c.client_id == client_id)
    ).one()
    return {"client_id": client_id, "projects": int(row[0]), "total_hours": hours_number(row[1]),
            "open_tasks": int(row[2])}


# -- time entries -----------------------------------------------------------------------------


def get_time_entry(conn, workspace, project_id, entry_id):
    row = conn.execute(select(entries).where(entries.c.id == entry_id)
                       .where(entries.c.project_id == project_id)
                       .where(entries.c.workspace == workspace)).first()
    return time_entry_record(row) if row is not None else None


def list_time_entries(conn, workspace, project_id, limit=DEFAULT_LIMIT, cursor=None):
    """A project's time entries, latest date first (then latest logged first)."""
    limit = check_limit(limit)
    after = decode_cursor(cursor, (str, int))
    query = (select(entries).where(entries.c.project_id == project_id)
             .where(entries.c.workspace == workspace))
    if after is not None:
        last_date, last_position = after
        query = query.where(or_(entries.c.date < last_date,
                                and_(entries.c.date == last_date,
                                     entries.c.position < last_position)))
    query = query.order_by(entries.c.date.desc(), entries.c.position.desc()).limit(limit + 1)
    rows = conn.execute(query).all()
    return _page(rows, limit, time_entry_record, lambda row: [row.date, row.position])


# -- tasks ------------------------------------------------------------------------------------


def get_task(conn, workspace, project_id, task_id):
    row = conn.execute(select(tasks).where(tasks.c.id == task_id)
                       .where(tasks.c.project_id == project_id)
                       .where(tasks.c.workspace == workspace)).first()
    return task_record(row) if row is not None else None


def list_tasks(conn, workspace, project_id, status=None, limit=DEFAULT_LIMIT, cursor=None):
    """A project's tasks in the order they were added, optionally only ``open`` / ``done``."""
    limit = check_limit(limit)
    after = decode_cursor(cursor, (int,))
    query = (select(tasks).where(tasks.c.project_id == project_id)
             .where(tasks.c.workspace == workspace))
    if status is not None:
        query = query.where(tasks.c.status == status)
    if after is not None:
        query = query.where(tasks.c.position > after[0])
    rows = conn.execute(query.order_by(tasks.c.position).limit(limit + 1)).all()
    return _page(rows, limit, task_record, lambda row: [row.position])
