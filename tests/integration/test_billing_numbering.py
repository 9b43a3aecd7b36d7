"""Invoice numbers are gap-free and unique per workspace and year, however many
issuers run at once: concurrent transactions on the counter row (SQLite and
PostgreSQL), then many concurrent issue requests over HTTP and RPC served by
two billing replicas on one database (an in-process pair on SQLite; on
PostgreSQL a second replica in its own process, as a second container would be).
Both replicas consume the one ``rpc-billing`` queue (checked), and more calls are
in flight than one replica has workers, so both take a share of them.
"""
import os
import random
import subprocess
import sys
from pathlib import Path

import eventlet
import pytest
import requests
from nameko.runners import ServiceRunner
from sqlalchemy import func, select

from clientfolio.registry import service_class
from services.billing.db import invoices_table
from services.billing.numbering import last_numbers, next_number
from services.billing.service import migrate
from services.common.db import Database, forget_database
from tests.conftest import free_port
from tests.helpers import wait_until
from tests.integration.test_billing_api import LINES, create_client

ROOT = Path(__file__).resolve().parents[2]


class Refused(Exception):
    pass


def test_concurrent_transactions_take_consecutive_numbers(database_url):
    """Many transactions race for numbers (the first ones to create the counter row);
    a third of them roll back: the committed numbers are exactly 1..N, per series."""
    migrate(database_url)
    database = Database(database_url)
    committed = {("acme", 2026): [], ("acme", 2025): [], ("globex", 2026): []}
    series = list(committed)
    plan = [(series[i % 3], i % 3 == 0 and i % 2 == 0) for i in range(90)]
    random.Random(6).shuffle(plan)

    def issue(key, roll_back):
        try:
            with database.write() as conn:
                number = next_number(conn, *key)
                if roll_back:
                    raise Refused(number)
            committed[key].append(number)
        except Refused:
            pass

    pool = eventlet.GreenPool(16)
    for key, roll_back in plan:
        pool.spawn(issue, key, roll_back)
    pool.waitall()
    for (workspace, year), numbers in committed.items():
        expected = sum(1 for key, roll_back in plan if key == (workspace, year) and not roll_back)
        assert sorted(numbers) == list(range(1, expected + 1)), (workspace, year)
        with database.read() as conn:
            assert last_numbers(conn, workspace)[year] == expected
    database.dispose()
    forget_database(database_url)  # the migration's engine


def billing_in_process(stack, name, port, max_workers=None):
    """A billing container on the stack's database and broker (its own HTTP port)."""
    config = stack.config("billing")
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port}"
    if max_workers:
        config["max_workers"] = max_workers
    runner = ServiceRunner(config)
    runner.add_service(service_class("billing"))
    runner.start()
    stack.runners[name] = runner  # stopped with the stack
    wait_until(lambda: _ready(port), timeout=30, message=f"{name} ready")


def billing_process(stack, port, max_workers):
    """Another billing replica in its own OS process, configured by environment."""
    env = dict(os.environ, AMQP_URI=stack.amqp_uri, CLIENTFOLIO_HTTP_PORT=str(port),
               CLIENTFOLIO_LOG_LEVEL="WARNING", CLIENTFOLIO_MAX_WORKERS=str(max_workers),
               **{f"{service.upper()}_DATABASE_URL": url
                  for service, url in stack.database_urls.items()})
    process = subprocess.Popen([sys.executable, "-m", "clientfolio.cli", "serve", "billing"],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    wait_until(lambda: _ready(port), timeout=60, interval=0.2,
               message="the second billing process to be ready")
    return process


def _ready(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def rpc_billing_consumers(stack):
    vhost = requests.utils.unquote(stack.amqp_uri.rsplit("/", 1)[1])
    listing = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name",
                              "consumers"], capture_output=True, text=True, timeout=60).stdout
    for line in listing.splitlines():
        parts = line.split()
        if parts and parts[0] == "rpc-billing":
            return int(parts[1])
    return 0


def issue_many_at_once(stack, count, workspaces=("acme", "globex"), year=2026):
    """Drafts issued by concurrent HTTP requests and RPC calls at once, with every
    refusal on the way (an invoice issued twice at the same moment, drafts without
    lines): returns {workspace: [numbers]} of the successful issues."""
    sessions = {workspace: stack.session(workspace, "member") for workspace in workspaces}
    drafts = {workspace: [] for workspace in workspaces}
    empty = {workspace: [] for workspace in workspaces}
    for workspace, session in sessions.items():
        client_id = create_client(stack, session, f"{workspace} client")
        ctx = {"workspace": workspace}
        for start in range(0, count, 10):
            replies = [stack.rpc.billing.create_invoice.call_async(ctx, {
                "client_id": client_id, "currency": "EUR", "lines": LINES if i % 10 else []})
                for i in range(start, min(count, start + 10))]
            for i, reply in enumerate(replies, start):
                (drafts if i % 10 else empty)[workspace].append(
                    reply.result()["invoice"]["id"])

    outcomes = []

    def over_http(workspace, invoice_id):
        answer = sessions[workspace].post(
            f"{stack.url}/api/v1/invoices/{invoice_id}/issue",
            json={"issue_date": f"{year}-06-30"}, timeout=60)
        body = answer.json()
        outcomes.append((workspace, invoice_id, answer.status_code, body.get("number")))

    calls = []
    for workspace in workspaces:
        for i, invoice_id in enumerate(drafts[workspace] + empty[workspace]):
            calls.append(("http" if i % 2 else "rpc", workspace, invoice_id))
            if i % 7 == 0:  # the same invoice issued twice at the same moment
                calls.append(("http", workspace, invoice_id))
    random.Random(7).shuffle(calls)
    pool = eventlet.GreenPool(40)
    replies = []
    for channel, workspace, invoice_id in calls:
        if channel == "http":
            pool.spawn(over_http, workspace, invoice_id)
        else:
            replies.append((workspace, invoice_id, stack.rpc.billing.issue_invoice.call_async(
                {"workspace": workspace}, invoice_id, {"issue_date": f"{year}-06-30"})))
    for workspace, invoice_id, reply in replies:
        try:
            outcomes.append((workspace, invoice_id, 200, reply.result()["invoice"]["number"]))
        except Exception as exc:  # a typed error: Conflict for the refused ones
            outcomes.append((workspace, invoice_id, getattr(exc, "status", 500), None))
    pool.waitall()

    numbers = {workspace: [] for workspace in workspaces}
    issued_ids = set()
    for workspace, invoice_id, status, number in outcomes:
        if invoice_id in empty[workspace]:
            assert status == 409, (invoice_id, status)  # no lines: refused, no number taken
            continue
        assert status in (200, 409), (invoice_id, status)
        if status == 200:
            assert invoice_id not in issued_ids, "an invoice was issued twice"
            issued_ids.add(invoice_id)
            numbers[workspace].append(number)
    for workspace in workspaces:
        assert issued_ids >= set(drafts[workspace])  # every good draft issued once
    return numbers


def check_numbers(stack, numbers, year=2026):
    for workspace, got in numbers.items():
        expected = [f"{year}-{n:06d}" for n in range(1, len(got) + 1)]
        assert sorted(got) == expected, workspace  # 1..N: no gap, no duplicate
        with stack.database("billing").read() as conn:
            stored = conn.execute(select(invoices_table.c.number)
                                  .where(invoices_table.c.workspace == workspace)
                                  .where(invoices_table.c.number.is_not(None))).scalars().all()
            assert sorted(stored) == expected
            assert last_numbers(conn, workspace) == {year: len(got)}
    issued = [e for e in stack.rpc.billing.events_since(0, 5000) if e["type"] == "InvoiceIssued"]
    assert len(issued) == sum(len(got) for got in numbers.values())


def test_two_replicas_on_sqlite_issue_gap_free_numbers(make_stack):
    stack = make_stack().start()
    billing_in_process(stack, "billing-2", free_port())
    wait_until(lambda: rpc_billing_consumers(stack) == 2, timeout=30, interval=0.2,
               message="two billing replicas consuming RPC")
    numbers = issue_many_at_once(stack, 60)
    assert {workspace: len(got) for workspace, got in numbers.items()} == {"acme": 54,
                                                                           "globex": 54}
    check_numbers(stack, numbers)


@pytest.mark.postgres
def test_two_billing_processes_on_postgresql_issue_gap_free_numbers(make_stack):
    # Eight workers per replica: sixteen issuers at once, within the connection slots a
    # shared PostgreSQL server leaves to one test.
    stack = make_stack("postgres").start("contacts", "projects", "gateway")
    billing_in_process(stack, "billing", stack.ports["billing"], max_workers=8)
    process = billing_process(stack, free_port(), max_workers=8)
    try:
        wait_until(lambda: rpc_billing_consumers(stack) == 2, timeout=30, interval=0.2,
                   message="two billing replicas consuming RPC")
        numbers = issue_many_at_once(stack, 150)
        assert {workspace: len(got) for workspace, got in numbers.items()} == {
            "acme": 135, "globex": 135}
        check_numbers(stack, numbers)
        with stack.database("billing").read() as conn:
            assert conn.execute(select(func.count()).select_from(invoices_table)).scalar() \
                == 300
    finally:
        process.terminate()
        process.wait(timeout=60)
