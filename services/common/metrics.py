"""Prometheus metrics shared by every process (exposed at ``GET /metrics``)."""
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "clientfolio_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "clientfolio_http_request_seconds", "HTTP request latency", ["method", "route"])
RPC_LATENCY = Histogram(
    "clientfolio_rpc_seconds", "RPC handling latency", ["service", "method"])
EVENTS_PUBLISHED = Counter(
    "clientfolio_events_published_total", "Events confirmed by the broker", ["service"])
RELAY_BACKLOG = Gauge(
    "clientfolio_relay_backlog", "Stored events not yet confirmed by the broker", ["service"])
EVENTS_APPLIED = Counter(
    "clientfolio_events_applied_total", "Events applied by a consumer", ["consumer", "source"])
CONSUMER_LAG = Gauge(
    "clientfolio_consumer_lag", "Events a consumer knows of but has not applied",
    ["consumer", "source"])
DEAD_LETTERS = Counter(
    "clientfolio_dead_letters_total", "Messages parked in the dead-letter store",
    ["consumer", "source"])


def render():
    """The metrics page body and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
