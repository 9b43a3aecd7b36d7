"""Web app benchmarks: the cost of one password verification (argon2id with the
parameters sign-in uses), beside the 50-250 ms the sign-in aims at; and the Projects
list's first page (HTML, for a signed-in person) with 10,000 projects, beside
``GET /api/v1/projects`` (the same first page as JSON) in the same run.

The client page's throughput is measured in ``bench.overview`` beside the JSON
overview of the same run. Run as its own process: ``python -m bench.web``.
"""
import secrets
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import requests

from gateway.people import PASSWORD_HASHER

from .support import Report, database, vhost

SERVICES = ("contacts", "projects", "billing", "gateway")
CLIENTS = 20


def verification_ms(rounds):
    password = secrets.token_urlsafe(16)
    stored = PASSWORD_HASHER.hash(password)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        PASSWORD_HASHER.verify(stored, password)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[len(timings) // 2]


def percentile(timings, share):
    ordered = sorted(timings)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def seed_projects(api, token, count):
    """``count`` projects, each with one of ``CLIENTS`` clients (the list shows their
    names), created over the API 20 at a time."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    clients = []
    for index in range(CLIENTS):
        answer = session.post(f"{api}/clients", json={"name": f"Client {index:02d}"},
                              timeout=60)
        answer.raise_for_status()
        clients.append(answer.json()["id"])

    def create(index):
        with requests.Session() as worker:
            worker.headers["Authorization"] = f"Bearer {token}"
            answer = worker.post(f"{api}/projects", json={
                "name": f"Project {index:05d}", "code": f"P-{index:05d}",
                "client_id": clients[index % CLIENTS]}, timeout=60)
            answer.raise_for_status()

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(create, range(count)))


def first_page_timings(url, headers, rounds):
    session = requests.Session()
    session.headers.update(headers)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        answer = session.get(url, timeout=60)
        timings.append((time.perf_counter() - started) * 1000)
        answer.raise_for_status()
    return timings


def projects_list(report, quick=False):
    """The Projects screen's first page beside the JSON list, one request at a time,
    alternating rounds so that both see the same machine."""
    from bench.billing import Processes
    from gateway import people, sessions
    from services.common.db import get_database

    count = 1000 if quick else 10_000
    rounds = 5 if quick else 20
    with ExitStack() as stack:
        amqp_uri = stack.enter_context(vhost())
        urls = {service: stack.enter_context(database("postgres", f"web_{service}"))[0]
                for service in SERVICES}
        system = stack.enter_context(Processes(amqp_uri, urls))
        token = system.token("bench", "viewer")
        seed_projects(system.url, system.token("bench", "member"), count)
        gateway_db = get_database(urls["gateway"])
        user = people.create_user(gateway_db, "bench", "bench@example.com", "member",
                                  "a bench password")
        cookie = sessions.start_session(gateway_db, user.id, "bench")
        base = system.url.rsplit("/api/v1", 1)[0]
        page = (f"{base}/projects", {"Cookie": f"cf_session={cookie}"})
        json = (f"{system.url}/projects?limit=50", {"Authorization": f"Bearer {token}"})
        assert b"Project " in requests.get(page[0], headers=page[1], timeout=60).content
        html_ms, json_ms = [], []
        for _ in range(rounds):
            html_ms += first_page_timings(*page, 10)
            json_ms += first_page_timings(*json, 10)
    for name, share in (("p50", 0.5), ("p99", 0.99)):
        report.add(f"projects list page {name}", f"{count:,} projects",
                   percentile(html_ms, share), f"GET /api/v1/projects {name}",
                   percentile(json_ms, share), unit="ms", higher_is_better=False,
                   goal="<= 2x the JSON's" if name == "p99" else None)


def run(report, quick=False):
    projects_list(report, quick)
    median = verification_ms(5 if quick else 20)
    params = PASSWORD_HASHER
    report.add("sign-in: one argon2id verification",
               f"t={params.time_cost} m={params.memory_cost // 1024}MiB p={params.parallelism}",
               median, "goal (at most)", 250.0, unit="ms", higher_is_better=False,
               goal="50-250 ms")


if __name__ == "__main__":
    run(Report(), quick="--quick" in sys.argv)
