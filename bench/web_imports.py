"""The Import screen against the API (PostgreSQL, each service in its own process).

The same CSV (every row a new client, upsert mode) is imported into fresh workspaces:

1. through the web app's endpoints as the browser calls them: the file is uploaded
   (``POST /import``, htmx), its preview followed to the end; then the figure: from
   ``Import the file`` (``POST /import/<preview>/again``) until the progress answer
   shows the summary, following ``/import/<job>/progress`` as htmx does;
2. beside ``POST /api/v1/clients/imports?wait=true`` of the same file in the same run
   (the baseline), and the web app's whole way (upload, preview, run) beside it too.

Each is run three times, alternating, and the fastest time is kept; each starts once the
other services have taken every event of the one before (they consume an import's
events for a while after the job is done). Run as its own process:
``python -m bench.web_imports``.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402

import re  # noqa: E402
import secrets  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from contextlib import ExitStack  # noqa: E402

import requests  # noqa: E402

from gateway import auth, people  # noqa: E402
from gateway.readmodel import read_model_for  # noqa: E402
from services.common.db import get_database  # noqa: E402
from services.common.eventstore import EventStore  # noqa: E402
from services.common.inbox import Inbox  # noqa: E402

from .imports import SERVICES, csv_file, serving  # noqa: E402
from .support import database, vhost  # noqa: E402

PASSWORD = "bench password of the import screen"
HTMX = {"HX-Request": "true", "HX-Target": "import-area"}
ROUNDS = 3


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class WebPerson:
    """A signed-in person's session, calling the pages as htmx does."""

    def __init__(self, url, gateway_db, workspace):
        self.url = url
        email = f"bench-{secrets.token_hex(4)}@example.com"
        people.create_user(gateway_db, workspace, email, "admin", PASSWORD)
        self.http = requests.Session()
        self.http.get(f"{url}/login", timeout=30)
        answer = self.http.post(f"{url}/login", allow_redirects=False, timeout=30, data={
            "email": email, "password": PASSWORD,
            "csrf_token": self.http.cookies.get("cf_login")})
        assert answer.status_code == 303, answer.text
        page = self.http.get(f"{url}/import", timeout=30).text
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def follow(self, answer):
        """Follow a job's area until it shows the finished job: that answer's text."""
        text = answer.text
        while True:
            status = re.search(r'data-status="(\w+)"', text).group(1)
            if status in ("done", "failed"):
                assert status == "done", text
                return text
            link = re.search(r'hx-get="(/import/[0-9a-f-]+/progress\?seen=-?\d+)"', text)
            text = self.http.get(f"{self.url}{link.group(1)}", headers=HTMX, timeout=600).text

    def preview(self, content):
        answer = self.http.post(f"{self.url}/import", headers=HTMX, timeout=600,
                                data={"csrf_token": self.csrf, "mode": "upsert",
                                      "blank_cells": "keep"},
                                files={"file": ("clientes.csv", content, "text/csv")})
        assert answer.status_code == 200, answer.text
        text = self.follow(answer)
        return re.search(r'data-job="([0-9a-f-]+)"', text).group(1)

    def run(self, preview):
        answer = self.http.post(f"{self.url}/import/{preview}/again", headers=HTMX,
                                timeout=600, data={"csrf_token": self.csrf, "mode": "upsert",
                                                   "blank_cells": "keep", "action": "run"})
        assert answer.status_code == 200, answer.text
        text = self.follow(answer)
        assert "data-count=\"created\">" in text
        return text


def api_import(url, token, content):
    started = time.perf_counter()
    answer = requests.post(f"{url}/api/v1/clients/imports?wait=true", timeout=600,
                           headers={"Authorization": f"Bearer {token}"},
                           data={"mode": "upsert"},
                           files={"file": ("clientes.csv", content, "text/csv")})
    seconds = time.perf_counter() - started
    assert answer.status_code == 200 and answer.json()["status"] == "done", answer.text
    return seconds


def settler(urls):
    """A function that waits until projects, billing and the gateway's read model have
    taken every contacts event: a timed import never shares the machine with the
    consumers of the one before it."""
    head = EventStore(get_database(urls["contacts"]))
    inboxes = [Inbox(get_database(urls[name]), "bench", {}) for name in ("projects",
                                                                        "billing")]
    model = read_model_for(get_database(urls["gateway"]))

    def settle():
        target = head.head_position()
        deadline = time.monotonic() + 600
        while (min(inbox.position("contacts") for inbox in inboxes) < target
               or model.inbox().position("contacts") < target):
            assert time.monotonic() < deadline, "the consumers did not catch up"
            time.sleep(0.1)

    return settle


def run(report, quick=False):
    count = 2000 if quick else 10000
    with ExitStack() as stack:
        amqp_uri = stack.enter_context(vhost())
        urls = {s: stack.enter_context(database("postgres", s))[0] for s in SERVICES}
        ports = {}
        for service in SERVICES:
            ports[service] = free_port()
            stack.enter_context(serving(service, ports[service], {
                "AMQP_URI": amqp_uri, f"{service.upper()}_DATABASE_URL": urls[service],
                "CLIENTFOLIO_RELAY_POLL_INTERVAL": "0.05"}))
        url = f"http://127.0.0.1:{ports['gateway']}"
        gateway_db = get_database(urls["gateway"])
        content = csv_file(count)
        api_times, run_times, whole_times = [], [], []
        settle = settler(urls)
        for round_number in range(ROUNDS):
            workspace = f"bench-api-{round_number}"
            settle()
            api_times.append(api_import(url, auth.create_token(gateway_db, workspace,
                                                               "admin")[1], content))
            person = WebPerson(url, gateway_db, f"bench-web-{round_number}")
            settle()
            started = time.perf_counter()
            preview = person.preview(content)
            clicked = time.perf_counter()
            person.run(preview)
            finished = time.perf_counter()
            run_times.append(finished - clicked)
            whole_times.append(finished - started)
        api = min(api_times)
        report.add("web import: Import click -> summary", f"{count:,} rows, upsert",
                   min(run_times), "API POST imports?wait=true", api, unit="s",
                   higher_is_better=False, goal="within 1.2x (ratio >= 0.83)")
        report.add("web import: upload+preview+run", f"{count:,} rows, upsert",
                   min(whole_times), "API POST imports?wait=true", api, unit="s",
                   higher_is_better=False, goal="- (two jobs: preview, run)")


if __name__ == "__main__":
    from .support import Report

    run(Report(), quick="--quick" in sys.argv)
