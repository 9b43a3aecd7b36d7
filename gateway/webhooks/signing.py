"""Standard Webhooks signatures (https://www.standardwebhooks.com).

A secret is ``whsec_`` plus base64 of 32 random bytes; the signed content is
``<webhook-id>.<webhook-timestamp>.<body>`` and the ``webhook-signature`` header is
``v1,<base64 HMAC-SHA256>``, one per valid secret, separated by spaces (two while a
rotated secret is still honoured)."""
import base64
import hashlib
import hmac
import os

PREFIX = "whsec_"


def new_secret():
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def _key(secret):
    return base64.b64decode(secret[len(PREFIX):] if secret.startswith(PREFIX) else secret)


def signature(secret, message_id, timestamp, body):
    """``v1,<base64 HMAC-SHA256>`` of ``body`` (bytes) for ``secret``."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets, message_id, timestamp, body):
    """The three Standard Webhooks headers, signed with every secret of ``secrets``."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(signature(secret, message_id, int(timestamp), body)
                                      for secret in secrets),
    }


def verify(secret, headers, body, tolerance=300, now=None):
    """True if one of the header's signatures is ``secret``'s and the timestamp is
    within ``tolerance`` seconds of ``now`` (what a receiver checks)."""
    import time

    message_id = headers.get("webhook-id") or ""
    try:
        timestamp = int(headers.get("webhook-timestamp") or "")
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = signature(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, given)
               for given in (headers.get("webhook-signature") or "").split())
