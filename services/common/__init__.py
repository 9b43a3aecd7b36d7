"""The event-sourcing kernel shared by every Clientfolio service.

Infrastructure and contracts only: event envelope, event store, aggregate base,
outbox relay, consumer inbox, configuration. No domain rule lives here.
"""
