"""Which read-model generation is live, as many concurrent readers see it."""
import time
from contextlib import contextmanager

import eventlet
import eventlet.event

from gateway.projections import unit_of_work_for
from gateway.readmodel import ReadModel
from gateway.service import migrate
from services.common.db import Database
from tests.helpers import wait_until


def test_an_expired_live_generation_is_read_again_by_one_reader_only(tmp_path, monkeypatch):
    """When the cached pointer expires, one reader re-reads it while the others
    answer from the generation they know (all of them re-reading at once stalled
    a busy gateway twice a second)."""
    database = Database(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrate(database.url)
    model = ReadModel(database, unit_of_work_for)
    model.ensure()
    live = model.active_generation()
    reads, answered = [], []
    release = eventlet.event.Event()
    query = database.query

    @contextmanager
    def slow_query():
        reads.append(1)
        release.wait()  # the round trip, held until the other readers have answered
        with query() as conn:
            yield conn

    def reader():
        answered.append(model.active_generation())
        return answered[-1]

    monkeypatch.setattr(database, "query", slow_query)
    model._cached = (time.monotonic() - 60, live)  # expired
    readers = [eventlet.spawn(reader) for _ in range(20)]
    wait_until(lambda: len(answered) == 19, message="the other readers to answer")
    release.send()
    assert [reader.wait() for reader in readers] == [live] * 20
    assert len(reads) == 1
    # Once re-read, it is fresh again: nobody reads it.
    assert model.active_generation() == live and len(reads) == 1
    database.dispose()


def test_every_projected_event_type_is_one_a_source_publishes_and_has_a_handler():
    from gateway.projections import HANDLER_NAMES, OverviewBatch
    from services.common.contract import EVENT_TYPES

    for source, names in HANDLER_NAMES.items():
        assert set(names) <= EVENT_TYPES[source]
        for method in names.values():
            assert callable(getattr(OverviewBatch, method))
