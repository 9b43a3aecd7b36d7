"""Wake-ups across replicas through PostgreSQL's LISTEN/NOTIFY.

A process is woken at once by its own commits (``Database.on_commit``); a commit
made by another replica of the same service used to be seen only at the next
poll (half a second for a relay, 20 ms for a Consistency-Token wait). With
PostgreSQL, the replica that committed sends a notification on the shared
database and every replica listening on that channel is woken by it.

Notifications are a shortcut, never the record: one lost while a listener
reconnects costs a poll interval, nothing else, and a listener that
(re)connects wakes its owner once in case it missed one. SQLite deployments are
single-process and need none of this.

The notification is sent after the commit, from a green thread of its own and
outside the committing transaction: a notifying transaction serialises its
commit with every other notifying one in the cluster, which the event store's
appends must not pay.
"""
import logging
import select
import time

import eventlet
from eventlet.queue import Empty, Full, LightQueue

log = logging.getLogger(__name__)

LISTEN_TIMEOUT = 1.0  # seconds a listener sleeps in ``select`` before checking ``stop``


def format_positions(positions):
    """{"projects": 7, "billing": 3} -> ``"billing:3,projects:7"`` (a notification's payload)."""
    return ",".join(f"{source}:{int(position)}" for source, position in sorted(positions.items()))


def parse_positions(payload):
    """The inverse of ``format_positions``; ignores what it does not understand."""
    positions = {}
    for part in (payload or "").split(","):
        source, _, position = part.partition(":")
        if source and position.isdigit():
            positions[source] = int(position)
    return positions


class Wakeup:
    """A one-slot signal between green threads: however many ``set`` calls arrive
    before ``wait`` returns, they wake it once."""

    def __init__(self):
        self._slot = LightQueue(maxsize=1)

    def set(self):
        try:
            self._slot.put_nowait(True)
        except Full:
            pass

    def wait(self, timeout):
        """True if woken, False after ``timeout`` seconds."""
        try:
            return self._slot.get(timeout=timeout)
        except Empty:
            return False


class Notifier:
    """Sends ``pg_notify(channel, payload)`` for commits of this process, coalesced:
    however many ``poke`` calls arrive while one notification is in flight, the
    next carries them all (positions merged by their maximum)."""

    def __init__(self, database, channel):
        self.database = database
        self.channel = channel
        self._pending = None  # positions waiting to be sent, or None
        self._wakeup = Wakeup()
        self._stopping = False

    def poke(self, positions=None):
        """Ask for a notification (with ``positions`` merged into its payload)."""
        pending = self._pending if self._pending is not None else {}
        for source, position in (positions or {}).items():
            if position > pending.get(source, 0):
                pending[source] = position
        self._pending = pending
        self._wakeup.set()

    def stop(self):
        self._stopping = True
        self.poke()

    def run(self):
        while not self._stopping:
            if not self._wakeup.wait(LISTEN_TIMEOUT):
                continue
            positions, self._pending = self._pending, None
            if positions is None or self._stopping:
                continue
            try:
                with self.database.query() as conn:
                    conn.exec_driver_sql("SELECT pg_notify(%s, %s)",
                                         (self.channel, format_positions(positions)))
            except Exception as exc:  # the listeners' poll still finds the work
                log.warning("notification on %s not sent: %s", self.channel, exc)


class Listener:
    """Calls ``callback(payload)`` for each notification on ``channel``, and
    ``callback(None)`` each time it (re)connects (it may have missed some)."""

    def __init__(self, database, channel, callback, retry_interval=1.0):
        self.database = database
        self.channel = channel
        self.callback = callback
        self.retry_interval = retry_interval
        self.listening = False
        self._stopping = False

    def stop(self):
        self._stopping = True

    def run(self):
        while not self._stopping:
            conn = None
            try:
                conn = self.database.dedicated_connection()
                conn.cursor().execute('LISTEN "%s"' % self.channel.replace('"', '""'))
                self.listening = True
                self._deliver(None)
                while not self._stopping:
                    # ``select`` is green once eventlet patched the process.
                    select.select([conn], [], [], LISTEN_TIMEOUT)
                    conn.poll()
                    while conn.notifies:
                        self._deliver(conn.notifies.pop(0).payload)
            except Exception as exc:
                if not self._stopping:
                    log.warning("listening on %s: %s; retrying in %.1fs", self.channel, exc,
                                self.retry_interval)
                    self._sleep(self.retry_interval)
            finally:
                self.listening = False
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        log.debug("closing the listening connection failed", exc_info=True)

    def _deliver(self, payload):
        try:
            self.callback(payload)
        except Exception:  # a wake-up must never end the listener
            log.exception("notification callback for %s failed", self.channel)

    def _sleep(self, delay):
        deadline = time.monotonic() + delay
        while not self._stopping and time.monotonic() < deadline:
            eventlet.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
