"""Loading Project aggregates from the event store and saving what they recorded.

``save`` appends the pending events of any number of projects with one
``EventStore.append_batch`` and updates the query tables in the caller's
transaction, so a bulk assignment of 1,000 projects is one transaction and
one multi-row insert.
"""
import json
from itertools import groupby

from sqlalchemy import select

from services.common.errors import NotFound
from services.common.eventstore import EventStore, StreamAppend, events_table

from . import queries
from .domain import Project

CHUNK = 500


class _Stored:
    """The part of a stored event that rehydration needs."""

    __slots__ = ("type", "data", "stream_version", "workspace")

    def __init__(self, row):
        self.type = row.type
        self.data = json.loads(row.data)
        self.stream_version = row.stream_version
        self.workspace = row.workspace


def load_projects(conn, project_ids):
    """``{id: Project}`` for the ids that have a stream (of any workspace), read in chunks."""
    ids = list(dict.fromkeys(project_ids))
    found = {}
    for start in range(0, len(ids), CHUNK):
        rows = conn.execute(
            select(events_table.c.stream_id, events_table.c.stream_version, events_table.c.type,
                   events_table.c.workspace, events_table.c.data)
            .where(events_table.c.stream_id.in_(ids[start:start + CHUNK]))
            .order_by(events_table.c.stream_id, events_table.c.stream_version)
        ).all()
        for stream_id, stream_rows in groupby(rows, key=lambda row: row.stream_id):
            found[stream_id] = Project.rehydrate(stream_id, [_Stored(r) for r in stream_rows])
    return found


def load_project(conn, workspace, project_id):
    """The project of ``workspace`` with that id, or ``NotFound`` (also for another
    workspace's project: nothing tells them apart)."""
    if not project_id:
        raise NotFound("no such project")
    rows = conn.execute(
        select(events_table.c.type, events_table.c.data, events_table.c.stream_version,
               events_table.c.workspace)
        .where(events_table.c.stream_id == project_id)
        .order_by(events_table.c.stream_version)
    ).all()
    project = Project.rehydrate(project_id, [_Stored(r) for r in rows])
    project.ensure_in(workspace)
    return project


def save(conn, projects, actor=None, correlation_id=None):
    """Append every project's pending events (one batch) and project them; returns the
    stored envelopes (empty when nothing changed)."""
    appends = [StreamAppend(p.id, p.version, p.collect(), p.workspace, actor, correlation_id)
               for p in projects if p.pending]
    if not appends:
        return []
    envelopes = EventStore(None).append_batch(appends, conn=conn)
    queries.apply_events(conn, envelopes)
    return envelopes
