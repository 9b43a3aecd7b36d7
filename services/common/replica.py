"""A service's replica of the contacts service's clients, kept from its events.

Projects and billing each keep a table of (``id``, ``workspace``, ``archived``,
``merged_into``) to answer "may this client be named here?" without a call to
contacts per request. :class:`ClientReplica` is that table's writer, shared by both:

- ``handlers``: one event at a time (``{event_type: fn(conn, event)}``), for the
  service's ``HANDLERS``;
- ``unit_of_work(other_handlers)``: the inbox's unit of work for a whole batch. The
  client events of a batch are folded into one row per client and written in a few
  statements (an import of 100,000 clients is 100,000 ``ClientRegistered``); any
  other handler (a merge re-pointing projects, say) first writes what is pending, so
  it runs on the replica as of its own position.
"""
from .db import bulk_upsert

CLIENT_EVENTS = ("ClientRegistered", "ClientArchived", "ClientRestored")
COLUMNS = ("id", "workspace", "archived", "merged_into")


def client_row(event):
    """The replica's values for a client after ``event`` (one of ``CLIENT_EVENTS``)."""
    archived = event.type == "ClientArchived"
    return {"workspace": event.workspace, "archived": archived,
            "merged_into": event.data.get("merged_into") if archived else None}


class ClientReplica:
    def __init__(self, table):
        self.table = table
        self.handlers = {event_type: self.apply for event_type in CLIENT_EVENTS}

    def apply(self, conn, event):
        self.write(conn, {event.data["client_id"]: client_row(event)})

    def write(self, conn, rows):
        """Upsert ``rows`` ({client id: values}) in one statement."""
        bulk_upsert(conn, self.table, COLUMNS,
                    [(client_id, values["workspace"], values["archived"], values["merged_into"])
                     for client_id, values in sorted(rows.items())])

    def unit_of_work(self, handlers):
        """The inbox's ``unit_of_work`` for a consumer whose ``handlers`` include this
        replica's (as in ``{"contacts": {**replica.handlers, ...}}``)."""
        def begin(conn, source, events):
            return _ReplicaBatch(self, handlers, conn)

        return begin


class _ReplicaBatch:
    """One inbox batch: client rows held in memory until another handler or the end."""

    def __init__(self, replica, handlers, conn):
        self.replica = replica
        self.conn = conn
        self.pending = {}
        self.handlers = {source: {event_type: self._hold if event_type in CLIENT_EVENTS
                                  else self._after_pending(handler)
                                  for event_type, handler in by_type.items()}
                         for source, by_type in handlers.items()}

    def _hold(self, conn, event):
        self.pending[event.data["client_id"]] = client_row(event)

    def _after_pending(self, handler):
        def run(conn, event):
            self.flush()
            return handler(conn, event)

        return run

    def flush(self, inline=False):
        # ``inline`` (of the inbox's unit-of-work protocol) is not used: it writes now.
        if self.pending:
            pending, self.pending = self.pending, {}
            self.replica.write(self.conn, pending)
