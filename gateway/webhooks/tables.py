"""The webhooks' tables (gateway database; created by migration 0006)."""
from sqlalchemy import (BigInteger, Boolean, Column, Float, Index, Integer, MetaData,
                        PrimaryKeyConstraint, String, Table, Text)

from services.common.inbox import InboxTables

metadata = MetaData()
Sequence = BigInteger().with_variant(Integer(), "sqlite")

subscriptions = Table(
    "webhook_subscriptions", metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(100), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("url", Text, nullable=False),
    Column("event_types", Text, nullable=False),  # JSON list of types, or ["*"]
    Column("description", String(200)),
    Column("secret", String(100), nullable=False),
    # After a rotation the previous secret also signs until it expires.
    Column("previous_secret", String(100)),
    Column("previous_secret_expires_at", Float),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text),
    Column("disabled_at", Float),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# The public events of every workspace, in the order they were received (``seq``:
# gap-free in commit order, the change feed's cursor). The only table that holds
# event payloads: erasing a person's data blanks ``payload`` here.
events = Table(
    "webhook_events", metadata,
    Column("seq", Sequence, primary_key=True, autoincrement=False),
    Column("workspace", String(100), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("source", String(20), nullable=False),
    Column("position", Sequence, nullable=False),
    Column("type", String(100), nullable=False),
    Column("occurred_at", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_webhook_events_workspace_seq", "workspace", "seq"),
)

# One row: the last ``seq`` taken. Its row lock, held to commit, keeps seq gap-free
# in commit order (the event store's head does the same for positions).
feed_head = Table(
    "webhook_feed_head", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Sequence, nullable=False),
)

deliveries = Table(
    "webhook_deliveries", metadata,
    Column("id", Sequence, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), nullable=False),
    Column("workspace", String(100), nullable=False),
    Column("lane", String(100), nullable=False),  # the client (or resource) it is ordered by
    Column("event_seq", Sequence, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("status", String(12), nullable=False),  # pending | delivered | failed | cancelled
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("first_attempt_at", Float),
    Column("last_attempt_at", Float),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("redelivery_of", Sequence),
    Index("ix_webhook_deliveries_lane", "subscription_id", "lane", "status", "id"),
    Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
)

# A subscription's deliveries for one client: delivered one after the other by
# whichever process holds the lane's lease. ``next_due``: when its first pending
# delivery is due (null: nothing pending).
lanes = Table(
    "webhook_lanes", metadata,
    Column("subscription_id", String(36), nullable=False),
    Column("lane", String(100), nullable=False),
    Column("next_due", Float),
    Column("lease_until", Float),
    Column("lease_owner", String(40)),
    PrimaryKeyConstraint("subscription_id", "lane"),
    Index("ix_webhook_lanes_due", "next_due"),
)

attempts = Table(
    "webhook_attempts", metadata,
    Column("id", Sequence, primary_key=True, autoincrement=True),
    Column("delivery_id", Sequence, nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("at", Float, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
)

# The webhooks consumer's own inbox (checkpoints per source, dead letters).
inbox_tables = InboxTables(prefix="webhook_")
