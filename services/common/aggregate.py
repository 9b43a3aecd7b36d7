"""Aggregate base: state rebuilt from events, new events collected as pending.

Domain code subclasses ``Aggregate``, guards its invariants in command methods
and records facts with ``self._record(type, data)``. Each event type has one
method that changes state, marked ``@applies("EventType")``; the same method runs
when an event is first recorded and when history is replayed, so both paths
can never disagree. No I/O happens here.
"""
from .envelope import NewEvent


def applies(event_type):
    """Mark an aggregate method as the one that applies ``event_type`` events."""
    def mark(method):
        method.applied_event_type = event_type
        return method
    return mark


class Aggregate:
    """Base of every event-sourced aggregate."""

    # event type -> name of the method applying it (``@applies``), made per class
    appliers = {}

    def __init_subclass__(cls, **kwargs):
        """Collect the class's ``@applies`` methods (a subclass may override its
        bases'); two methods of one class applying the same event type are an error."""
        super().__init_subclass__(**kwargs)
        own = {}
        for name, member in vars(cls).items():
            event_type = getattr(member, "applied_event_type", None)
            if event_type is None:
                continue
            if event_type in own:
                raise TypeError(f"{cls.__name__}: both {own[event_type]} and {name} apply "
                                f"{event_type}")
            own[event_type] = name
        cls.appliers = {**cls.appliers, **own}

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
        name = self.appliers.get(event_type)
        if name is None:
            raise TypeError(f"{type(self).__name__} cannot apply {event_type}")
        getattr(self, name)(data)

    def collect(self):
        """Take the pending events (the caller stores them at ``self.version``)."""
        events, self.pending = self.pending, []
        return events
