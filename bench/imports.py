"""Bulk import and export of clients (PostgreSQL).

1. import of a CSV in upsert mode (every row a new client): time until the job is
   ``done``, and until the gateway's read model applied every resulting event (its
   inbox checkpoint for contacts reaches the contacts store head), beside a raw
   PostgreSQL ``COPY`` of the same rows into a bare table in the same run;
2. export of every client as CSV through the contacts RPC (keyset pages): rows/s beside
   a raw ``COPY (SELECT record FROM clients) TO STDOUT``, and the peak memory of the
   generator side (tracemalloc).
Run as its own process (it monkey-patches eventlet): ``python -m bench.imports``.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402

import csv  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from contextlib import ExitStack, contextmanager  # noqa: E402

import requests  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402
from sqlalchemy import select  # noqa: E402

from gateway.readmodel import read_model_for  # noqa: E402
from services.common.db import get_database  # noqa: E402
from services.common.eventstore import EventStore  # noqa: E402
from services.contacts.client import exports  # noqa: E402
from services.contacts.imports import jobs_table  # noqa: E402
from services.contacts.client.parts import send_file  # noqa: E402

from .support import Timer, database, rate, vhost  # noqa: E402

SERVICES = ("contacts", "projects", "billing", "gateway")
HEADER = ["Name", "Email", "Phone", "Country", "City", "Tags"]


def rows(count):
    for index in range(count):
        yield [f"Cliente {index:06d} S.L.", f"cliente{index}@bench.example",
               f"+346{12000000 + index:08d}", "ES", "Barcelona", "bench; import"]


def csv_file(count):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows(count))
    return out.getvalue().encode("utf-8")


def raw_copy(url, count):
    import psycopg

    dsn = url
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE bare (name text, email text, phone text, country text, "
                     "city text, tags text)")
        with Timer() as timer:
            with conn.cursor() as cur:
                with cur.copy("COPY bare FROM STDIN") as copy:
                    for row in rows(count):
                        copy.write_row(row)
        conn.execute("DROP TABLE bare")
    return timer.seconds


def raw_export(url):
    import psycopg

    dsn = url
    with psycopg.connect(dsn, autocommit=True) as conn:
        with Timer() as timer:
            with conn.cursor() as cur:
                with cur.copy("COPY (SELECT record FROM clients ORDER BY created_at, id) "
                              "TO STDOUT") as copy:
                    for _ in copy:
                        pass
    return timer.seconds


@contextmanager
def serving(service, port, env):
    """``clientfolio serve SERVICE`` in a child process until /ready, stopped after."""
    log = open(os.path.join(tempfile.gettempdir(), f"cf-bench-import-{service}.log"), "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "clientfolio.cli", "serve", service],
        env=dict(os.environ, CLIENTFOLIO_HTTP_PORT=str(port), CLIENTFOLIO_LOG_LEVEL="WARNING",
                 **env),
        stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{service} did not become ready (see {log.name})")
            time.sleep(0.2)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def run(report, quick=False):
    count = 10000 if quick else 100000
    with ExitStack() as stack:
        amqp_uri = stack.enter_context(vhost())
        urls = {s: stack.enter_context(database("postgres", s))[0] for s in SERVICES}
        # Each service in its own process, as deployed (`clientfolio serve`):
        # in one process all four shared one core.
        port = 18500 + os.getpid() % 400
        for offset, service in enumerate(SERVICES):
            stack.enter_context(serving(service, port + offset, {
                "AMQP_URI": amqp_uri, f"{service.upper()}_DATABASE_URL": urls[service],
                "CLIENTFOLIO_RELAY_POLL_INTERVAL": "0.05"}))
        proxy = ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=600)
        rpc = proxy.start()
        stack.callback(proxy.stop)
        content = csv_file(count)
        copy_seconds = raw_copy(urls["contacts"], count)

        contacts_db = get_database(urls["contacts"])
        gateway_model = read_model_for(get_database(urls["gateway"]))
        ctx = {"workspace": "bench", "actor": "bench"}
        started = time.perf_counter()
        job = rpc.contacts.start_import(ctx, "bench.csv", send_file(rpc.contacts, ctx, content),
                                        "upsert", False, None)
        while True:
            with contacts_db.read() as conn:
                status = conn.execute(select(jobs_table.c.status)
                                      .where(jobs_table.c.id == job["id"])).scalar()
            if status not in ("queued", "running"):
                break
            time.sleep(0.05)
        done = time.perf_counter() - started
        job = rpc.contacts.get_import(ctx, job["id"])
        assert job["created"] == count, job
        head = EventStore(contacts_db).head_position()
        while gateway_model.inbox().position("contacts") < head:
            time.sleep(0.02)
        visible = time.perf_counter() - started
        report.add("import upsert, job done", f"{count:,} rows", rate(count, done),
                   "raw COPY into a bare table", rate(count, copy_seconds),
                   goal=">= 0.1x (<= 10x COPY)")
        report.add("import upsert, visible in gateway", f"{count:,} rows", rate(count, visible),
                   "raw COPY into a bare table", rate(count, copy_seconds),
                   goal=">= 0.05x (<= 20x COPY)")

        def list_page(params):
            return rpc.contacts.list_clients(ctx, params)

        with Timer() as exported:
            size = sum(len(chunk) for chunk in exports.csv_stream(exports.pages(list_page, {})))
        raw_seconds = raw_export(urls["contacts"])
        report.add("export CSV via RPC pages", f"{count:,} rows", rate(count, exported.seconds),
                   "raw COPY (SELECT record) TO STDOUT", rate(count, raw_seconds))
        tracemalloc.start()
        for _ in exports.csv_stream(exports.pages(list_page, {})):
            pass
        peak = tracemalloc.get_traced_memory()[1] / (1024 * 1024)
        tracemalloc.stop()
        report.add("export CSV peak memory", f"{count:,} rows, {size >> 20} MiB", peak,
                   "file size", size / (1024 * 1024), unit="MiB", higher_is_better=False)


if __name__ == "__main__":
    import warnings

    from .support import Report

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
