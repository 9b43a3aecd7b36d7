"""The database helpers' connection handling: single-statement reads, leaderships."""
import gc

import pytest
from sqlalchemy import text

from clientfolio.serve import settle_garbage_collector
from services.common.db import Database
from services.common.leader import leadership


@pytest.fixture
def pg(postgres_url):
    db = Database(postgres_url, pool_size=2, max_overflow=0)
    yield db
    db.dispose()


def test_query_reads_in_autocommit_and_gives_the_connection_back_transactional(pg):
    with pg.write() as conn:
        conn.execute(text("CREATE TABLE t (n int)"))
    with pg.query() as conn:
        # No transaction open around the statement (it is its own snapshot).
        assert conn.connection.driver_connection.autocommit is True
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    # The same pooled connection serves the next write, atomically again.
    with pytest.raises(RuntimeError):
        with pg.write() as conn:
            assert conn.connection.driver_connection.autocommit is False
            conn.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("rolled back")
    with pg.query() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0


def test_query_does_not_reset_the_isolation_level_at_checkin(pg, monkeypatch):
    """SQLAlchemy's isolation_level option reset the level at each checkin, a
    ``SET default_transaction_isolation`` round trip per read."""
    calls = []
    original = pg.engine.dialect.set_isolation_level
    monkeypatch.setattr(pg.engine.dialect, "set_isolation_level",
                        lambda *args: (calls.append(args[1:]), original(*args)))
    for _ in range(3):
        with pg.query() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    assert calls == []
    with pg.query() as conn:
        assert conn.execute(text("SHOW transaction_isolation")).scalar() == "read committed"


def test_a_held_leadership_takes_no_pooled_connection(pg):
    """Every pooled connection stays for the workers while leaderships are held."""
    with leadership(pg, "relay:a") as first, leadership(pg, "relay:b") as second:
        assert first and second
        assert pg.engine.pool.checkedout() == 0
        # Both pooled connections (pool_size=2, no overflow) are still free.
        with pg.query() as one, pg.query() as two:
            assert one.execute(text("SELECT 1")).scalar() == 1
            assert two.execute(text("SELECT 1")).scalar() == 1
        # And the lock is really held: another session cannot take it.
        with leadership(pg, "relay:a", should_stop=lambda: True) as third:
            assert third is False


def test_a_leadership_is_released_when_its_block_exits(pg):
    with leadership(pg, "consumer:x") as held:
        assert held
    with leadership(pg, "consumer:x", should_stop=lambda: False) as again:
        assert again


def test_settling_the_collector_freezes_what_start_up_loaded():
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
