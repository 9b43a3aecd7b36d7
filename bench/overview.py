"""Overview read model benchmarks (PostgreSQL).

1. projection of a queued backlog, beside raw kombu consume+ack of as many messages;
2. ``overview rebuild`` from every source's log, beside the same raw kombu rate;
3. overview reads (20 concurrent clients) over the rebuilt model (100,000 clients,
   1,000,000 events), beside the gateway's ``/health`` in the same run; and through a
   gateway whose rate limiter counts each request in Redis, beside the limiter off; the
   web app's client page (overview tab) beside the JSON overview;
4. propagation: commit of a ClientAssigned / InvoiceIssued to the overview showing
   it, p50/p99, while 500 events/s are committed by a projects and a billing
   process (writers and outbox relay each, as the services run).
Run as its own process (it monkey-patches eventlet): ``python -m bench.overview``.
"""
import eventlet

eventlet.monkey_patch()  # noqa: E402

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import ExitStack  # noqa: E402

from kombu import Connection, Consumer, Exchange, Producer, Queue  # noqa: E402
from nameko.dependency_providers import Config  # noqa: E402
from services.common.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from gateway.readmodel import read_model_for  # noqa: E402
from gateway.rebuild import rebuild  # noqa: E402
from services.common.config import load_config  # noqa: E402
from services.common.consumer import EventConsumer  # noqa: E402
from services.common.db import get_database  # noqa: E402
from services.common.envelope import NewEvent  # noqa: E402
from services.common.eventstore import (EventStore, StreamAppend,  # noqa: E402
                                        create_event_store_tables)
from services.common.application import create_command_records_table  # noqa: E402
from services.common.extensions import EventSourcedStore, EventSourceRpc  # noqa: E402
from services.common.inbox import create_inbox_tables  # noqa: E402

from .support import Report, Timer, database, rate, vhost  # noqa: E402

SOURCES = ("contacts", "projects", "billing")


def kernel_tables_only(url):
    db = get_database(url)
    with db.write() as conn:
        create_event_store_tables(conn)
        create_inbox_tables(conn)
        create_command_records_table(conn)


def stand_in(source):
    # No relay while the data set is generated: the phases below publish what they measure.
    members = {"name": source, "config": Config(),
               "store": EventSourcedStore(source, kernel_tables_only, relay=False)}
    if source == "contacts":
        members["get_client"] = rpc(stand_in_client)
    return type(f"Bench{source.title()}", (EventSourceRpc,), members)


def stand_in_client(self, ctx, client_id):
    """What the client page asks contacts for (its side panel), answered without a
    database: the page's cost beside the JSON overview is the gateway's."""
    return {"id": client_id, "version": 1, "kind": "company", "name": "Bench client",
            "tax_id": "B58378431", "email": "bench@example.com", "phone": "+34612345678",
            "country": "ES", "language": "es", "gender": None, "category": "bench",
            "tags": [], "address": {"street": "Carrer de Mallorca 401", "city": "Barcelona",
                                    "postal_code": "08013", "region": None, "country": None},
            "company": None, "notes": None, "photo": None, "archived": False,
            "created_at": "2026-01-02T10:00:00.000000Z", "updated_at": None}


def generate(stores, clients):
    """10 events per client across the three sources (1M events for 100k clients)."""
    workspace = "bench"
    client_ids = [str(uuid.uuid4()) for _ in range(clients)]
    step = 2000
    for start in range(0, clients, step):
        chunk = client_ids[start:start + step]
        stores["contacts"].append_batch([StreamAppend(c, 0, [NewEvent("ClientRegistered", {
            "client_id": c, "workspace": workspace, "kind": "company",
            "name": f"Cliente {c[:8]} São", "created_at": "2026-11-01T00:00:00.000000Z"})],
            workspace) for c in chunk])
        projects, billing = [], []
        for c in chunk:
            p, t, i = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
            projects.append(StreamAppend(p, 0, [
                NewEvent("ProjectCreated", {"project_id": p, "name": "Web", "client_id": c,
                                            "status": "active"}),
                NewEvent("ClientAssigned", {"project_id": p, "client_id": c,
                                            "previous_client_id": None, "via": "create"}),
                NewEvent("TimeLogged", {"project_id": p, "entry_id": t, "client_id": c,
                                        "date": "2026-11-02", "hours": "7.5",
                                        "description": "x"}),
                NewEvent("TimeLogged", {"project_id": p, "entry_id": i, "client_id": c,
                                        "date": "2026-11-03", "hours": "2", "description": "y"}),
                NewEvent("TaskAdded", {"project_id": p, "task_id": t, "title": "Revisar",
                                       "due_date": "2026-11-20", "status": "open"})], workspace))
            common = {"invoice_id": i, "client_id": c, "project_id": p, "currency": "EUR",
                      "total": "1210.00"}
            billing.append(StreamAppend(i, 0, [
                NewEvent("InvoiceDrafted", {**common, "issue_date": None, "due_date": None}),
                NewEvent("InvoiceIssued", {**common, "number": "2026-000001",
                                           "issue_date": "2026-11-01",
                                           "due_date": "2026-11-15"}),
                NewEvent("InvoicePaymentRecorded", {**common, "amount": "210.00",
                                                    "date": "2026-11-05", "paid": "210.00",
                                                    "outstanding": "1000.00"}),
            ], workspace))
            quote = str(uuid.uuid4())
            billing.append(StreamAppend(quote, 0, [NewEvent("QuoteCreated", {
                "quote_id": quote, "client_id": c, "project_id": p, "currency": "USD",
                "total": "900.00", "valid_until": "2026-12-31", "status": "draft"})],
                workspace))
        stores["projects"].append_batch(projects)
        stores["billing"].append_batch(billing)
    return client_ids


def raw_consume(amqp_uri, count, body):
    """Raw kombu: publish ``count`` messages to a queue, then consume and ack them all."""
    exchange = Exchange("raw.events", "topic", durable=True)
    queue = Queue("raw-consume", exchange, routing_key="#", durable=True)
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue(channel).declare()
        producer = Producer(channel, exchange)
        for _ in range(count):
            producer.publish(body, routing_key="TimeLogged", content_type="application/json")
        received = []
        consumer = Consumer(channel, [queue], on_message=lambda m: (received.append(1),
                                                                    m.ack()),
                            accept=None, prefetch_count=1000)
        consumer.consume()
        with Timer() as timer:
            while len(received) < count:
                conn.drain_events(timeout=5)
        return rate(count, timer.seconds)


def projection_backlog(amqp_uri, config, gateway_db, store, count):
    """The projector's queue path alone: ``count`` events already waiting in its queue."""
    consumer = EventConsumer("gateway", gateway_db, config, {"projects": {}},
                             inbox=lambda: read_model_for(gateway_db).inbox(),
                             catch_up_on_start=False, catch_up_interval=3600)
    queue = consumer.queue_for("projects")
    events = store.read_all(0, count)
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue(channel).declare()
        producer = Producer(channel, Exchange("projects.events", "topic", durable=True))
        for event in events:
            producer.publish(event.to_json(), routing_key=event.type,
                             content_type="application/json")
    inbox = read_model_for(gateway_db).inbox()
    thread = eventlet.spawn(consumer.run, "projects")
    with Timer() as timer:
        while inbox.position("projects") < events[-1].position:
            eventlet.sleep(0.05)
    consumer.stop()
    thread.wait()
    return rate(len(events), timer.seconds)


def load(url, token, seconds, concurrency=20, ids_file=None, replicas=1):
    """Drive ``url`` from two processes; returns (requests/s, p50 ms, p99 ms).
    With ``replicas`` > 1, URL's port is that of the first gateway replica and the
    connections are spread evenly over the replicas' consecutive ports (as a load
    balancer would)."""
    script = os.path.join(os.path.dirname(__file__), "httpload.py")
    extra = [ids_file] if ids_file else []
    targets = [url] if replicas == 1 else [_with_port_offset(url, i) for i in range(replicas)]
    processes = [subprocess.Popen([sys.executable, script, targets[i % len(targets)],
                                   token or "", str(seconds), str(concurrency // 2)] + extra,
                                  stdout=subprocess.PIPE, text=True)
                 for i in range(2)]
    latencies, count, errors = [], 0, 0
    for process in processes:
        out, _ = process.communicate()
        result = json.loads(out)
        latencies += result["latencies"]
        count += result["count"]
        errors += result["errors"]
    latencies.sort()
    if errors:
        print(f"  ({errors} failed requests)", flush=True)
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    return count / seconds, p50, p99


def _with_port_offset(url, offset):
    base, _, rest = url.partition("://")
    host, _, path = rest.partition("/")
    name, _, port = host.partition(":")
    return f"{base}://{name}:{int(port) + offset}/{path}"


def start_gateway(config_env):
    env = dict(os.environ, **config_env)
    process = subprocess.Popen([sys.executable, "-m", "clientfolio.cli", "serve", "gateway"],
                               env=env, stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(
                                   tempfile.gettempdir(),
                                   f"cf-bench-gateway-{config_env['CLIENTFOLIO_HTTP_PORT']}.log"),
                                   "w"))
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{config_env['CLIENTFOLIO_HTTP_PORT']}/ready",
                            timeout=2).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the gateway did not become ready")


def propagation(gateway_url, token, urls, amqp_uri, ids_file, rate_per_second, seconds,
                wake="commit"):
    """Commit events at ``rate_per_second`` in all: ClientAssigned from a projects
    process and InvoiceIssued from a billing process, each with its own writers and
    outbox relay as the services run (``committer.py``, ``wake``: how the relay
    learns of a commit); a separate prober process asks the overview for one event
    in ten as soon as it is committed."""
    here = os.path.dirname(__file__)
    prober = subprocess.Popen([sys.executable, os.path.join(here, "prober.py"), gateway_url,
                               token, CONSISTENCY_SECRET, "bench"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    committers = [subprocess.Popen(
        [sys.executable, os.path.join(here, "committer.py"), source, urls[source], amqp_uri,
         str(rate_per_second / 2), str(seconds), ids_file, wake],
        stdout=prober.stdin, stderr=subprocess.PIPE, text=True)
        for source in ("projects", "billing")]
    sent = 0
    for committer in committers:
        _, err = committer.communicate()
        if committer.returncode:
            raise RuntimeError(f"a committer failed: {err[-2000:]}")
        sent += int(err.strip().splitlines()[-1])
    out, _ = prober.communicate()
    latencies = sorted(json.loads(out))
    return sent / seconds, latencies[len(latencies) // 2] * 1000, \
        latencies[int(len(latencies) * 0.99)] * 1000


READ_ROWS = {  # replicas -> (reads, their baseline, latency rows)
    1: ("overview reads (random client)", "gateway /health, 20 concurrent",
        "overview read latency"),
    2: ("overview reads, 2 gateway replicas", "/health, 2 replicas, 20 concurrent",
        "  2 replicas: read latency"),
}


def report_reads(report, clients, base, overview_url, token, seconds, ids_file, replicas):
    """Overview reads beside ``/health`` of the same gateway replicas, in one run."""
    health_rps, health_p50, health_p99 = load(f"{base}/health", None, seconds,
                                              replicas=replicas)
    rps, p50, p99 = load(overview_url, token, seconds, ids_file=ids_file, replicas=replicas)
    reads, baseline, latency = READ_ROWS[replicas]
    report.add(reads, f"{clients:,} clients", rps, baseline, health_rps, goal=">= 0.7x")
    report.add(f"{latency} p50", "ms", p50, "/health p50", health_p50,
               unit="ms", higher_is_better=False)
    report.add(f"{latency} p99", "ms", p99, "/health p99", health_p99,
               unit="ms", higher_is_better=False, goal="<= 20 ms")


CONSISTENCY_SECRET = uuid.uuid4().hex  # the prober seals its tokens as the gateway does
LIMITER_OFF = {"CLIENTFOLIO_RATE_LIMIT_PER_TOKEN": "0",
               "CLIENTFOLIO_RATE_LIMIT_PER_WORKSPACE": "0"}


def report_rate_limiter(report, clients, port, gateway_env, overview_url, token, seconds,
                        ids_file):
    """Overview reads through a gateway whose rate limiter counts every request in
    Redis (quotas no request reaches: its cost alone), beside a gateway alike but for
    the limiter, off. Both are started for this (neither runs the projector: the
    first gateway does), warmed up, and loaded in turn, two rounds each, so that a
    machine growing busier meanwhile weighs on both alike."""
    limiter_on = {"CLIENTFOLIO_RATE_LIMIT_PER_TOKEN": "1000000000",
                  "CLIENTFOLIO_RATE_LIMIT_PER_WORKSPACE": "1000000000",
                  "CLIENTFOLIO_REDIS_URL": os.environ.get("CLIENTFOLIO_BENCH_REDIS_URL",
                                                         "redis://127.0.0.1:6379/0"),
                  "CLIENTFOLIO_RATE_LIMIT_KEY_PREFIX": f"cf-bench-{uuid.uuid4().hex}:"}
    gateways = {"on": (port + 2, limiter_on), "off": (port + 3, {})}
    processes, urls = [], {}
    try:
        for name, (gateway_port, extra) in gateways.items():
            processes.append(start_gateway({**gateway_env, **extra,
                                            "CLIENTFOLIO_HTTP_PORT": str(gateway_port)}))
            urls[name] = overview_url.replace(f":{port}/", f":{gateway_port}/")
            load(urls[name], token, 1, ids_file=ids_file)  # warm up
        rounds = [{name: load(url, token, seconds / 2, ids_file=ids_file)
                   for name, url in urls.items()} for _ in range(2)]
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
    rps = {name: sum(r[name][0] for r in rounds) / 2 for name in urls}
    p99 = {name: max(r[name][2] for r in rounds) for name in urls}
    report.add("overview reads, rate limiter on (Redis)", f"{clients:,} clients", rps["on"],
               "rate limiter off", rps["off"], goal=">= 0.95x")
    report.add("  rate limiter on: read p99", "ms", p99["on"], "rate limiter off p99",
               p99["off"], unit="ms", higher_is_better=False)


def report_page(report, clients, gateway_db, base, overview_url, token, seconds, ids_file):
    """The client page (overview tab) for a signed-in person, beside the JSON overview
    of the same clients in the same run."""
    from gateway import people, sessions

    user = people.create_user(gateway_db, "bench", "bench@example.com", "viewer",
                              "a bench password")
    cookie = f"cookie:cf_session={sessions.start_session(gateway_db, user.id, 'bench')}"
    page_url = f"{base}/clients/{{id}}?as_of=2026-11-22"
    json_rps, json_p50, json_p99 = load(overview_url, token, seconds, ids_file=ids_file)
    rps, p50, p99 = load(page_url, cookie, seconds, ids_file=ids_file)
    report.add("client page (overview tab), HTML", f"{clients:,} clients", rps,
               "JSON overview, 20 concurrent", json_rps, goal=">= 0.6x")
    report.add("client page p50", "ms", p50, "JSON overview p50", json_p50, unit="ms",
               higher_is_better=False)
    report.add("client page p99", "ms", p99, "JSON overview p99", json_p99, unit="ms",
               higher_is_better=False, goal="<= 2x the JSON's")


def run(report, quick=False):
    clients = 10000 if quick else 100000
    backlog = 50000 if quick else 200000
    with ExitStack() as stack:
        amqp_uri = stack.enter_context(vhost())
        urls = {s: stack.enter_context(database("postgres", s))[0] for s in SOURCES}
        gateway_url_db = stack.enter_context(database("postgres", "gateway"))[0]
        config = load_config(overrides={
            "AMQP_URI": amqp_uri, "DATABASE_URLS": dict(urls, gateway=gateway_url_db),
            "RELAY_POLL_INTERVAL": 0.05})
        runner = ServiceRunner(config)
        for source in SOURCES:
            runner.add_service(stand_in(source))
        runner.start()
        stack.callback(runner.kill)
        stores = {s: EventStore(get_database(urls[s])) for s in SOURCES}
        with Timer() as generation:
            client_ids = generate(stores, clients)
        total = sum(s.head_position() for s in stores.values())
        print(f"  generated {total:,} events for {clients:,} clients in "
              f"{generation.seconds:.0f}s", flush=True)

        from gateway.service import migrate as migrate_gateway

        migrate_gateway(gateway_url_db)
        gateway_db = get_database(gateway_url_db)
        raw = raw_consume(amqp_uri, backlog, stores["projects"].read_all(0, 1)[0].to_json())
        projected = projection_backlog(amqp_uri, config, gateway_db, stores["projects"], backlog)
        report.add("projection of a queued backlog", f"{backlog:,} events", projected,
                   "raw kombu consume+ack", raw, goal=">= 0.5x")

        with Timer() as rebuilt:
            result = rebuild(gateway_db, config, progress=lambda message: None)
        events = sum(result["events"].values())
        report.add("overview rebuild (from events_since)", f"{events:,} events",
                   rate(events, rebuilt.seconds), "raw kombu consume+ack", raw, goal=">= 0.5x")

        from gateway.auth import create_token

        token = create_token(gateway_db, "bench", "viewer")[1]
        port = 18000 + os.getpid() % 1000
        gateway_env = {"AMQP_URI": amqp_uri, "GATEWAY_DATABASE_URL": gateway_url_db,
                       "CLIENTFOLIO_LOG_LEVEL": "WARNING",
                       "CLIENTFOLIO_CONSISTENCY_SECRET": CONSISTENCY_SECRET, **LIMITER_OFF}
        gateway = start_gateway({**gateway_env, "CLIENTFOLIO_HTTP_PORT": str(port)})
        stack.callback(lambda: (gateway.send_signal(signal.SIGTERM), gateway.wait(30)))
        base = f"http://127.0.0.1:{port}"
        seconds = 5 if quick else 15
        ids_file = os.path.join(tempfile.mkdtemp(), "clients.txt")
        with open(ids_file, "w") as handle:
            handle.write("\n".join(client_ids))
        overview_url = f"{base}/api/v1/clients/{{id}}/overview?as_of=2026-11-22"
        report_reads(report, clients, base, overview_url, token, seconds, ids_file, 1)
        report_rate_limiter(report, clients, port, gateway_env, overview_url, token, seconds,
                            ids_file)
        report_page(report, clients, gateway_db, base, overview_url, token, seconds, ids_file)
        # The same with a second gateway replica (one per core, as deployed with
        # more than one replica); connections spread evenly over both.
        second = start_gateway({**gateway_env, "CLIENTFOLIO_HTTP_PORT": str(port + 1)})
        try:
            report_reads(report, clients, base, overview_url, token, seconds, ids_file, 2)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
        achieved, p50, p99 = propagation(base, token, urls, amqp_uri, ids_file, 500,
                                         5 if quick else 20)
        report.add("propagation commit->overview p50", f"{achieved:.0f} events/s", p50,
                   "goal", 10.0, unit="ms", higher_is_better=False, goal="<= 10 ms")
        report.add("propagation commit->overview p99", f"{achieved:.0f} events/s", p99,
                   "goal", 50.0, unit="ms", higher_is_better=False, goal="<= 50 ms")
        # Commits served by a replica that does not run the relay: woken through a
        # PostgreSQL notification, beside the relay's poll alone (as before them).
        replica_seconds = 5 if quick else 10
        polled = propagation(base, token, urls, amqp_uri, ids_file, 500, replica_seconds,
                             wake="poll")
        notified = propagation(base, token, urls, amqp_uri, ids_file, 500, replica_seconds,
                               wake="notify")
        for index, name in ((1, "p50"), (2, "p99")):
            report.add(f"  commit in another replica: {name}", f"{notified[0]:.0f} events/s",
                       notified[index], "relay poll only (0.5 s)", polled[index], unit="ms",
                       higher_is_better=False)


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
