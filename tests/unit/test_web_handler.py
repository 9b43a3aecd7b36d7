"""The JSON HTTP entrypoint's own request handling."""
from types import SimpleNamespace

from nameko.web.handlers import HttpRequestHandler

from services.common.web import JsonHttpHandler


class Service:
    def loose(self, request, **path):
        pass

    def strict(self, request, client_id):
        pass


def test_arguments_are_bound_per_request_only_for_methods_not_taking_any_path(monkeypatch):
    checked = []
    monkeypatch.setattr(HttpRequestHandler, "check_signature",
                        lambda self, args, kwargs: checked.append(self.method_name))
    for name in ("loose", "strict"):
        handler = JsonHttpHandler("GET", f"/{name}/<string:client_id>")
        handler.container = SimpleNamespace(service_cls=Service)
        handler.method_name = name
        for _ in range(2):
            handler.check_signature(("request",), {"client_id": "c1"})
    assert checked == ["strict", "strict"]


def test_log_lines_carry_the_bound_workspace_and_correlation_id():
    import logging

    from services.common.logs import ContextFilter, bind

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "message", None, None)
    bind("acme", "req-42")
    try:
        assert ContextFilter().filter(record) is True
    finally:
        bind()
    assert (record.workspace, record.correlation_id) == ("acme", "req-42")
