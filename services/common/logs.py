"""JSON log lines on stdout: timestamp, level, service, correlation_id, workspace."""
import json
import logging
import sys

from .envelope import format_time, utc_now


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
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(service, level="INFO"):
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # nameko and kombu are chatty at INFO about every connection; alembic lists each
    # of its plugins at every start
    for noisy in ("kombu", "amqp", "nameko", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
