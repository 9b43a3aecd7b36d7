"""The per-client overview read model, fed through RabbitMQ by the real gateway.

The three sources are stand-in services that own real event stores (with the
kernel's relay and ``events_since``), so the histories here exercise the
gateway alone: every figure is checked against an independent computation.
"""
import json
import random
import uuid
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from kombu import Connection, Exchange, Producer
from nameko.dependency_providers import Config

from gateway import overview as gateway_overview
from gateway.readmodel import read_model_for
from gateway.rebuild import rebuild
from services.common.db import get_database
from services.common.eventstore import EventStore, create_event_store_tables
from services.common.extensions import EventSourcedStore, EventSourceRpc, HealthChecks
from services.common.inbox import create_inbox_tables
from tests.helpers import wait_until

from .conftest import Stack
from .overview_history import BASE_DAY, Driver, Op, comparable, histories, reference_overview


def kernel_tables_only(url):
    database = get_database(url)
    with database.write() as conn:
        create_event_store_tables(conn)
        create_inbox_tables(conn)


def stand_in(source, relay=True):
    return type(f"StandIn{source.title()}", (EventSourceRpc, HealthChecks), {
        "name": source, "config": Config(),
        "store": EventSourcedStore(source, kernel_tables_only, relay=relay)})


def make_sources_stack(make_stack, relay=True, databases="sqlite"):
    classes = {source: stand_in(source, relay) for source in ("contacts", "projects", "billing")}
    stack = make_stack(databases, classes=classes).start()
    stores = {source: EventStore(stack.database(source)) for source in classes}
    return stack, stores


@pytest.fixture
def sources(make_stack):
    return make_sources_stack(make_stack)


def converged(stack, stores):
    """Wait until the gateway applied everything the sources stored."""
    inbox = read_model_for(stack.database("gateway")).inbox()
    heads = {source: store.head_position() for source, store in stores.items()}
    wait_until(lambda: all(inbox.positions().get(s, 0) >= p for s, p in heads.items() if p),
               timeout=30, message=f"gateway to reach {heads}")


def overview(session, stack, client_id, as_of):
    response = session.get(f"{stack.url}/api/v1/clients/{client_id}/overview",
                           params={"as_of": as_of.isoformat()})
    assert response.status_code == 200, response.text
    return response.json()


def drilled_tasks(session, stack, client_id, due, as_of, limit=2):
    """Every page of the tasks drill-down walked ``limit`` at a time: each page but the
    last is full and no task comes twice."""
    items, cursor = [], None
    while True:
        params = {"client_id": client_id, "due": due, "as_of": as_of.isoformat(),
                  "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = session.get(f"{stack.url}/api/v1/tasks", params=params)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            assert len(page["items"]) <= limit
            break
        assert len(page["items"]) == limit
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids)), f"a task listed twice: {ids}"
    return items


def reference_tasks(state, client, as_of):
    """The keys of the open tasks each task figure counts, from the contract's definitions."""
    offset = (as_of - BASE_DAY).days
    due = {key: task["due"] for key, task in state.tasks.items()
           if not task["done"] and state.projects[task["project"]]["client"] == client}
    return {"open": set(due),
            "overdue": {key for key, day in due.items() if day is not None and day < offset},
            "due": {key for key, day in due.items() if day == offset},
            "upcoming": {key for key, day in due.items() if day is not None and day > offset}}


def check_history(stack, stores, ops, as_of_days=(0, 10, 25, 60)):
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    driver = Driver(stores, workspace)
    driver.run(ops)
    converged(stack, stores)
    session = stack.session(workspace=workspace, role="viewer")
    names = {value: key for key, value in driver.ids.items()}
    for offset in as_of_days:
        as_of = date.fromordinal(BASE_DAY.toordinal() + offset)
        for client in driver.state.clients:
            served = comparable(overview(session, stack, driver.ids[client], as_of), driver.ids)
            expected = reference_overview(driver.state, client, as_of)
            assert served == expected, (client, as_of, ops)
            # Each task figure drills down, all pages together, to exactly what it counts.
            for due, keys in reference_tasks(driver.state, client, as_of).items():
                listed = drilled_tasks(session, stack, driver.ids[client], due, as_of)
                assert {names[item["id"]] for item in listed} == keys, (client, as_of, due, ops)
    return driver, session


def test_the_overview_of_a_client_as_the_seeds_describe_it(sources):
    stack, stores = sources
    ops = [
        Op("client", {"id": "alan"}), Op("client", {"id": "sps"}),
        Op("project", {"id": "web", "client": "alan"}),           # assign while creating
        Op("project", {"id": "app", "client": None}),
        Op("assign", {"project": "app", "client": "alan"}),       # from the settings
        Op("time", {"project": "web", "hours": "7.5"}),
        Op("time", {"project": "app", "hours": "2"}),
        Op("task", {"id": "t1", "project": "web", "due": 5}),
        Op("task", {"id": "t2", "project": "web", "due": 10}),
        Op("task", {"id": "t3", "project": "app", "due": 20}),
        Op("task_update", {"id": "t3", "due": 20, "done": True}),
        Op("invoice", {"id": "i1", "client": "alan", "project": "web", "currency": "EUR",
                       "total": "1210.00"}),
        Op("issue", {"id": "i1", "issue": 0, "terms": 9}),
        Op("invoice", {"id": "i2", "client": "alan", "project": None, "currency": "JPY",
                       "total": "15000"}),
        Op("issue", {"id": "i2", "issue": 0, "terms": 30}),
        Op("pay", {"id": "i2", "fraction": __import__("decimal").Decimal("0.5")}),
        Op("invoice", {"id": "i3", "client": "alan", "project": "app", "currency": "EUR",
                       "total": "100.00"}),
        Op("order", {"id": "o1", "client": "alan", "currency": "EUR", "total": "500"}),
        Op("finalize", {"id": "o1"}),
        Op("quote", {"id": "q1", "client": "alan", "currency": "USD", "total": "900"}),
        Op("assign", {"project": "app", "client": "sps"}),        # reassignment
    ]
    driver, session = check_history(stack, stores, ops)
    body = overview(session, stack, driver.ids["alan"], date(2026, 11, 11))
    assert body["projects"]["count"] == 1 and body["projects"]["total_hours"] == 7.5
    assert body["projects"]["items"][0]["invoiced"] == {"EUR": "1210.00"}
    assert body["tasks"] == {"open": 2, "overdue": 1, "due": 1, "upcoming": 0}
    assert body["invoices"]["overdue"] == {"count": 1, "amount": {"EUR": "1210.00"}}
    assert body["invoices"]["pending"] == {"count": 1, "amount": {"JPY": "7500"}}
    assert body["invoices"]["authorized"]["amount"] == {"EUR": "1210.00", "JPY": "15000"}
    assert body["invoices"]["draft"] == {"count": 1, "amount": {"EUR": "100.00"}}
    assert body["purchase_orders"]["finalized"] == {"count": 1, "amount": {"EUR": "500"}}
    assert body["quotes"]["open"] == {"count": 1, "amount": {"USD": "900"}}
    # The reassigned project took its hours and tasks to the new client.
    sps = overview(session, stack, driver.ids["sps"], date(2026, 11, 11))
    assert sps["projects"]["total_hours"] == 2 and sps["tasks"]["open"] == 0
    # Overdue moves with as_of alone, without any new event (due on the 10th).
    before = overview(session, stack, driver.ids["alan"], date(2026, 11, 10))
    assert before["invoices"]["overdue"]["count"] == 0
    assert before["invoices"]["pending"]["count"] == 2
    # The tasks drill-down lists exactly what the figures count.
    for due, count in body["tasks"].items():
        listed = session.get(f"{stack.url}/api/v1/tasks", params={
            "client_id": driver.ids["alan"], "due": due, "as_of": "2026-11-11"}).json()["items"]
        assert len(listed) == count, due
    other = stack.session(workspace="elsewhere")
    assert other.get(f"{stack.url}/api/v1/clients/{driver.ids['alan']}/overview").status_code \
        == 404


@pytest.mark.parametrize("databases", ["sqlite", "postgres"])
def test_the_tasks_drill_down_pages_in_a_stable_order(make_stack, databases):
    stack, stores = make_sources_stack(make_stack, databases=databases)
    ops = [Op("client", {"id": "alan"}), Op("client", {"id": "sps"}),
           Op("project", {"id": "web", "client": "alan"}),
           Op("project", {"id": "app", "client": "sps"})]
    # Ties on one due date (ordered by id), undated tasks, done ones, another client's.
    dues = [5, 10, 10, 10, None, 20, 10, None, 3, 10, 25, 10]
    ops += [Op("task", {"id": f"t{n}", "project": "web", "due": due})
            for n, due in enumerate(dues)]
    ops += [Op("task_update", {"id": "t0", "due": 5, "done": True}),
            Op("task", {"id": "other", "project": "app", "due": 10})]
    ops += [Op("task", {"id": f"bulk{n}", "project": "web", "due": 30 + n % 4})
            for n in range(45)]
    driver, session = check_history(stack, stores, ops, as_of_days=(10,))
    alan, as_of = driver.ids["alan"], date(2026, 11, 11)
    tasks = f"{stack.url}/api/v1/tasks"

    def page(**params):
        answer = session.get(tasks, params={"client_id": alan, "as_of": as_of.isoformat(),
                                            **params})
        assert answer.status_code == 200, answer.text
        return answer.json()

    everything = page(limit=500)
    assert everything["next_cursor"] is None and len(everything["items"]) == 56
    # Earliest due first, undated last; one due date in id order.
    keys = [(item["due_date"] is None, item["due_date"] or "") for item in everything["items"]]
    assert keys == sorted(keys)
    tied = [item["id"] for item in everything["items"] if item["due_date"] == "2026-11-11"]
    assert len(tied) == 6 and tied == sorted(tied)
    for limit in (1, 2, 5, 55, 56):
        walked = drilled_tasks(session, stack, alan, "open", as_of, limit)
        assert walked == everything["items"], limit
    first = page()  # 50 by default
    assert len(first["items"]) == 50 and first["next_cursor"]
    rest = page(cursor=first["next_cursor"])
    assert rest["next_cursor"] is None
    assert first["items"] + rest["items"] == everything["items"]
    due = page(due="due", limit=2)
    assert len(due["items"]) == 2 and due["next_cursor"]
    assert page(due="due", limit=2, cursor=due["next_cursor"])["items"] == \
        page(due="due")["items"][2:4]

    for limit in ("0", "501", "-1", "ten", "2.5", "1e2", "²"):
        refused = session.get(tasks, params={"client_id": alan, "limit": limit})
        assert refused.status_code == 400, (limit, refused.text)
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert "limit" in refused.json()["errors"], limit
    for cursor in ("nope", "W10", "eyJhIjoxfQ"):
        refused = session.get(tasks, params={"client_id": alan, "cursor": cursor})
        assert refused.status_code == 400 and "cursor" in refused.json()["errors"], cursor
    for client_id in ("nope", "1234", alan + "0"):
        refused = session.get(tasks, params={"client_id": client_id})
        assert refused.status_code == 400, (client_id, refused.text)
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert "client_id" in refused.json()["errors"], client_id
    assert session.get(tasks, params={"client_id": str(uuid.uuid4())}).status_code == 404
    # The canonical form of an id names the same client.
    assert page(client_id=alan.upper(), limit=500)["items"] == everything["items"]


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=histories())
def test_every_figure_matches_an_independent_computation(sources, ops):
    stack, stores = sources
    check_history(stack, stores, ops)


@pytest.fixture
def postgres_sources(make_stack):
    return make_sources_stack(make_stack, databases="postgres")


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=histories())
def test_every_figure_matches_an_independent_computation_on_postgresql(postgres_sources, ops):
    """PostgreSQL has its own projector paths (one preload statement for every
    table, the batch's writes sent with the checkpoint's)."""
    stack, stores = postgres_sources
    check_history(stack, stores, ops)


@settings(max_examples=4, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=histories(max_ops=30), seed=__import__("hypothesis").strategies.integers(0, 10**6))
def test_duplicates_shuffled_delivery_and_a_restart_give_the_same_overview(
        vhosts, tmp_path_factory, ops, seed):
    # A whole stack per example, on its own vhost: nothing carries over between examples.
    directory = tmp_path_factory.mktemp("shuffled")
    classes = {source: stand_in(source, relay=False)
               for source in ("contacts", "projects", "billing")}
    stack = Stack(vhosts.create(), {service: f"sqlite:///{directory / f'{service}.db'}"
                                    for service in ("contacts", "projects", "billing",
                                                    "gateway")}, classes).start()
    try:
        check_shuffled_delivery(stack, ops, seed)
    finally:
        stack.close()


def check_shuffled_delivery(stack, ops, seed):
    stores = {source: EventStore(stack.database(source))
              for source in ("contacts", "projects", "billing")}
    workspace = f"ws-{uuid.uuid4().hex[:8]}"
    driver = Driver(stores, workspace)
    driver.run(ops)
    bodies = {source: [json.dumps(e.to_dict()) for e in store.read_all(0, 10000)]
              for source, store in stores.items()}
    rng = random.Random(seed)
    deliveries = [(source, body) for source, items in bodies.items() for body in items]
    deliveries += rng.sample(deliveries, len(deliveries) // 3)  # duplicates
    rng.shuffle(deliveries)
    half = len(deliveries) // 2
    with Connection(stack.amqp_uri) as conn:
        channel = conn.channel()
        for index, (source, body) in enumerate(deliveries):
            if index == half:
                stack.kill("gateway")  # restarted midway, messages wait in its queues
            Producer(channel, Exchange(f"{source}.events", "topic", durable=True)).publish(
                body, routing_key=json.loads(body)["type"], content_type="application/json")
    stack.start("gateway")
    converged(stack, stores)
    session = stack.session(workspace=workspace)
    for client in driver.state.clients:
        for offset in (0, 15, 45):
            as_of = date.fromordinal(BASE_DAY.toordinal() + offset)
            assert comparable(overview(session, stack, driver.ids[client], as_of), driver.ids) \
                == reference_overview(driver.state, client, as_of)


def test_rebuild_equals_live_and_swaps_without_downtime(sources):
    check_rebuild_equals_live(*sources)


def test_rebuild_equals_live_on_postgresql(make_stack):
    """PostgreSQL runs the overview as a prepared statement per connection and
    table generation: the swapped-in generation gets its own."""
    check_rebuild_equals_live(*make_sources_stack(make_stack, databases="postgres"))


def test_a_prepared_overview_the_server_forgot_is_prepared_again(make_stack):
    stack, stores = make_sources_stack(make_stack, databases="postgres")
    driver, session = check_history(stack, stores, [Op("client", {"id": "c0"})], as_of_days=(0,))
    database = stack.database("gateway")
    tables = read_model_for(database).tables()
    with database.query() as conn:
        first = gateway_overview.client_overview(conn, tables, driver.workspace,
                                                 driver.ids["c0"], date(2026, 11, 20))
        conn.exec_driver_sql("DEALLOCATE ALL")  # what a server restart or a pooler does
        again = gateway_overview.client_overview(conn, tables, driver.workspace,
                                                 driver.ids["c0"], date(2026, 11, 20))
    assert again == first and first["client"]["id"] == driver.ids["c0"]


def check_rebuild_equals_live(stack, stores):
    ops = [Op("client", {"id": f"c{i}"}) for i in range(3)] + [
        Op("project", {"id": "p0", "client": "c0"}), Op("time", {"project": "p0", "hours": "3"}),
        Op("invoice", {"id": "i0", "client": "c1", "project": None, "currency": "EUR",
                       "total": "10.00"}),
        Op("issue", {"id": "i0", "issue": 1, "terms": 2}),
        Op("merge", {"survivor": "c0", "duplicate": "c1"}),
        Op("task", {"id": "t0", "project": "p0", "due": 3})]
    driver, session = check_history(stack, stores, ops)
    as_of = date(2026, 11, 20)
    before = {c: overview(session, stack, driver.ids[c], as_of) for c in driver.state.clients}
    database = stack.database("gateway")
    model = read_model_for(database)
    live_generation = model.active_generation()
    messages = []
    result = rebuild(database, stack.config("gateway"), progress=messages.append)
    assert result["generation"] == live_generation + 1
    assert model.active_generation() == live_generation + 1
    after = {c: overview(session, stack, driver.ids[c], as_of) for c in driver.state.clients}
    assert after == before
    # The projector goes on in the new generation.
    driver.emit("projects", "p0", "TimeLogged", {
        "project_id": driver.ids["p0"], "entry_id": str(uuid.uuid4()), "client_id": None,
        "date": "2026-11-02", "hours": "1.5", "description": "after the rebuild"})
    converged(stack, stores)
    assert overview(session, stack, driver.ids["c0"], as_of)["projects"]["total_hours"] == 4.5


def test_projected_text_keeps_percent_signs_quotes_and_accents_on_postgresql(postgres):
    """The batch's writes travel as SQL text with the checkpoint's statement."""
    from gateway.service import migrate as migrate_gateway
    from services.common.envelope import EventEnvelope

    url = postgres.create("projected_text")
    migrate_gateway(url)
    model = read_model_for(get_database(url))
    client = str(uuid.uuid4())
    names = ["Descuento 50% Ibérica, S.L.", "O'Brien & Filhos %s %(x)s Ltda."]
    events = [EventEnvelope(str(uuid.uuid4()), "ClientRegistered", 1, "ws", client, 1, 1,
                            "2026-11-01T00:00:00.000000Z", None, None,
                            {"client_id": client, "workspace": "ws", "kind": "company",
                             "name": names[0]}),
              EventEnvelope(str(uuid.uuid4()), "ClientUpdated", 1, "ws", client, 2, 2,
                            "2026-11-02T00:00:00.000000Z", None, None,
                            {"client_id": client, "changes": {"name": names[1]}})]
    model.inbox().apply("contacts", events[:1])
    with model.database.query() as conn:
        found = gateway_overview.client_overview(conn, model.tables(), "ws", client,
                                                 date(2026, 11, 20))
    assert found["client"]["name"] == names[0]
    model.inbox().apply("contacts", events[1:])
    with model.database.query() as conn:
        found = gateway_overview.client_overview(conn, model.tables(), "ws", client,
                                                 date(2026, 11, 20))
    assert found["client"]["name"] == names[1]
    assert model.inbox().position("contacts") == 2
