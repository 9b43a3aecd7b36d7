"""The change feed: a workspace's public events in the order the gateway received
them, read after a cursor (``GET /api/v1/events?after=&limit=``)."""
import re

import orjson
from sqlalchemy import select

from services.common.errors import BadRequest
from services.common.paging import check_limit

from . import messages, tables

_CURSOR = re.compile(r"[0-9]{1,18}")


def parse_cursor(value):
    if value in (None, ""):
        return 0
    if not isinstance(value, str) or not _CURSOR.fullmatch(value):
        raise BadRequest("malformed cursor", {"after": [messages.BAD_FEED_CURSOR]},
                         code="invalid_cursor")
    return int(value)


def read(database, workspace, after=None, limit=None):
    """``{"items": [event + "cursor"], "next_cursor", "has_more"}``: ``next_cursor`` is
    where the next call starts (the last item's cursor, or ``after`` when nothing is
    new), never null, so a poller always has one."""
    position = parse_cursor(after)
    limit = check_limit(limit)
    e = tables.events
    with database.query() as conn:
        rows = conn.execute(select(e.c.seq, e.c.payload)
                            .where(e.c.workspace == workspace, e.c.seq > position)
                            .order_by(e.c.seq).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"cursor": str(row.seq), **orjson.loads(row.payload)} for row in rows]
    return {"items": items, "next_cursor": items[-1]["cursor"] if items else str(position),
            "has_more": more}
