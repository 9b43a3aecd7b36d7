"""What a gateway process remembers for a second: answers read on every request (who a
token or a session cookie is, a workspace's language) that change rarely.

Each replica remembers on its own, so a change made elsewhere (another replica, the
command line) takes effect within ``seconds`` everywhere; a change made by this process
forgets everything at once.
"""
import time


class ShortLived:
    def __init__(self, seconds, limit=10000):
        self.seconds = seconds
        self.limit = limit
        self._entries = {}

    def get(self, key):
        """The value remembered under ``key``, or None when there is none or it is old."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key, value):
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.seconds, value)
        return value

    def forget(self, key):
        self._entries.pop(key, None)

    def clear(self):
        self._entries.clear()
