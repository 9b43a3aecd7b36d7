"""Prometheus metrics shared by every process (exposed at ``GET /metrics``).

Names follow Prometheus conventions (``<namespace>_<what>_<unit>``, counters end in
``_total``). The names of release 0.1 (``clientfolio_http_request_seconds``,
``clientfolio_rpc_seconds``) are still exported beside the new ones for one release
(docs/operations.md, "Metrics").
"""
import os
import platform
from importlib import metadata

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

HTTP_REQUESTS = Counter(
    "clientfolio_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "clientfolio_http_request_duration_seconds", "HTTP request latency", ["method", "route"])
RPC_LATENCY = Histogram(
    "clientfolio_rpc_duration_seconds", "RPC handling latency", ["service", "method"])
COMMANDS = Counter(
    "clientfolio_commands_total", "Commands run by a service's unit of work (a repeat "
    "answered from its record included)", ["service", "command", "outcome"])
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
BUILD_INFO = Gauge(
    "clientfolio_build_info", "Always 1; the labels say which build is running",
    ["version", "revision", "python_version"])

# Deprecated names, exported for one release beside the new ones.
_HTTP_LATENCY_OLD = Histogram(
    "clientfolio_http_request_seconds",
    "Deprecated: use clientfolio_http_request_duration_seconds", ["method", "route"])
_RPC_LATENCY_OLD = Histogram(
    "clientfolio_rpc_seconds", "Deprecated: use clientfolio_rpc_duration_seconds",
    ["service", "method"])


def _version():
    try:
        return metadata.version("clientfolio")
    except metadata.PackageNotFoundError:
        return "unknown"


BUILD_INFO.labels(_version(), os.environ.get("CLIENTFOLIO_REVISION") or "unknown",
                  platform.python_version()).set(1)


def observe_request(method, route, status, seconds):
    """Count one HTTP request and its latency (under the current and deprecated names)."""
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route).observe(seconds)
    _HTTP_LATENCY_OLD.labels(method, route).observe(seconds)


def observe_rpc(service, method, seconds):
    """Record one RPC handling's latency (under the current and deprecated names)."""
    RPC_LATENCY.labels(service, method).observe(seconds)
    _RPC_LATENCY_OLD.labels(service, method).observe(seconds)


def render():
    """The metrics page body and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST
