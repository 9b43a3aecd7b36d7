"""Commands benchmark: what exactly-once costs, and how soon writes resume after the
broker comes back.

1. Commands per second through the kernel's command path (``store.execute``), one at a
   time on SQLite and PostgreSQL, with a command id (the outcome recorded beside the
   events, a repeat answered from it) beside the same commands without one (nothing
   recorded), in the same run: create a client (contacts), draft an invoice (billing),
   log time (projects). The services' own command methods run in this process, without
   the broker, so the figure is the command path's.
2. The broker killed and started again several times under the whole system (each
   service a process, a RabbitMQ node of the benchmark's own): seconds from the broker
   answering again to the first acknowledged write; p99 beside p50.
"""
import itertools
import sys
import time
import uuid
from contextlib import ExitStack

from .support import Timer, database, rate

SIZES = {"quick": 200, "full": 1000}
RESTARTS = {"quick": 3, "full": 10}


def _service(cls, service, url, projector):
    """A service object whose command methods can be called directly (no nameko)."""
    from services.common.db import get_database
    from services.common.extensions import ServiceStore

    instance = cls.__new__(cls)
    instance.store = ServiceStore(service, get_database(url), None, projector)
    instance.config = {}
    instance.consumer = instance.replica = None
    return instance


def command_rates(kind, count):
    from services.billing import documents
    from services.billing.replica import CLIENTS
    from services.billing.service import BillingService, migrate as migrate_billing
    from services.contacts.service import ContactsService, migrate as migrate_contacts
    from services.contacts.writes import project_changes
    from services.projects import queries as project_queries
    from services.projects.service import ProjectsService, migrate as migrate_projects

    results = {}
    with ExitStack() as stack:
        urls = {name: stack.enter_context(database(kind, f"commands_{name}"))[0]
                for name in ("contacts", "projects", "billing")}
        migrate_contacts(urls["contacts"])
        migrate_projects(urls["projects"])
        migrate_billing(urls["billing"])
        contacts = _service(ContactsService, "contacts", urls["contacts"], project_changes)
        projects = _service(ProjectsService, "projects", urls["projects"],
                            project_queries.project_changes)
        billing = _service(BillingService, "billing", urls["billing"],
                           documents.project_changes)
        client = contacts.create_client({"workspace": "bench"}, {"name": "Bench"})
        client_id = client["client"]["id"]
        with billing.store.db.write() as conn:
            CLIENTS.write(conn, {client_id: {"workspace": "bench", "archived": False,
                                             "merged_into": None}})
        project_id = projects.create_project({"workspace": "bench"},
                                             {"name": "Bench"})["project"]["id"]
        names = itertools.count()
        commands = {
            "create client": lambda ctx: contacts.create_client(
                ctx, {"name": f"Client {next(names)}"}),
            "draft invoice": lambda ctx: billing.create_invoice(ctx, {
                "client_id": client_id, "currency": "EUR", "lines": [
                    {"description": "Work", "quantity": "1", "unit_price": "100",
                     "tax_rate": "21"}]}),
            "log time": lambda ctx: projects.log_time(ctx, project_id, {
                "date": "2026-11-02", "hours": "1.5"}),
        }
        for name, command in commands.items():
            command({"workspace": "bench"})  # warm up
            # Alternated command by command: a stream that grows (a project's time
            # entries) or a busy moment costs both sides alike.
            timings = {True: 0.0, False: 0.0}
            for index in range(count):
                recorded = index % 2 == 1
                ctx = {"workspace": "bench",
                       "command_id": f"bench:{uuid.uuid4().hex}" if recorded else None}
                with Timer() as timer:
                    command(ctx)
                timings[recorded] += timer.seconds
            results[name] = (rate(count // 2, timings[True]), rate(count // 2, timings[False]))
    return results


def broker_return_seconds(restarts):
    """Seconds from the broker answering again to the first acknowledged write, per
    restart of a whole system's broker."""
    import requests

    from tests.brokers import PrivateBroker

    from .billing import Processes

    seconds = []
    broker = PrivateBroker("bench").start()
    try:
        with ExitStack() as stack:
            urls = {service: stack.enter_context(database("postgres", f"broker_{service}"))[0]
                    for service in ("contacts", "projects", "billing", "gateway")}
            system = stack.enter_context(Processes(broker.url, urls))
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {system.token('bench', 'member')}"
            session.post(f"{system.url}/clients", json={"name": "Before"}, timeout=30)
            for index in range(restarts):
                broker.kill()
                broker.start()
                back = time.monotonic()
                while True:
                    try:
                        answer = session.post(f"{system.url}/clients",
                                              json={"name": f"After {index}"}, timeout=30)
                        if answer.status_code == 201:
                            break
                    except requests.RequestException:
                        pass
                    time.sleep(0.05)
                seconds.append(time.monotonic() - back)
    finally:
        broker.close()
    return sorted(seconds)


def run(report, quick=False):
    size = "quick" if quick else "full"
    count = SIZES[size]
    for kind in ("sqlite", "postgres"):
        for name, (recorded, plain) in command_rates(kind, count).items():
            report.add(f"{name}, exactly once ({kind})", f"{count}, one at a time", recorded,
                       "same command, nothing recorded", plain, goal=">= 0.9x")
    seconds = broker_return_seconds(RESTARTS[size])
    p50 = seconds[len(seconds) // 2]
    p99 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.99))]
    report.add("first write after the broker is back", f"p99 of {len(seconds)} restarts", p99,
               "p50, same restarts", p50, goal="p99 <= 5 s", unit=" s",
               higher_is_better=False)


if __name__ == "__main__":
    import warnings

    from .support import Report

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
