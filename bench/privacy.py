"""Privacy benchmarks: the cost of sealing personal fields (services/common/personal.py).

Each figure is contacts' event store with its personal fields sealed (a key per client,
AES-GCM) beside the same store without sealing, on the same kind of database in the
same run, with the same events:

- appends of one client's registration per transaction (a command creating a client:
  a key is made for each), and batches of 1,000 (an import);
- reading each client's stream back (a command loading its aggregate: the key is read
  and the fields opened), and the whole log in pages of 1,000 opened.
"""
import uuid

from services.common.db import get_database
from services.common.envelope import NewEvent
from services.common.eventstore import EventStore, StreamAppend

from .support import Timer, database, rate

PAYLOAD = {"workspace": "bench", "created_at": "2026-12-07T10:00:00.000000Z",
           "kind": "person", "name": "Núria Ferrer i Puig", "tax_id": "12345678Z",
           "email": "nuria.ferrer@example.cat", "phone": "+34612345678", "country": "ES",
           "language": "ca", "gender": None, "category": "Retail", "tags": ["vip"],
           "address": {"street": "Carrer Major 1", "city": "Girona", "postal_code": "17001"},
           "company": None, "notes": "x" * 60}


def _store(url, sealed):
    from services.contacts.service import migrate
    from services.contacts.sealing import PERSONAL

    migrate(url)
    return EventStore(get_database(url), PERSONAL if sealed else None)


def _registered(client_id):
    return NewEvent("ClientRegistered", {"client_id": client_id, **PAYLOAD})


def single_appends(kind, count, sealed):
    with database(kind, "privacy") as (url, _):
        store = _store(url, sealed)
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with Timer() as timer:
            for client_id in ids:
                store.append(client_id, 0, [_registered(client_id)], workspace="bench")
        return rate(count, timer.seconds)


def batch_appends_and_reads(kind, batches, sealed, size=1000):
    """(appends/s in batches of ``size``, streams read/s one by one, events read/s by
    pages of 1,000)."""
    with database(kind, "privacy") as (url, _):
        store = _store(url, sealed)
        ids = []
        with Timer() as appending:
            for _ in range(batches):
                chunk = [str(uuid.uuid4()) for _ in range(size)]
                ids.extend(chunk)
                store.append_batch([StreamAppend(client_id, 0, [_registered(client_id)],
                                                 "bench") for client_id in chunk])
        streams = ids[:min(len(ids), 2000)]
        with Timer() as loading:
            for client_id in streams:
                assert store.read_stream(client_id)[0].data["name"]
        with Timer() as paging:
            position, read = 0, 0
            while True:
                page = store.read_all(position, 1000, opened=True)
                if not page:
                    break
                read += len(page)
                position = page[-1].position
        assert read == len(ids) and page == []
        return (rate(len(ids), appending.seconds), rate(len(streams), loading.seconds),
                rate(read, paging.seconds))


def run(report, quick=False):
    singles = 500 if quick else 2000
    batches = 5 if quick else 20
    for kind in ("sqlite", "postgres"):
        # Alternated, plain first then sealed, so neither always runs on a warmer server.
        plain = single_appends(kind, singles, sealed=False)
        sealed = single_appends(kind, singles, sealed=True)
        report.add(f"append 1 client/txn sealed ({kind})", f"{singles} events", sealed,
                   "same, personal fields in plain text", plain, goal=">= 0.8x")
        plain = batch_appends_and_reads(kind, batches, sealed=False)
        sealed = batch_appends_and_reads(kind, batches, sealed=True)
        report.add(f"append batches of 1000 sealed ({kind})", f"{batches * 1000} events",
                   sealed[0], "same, personal fields in plain text", plain[0], goal=">= 0.8x")
        report.add(f"read a client's stream opened ({kind})", f"{min(batches * 1000, 2000)} "
                   "streams", sealed[1], "same, personal fields in plain text", plain[1],
                   goal=">= 0.7x")
        report.add(f"read the log opened, pages of 1000 ({kind})", f"{batches * 1000} events",
                   sealed[2], "same, personal fields in plain text", plain[2], goal=">= 0.7x")


if __name__ == "__main__":
    import sys
    import warnings

    from .support import Report

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
