"""A three-node RabbitMQ cluster loses the node every service is connected to, under load.

The services list the three nodes in ``AMQP_URI`` (``;``-separated, the first one
first: every connection starts there) and use quorum queues for commands
(``rpc-<service>``) and events. Killing that node (``kill -9``) while writers keep
writing loses and doubles nothing: every acknowledged write exists once, the overview
shows them all, no process dies, and writes go through again within seconds.
"""
import itertools
import json
import random
import time
from collections import Counter
from decimal import Decimal

import eventlet
import pytest

from tests.brokers import BrokerCluster, rabbitmqctl
from tests.faults.processes import SERVICES, ProcessStack
from tests.faults.writers import Writer, client_ids
from tests.helpers import wait_until

LOAD_SECONDS = 14
KILL_AFTER = 4
WRITERS = 3
BACK_WITHIN = 20  # seconds from the kill to the next acknowledged write


@pytest.fixture
def cluster_stack(postgres, tmp_path):
    cluster = BrokerCluster()
    stack = None
    try:
        cluster.start()
        urls = {service: postgres.create(service) for service in SERVICES}
        stack = ProcessStack(cluster.url, urls, tmp_path, CLIENTFOLIO_EVENT_QUEUE_TYPE="quorum",
                             CLIENTFOLIO_RPC_QUEUE_TYPE="quorum", CLIENTFOLIO_RPC_TIMEOUT=5,
                             CLIENTFOLIO_IDEMPOTENCY_LEASE_SECONDS=2)
        yield cluster, stack.start()
    finally:
        if stack is not None:
            stack.close()
        cluster.close()


def connections(node):
    """The cluster's client connections (the server port of each: every node has its
    own), as ``node`` lists them."""
    return json.loads(rabbitmqctl(node.node, "list_connections", "port", "peer_port",
                                  "--formatter", "json"))


def queue_types(node):
    listed = json.loads(rabbitmqctl(node.node, "list_queues", "name", "type",
                                    "--formatter", "json"))
    return {queue["name"]: queue["type"] for queue in listed}


def test_killing_the_connected_node_under_load_loses_and_doubles_nothing(cluster_stack):
    cluster, stack = cluster_stack
    first, survivor = cluster.nodes[0], cluster.nodes[1]
    types = queue_types(first)
    for queue in ("rpc-contacts", "rpc-projects", "rpc-billing"):
        assert types.get(queue) == "quorum", types
    assert [name for name, kind in types.items()
            if name.endswith((".contacts", ".projects", ".billing")) and kind != "quorum"] == []

    token = stack.token()
    gateway = stack["gateway"].url
    setup = Writer(lambda: [gateway], token, timeout=20, pause=(0.1, 0.3))
    project = setup.write("/projects", {"name": "Obra Lisboa"})["id"]
    acknowledged = {"clients": set(), "hours": Decimal(0)}
    writers = [Writer(lambda: [gateway], token, timeout=20, pause=(0.1, 0.3))
               for _ in range(WRITERS)]
    until = time.monotonic() + LOAD_SECONDS

    def work(writer, index):
        names = itertools.count()
        while time.monotonic() < until:
            if random.random() < 0.5:
                created = writer.write("/clients", {"name": f"Cluster {index}-{next(names)}"})
                acknowledged["clients"].add(created["id"])
            else:
                writer.write(f"/projects/{project}/time-entries",
                             {"date": "2026-11-02", "hours": "0.5"})
                acknowledged["hours"] += Decimal("0.5")

    threads = [eventlet.spawn(work, writer, index) for index, writer in enumerate(writers)]
    eventlet.sleep(KILL_AFTER)
    # Every process is connected to the first node, none to the others.
    by_port = Counter(connection["port"] for connection in connections(first))
    assert set(by_port) == {first.port} and by_port[first.port] >= len(stack.processes)
    first.kill()
    killed_at = time.monotonic()
    try:
        for thread in threads:
            thread.wait()
    except AssertionError:
        # What the surviving nodes hold (which queue lost its consumers or its leader),
        # and what each process said about it.
        print(rabbitmqctl(survivor.node, "list_queues", "name", "type", "consumers",
                          "messages", "messages_unacknowledged", "leader"))
        for name, process in stack.processes.items():
            print(f"--- {name}\n{process.log_tail(80)}")
        raise

    # The survivors still form the cluster; no service died; writes resumed quickly.
    assert cluster.running_nodes(survivor) == sorted(node.node for node in cluster.nodes[1:])
    for name, process in stack.processes.items():
        assert process.process.poll() is None, f"{name} died:\n{process.log_tail()}"
    after_kill = sorted(moment for writer in writers for moment in writer.acknowledged_at
                        if moment > killed_at)
    assert after_kill, "no write was acknowledged after the node was killed"
    assert after_kill[0] - killed_at < BACK_WITHIN
    statuses = sum((writer.statuses for writer in writers), Counter())
    assert statuses[500] == 0, statuses

    # Every acknowledged client once, and no other; every acknowledged hour once.
    session = writers[0].session
    api_url = f"{gateway}/api/v1"
    listed = client_ids(session, api_url, "cluster")
    assert sorted(listed) == sorted(acknowledged["clients"])
    entries = session.get(f"{api_url}/projects/{project}", timeout=30).json()
    assert Decimal(str(entries["total_hours"])) == acknowledged["hours"]

    # The events reached the gateway's read model through the surviving nodes: the
    # client list with figures (the overview) knows every client.
    def overview_complete():
        page = session.get(f"{api_url}/clients", params={"q": "cluster", "limit": 500,
                                                          "figures": "true"}, timeout=30).json()
        return all(item.get("figures") is not None for item in page["items"]) and \
            len(page["items"]) == len(acknowledged["clients"])

    wait_until(overview_complete, timeout=30, interval=0.5,
               message="the overview to know every acknowledged client")
