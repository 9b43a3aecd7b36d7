"""A reply that cannot be sent: the request goes back to the broker and is answered by a
later delivery, instead of holding a prefetch slot of a live channel for good."""
import nameko.rpc
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.rpc import rpc

handled = []


class EchoService:
    name = "echo"

    @rpc
    def echo(self, ctx, value):
        handled.append(value)
        return {"echo": value}


def test_a_request_whose_reply_failed_is_delivered_again_and_answered(amqp_uri, monkeypatch):
    send_response = nameko.rpc.Responder.send_response
    failures = []

    def first_reply_lost(responder, result, exc_info):
        if not failures:
            failures.append(result)
            raise OSError("the reply's connection is gone")
        return send_response(responder, result, exc_info)

    monkeypatch.setattr(nameko.rpc.Responder, "send_response", first_reply_lost)
    handled.clear()
    config = {"AMQP_URI": amqp_uri, "max_workers": 1}
    container = ServiceContainer(EchoService, config)
    container.start()
    try:
        with ClusterRpcProxy(config, timeout=20) as proxy:
            answer = proxy.echo.echo({"workspace": "acme"}, "hola")
    finally:
        container.stop()
    assert answer == {"echo": "hola"}
    assert failures == [{"echo": "hola"}]
    assert handled == ["hola", "hola"]  # once lost, once answered
