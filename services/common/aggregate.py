"""Aggregate base: state rebuilt from events, new events collected as pending.

Domain code subclasses ``Aggregate``, guards its invariants in command methods
and records facts with ``self._record(type, data)``. Each event type has an
``apply_<snake_case_type>`` method that changes state; the same method runs
when an event is first recorded and when history is replayed, so both paths
can never disagree. No I/O happens here.
"""
import re

from .envelope import NewEvent

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_case(name):
    return _CAMEL.sub("_", name).lower()


class Aggregate:
    """Base of every event-sourced aggregate."""

    def __init__(self, aggregate_id):
        self.id = aggregate_id
        self.version = 0  # stream version of the last stored event
        self.pending = []

    @classmethod
    def rehydrate(cls, aggregate_id, events):
        """Rebuild an aggregate from its stored events (oldest first)."""
        aggregate = cls(aggregate_id)
        for event in events:
            aggregate._apply(event.type, event.data)
            aggregate.version = event.stream_version
        return aggregate

    @property
    def exists(self):
        return self.version > 0 or bool(self.pending)

    @property
    def next_version(self):
        """The stream version the aggregate will have once pending events are stored."""
        return self.version + len(self.pending)

    def _record(self, event_type, data, schema_version=1):
        self._apply(event_type, data)
        self.pending.append(NewEvent(event_type, data, schema_version))

    def _apply(self, event_type, data):
        handler = getattr(self, "apply_" + snake_case(event_type), None)
        if handler is None:
            raise TypeError(f"{type(self).__name__} cannot apply {event_type}")
        handler(data)

    def collect(self):
        """Take the pending events (the caller stores them at ``self.version``)."""
        events, self.pending = self.pending, []
        return events
