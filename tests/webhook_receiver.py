"""A webhook receiver on loopback for tests: records every request, can fail the
first N, and checks nothing itself (tests verify signatures with the secret)."""
import json
import threading
import time

import eventlet
import eventlet.wsgi


class Receiver:
    def __init__(self, fail_first=0, fail_status=503, delay=0.0):
        self.fail_first = fail_first
        self.delay = delay  # seconds each answer takes (a receiver doing some work)
        self.fail_status = fail_status
        self.requests = []  # every request: {"headers", "body", "at", "answered"}
        self._lock = threading.Lock()
        self._socket = None
        self._server = None

    def start(self):
        self._socket = eventlet.listen(("127.0.0.1", 0))
        self._server = eventlet.spawn(eventlet.wsgi.server, self._socket, self._app,
                                      log_output=False, log=_Quiet())
        return self

    @property
    def url(self):
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}/hooks"

    def _app(self, environ, start_response):
        body = environ["wsgi.input"].read()
        if self.delay:
            eventlet.sleep(self.delay)
        headers = {key[5:].replace("_", "-").lower(): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        with self._lock:
            failing = len(self.requests) < self.fail_first
            status = self.fail_status if failing else 204
            self.requests.append({"headers": headers, "body": body, "at": time.time(),
                                  "answered": status})
        start_response(f"{status} {'Failing' if failing else 'No Content'}", [])
        return [b""]

    def delivered(self):
        """The requests answered 2xx, as (headers, parsed body)."""
        with self._lock:
            return [(r["headers"], json.loads(r["body"])) for r in self.requests
                    if r["answered"] < 300]

    def stop(self):
        if self._server is not None:
            self._server.kill()
        if self._socket is not None:
            self._socket.close()


class _Quiet:
    def write(self, data):
        pass
