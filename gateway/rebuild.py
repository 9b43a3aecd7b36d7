"""``clientfolio overview rebuild``: replay every source from position 0 into a
fresh read-model generation, then swap it in (readers never wait)."""
import time

from nameko.standalone.rpc import ClusterRpcProxy

from services.common.envelope import parse_event
from services.common.personal import reveal

from .projections import REVEALED_SOURCES, SOURCES
from .readmodel import STATE_CACHE_SECONDS, read_model_for

PAGE = 5000


def replay(rpc, inbox, source, page=PAGE):
    """Apply ``source``'s whole log to ``inbox``; returns how many events were applied."""
    position, applied = inbox.position(source), 0
    while True:
        batch = [parse_event(body) for body in getattr(rpc, source).events_since(position, page)]
        if not batch:
            return applied
        if source in REVEALED_SOURCES:  # the read model keeps clients' names: opened
            batch = reveal(getattr(rpc, source), batch)
        result = inbox.apply(source, batch)
        if result.gap_after is not None:
            raise RuntimeError(f"{source} skipped a position after {result.gap_after}")
        applied += result.applied + result.parked
        position = result.position
        if len(batch) < page:
            return applied


def rebuild(database, config, keep_old=False, progress=print):
    """Build the next generation from scratch, swap it in, drop the old one."""
    model = read_model_for(database)
    generation = model.start_build()
    inbox = model.inbox(generation)
    started = time.monotonic()
    counts = {}
    with ClusterRpcProxy(config, timeout=float(config.get("RPC_TIMEOUT") or 30)) as rpc:
        for source in SOURCES:
            counts[source] = replay(rpc, inbox, source)
            progress(f"{source}: {counts[source]} events replayed")
        # A second pass picks up what was appended while the first one ran.
        for source in SOURCES:
            counts[source] += replay(rpc, inbox, source)
    # Bulk-filled tables have no planner statistics yet: without them the first
    # overview queries would scan whole tables.
    model.analyze(generation)
    previous = model.swap(generation)
    seconds = time.monotonic() - started
    total = sum(counts.values())
    progress(f"generation {generation} is live ({total} events in {seconds:.1f}s, "
             f"{total / seconds if seconds else 0:.0f} events/s); the projector continues from it")
    if not keep_old:
        # Let every process notice the swap before the old tables go away.
        time.sleep(2 * STATE_CACHE_SECONDS + 1)
        model.drop(previous)
        progress(f"generation {previous} dropped")
    return {"generation": generation, "previous": previous, "events": counts,
            "seconds": seconds}
