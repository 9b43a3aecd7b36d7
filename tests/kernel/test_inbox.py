"""The consumer inbox on SQLite and PostgreSQL: exactly-once, in order, poison parked."""
import uuid

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text

from services.common.db import Database
from services.common.envelope import EventEnvelope
from services.common.inbox import Inbox
from services.projects.service import migrate

sink_metadata = MetaData()
applied_table = Table("test_applied", sink_metadata,
                      Column("id", Integer, primary_key=True, autoincrement=True),
                      Column("position", Integer), Column("type", String(50)))


def make_event(position, event_type="ClientRegistered", **data):
    return EventEnvelope(
        event_id=str(uuid.uuid4()), type=event_type, version=1, workspace="acme",
        stream_id=f"s-{position}", stream_version=1, position=position,
        occurred_at="2026-11-23T10:00:00.000000Z", actor=None, correlation_id=None,
        data=data or {"client_id": f"c-{position}"})


def record(conn, event):
    if event.data.get("explode"):
        raise ValueError("the handler cannot apply this")
    conn.execute(insert(applied_table).values(position=event.position, type=event.type))


def applied(database):
    with database.read() as conn:
        return [row.position for row in conn.execute(
            select(applied_table).order_by(applied_table.c.id))]


def make_inbox(database):
    sink_metadata.create_all(database.engine)
    return Inbox(database, "test", {"contacts": {"ClientRegistered": record,
                                                 "ClientUpdated": record}})


def test_the_same_event_delivered_twice_is_applied_once(database):
    inbox = make_inbox(database)
    first = make_event(1)
    assert inbox.apply("contacts", [first]).applied == 1
    result = inbox.apply("contacts", [first])
    assert (result.applied, result.duplicates) == (0, 1)
    assert inbox.apply("contacts", [first, first, make_event(2)]).applied == 1
    assert applied(database) == [1, 2]
    assert inbox.position("contacts") == 2


def test_a_gap_stops_the_batch_until_the_missing_event_arrives(database):
    inbox = make_inbox(database)
    one, two, three, four = (make_event(p) for p in (1, 2, 3, 4))
    result = inbox.apply("contacts", [four, one, three])  # two is missing
    assert result.applied == 1 and result.gap_after == 1
    assert applied(database) == [1]
    result = inbox.apply("contacts", [two, three, four])
    assert result.applied == 3 and result.gap_after is None
    assert applied(database) == [1, 2, 3, 4]


def test_a_failing_handler_is_parked_and_the_rest_applies(database):
    inbox = make_inbox(database)
    batch = [make_event(1), make_event(2, explode=True), make_event(3)]
    result = inbox.apply("contacts", batch)
    assert (result.applied, result.parked, result.position) == (3, 1, 3)
    assert applied(database) == [1, 3]
    letters = inbox.dead_letters()
    assert [(l["position"], l["event_type"]) for l in letters] == [(2, "ClientRegistered")]
    assert "the handler cannot apply this" in letters[0]["reason"]
    # Redelivery does not park it twice.
    inbox.apply("contacts", batch)
    assert len(inbox.dead_letters()) == 1


def test_parked_events_are_applied_on_retry_once_the_cause_is_fixed(database):
    inbox = make_inbox(database)
    inbox.apply("contacts", [make_event(1, explode=True)])
    letter_id = inbox.dead_letters()[0]["id"]
    assert inbox.retry_dead_letters() == {letter_id: "handler failed: ValueError: "
                                                     "the handler cannot apply this"}
    assert inbox.dead_letters()[0]["attempts"] == 2
    inbox.handlers["contacts"]["ClientRegistered"] = lambda conn, event: record(
        conn, event.__class__(**{**event.to_dict(), "data": {}}))
    assert inbox.retry_dead_letters() == {letter_id: "applied"}
    assert inbox.dead_letters() == []
    assert applied(database) == [1]


def test_unknown_types_and_garbage_are_parked_not_dropped(database):
    inbox = make_inbox(database)
    result = inbox.apply("contacts", [make_event(1, "SomethingNew"), make_event(2)])
    assert (result.applied, result.parked, result.position) == (1, 1, 2)
    inbox.park("contacts", b"{not json", "body is not valid JSON")
    reasons = [letter["reason"] for letter in inbox.dead_letters()]
    assert reasons == ["unknown event type 'SomethingNew'", "body is not valid JSON"]
    assert applied(database) == [2]


def test_known_types_without_a_handler_advance_the_checkpoint(database):
    inbox = make_inbox(database)
    result = inbox.apply("contacts", [make_event(1, "ClientArchived"), make_event(2)])
    assert result.position == 2 and applied(database) == [2]


def test_a_derived_inbox_commits_without_waiting_for_the_disk_and_only_itself(postgres_url):
    """``durable=False`` turns ``synchronous_commit`` off in the inbox's own transactions
    (seen at their commit), never in the connection's later ones."""
    migrate(postgres_url)
    database = Database(postgres_url)
    try:
        sink_metadata.create_all(database.engine)
        handlers = {"contacts": {"ClientRegistered": record}}
        with database.write() as conn:  # a deferred trigger notes the setting at COMMIT
            conn.execute(text(
                "CREATE TABLE commit_settings (id serial PRIMARY KEY, value text);"
                "CREATE FUNCTION note_commit_setting() RETURNS trigger AS $$ BEGIN "
                "INSERT INTO commit_settings (value) "
                "VALUES (current_setting('synchronous_commit')); RETURN NULL; END $$ "
                "LANGUAGE plpgsql;"
                "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON test_applied "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                "EXECUTE FUNCTION note_commit_setting()"))

        Inbox(database, "durable", handlers).apply("contacts", [make_event(1)])
        Inbox(database, "derived", handlers, durable=False).apply("contacts", [make_event(2)])
        with database.write() as conn:  # the connection's next transaction
            conn.execute(insert(applied_table).values(position=3, type="other"))
        with database.read() as conn:
            seen = conn.execute(text("SELECT value FROM commit_settings ORDER BY id")).scalars()
            assert list(seen) == ["on", "off", "on"]
        assert applied(database) == [1, 2, 3]
    finally:
        database.dispose()


def idle_in_transaction(database):
    """Sessions of this database left inside a transaction (none may be), seen from
    a session of its own while ``database``'s connections sit in their pool."""
    observer = Database(database.url)
    try:
        with observer.query() as conn:
            return conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state LIKE 'idle in transaction%'")).scalar()
    finally:
        observer.dispose()


def test_a_batch_that_fails_at_its_commit_statement_leaves_nothing_behind(postgres_url):
    """On PostgreSQL a batch is three round trips: BEGIN travels with the checkpoint
    read and COMMIT with the writes. A failure in that last one rolls the whole batch
    back and hands the connection back clean; the next batch applies normally."""
    migrate(postgres_url)
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        inbox = make_inbox(database)
        inbox.apply("contacts", [make_event(1)])
        checkpoints = inbox.tables.checkpoints.name
        with database.write() as conn:
            conn.execute(text(f"ALTER TABLE {checkpoints} ADD CONSTRAINT below_three "
                              "CHECK (position < 3)"))
        try:
            inbox.apply("contacts", [make_event(2), make_event(3)])
        except Exception as exc:
            assert "below_three" in str(exc)
        else:
            raise AssertionError("the checkpoint's constraint did not fail the batch")
        assert applied(database) == [1] and inbox.position("contacts") == 1
        assert idle_in_transaction(database) == 0
        # Only duplicates: the transaction opened with the read is ended all the same.
        assert inbox.apply("contacts", [make_event(1)]).duplicates == 1
        assert idle_in_transaction(database) == 0
        with database.write() as conn:
            conn.execute(text(f"ALTER TABLE {checkpoints} DROP CONSTRAINT below_three"))
        assert inbox.apply("contacts", [make_event(2), make_event(3)]).applied == 2
        assert applied(database) == [1, 2, 3]
    finally:
        database.dispose()


def test_a_connection_lost_in_the_middle_of_a_batch_is_discarded(postgres_url):
    migrate(postgres_url)
    database = Database(postgres_url, pool_size=1, max_overflow=0)
    try:
        inbox = make_inbox(database)
        killer = Database(postgres_url)

        def die_mid_batch(conn, event):  # the session ends between BEGIN and COMMIT
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with killer.query() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            record(conn, event)

        inbox.handlers["contacts"]["ClientRegistered"] = die_mid_batch
        try:
            inbox.apply("contacts", [make_event(1)])
        except Exception:
            pass  # how it surfaces depends on the driver; what is left behind does not
        inbox.handlers["contacts"]["ClientRegistered"] = record
        assert inbox.apply("contacts", [make_event(1)]).applied == 1  # a new connection
        assert applied(database) == [1] and inbox.dead_letters() == []
        killer.dispose()
    finally:
        database.dispose()
