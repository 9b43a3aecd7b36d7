"""The import runner: claims jobs under a lease and runs them in the background.

A runner claims a job with a conditional UPDATE of ``owner``/``lease_until``; every
batch renews the lease (see :class:`~.job.JobRun`). A lease that runs out (the process
died) lets another runner, or the same service once restarted, take the job over from
its checkpoint; a service that stops gracefully hands its job back after the batch
under way, so another replica resumes it at once.
"""
import logging
import time
import uuid

import eventlet
from eventlet.event import Event
from nameko.extensions import DependencyProvider
from sqlalchemy import or_, select, update

from services.common.config import database_url
from services.common.db import get_database
from services.common.envelope import format_time, utc_now
from services.common.eventstore import EventStore
from services.common.extensions import stop_within

from ..files import FileStorage, files_dir
from ..sealing import PERSONAL
from .job import JobRun, LostLease
from .tables import ACTIVE, jobs

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
DEFAULT_LEASE_SECONDS = 30.0
POLL_SECONDS = 1.0
BATCH_PAUSE = 0.0  # seconds slept between batches (besides yielding)


class ImportRunner(DependencyProvider):
    """Runs import jobs in the background: claims queued jobs (and running ones whose
    lease ran out) one at a time, and resumes them from their checkpoint."""

    def setup(self):
        config = self.container.config
        self.database = get_database(database_url(config, "contacts"))
        self.events = EventStore(self.database, PERSONAL)  # sealed as every command's
        self.storage = FileStorage(files_dir(config))
        self.batch_size = int(config.get("IMPORT_BATCH_SIZE") or DEFAULT_BATCH_SIZE)
        self.lease_seconds = float(config.get("IMPORT_LEASE_SECONDS") or DEFAULT_LEASE_SECONDS)
        self.pause = float(config.get("IMPORT_BATCH_PAUSE") or BATCH_PAUSE)
        self.owner = f"{uuid.uuid4()}"
        self._wake = Event()
        self._running = False
        self._thread = None
        self.current = None

    def start(self):
        self._running = True
        self._thread = self.container.spawn_managed_thread(self._loop,
                                                           identifier="contacts.imports")

    def stop(self):
        self._running = False
        self.wake()
        stop_within([self._thread])

    def kill(self):
        self._running = False
        if self._thread is not None:
            self._thread.kill()

    def wake(self):
        """Look for a job now (one was just queued) rather than at the next poll."""
        if not self._wake.ready():
            self._wake.send(True)

    def get_dependency(self, worker_ctx):
        return self

    def _loop(self):
        while self._running:
            try:
                job_id = self.claim()
            except Exception:
                log.exception("contacts: could not look for import jobs")
                job_id = None
            if job_id is None:
                with eventlet.Timeout(POLL_SECONDS, False):
                    self._wake.wait()
                self._wake = Event()
                continue
            self.run(job_id)

    def claim(self):
        """The id of a job this runner now owns, or ``None``."""
        now = time.time()
        free = or_(jobs.c.owner.is_(None), jobs.c.lease_until < now)
        with self.database.read() as conn:
            candidates = conn.execute(select(jobs.c.id).where(jobs.c.status.in_(ACTIVE))
                                      .where(free).order_by(jobs.c.created_at)
                                      .limit(10)).scalars().all()
        for job_id in candidates:
            with self.database.write() as conn:
                claimed = conn.execute(
                    update(jobs).where(jobs.c.id == job_id).where(jobs.c.status.in_(ACTIVE))
                    .where(free).values(owner=self.owner, status="running",
                                        lease_until=time.time() + self.lease_seconds,
                                        started_at=format_time(utc_now()))).rowcount
            if claimed == 1:
                return job_id
        return None

    def run(self, job_id):
        self.current = job_id
        try:
            JobRun(self.database, self.events, job_id, self.owner, self.batch_size,
                   self.lease_seconds, self.pause,
                   should_stop=lambda: not self._running, storage=self.storage).run()
        except LostLease:
            log.warning("contacts: import %s was taken over by another runner", job_id)
        except Exception as exc:
            log.exception("contacts: import %s failed", job_id)
            with self.database.write() as conn:
                conn.execute(update(jobs).where(jobs.c.id == job_id)
                             .where(jobs.c.owner == self.owner)
                             .values(status="failed", owner=None,
                                     error=f"the import stopped: {exc}"[:2000],
                                     finished_at=format_time(utc_now())))
        finally:
            self.current = None
