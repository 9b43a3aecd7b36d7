"""The webhooks consumer's unit of work: the public events into the feed, and a
delivery for each subscription that wants them, in the inbox's transaction.

The inbox applies each source's events exactly once, in position order, in one
transaction with its checkpoint; so every event is in the feed once and every
delivery it calls for is created once, and neither is lost to a crash (the durable
delivery outbox the deliverer works from)."""
import time

import orjson
from sqlalchemy import insert, select, update

from ..erasure import without_personal_fields
from . import tables
from .subscriptions import event_types_of, mark_lanes_due, wants

LANE_KEYS = ("client_id", "survivor_id")


def lane_of(payload):
    """What the event's deliveries are ordered by: the client it names (a merge: the
    survivor), else its own stream (a project's, an invoice's...)."""
    data = payload.get("data") or {}
    for key in LANE_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:100]
    return str(payload.get("stream_id") or "")[:100]


class Produced:
    """Set when a batch created deliveries; the deliverer is woken after the commit."""

    def __init__(self):
        self.flag = False


class _EveryType:
    def __init__(self, take):
        self.take = take

    def get(self, event_type, default=None):
        return self.take


class WebhookIntake:
    def __init__(self, conn, source, events, produced=None):
        self.conn = conn
        self.source = source
        self.events = []
        self.produced = produced
        self.handlers = {source: _EveryType(self.take)}

    def take(self, conn, event):
        self.events.append(event)

    def flush(self, inline=False):
        """Write the batch (never as text: returns None)."""
        if not self.events:
            return None
        conn, events = self.conn, self.events
        head = tables.feed_head
        last = conn.execute(update(head).where(head.c.id == 1)
                            .values(seq=head.c.seq + len(events))
                            .returning(head.c.seq)).scalar()
        first = last - len(events) + 1
        rows = []
        for seq, event in enumerate(events, first):
            payload = event.to_dict()
            rows.append(dict(seq=seq, workspace=event.workspace, event_id=event.event_id,
                             source=self.source, position=event.position, type=event.type,
                             occurred_at=event.occurred_at,
                             payload=orjson.dumps(payload).decode(), _lane=lane_of(payload)))
        conn.execute(insert(tables.events),
                     [{k: v for k, v in row.items() if k != "_lane"} for row in rows])
        # Events come in order: an erasure finds every earlier event of the client here.
        for event in events:
            if event.type == "ClientErased" and event.data.get("client_id"):
                blank_erased_payloads(conn, event.workspace, event.data["client_id"])
        s = tables.subscriptions
        workspaces = sorted({row["workspace"] for row in rows})
        subscriptions = conn.execute(select(s.c.id, s.c.workspace, s.c.event_types).where(
            s.c.workspace.in_(workspaces), s.c.enabled.is_(True))).all()
        if not subscriptions:
            return None
        by_workspace = {}
        for sub in subscriptions:
            by_workspace.setdefault(sub.workspace, []).append((sub.id, event_types_of(sub)))
        now = time.time()
        deliveries, lanes = [], set()
        for row in rows:
            for subscription_id, wanted in by_workspace.get(row["workspace"], ()):
                if wants(wanted, row["type"]):
                    deliveries.append(dict(
                        subscription_id=subscription_id, workspace=row["workspace"],
                        lane=row["_lane"], event_seq=row["seq"], event_id=row["event_id"],
                        event_type=row["type"], status="pending", attempts=0,
                        next_attempt_at=now, created_at=now))
                    lanes.add((subscription_id, row["_lane"]))
        if deliveries:
            conn.execute(insert(tables.deliveries), deliveries)
            mark_lanes_due(conn, sorted(lanes), now)
            if self.produced is not None:
                self.produced.flag = True
        return None


def unit_of_work(produced=None):
    """The inbox's ``unit_of_work`` (see ``services.common.inbox.Inbox``)."""
    return lambda conn, source, events: WebhookIntake(conn, source, events, produced)


def blank_erased_payloads(conn, workspace, client_id):
    """An erased client's events kept for the feed and for deliveries lose its personal
    fields (docs/privacy.md); what integrators need to follow (ids, types) stays."""
    events = tables.events
    for seq, payload in conn.execute(
            select(events.c.seq, events.c.payload).where(events.c.workspace == workspace)
            .where(events.c.payload.contains(client_id))).all():
        conn.execute(update(events).where(events.c.seq == seq)
                     .values(payload=without_personal_fields(payload) or "{}"))
