"""Webhooks and the change feed: what outside systems learn of a workspace's events.

- ``intake``: the ``webhooks`` consumer's unit of work. Through the kernel's inbox
  (exactly once per source, in position order) it stores each public event in the
  feed (``webhook_events``, the one table holding payloads) and, in the same
  transaction, a delivery for every enabled subscription of the event's workspace
  that wants its type (the durable delivery outbox).
- ``delivery``: the deliverer. Deliveries are grouped in *lanes* (a subscription and a
  client): a process claims lanes with row locks (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL) under a lease and sends each lane's deliveries one after the other, so
  any number of gateway replicas deliver in order per client.
- ``targets``: which addresses a webhook may reach (https, no private networks).
- ``signing``: Standard Webhooks signatures.
- ``subscriptions``, ``feed``: what the API and the command line do.
"""
