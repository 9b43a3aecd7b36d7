"""nameko's ``@rpc`` with the kernel's typed errors marked as expected, and a command
id for every request.

A ``NotFound`` or ``ValidationFailed`` is an answer, not a failure: it is logged
as one INFO line without a traceback (``logs.WorkerErrorFilter``).

nameko acknowledges a request after it sent the reply, so a process that dies in
between receives the same request again. A call context without a command id gets
``rpc:<the request's correlation id>``: the redelivered message carries the same one,
so the unit of work answers the first run's outcome instead of running it twice.
"""
import logging
import socket

import amqp.exceptions
from kombu.exceptions import OperationalError
from nameko.rpc import ReplyListener, Rpc, RpcConsumer
from nameko.rpc import RpcProxy as NamekoRpcProxy

from .errors import ClientfolioError

log = logging.getLogger(__name__)

#: Errors that mean the broker connection is lost (not a bug of the service).
CONNECTION_ERRORS = (OSError, socket.timeout, OperationalError, amqp.exceptions.AMQPError,
                     ConnectionError)


class ClusterRpcConsumer(RpcConsumer):
    """nameko's RPC consumer whose ``rpc-<service>`` queue is a quorum queue when
    ``RPC_QUEUE_TYPE`` is ``quorum``: on a RabbitMQ cluster it survives the loss of a
    node (a classic queue lives on one node and is gone while that node is down)."""

    def setup(self):
        if self.queue is None:
            super().setup()
            if str(self.container.config.get("RPC_QUEUE_TYPE") or "").lower() == "quorum":
                self.queue.queue_arguments = {"x-queue-type": "quorum"}


class ClusterReplyListener(ReplyListener):
    """nameko's reply listener with a transient reply queue. nameko declares it durable:
    on a RabbitMQ cluster, once the node holding it died, declaring it again fails
    ("home node is down") and the service's whole consumer connection with it (it
    neither served nor called anything until the node came back). A transient queue
    goes with its node and is declared anew on the node the service reconnects to."""

    def setup(self):
        super().setup()
        self.queue.durable = False


class RpcProxy(NamekoRpcProxy):
    """nameko's ``RpcProxy`` whose replies come through a ``ClusterReplyListener``."""

    rpc_reply_listener = ClusterReplyListener()


class CommandRpc(Rpc):
    """``Rpc`` that names each request's command by its correlation id when the
    caller gave none."""

    rpc_consumer = ClusterRpcConsumer()

    def handle_message(self, body, message):
        args = body.get("args") if isinstance(body, dict) else None
        if args and isinstance(args[0], dict) and "workspace" in args[0] \
                and not args[0].get("command_id"):
            correlation_id = message.properties.get("correlation_id")
            if correlation_id:
                args[0]["command_id"] = f"rpc:{correlation_id}"
        super().handle_message(body, message)

    def handle_result(self, message, worker_ctx, result, exc_info):
        """Send the reply and acknowledge. When the reply cannot be sent (its connection
        is gone) the request is handed back to the broker, to be delivered again and
        answered from the command record: requeued if the consuming channel still
        lives (left unacknowledged there, it would hold a prefetch slot for good and
        the caller would never hear), otherwise redelivered by the broker once that
        channel closed. nameko would let the error kill the whole service."""
        if exc_info is not None and isinstance(exc_info[1], self.expected_exceptions):
            # An answer, not a failure: one line (nameko's own, with its traceback, is
            # filtered out by ``logs.WorkerErrorFilter``).
            log.info("%s answered %s: %s", self.method_name, type(exc_info[1]).__name__,
                     exc_info[1])
        try:
            return super().handle_result(message, worker_ctx, result, exc_info)
        except CONNECTION_ERRORS as exc:
            log.warning("%s: the reply could not be sent (%s); the request will be "
                        "delivered again", self.method_name, exc)
            try:
                self.rpc_consumer.requeue_message(message)
            except CONNECTION_ERRORS:
                pass  # the channel is gone too: the broker redelivers the request
            return result, exc_info


def rpc(fn=None, **kwargs):
    """Use as ``@rpc`` or ``@rpc(...)``, like nameko's."""
    kwargs.setdefault("expected_exceptions", ClientfolioError)
    if fn is None:
        return CommandRpc.decorator(**kwargs)
    return CommandRpc.decorator(**kwargs)(fn)
