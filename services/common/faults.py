"""Fault points, for tests that prove what survives a crash (a test-only setting).

``CLIENTFOLIO_FAULT`` (config ``FAULT``) names one point, ``<point>:<name>``, where
the process dies at once as under ``kill -9`` (``os._exit(137)``: no clean-up, no
reply, no acknowledgement), or ``raise:<point>:<name>`` where the request fails with
an unexpected error instead. Points:

- ``after_commit:<command>``: a service, right after a command's transaction
  committed and before its RPC reply is sent (nameko then redelivers the request);
- ``after_command:<endpoint>``: the gateway, after an endpoint's commands answered
  and before its response is stored for the Idempotency-Key or sent.

``<name>`` may be ``*``. Unset in production: every check is then one comparison.
"""
import logging
import os

log = logging.getLogger(__name__)

_armed = {"value": None}


def arm(value):
    """Arm the fault point named by ``value`` (the FAULT setting); None disarms."""
    _armed["value"] = (value or "").strip() or None


def reached(point, name):
    """Die here (or raise) if this point is armed."""
    armed = _armed["value"]
    if armed is None:
        return
    action, _, target = armed.partition(":") if armed.startswith("raise:") else ("die", "",
                                                                                  armed)
    wanted_point, _, wanted_name = target.partition(":")
    if wanted_point != point or wanted_name not in ("*", name):
        return
    if action == "raise":
        raise RuntimeError(f"fault injected at {point}:{name}")
    log.error("fault injected at %s:%s: the process dies now", point, name)
    logging.shutdown()
    os._exit(137)
