"""Chaos: writers through two gateways while services, a gateway and the broker are
killed with ``kill -9`` and restarted, as an orchestrator would. Afterwards every
acknowledged write exists once, invoice numbers are gap-free, the overview equals an
independent computation and a rebuild, and no answer was a 500.

The broker is a RabbitMQ node of the test's own (``tests/brokers.py``); PostgreSQL is
the real server. Bounded: about a minute of chaos.
"""
import itertools
import random
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

import eventlet
import pytest

from tests.brokers import PrivateBroker
from tests.faults.processes import SERVICES, ProcessStack
from tests.faults.writers import Writer, client_ids
from tests.helpers import wait_until

CHAOS_SECONDS = 40
WRITERS = 4
CLIENTS = 4


@pytest.fixture
def chaos_stack(postgres, tmp_path):
    broker = PrivateBroker().start()
    urls = {service: postgres.create(service) for service in SERVICES}
    stack = ProcessStack(broker.url, urls, tmp_path, CLIENTFOLIO_IDEMPOTENCY_LEASE_SECONDS=2,
                         CLIENTFOLIO_RPC_TIMEOUT=10)
    stack.add_gateway("gateway-2")
    try:
        yield broker, stack.start()
    finally:
        stack.close()
        broker.close()


def gateways(stack):
    return [stack["gateway"].url, stack["gateway-2"].url]


def restart_exited(stack, deaths):
    """The orchestrator: a process that died on its own is noted and started again."""
    for name, process in stack.processes.items():
        code = process.process.poll() if process.process else None
        if code is not None and not getattr(process, "killed_on_purpose", False):
            deaths.append((name, code))
            process.start(wait=False)


def chaos(broker, stack, until, deaths):
    schedule = ["billing", "broker", "contacts", "gateway", "broker", "projects"]
    step = (until - time.monotonic()) / (len(schedule) + 1)
    for victim in schedule:
        eventlet.sleep(step * random.uniform(0.6, 1.0))
        if victim == "broker":
            broker.kill()
            eventlet.sleep(random.uniform(1.0, 3.0))
            broker.start()
        else:
            process = stack[victim]
            process.killed_on_purpose = True
            process.kill()
            eventlet.sleep(random.uniform(0.2, 1.5))
            process.start(wait=False)
            process.killed_on_purpose = False
        restart_exited(stack, deaths)


def test_writes_survive_killed_processes_and_a_killed_broker(chaos_stack):
    broker, stack = chaos_stack
    token = stack.token()
    setup = Writer(lambda: gateways(stack), token)
    clients = [setup.write("/clients", {"name": f"Chaos client {index}"})["id"]
               for index in range(CLIENTS)]
    projects = {client: setup.write("/projects", {"name": f"Obra {index}",
                                                  "client_id": client})["id"]
                for index, client in enumerate(clients)}

    acknowledged = {"clients": set(clients), "hours": Counter(), "issued": Counter(),
                    "numbers": []}
    writers = [Writer(lambda: gateways(stack), token) for _ in range(WRITERS)]
    until = time.monotonic() + CHAOS_SECONDS

    def work(writer, index):
        names = itertools.count()
        while time.monotonic() < until:
            client = random.choice(clients)
            action = random.choice(("client", "time", "invoice"))
            if action == "client":
                created = writer.write("/clients", {"name": f"Chaos {index}-{next(names)}"})
                acknowledged["clients"].add(created["id"])
            elif action == "time":
                writer.write(f"/projects/{projects[client]}/time-entries",
                             {"date": "2026-11-02", "hours": "1.5"})
                acknowledged["hours"][client] += Decimal("1.5")
            else:
                draft = writer.write("/invoices", {
                    "client_id": client, "currency": "EUR", "due_date": "2026-12-31",
                    "lines": [{"description": "Obra", "quantity": "1",
                               "unit_price": "100.00", "tax_rate": "0"}]})
                issued = writer.write(f"/invoices/{draft['id']}/issue",
                                      {"issue_date": "2026-11-01"})
                acknowledged["issued"][client] += 1
                acknowledged["numbers"].append(issued["number"])

    deaths = []
    threads = [eventlet.spawn(work, writer, index) for index, writer in enumerate(writers)]
    chaos(broker, stack, until, deaths)
    for thread in threads:
        thread.wait()
    for process in stack.processes.values():
        process.wait_ready(timeout=90)

    statuses = sum((writer.statuses for writer in writers + [setup]), Counter())
    assert statuses[500] == 0, statuses
    assert statuses["connection"] + statuses[503] > 0, "the chaos was not felt"
    # A service never dies because the broker went away (only the ones killed on purpose).
    assert deaths == [], deaths

    session = writers[0].session
    api_url = stack["gateway"].url + "/api/v1"

    # Every acknowledged client exists once, and no other.
    listed = client_ids(session, api_url, "chaos")
    assert sorted(listed) == sorted(acknowledged["clients"])

    # Every issued invoice once, numbers 1..n without a gap.
    numbers = sorted(acknowledged["numbers"])
    assert numbers == [f"2026-{n:06d}" for n in range(1, len(numbers) + 1)]
    for client in clients:
        invoices = session.get(f"{api_url}/invoices", params={"client_id": client,
                                                               "limit": 500}, timeout=30)
        assert len(invoices.json()["items"]) == acknowledged["issued"][client]

    # The overview equals what the acknowledged writes make, and a rebuild.
    def expected(client):
        count = acknowledged["issued"][client]
        return (float(acknowledged["hours"][client]), count,
                {"EUR": f"{Decimal(100 * count):.2f}"} if count else {})

    def figures(client):
        body = session.get(f"{api_url}/clients/{client}/overview",
                           params={"as_of": "2026-11-20"}, timeout=30).json()
        return (body["projects"]["total_hours"], body["invoices"]["authorized"]["count"],
                body["invoices"]["authorized"]["amount"])

    wait_until(lambda: all(figures(c) == expected(c) for c in clients), timeout=60,
               interval=0.5, message="the overview to show every acknowledged write")
    live = {client: session.get(f"{api_url}/clients/{client}/overview",
                                params={"as_of": "2026-11-20"}, timeout=30).json()
            for client in clients}
    rebuilt = subprocess.run([sys.executable, "-m", "clientfolio.cli", "overview", "rebuild"],
                             env=stack.env, capture_output=True, text=True, timeout=120)
    assert rebuilt.returncode == 0, rebuilt.stderr
    for client in clients:
        assert session.get(f"{api_url}/clients/{client}/overview",
                           params={"as_of": "2026-11-20"}, timeout=30).json() == live[client]
