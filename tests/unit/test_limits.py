"""Hostile input, unit level: spreadsheet limits (zip bombs of both shapes, far rows and
columns, a lying ZIP directory, CSV rows/columns/cells), sealed Consistency-Tokens,
the cap on concurrent token waits, and the rate limiter in Redis and in process."""
import csv
import io
import time
import tracemalloc
import uuid

import pytest

from gateway import ratelimit
from gateway.consistency import ConsistencyTokens, secret_from_config
from gateway.ratelimit import MemoryStore, Policy, RateLimiter, RedisStore, limiter_from_config
from services.common.consistency import open_token, seal_token
from services.common.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from services.contacts import spreadsheets
from services.contacts.spreadsheets import Limits
from tests import hostile

REDIS_URL = "redis://127.0.0.1:6379/0"
RUN = uuid.uuid4().hex[:8]

TOO_MANY_ROWS = ("The file has more than 200,000 rows of clients; split it into files of at "
                 "most 200,000 rows and import them one after the other.")
INFLATES = ("This workbook unpacks to more than 256 MiB (or packs its content more than 200 "
            "times), more than a workbook of clients needs; save it again from your "
            "spreadsheet program, or as CSV.")


def read_all(content, limits=None):
    table = spreadsheets.open_table(content, "clients.xlsx", limits)
    return table.header, list(table.rows())


def refused(content, limits=None):
    """The error reading ``content`` raised, how long it took and the memory it took."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises((PayloadTooLarge, ValidationFailed, UnsupportedMediaType)) as caught:
            read_all(content, limits)
        return caught.value, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def rows_bomb():
    return hostile.rows_bomb()


def test_a_workbook_inflating_to_three_million_rows_is_refused_before_inflating(rows_bomb):
    assert len(rows_bomb) < 300 * 1024
    error, seconds, peak = refused(rows_bomb)
    assert (error.status, error.detail) == (413, INFLATES)
    assert error.errors == {"file": ["the workbook unpacks to too much data"]}
    assert seconds < 1.0 and peak < 16 * 2**20


def test_a_workbook_inflating_to_one_64_mib_cell_is_refused_before_inflating():
    bomb = hostile.cell_bomb()
    assert len(bomb) < 100 * 1024
    error, seconds, peak = refused(bomb)
    assert (error.status, error.detail) == (413, INFLATES)
    assert seconds < 1.0 and peak < 16 * 2**20


def test_what_inflates_is_counted_while_inflating(rows_bomb):
    # Past the directory check (a ratio allowed), the bytes inflated still count.
    limits = Limits(rows=20_000, uncompressed_bytes=200 * 2**20, compression_ratio=10**6)
    error, seconds, peak = refused(hostile.cell_bomb(), Limits(uncompressed_bytes=32 * 2**20,
                                                               compression_ratio=10**6))
    assert error.status == 413 and "unpacks to more than 32 MiB" in error.detail
    assert peak < 48 * 2**20
    # Rows are counted as they are parsed: a bomb of rows stops at the limit.
    error, seconds, peak = refused(rows_bomb, limits)
    assert (error.status, error.errors) == (413, {"file": ["more than 20000 rows"]})
    assert peak < 16 * 2**20  # flat: the same at 40,000 rows


def test_a_directory_that_lies_about_sizes_reads_as_a_damaged_file(rows_bomb):
    error, _, peak = refused(hostile.lying_directory(rows_bomb))
    assert error.status == 415 and error.detail.startswith("This file is not a spreadsheet")
    assert peak < 16 * 2**20


def test_far_rows_and_columns_are_refused_without_making_up_the_ones_between():
    error, seconds, _ = refused(hostile.far_row())
    assert (error.status, error.detail) == (413, TOO_MANY_ROWS) and seconds < 1.0
    error, seconds, _ = refused(hostile.far_column())
    assert (error.status, error.detail) == (
        413, "Row 2 has more than 200 columns; a file of clients may have at most 200.")
    assert seconds < 1.0


def test_a_harmless_workbook_still_reads():
    content = hostile.workbook('<row r="3"><c r="B3" t="s"><v>1</v></c></row>',
                               ("Name", "=1+1"))
    assert read_all(content) == (["Name"], [(3, [None, "=1+1"])])


def csv_file(rows):
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_csv_files_are_bounded_by_rows_columns_and_cell_length():
    limits = Limits(rows=3, columns=4, cell_chars=10)
    assert read_all(csv_file([["Name"], ["a"], ["b"], ["c"]]), limits)[1] == [
        (2, ["a"]), (3, ["b"]), (4, ["c"])]
    error, _, _ = refused(csv_file([["Name"], ["a"], ["b"], ["c"], ["d"]]), limits)
    assert (error.status, error.errors) == (413, {"file": ["more than 3 rows"]})
    error, _, _ = refused(csv_file([["Name", "Email"], ["a", "b", "c", "d", "e"]]), limits)
    assert (error.status, error.detail) == (
        413, "Row 2 has more than 4 columns; a file of clients may have at most 4.")
    error, _, _ = refused(csv_file([["Name"], ["x" * 11]]), limits)
    assert (error.status, error.errors) == (
        422, {"file": ["row 2: a cell longer than 10 characters"]})
    # Longer than the csv module reads at all: the same answer, not a crash.
    error, _, _ = refused(csv_file([["Name"], ["x" * 200_000]]))
    assert (error.status, error.errors) == (
        422, {"file": ["row 2: a cell longer than 32767 characters"]})
    # Millions of empty lines: refused when the file is opened, before any row is read.
    started = time.perf_counter()
    with pytest.raises(PayloadTooLarge):
        spreadsheets.open_table(b"Name\n" + b"\n" * 3_000_000, "c.csv")
    assert time.perf_counter() - started < 1.0


def test_limits_come_from_the_config():
    assert Limits.from_config({"IMPORT_MAX_ROWS": 10, "IMPORT_MAX_CELL_CHARS": "99",
                               "IMPORT_MAX_COLUMNS": None}) == Limits(rows=10, cell_chars=99)


def test_errors_csv_rows_are_neutralised_and_read_back_the_same():
    cells = ['=HYPERLINK("http://evil.example","x")', "=1+1", "'=2+2", "+34 600", "Ana", None]
    written = spreadsheets.neutralise_row(cells)
    assert written == ['\'=HYPERLINK("http://evil.example","x")', "'=1+1", "'=2+2",
                       "'+34 600", "Ana", None]
    # The importer reads each back as the original import read it.
    assert [spreadsheets.restore(c) for c in written] == \
        [spreadsheets.restore(c) for c in cells]


# -- Consistency-Tokens --------------------------------------------------------------------

def test_sealed_tokens_open_only_in_their_workspace_with_the_secret():
    token = seal_token("contacts:42,projects:7", "acme", "secret")
    sources = [part.partition(":")[0] for part in token.split(",")]
    assert sources == ["contacts", "projects"] and token != "contacts:42,projects:7"
    assert open_token(token, "acme", "secret") == {"contacts": 42, "projects": 7}
    assert seal_token({"contacts": 42, "projects": 7}, "acme", "secret") == token
    assert open_token(token, "globex", "secret") is None
    assert open_token(token, "acme", "another secret") is None
    assert open_token("contacts:42", "acme", "secret") is None
    assert open_token(token, "acme", "secret", sources=("contacts",)) is None
    assert open_token("contacts:" + "9" * 41, "acme", "secret") is None
    # Successive positions give unrelated numbers: no order, no volume.
    first, second = (int(seal_token({"contacts": p}, "acme", "s").split(":")[1])
                     for p in (1000, 1001))
    assert abs(first - second) > 2**64


def test_the_secret_is_made_once_in_the_data_dir(tmp_path):
    config = {"DATA_DIR": str(tmp_path)}
    made = secret_from_config(config)
    assert len(made) >= 40 and secret_from_config(config) == made
    assert (tmp_path / "consistency-secret").stat().st_mode & 0o077 == 0
    assert secret_from_config({**config, "CONSISTENCY_SECRET": "given"}) == "given"


def test_waits_are_capped_per_workspace_and_in_all():
    tokens = ConsistencyTokens("s", ("contacts",), max_waits=3, max_waits_per_workspace=2)
    with tokens.waiting("acme") as first, tokens.waiting("acme") as second, \
            tokens.waiting("acme") as third:
        assert (first, second, third) == (True, True, False)
        with tokens.waiting("globex") as other, tokens.waiting("initech") as over:
            assert (other, over) == (True, False)
    assert tokens.waiting_now == {}
    with tokens.waiting("acme") as again:
        assert again


# -- rate limits -----------------------------------------------------------------------------

class Caller:
    def __init__(self, token_id, workspace):
        self.token_id = token_id
        self.workspace = workspace


def limiter(store, token=2, workspace=3):
    return RateLimiter([Policy("token", token, 60), Policy("workspace", workspace, 60)], store)


def redis_store():
    return RedisStore(REDIS_URL, prefix=f"cf-test-{RUN}-{uuid.uuid4().hex[:6]}:")


@pytest.mark.parametrize("make_store", [MemoryStore, redis_store])
def test_requests_past_a_quota_are_refused_with_the_ratelimit_fields(make_store):
    rates = limiter(make_store())
    ana, bea, other = Caller("t1", "acme"), Caller("t2", "acme"), Caller("t3", "globex")
    decisions = [rates.take(ana) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[0].headers == {
        "RateLimit-Policy": '"token";q=2;w=60, "workspace";q=3;w=60',
        "RateLimit": '"token";r=1;t=60, "workspace";r=2;t=60'}
    assert decisions[2].headers["RateLimit"] in (
        '"token";r=0;t=60, "workspace";r=0;t=60', '"token";r=0;t=59, "workspace";r=0;t=59')
    assert decisions[2].headers["Retry-After"] in ("60", "59")
    # The workspace's quota is shared by its tokens; another workspace has its own.
    assert rates.take(bea).allowed is False
    assert rates.take(other).allowed is True


def test_replicas_share_the_counts_in_redis_in_one_round_trip():
    prefix = f"cf-test-{RUN}-shared:"
    first = limiter(RedisStore(REDIS_URL, prefix), token=3, workspace=100)
    second = limiter(RedisStore(REDIS_URL, prefix), token=3, workspace=100)
    caller = Caller("t1", "acme")
    assert [first.take(caller).allowed, second.take(caller).allowed,
            first.take(caller).allowed, second.take(caller).allowed] == [True, True, True, False]
    calls = []
    store = second.store
    original = store.client.execute_command
    store.client.execute_command = lambda *args, **kw: (calls.append(args[0]),
                                                        original(*args, **kw))[1]
    second.take(caller)
    assert calls == ["EVALSHA"]


def test_a_store_that_does_not_answer_lets_requests_through_and_is_left_alone_a_second():
    rates = limiter(RedisStore("redis://127.0.0.1:1/0"))
    started = time.perf_counter()
    assert rates.take(Caller("t1", "acme")) is None
    assert rates.take(Caller("t1", "acme")) is None  # not asked again at once
    assert time.perf_counter() - started < 1.0


def test_the_limiter_is_configured_from_the_config():
    off = limiter_from_config({"RATE_LIMIT_PER_TOKEN": 0, "RATE_LIMIT_PER_WORKSPACE": 0})
    assert not off.enabled and off.take(Caller("t", "w")) is None
    on = limiter_from_config({"RATE_LIMIT_PER_TOKEN": 5, "RATE_LIMIT_WINDOW": 10,
                              "RATE_LIMIT_REDIS_URL": REDIS_URL})
    assert isinstance(on.store, RedisStore) and on.policy_header == '"token";q=5;w=10'


def test_far_from_a_quota_s_end_a_replica_counts_alone_and_sends_its_counts_later(
        monkeypatch):
    prefix = f"cf-test-{RUN}-batched:"
    store = RedisStore(REDIS_URL, prefix)
    rates = limiter(store, token=1000, workspace=1000)
    calls = []
    original = store.client.execute_command
    store.client.execute_command = lambda *args, **kw: (calls.append(args[0]),
                                                        original(*args, **kw))[1]
    caller = Caller("t1", "acme")
    decisions = [rates.take(caller) for _ in range(5)]
    assert len(calls) == 1  # the first asks; the next four are counted here
    assert decisions[-1].headers["RateLimit"] in (
        '"token";r=995;t=60, "workspace";r=995;t=60', '"token";r=995;t=59, "workspace";r=995;t=59')
    # Another replica sees them once this one has sent them (its next call, made at
    # least every SYNC_SECONDS: here at once).
    monkeypatch.setattr(ratelimit, "SYNC_SECONDS", 0.0)
    assert rates.take(caller).headers["RateLimit"].startswith('"token";r=994;')
    assert len(calls) == 2
    other = limiter(RedisStore(REDIS_URL, prefix), token=1000, workspace=1000)
    assert other.take(caller).headers["RateLimit"].startswith('"token";r=993;')
