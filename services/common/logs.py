"""JSON log lines on stdout: timestamp, level, service, correlation_id, workspace.

The correlation id and workspace are those of the request or RPC being served by
the current green thread (``bind``, called as a worker starts), so every line a
command logs in any service can be found from the request's ``X-Correlation-Id``.
"""
import json
import logging
import sys

from eventlet.corolocal import local

from .envelope import format_time, utc_now

_current = local()  # per green thread: each nameko worker runs in its own


def bind(workspace=None, correlation_id=None):
    """The workspace and correlation id of what this green thread serves now."""
    _current.workspace = workspace
    _current.correlation_id = correlation_id


class ContextFilter(logging.Filter):
    def filter(self, record):
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = getattr(_current, "correlation_id", None)
        if getattr(record, "workspace", None) is None:
            record.workspace = getattr(_current, "workspace", None)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, service):
        super().__init__()
        self.service = service

    def format(self, record):
        line = {
            "timestamp": format_time(utc_now()),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None),
            "workspace": getattr(record, "workspace", None),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class WorkerErrorFilter(logging.Filter):
    """Drops nameko's own report of a worker's error where the kernel reports it once.

    nameko logs every error a worker raises, an expected one as a warning with its
    traceback: a request without a token wrote a stack trace. HTTP errors are logged
    by the WSGI app (one line per 4xx, one traceback per 500, ``web.py``) and expected
    RPC errors by the RPC entrypoint (one line, ``rpc.py``); an unexpected RPC error
    keeps nameko's line and its one traceback."""

    def filter(self, record):
        message = record.msg if isinstance(record.msg, str) else ""
        if "error handling worker" not in message:
            return True
        if message.startswith("(expected)"):
            return False
        worker_ctx = record.args[0] if isinstance(record.args, tuple) and record.args else None
        entrypoint = getattr(worker_ctx, "entrypoint", None)
        from nameko.web.handlers import HttpRequestHandler
        return not isinstance(entrypoint, HttpRequestHandler)


def quiet_worker_errors():
    """Install ``WorkerErrorFilter`` on nameko's container logger (idempotent)."""
    logger = logging.getLogger("nameko.containers")
    if not any(isinstance(f, WorkerErrorFilter) for f in logger.filters):
        logger.addFilter(WorkerErrorFilter())


def setup_logging(service, level="INFO"):
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_worker_errors()
    # nameko and kombu are chatty at INFO about every connection; alembic lists each
    # of its plugins at every start
    for noisy in ("kombu", "amqp", "nameko", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
