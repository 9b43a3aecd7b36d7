"""The deliverer: sends the durable deliveries, in order per lane, from any number of
processes.

A lane is one subscription's deliveries for one client. A process *claims* due lanes
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL: replicas never wait for one another, nor
take the same lane) under a lease, then sends the lane's pending deliveries one
after the other, renewing the lease with each outcome it records. A failure
schedules the delivery again after a jittered exponential backoff and stops the
lane there, so what follows for that client waits behind it: order is kept, never
traded for progress. A process killed midway leaves its lanes to be claimed again
when their leases end; what it sent but did not record is sent again (at least
once; receivers deduplicate by ``webhook-id``).

After ``WEBHOOKS_RETRY_FOR_SECONDS`` (a day) of failures the delivery is marked
failed and its subscription disabled, with the reason; re-enabling it resumes the
deliveries that waited.
"""
import collections
import logging
import os
import random
import socket
import threading
import time
import uuid

import certifi
import eventlet
import urllib3
from sqlalchemy import bindparam, func, insert, select, text, update

from services.common.db import execute_values

from . import messages, signing, tables
from .subscriptions import signing_secrets
from .targets import TargetPolicy, TargetRefused, parse, resolve

log = logging.getLogger(__name__)

USER_AGENT = "Clientfolio-Webhooks/1"
MAX_RESPONSE_BYTES = 65536
MAX_ERROR_CHARS = 500
LANE_CHUNK = 100
# Outcomes of a lane are recorded together: after this many, or once the first of them
# is this old (a crash sends at most these again).
RECORD_EVERY = 20
RECORD_WITHIN_SECONDS = 0.25
# How long an address checked for a host is used without resolving it again: the
# connection always goes to a checked address, so rebinding the name meanwhile changes
# nothing; it only saves a lookup per delivery.
CHECKED_ADDRESS_SECONDS = 5.0


class LeaseLost(Exception):
    """Another process took the lane over (this one was too slow): stop at once."""


class Settings:
    def __init__(self, config):
        def number(name, default):
            value = config.get(name)
            return float(value) if value not in (None, "") else default

        self.policy = TargetPolicy.from_config(config)
        self.timeout = number("WEBHOOKS_TIMEOUT_SECONDS", 10.0)
        self.lease = max(number("WEBHOOKS_LEASE_SECONDS", 60.0), 2 * self.timeout + 1)
        self.poll = number("WEBHOOKS_POLL_INTERVAL", 0.5)
        self.concurrency = int(number("WEBHOOKS_CONCURRENCY", 16))
        self.retry_base = number("WEBHOOKS_RETRY_BASE_SECONDS", 5.0)
        self.retry_max = number("WEBHOOKS_RETRY_MAX_SECONDS", 3600.0)
        self.retry_for = number("WEBHOOKS_RETRY_FOR_SECONDS", 86400.0)


def retry_delay(attempts, base, cap):
    """Seconds before the next try after ``attempts`` failed ones: exponential, capped,
    with jitter (half of it random) so failing receivers are not hit in step."""
    delay = min(cap, base * 2 ** min(attempts - 1, 30))
    return delay / 2 + random.random() * delay / 2


class Sender:
    """POSTs to a checked address of the target's host, reusing connections."""

    def __init__(self, policy, timeout):
        self.policy = policy
        self.timeout = timeout
        self.pools = collections.OrderedDict()
        self.max_pools = 256
        self.checked = {}  # (host, port) -> (address, until)

    def _address(self, target):
        key = (target.host, target.port)
        known = self.checked.get(key)
        now = time.monotonic()
        if known is not None and known[1] > now:
            return known[0]
        address = resolve(target, self.policy)[0]
        if len(self.checked) > 4096:
            self.checked.clear()
        self.checked[key] = (address, now + CHECKED_ADDRESS_SECONDS)
        return address

    def _pool(self, target, address):
        key = (target.scheme, address, target.port, target.host)
        pool = self.pools.get(key)
        if pool is not None:
            self.pools.move_to_end(key)
            return pool
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                address, target.port, maxsize=4, block=False, cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(), assert_hostname=target.host,
                server_hostname=target.host)
        else:
            pool = urllib3.HTTPConnectionPool(address, target.port, maxsize=4, block=False)
        self.pools[key] = pool
        while len(self.pools) > self.max_pools:
            self.pools.popitem(last=False)[1].close()
        return pool

    def post(self, url, body, headers):
        """``(status code or None, error text or None)``; never raises for the target's
        faults (refused address, DNS, TLS, timeouts, resets)."""
        try:
            target = parse(url, self.policy)
            address = self._address(target)
        except TargetRefused as exc:
            return None, str(exc.message)
        pool = self._pool(target, address)
        try:
            with eventlet.Timeout(self.timeout * 2):
                response = pool.urlopen(
                    "POST", target.path, body=body,
                    headers={**headers, "Host": target.host_header},
                    redirect=False, retries=False, assert_same_host=False,
                    preload_content=False,
                    timeout=urllib3.Timeout(connect=min(5.0, self.timeout), read=self.timeout))
                try:
                    response.read(MAX_RESPONSE_BYTES)
                finally:
                    if response.length_remaining == 0:
                        response.release_conn()
                    else:  # a body larger than we read: this connection is not reused
                        response.close()
                        response.release_conn()
            return response.status, None
        except eventlet.Timeout:
            return None, f"no answer within {self.timeout * 2:g} s"
        except (urllib3.exceptions.HTTPError, OSError, socket.error) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]


class Deliverer:
    """Claims due lanes and delivers them, while ``run`` runs."""

    def __init__(self, database, config, owner=None):
        self.database = database
        self.settings = Settings(config)
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")[:40]
        self.sender = Sender(self.settings.policy, self.settings.timeout)
        self.pool = eventlet.GreenPool(self.settings.concurrency)
        self._wake = threading.Event()
        self._stopping = False
        self.working = set()  # lanes this process is delivering now

    # -- the loop ----------------------------------------------------------------------

    def wake(self):
        self._wake.set()

    def stop(self):
        self._stopping = True
        self._wake.set()

    def run(self):
        failures = 0
        while not self._stopping:
            self._wake.clear()
            claimed = []
            free = self.pool.free()
            if free:
                try:
                    claimed = self.claim(free)
                    failures = 0
                except Exception:
                    failures += 1
                    log.warning("webhooks: claiming deliveries failed", exc_info=True)
            for key in claimed:
                self.working.add(key)
                self.pool.spawn_n(self._work, key)
            if claimed and self.pool.free():
                continue  # maybe more are due
            self._wake.wait(min(self.settings.poll * (2 ** min(failures, 4)), 10.0))
        self.pool.waitall()

    def _work(self, key):
        unrecorded = []  # the last outcomes: recorded with the release, one transaction
        try:
            self.deliver_lane(*key, unrecorded)
        except LeaseLost:
            log.warning("webhooks: lane %s of %s taken over by another process", key[1], key[0])
        except Exception:
            log.exception("webhooks: delivering lane %s of %s failed", key[1], key[0])
        finally:
            try:
                self.release(*key, unrecorded)
            except Exception:  # its lease ends by itself
                log.warning("webhooks: releasing lane %s failed", key[1], exc_info=True)
            self.working.discard(key)
            self._wake.set()

    # -- claiming ----------------------------------------------------------------------

    def claim(self, limit):
        """Lease up to ``limit`` due lanes of enabled subscriptions; their keys."""
        now = time.time()
        params = {"now": now, "until": now + self.settings.lease, "owner": self.owner,
                  "n": int(limit)}
        if self.database.is_postgres:
            statement = text(
                "UPDATE webhook_lanes l SET lease_until = :until, lease_owner = :owner "
                "FROM (SELECT c.subscription_id, c.lane FROM webhook_lanes c "
                "JOIN webhook_subscriptions s ON s.id = c.subscription_id "
                "WHERE c.next_due <= :now AND (c.lease_until IS NULL OR c.lease_until < :now) "
                "AND s.enabled ORDER BY c.next_due LIMIT :n FOR UPDATE OF c SKIP LOCKED) due "
                "WHERE l.subscription_id = due.subscription_id AND l.lane = due.lane "
                "RETURNING l.subscription_id, l.lane")
        else:  # one writer at a time: the statement is atomic as it is
            statement = text(
                "UPDATE webhook_lanes SET lease_until = :until, lease_owner = :owner "
                "WHERE (subscription_id, lane) IN (SELECT c.subscription_id, c.lane "
                "FROM webhook_lanes c JOIN webhook_subscriptions s ON s.id = c.subscription_id "
                "WHERE c.next_due <= :now AND (c.lease_until IS NULL OR c.lease_until < :now) "
                "AND s.enabled ORDER BY c.next_due LIMIT :n) "
                "RETURNING subscription_id, lane")
        with self.database.write() as conn:
            return [(row[0], row[1]) for row in conn.execute(statement, params)
                    if (row[0], row[1]) not in self.working]

    def release(self, subscription_id, lane, outcomes=()):
        """Record the lane's last ``outcomes`` and give it back: due again when its first
        pending delivery is. (A lane taken over meanwhile records nothing: its new holder
        sends those deliveries again.)"""
        lanes, d = tables.lanes, tables.deliveries
        with self.database.write() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SET LOCAL synchronous_commit TO off"))  # see ``record``
            where = (lanes.c.subscription_id == subscription_id, lanes.c.lane == lane,
                     lanes.c.lease_owner == self.owner)
            # Lock first: the next statement then sees deliveries committed meanwhile.
            query = select(lanes.c.lane).where(*where)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            if conn.execute(query).first() is None:
                return
            if outcomes:
                self._write_outcomes(conn, subscription_id, outcomes, time.time())
            due = conn.execute(select(func.min(d.c.next_attempt_at)).where(
                d.c.subscription_id == subscription_id, d.c.lane == lane,
                d.c.status == "pending")).scalar()
            conn.execute(update(lanes).where(*where).values(
                next_due=due, lease_until=None, lease_owner=None))

    # -- delivering --------------------------------------------------------------------

    def _pending(self, subscription_id, lane):
        d, e, s = tables.deliveries, tables.events, tables.subscriptions
        with self.database.query() as conn:
            sub = conn.execute(select(s).where(s.c.id == subscription_id)).first()
            if sub is None or not sub.enabled:
                return sub, []
            rows = conn.execute(
                select(d.c.id, d.c.event_id, d.c.attempts, d.c.next_attempt_at,
                       d.c.first_attempt_at, e.c.payload)
                .join(e, e.c.seq == d.c.event_seq)
                .where(d.c.subscription_id == subscription_id, d.c.lane == lane,
                       d.c.status == "pending")
                .order_by(d.c.id).limit(LANE_CHUNK)).all()
        return sub, rows

    def deliver_lane(self, subscription_id, lane, unrecorded):
        """Send the lane's due deliveries in order. Outcomes are recorded a few at a time
        (a process that dies sends the unrecorded ones again: at least once); the last
        ones are left in ``unrecorded``, for the release to record. A failure stops the
        lane until its retry."""
        while not self._stopping:
            sub, rows = self._pending(subscription_id, lane)
            if not rows:
                return
            for row in rows:
                if row.next_attempt_at > time.time() or self._stopping:
                    return  # waits for its retry; what follows waits behind it
                outcome = self.deliver(sub, row)
                unrecorded.append(outcome)
                if not outcome.delivered:
                    return
                if len(unrecorded) >= RECORD_EVERY or \
                        time.time() - unrecorded[0].at >= RECORD_WITHIN_SECONDS:
                    self.record(sub, lane, unrecorded)
                    del unrecorded[:]
            if len(rows) < LANE_CHUNK:
                return
            self.record(sub, lane, unrecorded)  # before reading the next chunk
            del unrecorded[:]

    def deliver(self, sub, row):
        """Send one delivery; its ``Outcome``."""
        now = time.time()
        body = row.payload.encode()
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   **signing.headers(signing_secrets(sub, now), row.event_id, now, body)}
        started = time.monotonic()
        status, error = self.sender.post(sub.url, body, headers)
        delivered = status is not None and 200 <= status < 300
        if status is not None and not delivered:
            error = f"the receiver answered {status}"
        return Outcome(row, now, status, error, time.monotonic() - started, delivered)

    def record(self, sub, lane, outcomes):
        """Record ``outcomes`` in one transaction, renewing the lane's lease;
        ``LeaseLost`` if another process holds it now."""
        lanes = tables.lanes
        now = time.time()
        with self.database.write() as conn:
            if conn.dialect.name == "postgresql":
                # Bookkeeping of deliveries: a crash losing the last outcomes only sends
                # them again (at least once), so the commit need not wait for the disk.
                conn.execute(text("SET LOCAL synchronous_commit TO off"))
            renewed = conn.execute(update(lanes).where(
                lanes.c.subscription_id == sub.id, lanes.c.lane == lane,
                lanes.c.lease_owner == self.owner).values(
                    lease_until=now + self.settings.lease))
            if renewed.rowcount == 0:
                raise LeaseLost()
            self._write_outcomes(conn, sub.id, outcomes, now)

    def _write_outcomes(self, conn, subscription_id, outcomes, now):
        """The deliveries' new state and their attempts (successes, then maybe one
        failure)."""
        d = tables.deliveries
        attempts, delivered, failure = [], [], None
        for outcome in outcomes:
            row = outcome.row
            attempts.append(dict(delivery_id=row.id, attempt=row.attempts + 1, at=outcome.at,
                                 status_code=outcome.status, error=outcome.error,
                                 duration_ms=int(outcome.duration * 1000)))
            if outcome.delivered:
                delivered.append((row.id, row.attempts + 1, outcome.at, outcome.status,
                                  row.first_attempt_at or outcome.at))
            else:
                failure = outcome
        if delivered and conn.dialect.name == "postgresql":
            execute_values(conn, DELIVERED_STATEMENT, delivered)
        elif delivered:
            conn.execute(update(d).where(d.c.id == bindparam("b_id")).values(
                status="delivered", attempts=bindparam("b_attempts"),
                last_attempt_at=bindparam("b_at"), last_status_code=bindparam("b_code"),
                last_error=None, first_attempt_at=bindparam("b_first"),
                delivered_at=bindparam("b_at")),
                [dict(b_id=i, b_attempts=a, b_at=t, b_code=c, b_first=f)
                 for i, a, t, c, f in delivered])
        conn.execute(insert(tables.attempts), attempts)
        if failure is not None:
            self._record_failure(conn, subscription_id, failure, now)

    def _record_failure(self, conn, subscription_id, outcome, now):
        row = outcome.row
        attempts = row.attempts + 1
        first = row.first_attempt_at or outcome.at
        values = dict(attempts=attempts, last_attempt_at=outcome.at,
                      last_status_code=outcome.status, last_error=outcome.error,
                      first_attempt_at=first)
        give_up = now - first >= self.settings.retry_for
        if give_up:
            values.update(status="failed")
        else:
            values.update(next_attempt_at=now + retry_delay(
                attempts, self.settings.retry_base, self.settings.retry_max))
        conn.execute(update(tables.deliveries).where(tables.deliveries.c.id == row.id)
                     .values(**values))
        if give_up:
            hours = self.settings.retry_for / 3600
            reason = messages.DISABLED_AFTER_FAILURES.format(
                hours=f"{hours:g}", error=outcome.error or "-")
            conn.execute(update(tables.subscriptions).where(
                tables.subscriptions.c.id == subscription_id).values(
                    enabled=False, disabled_reason=str(reason), disabled_at=now,
                    version=tables.subscriptions.c.version + 1, updated_at=now))
            log.warning("webhooks: subscription %s disabled: %s", subscription_id, reason)


class Outcome:
    __slots__ = ("row", "at", "status", "error", "duration", "delivered")

    def __init__(self, row, at, status, error, duration, delivered):
        self.row, self.at, self.status, self.error = row, at, status, error
        self.duration, self.delivered = duration, delivered


DELIVERED_STATEMENT = (
    "UPDATE webhook_deliveries AS d SET status = 'delivered', attempts = v.attempts, "
    "last_attempt_at = v.at, last_status_code = v.code, last_error = NULL, "
    "first_attempt_at = v.first, delivered_at = v.at "
    "FROM (VALUES %s) AS v (id, attempts, at, code, first) WHERE d.id = v.id")
