"""OpenTelemetry traces of requests, RPC, commands and events (off unless configured).

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (spans go there over OTLP/HTTP,
with the SDK's standard ``OTEL_*`` variables) and ``OTEL_SDK_DISABLED`` is not ``true``;
``CLIENTFOLIO_TRACE_SAMPLE_RATIO`` (0-1) samples new traces, a caller's sampling
decision is followed. Off, every hook below is one test of ``ENABLED``.

What is traced, and how the context travels (W3C ``traceparent``):
- an HTTP request: a server span in the WSGI app; its worker runs in that context;
- an RPC call: a client span around the call, ``traceparent`` in the AMQP message
  headers; the receiving service's worker runs in a server span under it;
- a command: a span per database transaction of ``Application.execute``;
- an event: the relay publishes it in a producer span under the command that stored
  it, ``traceparent`` in the AMQP message headers (not in the envelope); a consumer
  applies it in a consumer span under that. The command's context is kept, for the
  relay, by the process that committed it: an event another replica's relay
  publishes starts a trace of its own (the correlation id still links them).
"""
import logging
import os
import threading
from collections import OrderedDict
from contextlib import contextmanager, nullcontext

log = logging.getLogger(__name__)

ENABLED = False
TRACEPARENT = "traceparent"
_REMEMBERED_EVENTS = 50_000  # positions whose command context the relay may look up

_state = {"processor": None, "ratio": 1.0, "providers": {}, "events": OrderedDict()}
_lock = threading.Lock()


def configure(service, config):
    """Turn tracing on for this process if the configuration asks for it; True if on."""
    from_environment = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or \
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    endpoint = from_environment or config.get("OTLP_ENDPOINT")
    if not endpoint or os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # The SDK reads its own variables (and adds /v1/traces); a configured URL is given.
    exporter = OTLPSpanExporter() if from_environment else \
        OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")
    enable(BatchSpanProcessor(exporter),
           float(config.get("TRACE_SAMPLE_RATIO") or 1.0))
    log.info("%s: tracing to %s, sampling %s of new traces", service, endpoint,
             _state["ratio"])
    return True


def enable(processor, ratio=1.0):
    """Trace from now on, handing finished spans to ``processor`` (an SDK span
    processor: batching to OTLP in production, an in-memory exporter in tests)."""
    global ENABLED
    _state.update(processor=processor, ratio=max(0.0, min(1.0, float(ratio))), providers={})
    _state["events"].clear()
    _patch_rpc_proxy()
    ENABLED = True


def disable():
    """Stop tracing (spans in flight are dropped); flushes the processor."""
    global ENABLED
    ENABLED = False
    processor = _state["processor"]
    if processor is not None:
        processor.force_flush()


def tracer(service):
    """The tracer of ``service`` (its spans name it as ``service.name``)."""
    providers = _state["providers"]
    provider = providers.get(service)
    if provider is None:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        provider = TracerProvider(
            resource=Resource.create({"service.name": f"clientfolio-{service}",
                                      "service.namespace": "clientfolio"}),
            sampler=ParentBased(TraceIdRatioBased(_state["ratio"])))
        provider.add_span_processor(_state["processor"])
        providers[service] = provider
    return provider.get_tracer("clientfolio")


# -- context in and out of headers -------------------------------------------------------


def extract(traceparent):
    """The context a ``traceparent`` value names (the empty context for None)."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not traceparent:
        return None
    return TraceContextTextMapPropagator().extract({TRACEPARENT: traceparent})


def current_traceparent(span=None):
    """The ``traceparent`` of ``span`` (else the current span), None if there is none."""
    from opentelemetry import trace

    span = span or trace.get_current_span()
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def attach(span_or_context):
    """Make a span (or a context) current in this green thread; returns the token."""
    from opentelemetry import context as otel_context, trace

    if span_or_context is None:
        return None
    if hasattr(span_or_context, "get_span_context"):
        span_or_context = trace.set_span_in_context(span_or_context)
    return otel_context.attach(span_or_context)


def detach(token):
    """Undo ``attach``."""
    from opentelemetry import context as otel_context

    if token is not None:
        otel_context.detach(token)


def failed(span, error):
    """Mark ``span`` failed with ``error`` (an exception)."""
    from opentelemetry.trace import Status, StatusCode

    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))


def end(span, error=None):
    """End ``span``, marking it failed with ``error`` if given."""
    if error is not None:
        failed(span, error)
    span.end()


def in_trace():
    """Whether the current green thread runs inside a valid span."""
    from opentelemetry import trace

    return trace.get_current_span().get_span_context().is_valid


_NO_SPAN = nullcontext()


def span(service, name, kind="internal", **attributes):
    """A span around a block (a shared no-op context when tracing is off)."""
    if not ENABLED:
        return _NO_SPAN
    return _span(service, name, kind, attributes)


@contextmanager
def _span(service, name, kind, attributes):
    from opentelemetry.trace import SpanKind

    with tracer(service).start_as_current_span(
            name, kind=getattr(SpanKind, kind.upper()), attributes=attributes) as current:
        yield current


# -- events: the relay learns the context of the command that stored them -----------------


def remember_events(service, envelopes):
    """Keep the current span's context for these stored events, for the relay."""
    traceparent = current_traceparent()
    if traceparent is None:
        return
    events = _state["events"]
    with _lock:
        for envelope in envelopes:
            events[(service, envelope.position)] = traceparent
        while len(events) > _REMEMBERED_EVENTS:
            events.popitem(last=False)


def publish_spans(service, exchange, batch):
    """``{position: (span, headers)}`` for those of ``batch`` (``(position, type, body)``)
    whose command context is known: a producer span each, its ``traceparent`` for the
    message headers. End them with ``end`` once the broker confirmed."""
    from opentelemetry.trace import SpanKind

    events = _state["events"]
    spans = {}
    with _lock:
        parents = {position: events.pop((service, position), None) for position, _, _ in batch}
    publisher = tracer(service)
    for position, event_type, _ in batch:
        parent = parents.get(position)
        if parent is None:
            continue
        current = publisher.start_span(
            f"publish {event_type}", context=extract(parent), kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "rabbitmq",
                        "messaging.destination.name": exchange,
                        "messaging.rabbitmq.destination.routing_key": event_type,
                        "clientfolio.position": position})
        spans[position] = (current, {TRACEPARENT: current_traceparent(current)})
    return spans


def consume_spans(service, source, messages, consumer=None):
    """A consumer span for each message carrying a ``traceparent`` (end them with ``end``
    once its batch is applied); ``consumer`` names which of the service's consumers."""
    from opentelemetry.trace import SpanKind

    applier = tracer(service)
    spans = []
    for message in messages:
        traceparent = (message.headers or {}).get(TRACEPARENT)
        if not traceparent:
            continue
        spans.append(applier.start_span(
            f"apply {message.properties.get('type') or source}", context=extract(traceparent),
            kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "rabbitmq",
                        "messaging.destination.name": f"{source}.events",
                        "messaging.consumer.group.name": consumer or service,
                        "clientfolio.position": (message.headers or {}).get("position")}))
    return spans


# -- RPC: a client span per call, the context in the message headers ----------------------


def _patch_rpc_proxy():
    """Wrap nameko's RPC proxy (services' ``RpcProxy`` and the standalone one): each
    call made inside a trace gets a client span, and its message a ``traceparent``."""
    from nameko.rpc import MethodProxy

    if getattr(MethodProxy, "_clientfolio_traced", False):
        return
    call, call_async, headers = MethodProxy.__call__, MethodProxy.call_async, \
        MethodProxy.get_message_headers

    def service_of(proxy):
        container = getattr(proxy.worker_ctx, "container", None)
        return getattr(container, "service_name", None) or "client"

    def traced(method):
        def run(self, *args, **kwargs):
            if not ENABLED or not in_trace():
                return method(self, *args, **kwargs)
            from opentelemetry.trace import SpanKind

            with tracer(service_of(self)).start_as_current_span(
                    f"{self.service_name}.{self.method_name}", kind=SpanKind.CLIENT,
                    attributes={"rpc.system": "nameko", "rpc.service": self.service_name,
                                "rpc.method": self.method_name}):
                return method(self, *args, **kwargs)
        return run

    def message_headers(self, worker_ctx):
        found = headers(self, worker_ctx)
        found.pop(f"{self.header_prefix}.{TRACEPARENT}", None)  # the caller's own parent
        if ENABLED:
            traceparent = current_traceparent()
            if traceparent:
                found[TRACEPARENT] = traceparent
        return found

    MethodProxy.__call__ = traced(call)
    MethodProxy.call_async = traced(call_async)
    MethodProxy.get_message_headers = message_headers
    MethodProxy._clientfolio_traced = True
