"""Leader election so that work meant for one process runs in exactly one replica.

PostgreSQL: a session-level advisory lock held on a dedicated connection
(released by the server if the process dies). SQLite: an exclusive ``flock``
on a file beside the database (released by the OS if the process dies).
"""
import fcntl
import hashlib
import logging
import os
import time
from contextlib import contextmanager

log = logging.getLogger(__name__)


def _lock_key(name):
    # A stable signed 64-bit key for pg_advisory_lock.
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def leadership(database, name, *, should_stop=lambda: False, retry_interval=1.0):
    """Block until this process is the leader for ``name``; yields True, or False
    if ``should_stop()`` turned true first. Leadership ends when the block exits."""
    if database.is_postgres:
        with _postgres_leadership(database, name, should_stop, retry_interval) as held:
            yield held
    else:
        with _file_leadership(database, name, should_stop, retry_interval) as held:
            yield held


@contextmanager
def _postgres_leadership(database, name, should_stop, retry_interval):
    key = _lock_key(name)
    # Its own connection, not a pooled one: a leadership lasts as long as the
    # process, and each one held out of the pool left the workers a connection
    # short (a busy gateway then opened and closed a backend per request).
    conn = database.dedicated_connection()
    try:
        cursor = conn.cursor()
        while not should_stop():
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            if cursor.fetchone()[0]:
                break
            time.sleep(retry_interval)
        else:
            yield False
            return
        try:
            yield True
        finally:
            try:
                cursor.execute("SELECT pg_advisory_unlock(%s)", (key,))
            except Exception:  # the connection may already be gone, and the lock with it
                log.debug("advisory unlock failed", exc_info=True)
    finally:
        try:
            conn.close()
        except Exception:
            log.debug("closing the leadership connection failed", exc_info=True)


@contextmanager
def _file_leadership(database, name, should_stop, retry_interval):
    db_path = database.engine.url.database or "memory"
    safe = "".join(c if c.isalnum() else "_" for c in name)
    path = f"{db_path}.{safe}.lock" if db_path != ":memory:" else f"/tmp/clientfolio.{safe}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while not should_stop():
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(retry_interval)
        else:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
