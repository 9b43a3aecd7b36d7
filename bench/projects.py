"""Projects benchmark: one client assigned to 1,000 projects in bulk, beside 1,000
single ``PATCH`` assignments (one after the other, as a user clicking through
the projects' settings would), both until the client's overview shows all
1,000 projects. The stack runs as ``clientfolio serve`` processes on PostgreSQL.
"""
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import requests

from .billing import Processes
from .support import Report, Timer, database, vhost

SERVICES = ("contacts", "projects", "billing", "gateway")


def _wait_for_projects(session, api, client_id, count, token):
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        answer = session.get(f"{api}/clients/{client_id}/overview",
                             headers={"Consistency-Token": token}, timeout=30)
        if answer.status_code == 200 and answer.json()["projects"]["count"] == count:
            return
        time.sleep(0.005)
    raise RuntimeError("the overview never showed every project")


def run(report, quick=False):
    count = 200 if quick else 1000
    with ExitStack() as stack:
        amqp_uri = stack.enter_context(vhost())
        urls = {service: stack.enter_context(database("postgres", f"projects_{service}"))[0]
                for service in SERVICES}
        system = stack.enter_context(Processes(amqp_uri, urls))
        token = system.token("bench", "member")
        api = system.url
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"

        def new_client(name):
            answer = session.post(f"{api}/clients", json={"name": name})
            answer.raise_for_status()
            return answer.json()["id"], answer.headers["Consistency-Token"]

        def new_projects(prefix):
            def create(index):
                with requests.Session() as s:
                    s.headers["Authorization"] = f"Bearer {token}"
                    answer = s.post(f"{api}/projects", json={"name": f"{prefix} {index}"})
                    answer.raise_for_status()
                    return answer.json()["id"]
            with ThreadPoolExecutor(20) as pool:
                return list(pool.map(create, range(count)))

        bulk_client, consistency = new_client("Alan Insurance")
        single_client, _ = new_client("São Paulo Seguros")
        bulk_projects, single_projects = new_projects("Bulk"), new_projects("Single")

        with Timer() as bulk_call:
            answer = session.post(f"{api}/projects/assign-client", json={
                "client_id": bulk_client, "project_ids": bulk_projects},
                headers={"Consistency-Token": consistency}, timeout=120)
        answer.raise_for_status()
        assert len(answer.json()["assigned"]) == count, answer.text
        _wait_for_projects(session, api, bulk_client, count,
                           answer.headers["Consistency-Token"])
        bulk_visible = time.perf_counter() - bulk_call.started

        with Timer() as single_calls:
            for project_id in single_projects:
                answer = session.patch(f"{api}/projects/{project_id}",
                                       json={"client_id": single_client}, timeout=60)
                answer.raise_for_status()
        _wait_for_projects(session, api, single_client, count,
                           answer.headers["Consistency-Token"])
        single_visible = time.perf_counter() - single_calls.started

        report.add(f"bulk assign {count} projects: HTTP", "seconds", bulk_call.seconds,
                   f"{count} single PATCH: HTTP", single_calls.seconds, unit="s",
                   higher_is_better=False)
        report.add(f"bulk assign {count}: in overview", "seconds", bulk_visible,
                   f"{count} single PATCH: in overview", single_visible, unit="s",
                   higher_is_better=False, goal=">= 20x")


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
