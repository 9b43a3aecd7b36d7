"""What tracing costs: overview reads and commands per second with tracing on, sampling
100 % and 1 % of traces, beside tracing off, in the same run.

Every service runs as its own process (``clientfolio serve``) on PostgreSQL and a vhost
of the run's own, three times over the same databases: tracing off, then
``OTEL_EXPORTER_OTLP_ENDPOINT`` set (the real SDK and OTLP/HTTP exporter, batching)
with ``CLIENTFOLIO_TRACE_SAMPLE_RATIO`` 0.01 and 1. The spans go to a small OTLP sink
in this process that answers 200 to each export. Reads: ``GET .../overview`` of random
clients, 20 connections (``httpload.py``); commands: ``POST /api/v1/clients``, 8
connections, each a whole command (gateway, contacts, its relay, the consumers).

    python -m bench.tracing [--quick]
"""
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from .support import Report, database, vhost

SERVICES = ("contacts", "projects", "billing", "gateway")
MODES = (("off", None), ("sampling 1%", 0.01), ("sampling 100%", 1.0))
SECONDS = {"quick": 4, "full": 12}
CLIENTS = {"quick": 50, "full": 300}


class Sink(BaseHTTPRequestHandler):
    """An OTLP/HTTP endpoint that takes every export and keeps nothing."""

    exports = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Sink.exports += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Services:
    """The four services as processes, with tracing as ``ratio`` asks (None: off)."""

    def __init__(self, amqp_uri, urls, ratio, otlp, directory):
        env = dict(os.environ, AMQP_URI=amqp_uri, CLIENTFOLIO_LOG_LEVEL="WARNING",
                   CLIENTFOLIO_DATA_DIR=directory, CLIENTFOLIO_DB_POOL_SIZE="10",
                   **{f"{service.upper()}_DATABASE_URL": url for service, url in urls.items()})
        env.pop("CLIENTFOLIO_CONFIG", None)
        env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
        if ratio is not None:
            env.update(OTEL_EXPORTER_OTLP_ENDPOINT=otlp,
                       CLIENTFOLIO_TRACE_SAMPLE_RATIO=str(ratio))
        self.ports = {service: free_port() for service in SERVICES}
        self.processes = [
            subprocess.Popen([sys.executable, "-m", "clientfolio.cli", "serve", service],
                             env=dict(env, CLIENTFOLIO_HTTP_PORT=str(self.ports[service])),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for service in SERVICES]

    @property
    def url(self):
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        for service in SERVICES:
            while True:
                try:
                    if requests.get(f"http://127.0.0.1:{self.ports[service]}/ready",
                                    timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{service} did not start")
                time.sleep(0.2)
        return self

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()


def reads(url, token, ids_file, seconds):
    script = os.path.join(os.path.dirname(__file__), "httpload.py")
    result = json.loads(subprocess.run(
        [sys.executable, script, f"{url}/api/v1/clients/{{id}}/overview", token,
         str(seconds), "20", ids_file], capture_output=True, text=True, check=True).stdout)
    return result["count"] / seconds, result["errors"]


def commands(url, token, seconds):
    result = json.loads(subprocess.run(
        [sys.executable, "-m", "bench.tracing", "--post", f"{url}/api/v1/clients", token,
         str(seconds), "8"], capture_output=True, text=True, check=True).stdout)
    return result["count"] / seconds, result["errors"]


async def post_load(url, token, seconds, connections):
    """Closed-loop ``POST`` of new clients (201 counted), as ``httpload.py`` reads."""
    import urllib.parse

    from bench.httpload import read_response

    parts = urllib.parse.urlsplit(url)
    deadline = time.monotonic() + seconds
    counts = {"count": 0, "errors": 0}

    async def connection(index):
        reader = writer = None
        number = 0
        while time.monotonic() < deadline:
            number += 1
            body = json.dumps({"name": f"Traced {index}-{number}-{random.random():.6f}"})
            request = (f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                       f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n{body}")
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
                writer.write(request.encode())
                status, _ = await asyncio.wait_for(read_response(reader), 30)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                status = None
                if writer is not None:
                    writer.close()
                reader = writer = None
            counts["count" if status == 201 else "errors"] += 1
        if writer is not None:
            writer.close()

    await asyncio.gather(*(connection(index) for index in range(connections)))
    return counts


def main(quick):
    size = "quick" if quick else "full"
    seconds = SECONDS[size]
    report = Report()
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    otlp = f"http://127.0.0.1:{sink.server_address[1]}"
    figures = {}
    with ExitStack() as stack:
        amqp_uri = stack.enter_context(vhost())
        urls = {service: stack.enter_context(database("postgres", f"tracing_{service}"))[0]
                for service in SERVICES}
        directory = stack.enter_context(tempfile.TemporaryDirectory())
        from gateway import auth
        from gateway.service import migrate
        from services.common.db import get_database

        migrate(urls["gateway"])
        token = auth.create_token(get_database(urls["gateway"]), "bench", "admin")[1]
        ids_file = os.path.join(directory, "ids")
        for label, ratio in MODES:
            services = Services(amqp_uri, urls, ratio, otlp, directory).wait_ready()
            try:
                if not os.path.exists(ids_file):  # the clients the reads look at, once
                    session = requests.Session()
                    session.headers["Authorization"] = f"Bearer {token}"
                    ids = [session.post(f"{services.url}/api/v1/clients", timeout=30,
                                        json={"name": f"Bench {n}"}).json()["id"]
                           for n in range(CLIENTS[size])]
                    with open(ids_file, "w") as handle:
                        handle.write("\n".join(ids))
                reads(services.url, token, ids_file, 2)  # warm up
                commands(services.url, token, 2)
                figures[label] = (reads(services.url, token, ids_file, seconds),
                                  commands(services.url, token, seconds))
            finally:
                services.stop()
    (off_reads, _), (off_commands, _) = figures["off"]
    for label, goal in (("sampling 1%", ">= 0.9x"), ("sampling 100%", ">= 0.7x")):
        (read_rate, _), (command_rate, _) = figures[label]
        report.add(f"overview reads, tracing {label}", "20 concurrent", read_rate,
                   "overview reads, tracing off", off_reads, goal=goal)
        report.add(f"commands (create client), tracing {label}", "8 concurrent",
                   command_rate, "commands, tracing off", off_commands, goal=goal)
    for label, ((_, read_errors), (_, command_errors)) in figures.items():
        if read_errors or command_errors:  # timeouts (10 s reads, 30 s commands) or not 2xx
            print(f"  tracing {label}: {read_errors} reads and {command_errors} commands "
                  f"not answered 200/201", flush=True)
    print(f"  OTLP exports received by the sink: {Sink.exports}", flush=True)
    sink.shutdown()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--post"]:
        url, token, seconds, connections = sys.argv[2], sys.argv[3], float(sys.argv[4]), \
            int(sys.argv[5])
        print(json.dumps(asyncio.run(post_load(url, token, seconds, connections))))
    else:
        main("--quick" in sys.argv)
