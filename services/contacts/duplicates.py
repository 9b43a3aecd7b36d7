"""The standing list of likely duplicate groups, from the ``client_match_keys`` table.

Every non-archived client has up to four normalised keys (``validation.duplicate_keys``):
its tax id with its country (``ES:B12345678``), its email lower-cased, its phone in
E.164 and its name folded for case, accents and legal forms. The keys are rewritten in
the transaction that appends the client's events, so the list is always current and
reading it never scans the clients: it only groups the keys that more than one client
shares (an index range per workspace).

Groups
------
Each distinct set of clients sharing one key is a group. A group's ``reasons`` are
the kinds of key that *every* client of the group shares (two clients sharing an
email and a name give one group with reasons ``["email", "name"]``; if a third client
shares only the name, it also appears in a second group of three, reason ``name``).
``client_ids`` are ordered by date added (oldest first: the usual survivor).

Score
-----
Each reason is independent evidence with a weight: ``tax_id`` 1.0, ``email`` 0.8,
``phone`` 0.6, ``name`` 0.5; the group's score is ``1 - prod(1 - weight)`` over its
reasons (email + name: 1 - 0.2 * 0.5 = 0.9), rounded to 4 decimals. Groups are listed
by score, then size, highest first.

Tax ids are unique among non-archived clients (a write that would break that is
refused with 409), so the ``tax_id`` reason only shows for clients stored before the
rule was enforced (revision 0001 data).
"""

from sqlalchemy import func, select

from services.common.paging import offset_page

from .db import client_match_keys_table as keys
from .db import clients_table as clients

WEIGHTS = {"tax_id": 1.0, "email": 0.8, "phone": 0.6, "name": 0.5}
REASON_ORDER = ("tax_id", "email", "phone", "name")


def score(reasons):
    remaining = 1.0
    for reason in reasons:
        remaining *= 1.0 - WEIGHTS[reason]
    return round(1.0 - remaining, 4)


def duplicate_groups(conn, workspace):
    """Every likely duplicate group of ``workspace`` (see module doc)."""
    shared = (select(keys.c.kind, keys.c.key)
              .where(keys.c.workspace == workspace)
              .group_by(keys.c.kind, keys.c.key)
              .having(func.count() > 1)
              .subquery())
    rows = conn.execute(
        select(keys.c.kind, keys.c.key, keys.c.client_id)
        .join(shared, (shared.c.kind == keys.c.kind) & (shared.c.key == keys.c.key))
        .where(keys.c.workspace == workspace)
    ).all()
    members = {}  # (kind, key) -> set of client ids
    keys_of = {}  # client id -> [(kind, key)]
    for row in rows:
        members.setdefault((row.kind, row.key), set()).add(row.client_id)
        keys_of.setdefault(row.client_id, []).append((row.kind, row.key))
    groups = {frozenset(ids) for ids in members.values()}
    if not groups:
        return []
    added = _created_at(conn, workspace, keys_of)
    items = []
    for group in groups:
        some = next(iter(group))
        reasons = {kind for kind, key in keys_of[some] if group <= members[(kind, key)]}
        reasons = [reason for reason in REASON_ORDER if reason in reasons]
        items.append({
            "client_ids": sorted(group, key=lambda cid: (added.get(cid, ""), cid)),
            "reasons": reasons,
            "score": score(reasons),
        })
    items.sort(key=lambda item: (-item["score"], -len(item["client_ids"]), item["client_ids"]))
    return items


def _created_at(conn, workspace, ids):
    found = {}
    ids = list(ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update(conn.execute(select(clients.c.id, clients.c.created_at)
                                  .where(clients.c.workspace == workspace)
                                  .where(clients.c.id.in_(chunk))).all())
    return found


def page(items, limit, cursor):
    """A page of the list: the cursor is the opaque offset of the next group."""
    return offset_page(items, limit, cursor, "dup")
