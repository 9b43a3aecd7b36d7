"""Privacy benchmarks: the cost of sealing personal fields (services/common/personal.py).

Each figure is contacts' event store with its personal fields sealed (a key per client,
AES-GCM) beside the same store without sealing, on the same kind of database in the
same run, with the same events, the two measured in turns (ten rounds each, alternating
which goes first) so that both meet the same load:

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


def _alternated(steps, rounds):
    """``{name: seconds}`` of ``steps`` ({name: fn(round)}) run in turns, ``rounds``
    times: the plain and the sealed store meet the same load of a shared machine."""
    spent = {name: 0.0 for name in steps}
    for number in range(rounds):
        for name, step in (steps.items() if number % 2 == 0 else reversed(steps.items())):
            with Timer() as timer:
                step(number)
            spent[name] += timer.seconds
    return spent


def measure(kind, singles, batches, size=1000, rounds=10):
    """Figures of the plain and the sealed store, measured in alternation: ``{"plain" |
    "sealed": (single appends/s, batch appends/s, streams read/s, log events read/s)}``."""
    with database(kind, "plain") as (plain_url, _), database(kind, "sealed") as (sealed_url, _):
        stores = {"plain": _store(plain_url, False), "sealed": _store(sealed_url, True)}
        ids = {name: [] for name in stores}

        def single(name):
            def step(number):
                for _ in range(singles // rounds):
                    client_id = str(uuid.uuid4())
                    ids[name].append(client_id)
                    stores[name].append(client_id, 0, [_registered(client_id)],
                                        workspace="bench")
            return step

        def batch(name):
            def step(number):
                for _ in range(max(1, batches // rounds)):
                    chunk = [str(uuid.uuid4()) for _ in range(size)]
                    ids[name].extend(chunk)
                    stores[name].append_batch([StreamAppend(client_id, 0,
                                                            [_registered(client_id)], "bench")
                                               for client_id in chunk])
            return step

        def streams(name):
            def step(number):
                share = ids[name][number::rounds][:2000 // rounds]
                for client_id in share:
                    assert stores[name].read_stream(client_id)[0].data["name"]
            return step

        def log(name):
            def step(number):
                position = 0
                while True:
                    page = stores[name].read_all(position, 1000, opened=True)
                    if not page:
                        return
                    position = page[-1].position
            return step

        appended = _alternated({name: single(name) for name in stores}, rounds)
        batched = _alternated({name: batch(name) for name in stores}, rounds)
        loaded = _alternated({name: streams(name) for name in stores}, rounds)
        paged = _alternated({name: log(name) for name in stores}, 2)
        total = len(ids["plain"])
        return {name: (rate(singles // rounds * rounds, appended[name]),
                       rate(max(1, batches // rounds) * rounds * size, batched[name]),
                       rate(2000 // rounds * rounds, loaded[name]),
                       rate(2 * total, paged[name])) for name in stores}


def run(report, quick=False):
    singles = 500 if quick else 2000
    batches = 10 if quick else 20
    for kind in ("sqlite", "postgres"):
        figures = measure(kind, singles, batches)
        plain, sealed = figures["plain"], figures["sealed"]
        baseline = "same, personal fields in plain text"
        report.add(f"append 1 client/txn sealed ({kind})", f"{singles} events", sealed[0],
                   baseline, plain[0], goal=">= 0.8x")
        report.add(f"append batches of 1000 sealed ({kind})", f"{batches * 1000} events",
                   sealed[1], baseline, plain[1], goal=">= 0.8x")
        report.add(f"read a client's stream opened ({kind})", "2000 streams", sealed[2],
                   baseline, plain[2], goal=">= 0.7x")
        report.add(f"read the log opened, pages of 1000 ({kind})",
                   f"{singles + batches * 1000} events x2", sealed[3], baseline, plain[3],
                   goal=">= 0.7x")


if __name__ == "__main__":
    import sys
    import warnings

    from .support import Report

    warnings.filterwarnings("ignore")
    run(Report(), quick="--quick" in sys.argv)
