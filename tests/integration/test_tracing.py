"""Traces: assigning a client to a project is one tree across the services.

Every service runs in its own nameko runner here (as separate processes do, the
trace context travels only in HTTP and AMQP headers); spans go to an in-memory
exporter instead of OTLP.
"""
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.common import tracing
from tests.helpers import wait_until


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    tracing.enable(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        tracing.disable()


def service_of(span):
    return span.resource.attributes["service.name"]


def test_the_trace_of_assigning_a_client_spans_gateway_projects_relay_broker_projector(
        spans, make_stack):
    stack = make_stack().start()
    session = stack.session(role="member")
    client = session.post(f"{stack.url}/api/v1/clients", json={"name": "Alan Insurance"},
                          timeout=10)
    project = session.post(f"{stack.url}/api/v1/projects", json={"name": "Claims portal"},
                           headers={"Consistency-Token": client.headers["Consistency-Token"]},
                           timeout=10)
    assert project.status_code == 201, project.text
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assigned = session.patch(
        f"{stack.url}/api/v1/projects/{project.json()['id']}",
        json={"client_id": client.json()["id"]}, timeout=10,
        headers={"traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01"})
    assert assigned.status_code == 200, assigned.text

    def trace():
        found = [span for span in spans.get_finished_spans()
                 if span.context.trace_id == int(caller_trace, 16)]
        appliers = {span.attributes["messaging.consumer.group.name"] for span in found
                    if span.name == "apply ClientAssigned"
                    and service_of(span) == "clientfolio-gateway"}
        return found if appliers == {"gateway", "webhooks"} else None

    found = wait_until(trace, timeout=10,
                       message="the gateway's spans of ClientAssigned (projector, webhooks)")
    by_id = {span.context.span_id: span for span in found}

    def chain(span):
        """The span's ancestors up to the caller's: (service, kind, name), leaf first."""
        links = []
        while span is not None:
            links.append((service_of(span), span.kind, span.name))
            parent = span.parent
            if parent is not None and parent.span_id not in by_id:
                assert parent.span_id == 0x00f067aa0ba902b7, f"{span.name}: broken parent link"
            span = by_id.get(parent.span_id) if parent is not None else None
        return links

    # The gateway's projector applies it (its webhooks consumer too, in the same trace).
    applied_by = {span.attributes["messaging.consumer.group.name"]: span for span in found
                  if span.name == "apply ClientAssigned"
                  and service_of(span) == "clientfolio-gateway"}
    assert set(applied_by) == {"gateway", "webhooks"}
    applied = applied_by["gateway"]
    assert chain(applied_by["webhooks"])[1:] == chain(applied)[1:]
    assert chain(applied) == [
        ("clientfolio-gateway", SpanKind.CONSUMER, "apply ClientAssigned"),
        ("clientfolio-projects", SpanKind.PRODUCER, "publish ClientAssigned"),
        ("clientfolio-projects", SpanKind.INTERNAL, "command update_project"),
        ("clientfolio-projects", SpanKind.SERVER, "projects.update_project"),
        ("clientfolio-gateway", SpanKind.CLIENT, "projects.update_project"),
        ("clientfolio-gateway", SpanKind.SERVER,
         "PATCH /api/v1/projects/<string:project_id>"),
    ]
    publish = next(span for span in found if span.name == "publish ClientAssigned")
    assert publish.attributes["messaging.destination.name"] == "projects.events"
    # The gateway asked contacts where the client's stream is, in the same trace.
    assert any(span.name == "contacts.stream_positions" and span.kind == SpanKind.SERVER
               and service_of(span) == "clientfolio-contacts" for span in found)
