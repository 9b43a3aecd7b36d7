"""Rate limits per token and per workspace, shared by every gateway replica.

Each policy is a quota of requests per window (a fixed window that starts with a
key's first request): ``token`` counts the requests of one token, ``workspace`` those
of every token of one workspace. A request is counted in both with ONE round trip to
the store: a Lua script in Redis (``RATE_LIMIT_REDIS_URL``: every replica sees the
same counts), or an in-process dictionary when no Redis is configured (one process,
as ``make run`` starts).

A replica need not ask the store about every request: far from a quota's end (more
than a tenth of it, and more than 10 requests, left) it counts requests itself and sends them with its next call,
made at least every ``SYNC_SECONDS``; near the end every request is counted in the
store before it is answered, so the last requests of a quota are refused exactly.
(Between two calls another replica's requests are not seen: a replica may let
through what its peers sent in the last ``SYNC_SECONDS`` beyond a quota's last tenth.)

A request past a quota answers 429 with ``Retry-After``; successful answers carry the
IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers):
``RateLimit-Policy: "token";q=1200;w=60, "workspace";q=6000;w=60`` and
``RateLimit: "token";r=1187;t=42, "workspace";r=5903;t=42`` (remaining requests, and
seconds until the window restarts). A store that does not answer lets requests
through (a rate limit must not take the API down with it) and is asked again a
second later.
"""
import logging
import math
import time
from dataclasses import dataclass

from nameko.extensions import DependencyProvider

log = logging.getLogger(__name__)

# INCRBY every key by the requests counted since the last call (ARGV[#KEYS + 1]); a new
# key gets its window as expiry. Returns, per key, the count so far and the
# milliseconds left in its window.
_SCRIPT = """
local result = {}
local increment = tonumber(ARGV[#KEYS + 1])
for index, key in ipairs(KEYS) do
  local count = redis.call('INCRBY', key, increment)
  local ttl = redis.call('PTTL', key)
  if count == increment or ttl < 0 then
    ttl = tonumber(ARGV[index])
    redis.call('PEXPIRE', key, ttl)
  end
  result[#result + 1] = count
  result[#result + 1] = ttl
end
return result
"""

STORE_RETRY_SECONDS = 1.0
SYNC_SECONDS = 0.05  # a replica sends its counts at least this often
NEAR_END = 0.1  # of a quota: from there on every request is counted in the store first
NEAR_END_REQUESTS = 10  # ... and at least this many last requests


@dataclass(frozen=True)
class Policy:
    name: str
    quota: int  # requests per window; 0 turns the policy off
    window: int  # seconds


@dataclass(frozen=True)
class Decision:
    """What one request got: ``allowed``, the response headers, and ``retry_after``
    (seconds) when it was refused."""

    allowed: bool
    headers: dict
    retry_after: int = 0


class MemoryStore:
    """Counts in this process only (``make run``, a single gateway)."""

    def __init__(self):
        self.windows = {}

    def hit(self, keys, windows_ms, increment=1):
        now = time.monotonic()
        if len(self.windows) > 100_000:
            self.windows = {k: v for k, v in self.windows.items() if v[1] > now}
        result = []
        for key, window_ms in zip(keys, windows_ms):
            count, ends = self.windows.get(key, (0, 0.0))
            if ends <= now:
                count, ends = 0, now + window_ms / 1000
            count += increment
            self.windows[key] = (count, ends)
            result.append((count, int((ends - now) * 1000)))
        return result


class RedisStore:
    """Counts in Redis: one script call counts a batch of requests in every key."""

    def __init__(self, url, prefix="clientfolio:ratelimit:"):
        import redis

        self.prefix = prefix
        self.client = redis.Redis.from_url(url, socket_timeout=0.5,
                                           socket_connect_timeout=0.5)
        self.script = self.client.register_script(_SCRIPT)

    def hit(self, keys, windows_ms, increment=1):
        values = self.script(keys=[self.prefix + key for key in keys],
                             args=[*windows_ms, increment])
        return [(int(values[i]), int(values[i + 1])) for i in range(0, len(values), 2)]


class RateLimiter:
    """Counts each request against the token's and the workspace's policies."""

    def __init__(self, policies, store):
        self.policies = [policy for policy in policies if policy.quota > 0]
        self.store = store
        self.policy_header = ", ".join(f'"{p.name}";q={p.quota};w={p.window}'
                                       for p in self.policies)
        self._store_down_until = 0.0
        self.seen = {}  # (token key, workspace key) -> _Seen

    @property
    def enabled(self):
        return bool(self.policies)

    def take(self, principal):
        """Count one request of ``principal``: the :class:`Decision` (None when no
        policy is on, or the store is not answering)."""
        if not self.policies:
            return None
        subjects = {"token": principal.token_id, "workspace": principal.workspace}
        keys = tuple(f"{policy.name}:{subjects[policy.name]}" for policy in self.policies)
        now = time.monotonic()
        seen = self.seen.get(keys)
        if seen is None or seen.must_ask(now, self.policies):
            if now < self._store_down_until:
                return None
            pending = seen.pending if seen is not None and seen.ends > now else 0
            try:
                counts = self.store.hit(list(keys), [p.window * 1000 for p in self.policies],
                                        pending + 1)
            except Exception as exc:  # the store is down: let requests through meanwhile
                self._store_down_until = now + STORE_RETRY_SECONDS
                log.warning("rate limit store not answering, requests are not limited: %s",
                            exc)
                return None
            if len(self.seen) > 100_000:
                self.seen = {k: v for k, v in self.seen.items() if v.ends > now}
            seen = self.seen[keys] = _Seen(now, counts)
        else:
            seen.pending += 1
        return seen.decision(now, self.policies, self.policy_header)


class _Seen:
    """What a replica knows of one token's and workspace's counts: the store's answer
    at ``synced`` and the requests it let through since (``pending``)."""

    def __init__(self, now, counts):
        self.synced = now
        self.counts = [count for count, _ in counts]
        self.resets = [now + ttl_ms / 1000 for _, ttl_ms in counts]
        self.ends = min(self.resets)
        self.pending = 0

    def must_ask(self, now, policies):
        if now - self.synced >= SYNC_SECONDS or now >= self.ends:
            return True
        return any(policy.quota - count - self.pending <=
                   max(policy.quota * NEAR_END, NEAR_END_REQUESTS)
                   for policy, count in zip(policies, self.counts))

    def decision(self, now, policies, policy_header):
        parts, retry_after = [], 0
        for policy, count, reset in zip(policies, self.counts, self.resets):
            count += self.pending
            reset = max(1, math.ceil(reset - now))
            parts.append(f'"{policy.name}";r={max(0, policy.quota - count)};t={reset}')
            if count > policy.quota:
                retry_after = max(retry_after, reset)
        headers = {"RateLimit-Policy": policy_header, "RateLimit": ", ".join(parts)}
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        return Decision(not retry_after, headers, retry_after)


def limiter_from_config(config):
    """The limiter the config describes (``RATE_LIMIT_*``)."""
    window = int(config.get("RATE_LIMIT_WINDOW") or 60)
    policies = [Policy("token", int(config.get("RATE_LIMIT_PER_TOKEN") or 0), window),
                Policy("workspace", int(config.get("RATE_LIMIT_PER_WORKSPACE") or 0), window)]
    url = config.get("RATE_LIMIT_REDIS_URL")
    store = RedisStore(url, config.get("RATE_LIMIT_KEY_PREFIX") or "clientfolio:ratelimit:") \
        if url else MemoryStore()
    return RateLimiter(policies, store)


class RateLimiterProvider(DependencyProvider):
    """Injects the gateway's :class:`RateLimiter`."""

    def setup(self):
        self.limiter = limiter_from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.limiter
