"""Billing benchmark: issuing invoices concurrently over HTTP, numbers checked gap-free.

The whole system runs as it does in production: contacts, projects, billing and
the gateway each in its own process (``clientfolio serve``) on a scratch
RabbitMQ vhost and scratch databases (SQLite files, then PostgreSQL). Over the
gateway's HTTP API, 20 requests at a time:

1. create N draft invoices for one client (timed: the baseline of a plain
   write through the same stack);
2. issue those N drafts (timed separately), then check that the numbers handed
   out are exactly 1..N of the year: no gap, no duplicate.

Issuing does more than drafting (a number from the per-workspace, per-year
counter row, whose lock serialises the issuers of a workspace), so its rate
beside the drafting rate shows what gap-free numbering costs.
"""
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import requests

from .support import Timer, database, rate, vhost

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("contacts", "projects", "billing", "gateway")
CONCURRENCY = 20
YEAR = 2026
LINES = [{"description": "Consulting", "quantity": "8", "unit_price": "95.50",
          "tax_rate": "21"},
         {"description": "Travel", "quantity": "1", "unit_price": "120", "tax_rate": "10"}]


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """The services and the gateway, each in its own ``clientfolio serve`` process."""

    def __init__(self, amqp_uri, urls):
        self.env = dict(os.environ, AMQP_URI=amqp_uri, CLIENTFOLIO_LOG_LEVEL="WARNING",
                        **{f"{service.upper()}_DATABASE_URL": url
                           for service, url in urls.items()})
        self.ports = {service: _free_port() for service in SERVICES}
        self.processes = []

    def __enter__(self):
        for service in SERVICES:
            env = dict(self.env, CLIENTFOLIO_HTTP_PORT=str(self.ports[service]))
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "clientfolio.cli", "serve", service], cwd=ROOT,
                env=env, stdout=subprocess.DEVNULL))
        deadline = time.monotonic() + 90
        for service in SERVICES:
            while not self._ready(service):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} did not become ready")
                time.sleep(0.2)
        return self

    def _ready(self, service):
        try:
            return requests.get(f"http://127.0.0.1:{self.ports[service]}/ready",
                                timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def __exit__(self, *exc):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.ports['gateway']}/api/v1"

    def token(self, workspace, role):
        answer = subprocess.run(
            [sys.executable, "-m", "clientfolio.cli", "token", "create", "--workspace",
             workspace, "--role", role], cwd=ROOT, env=self.env, capture_output=True,
            text=True, check=True)
        return answer.stdout.strip().splitlines()[-1]


def _concurrently(function, items):
    """``function(session, item)`` for every item, CONCURRENCY at a time; results in order."""
    local = threading.local()
    token = _concurrently.token

    def run(item):
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token}"
        return function(session, item)

    with ThreadPoolExecutor(CONCURRENCY) as pool:
        return list(pool.map(run, items))


def issue_run(kind, count):
    """(drafts/s, issues/s) of one run against ``kind`` databases; checks the numbers."""
    with ExitStack() as stack:
        amqp_uri = stack.enter_context(vhost())
        urls = {service: stack.enter_context(database(kind, f"billing_{service}"))[0]
                for service in SERVICES}
        system = stack.enter_context(Processes(amqp_uri, urls))
        _concurrently.token = system.token("bench", "member")
        api = system.url
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {_concurrently.token}"
        created = session.post(f"{api}/clients", json={"name": "Fundació Catalana de Disseny"})
        created.raise_for_status()
        client_id = created.json()["id"]
        consistency = created.headers["Consistency-Token"]

        def draft(session, index):
            answer = session.post(f"{api}/invoices", json={
                "client_id": client_id, "currency": "EUR", "issue_date": f"{YEAR}-06-30",
                "due_date": f"{YEAR}-07-30", "lines": LINES},
                headers={"Consistency-Token": consistency}, timeout=60)
            if answer.status_code != 201:
                raise RuntimeError(f"draft {index}: {answer.status_code} {answer.text}")
            return answer.json()["id"]

        def issue(session, invoice_id):
            answer = session.post(f"{api}/invoices/{invoice_id}/issue", json={}, timeout=60)
            if answer.status_code != 200:
                raise RuntimeError(f"issue {invoice_id}: {answer.status_code} {answer.text}")
            return answer.json()["number"]

        draft(session, -1)  # warm up: connections, the replica has the client
        with Timer() as drafting:
            ids = _concurrently(draft, range(count))
        with Timer() as issuing:
            numbers = _concurrently(issue, ids)
        expected = [f"{YEAR}-{n:06d}" for n in range(1, count + 1)]
        if sorted(numbers) != expected:
            missing = sorted(set(expected) - set(numbers))[:5]
            raise AssertionError(f"invoice numbers are not 1..{count}: {len(set(numbers))} "
                                 f"distinct, missing e.g. {missing}")
        print(f"  {kind}: {count} numbers issued, {expected[0]}..{expected[-1]}, "
              "no gap, no duplicate", flush=True)
        return rate(count, drafting.seconds), rate(count, issuing.seconds)


def run(report, quick=False):
    count = 200 if quick else 1000
    for kind in ("sqlite", "postgres"):
        drafts, issues = issue_run(kind, count)
        report.add(f"issue invoices over HTTP ({kind})", f"{count}, {CONCURRENCY} at a time",
                   issues, "create drafts over HTTP, same run", drafts, goal=">= 0.5x")


if __name__ == "__main__":
    import warnings

    from .support import Report

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
