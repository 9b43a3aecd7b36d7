"""Erasure reaches events an earlier release stored in plain text, and a contacts
database restored from a backup taken before an erasure gets it applied again
(``clientfolio clients erase --restored``; docs/privacy.md)."""
import argparse
import io
import json
import sqlite3

from sqlalchemy import text

from clientfolio.clients_cli import cmd_erase
from services.common.config import database_url
from services.common.db import forget_database
from services.common.personal import SEALED
from tests.helpers import wait_until

NAME = "Tomasz Wierzbicki-Alonso"
EMAIL = "tomasz.wierzbicki@restore.example.org"


def erase_args(**values):
    return argparse.Namespace(**{"action": "erase", "file": None, "workspace": "acme",
                                 "confirm": None, "restored": False, **values})


def events_text(stack):
    with stack.database("contacts").read() as conn:
        return "\n".join(row[0] for row in conn.execute(text("SELECT data FROM events"))).lower()


def store_in_plain_text(stack, client_id):
    """The client's events as a release before sealing stored them: personal fields in
    plain text, no key."""
    rpc = stack.rpc.contacts
    with stack.database("contacts").write() as conn:
        rows = conn.execute(text("SELECT position, data FROM events WHERE stream_id = :s"),
                            {"s": client_id}).all()
        opened = rpc.reveal_events([row.position for row in rows])
        for row in rows:
            data = opened[str(row.position)]
            assert SEALED not in data
            conn.execute(text("UPDATE events SET data = :d WHERE position = :p"),
                         {"d": json.dumps(data), "p": row.position})
        conn.execute(text("DELETE FROM personal_keys WHERE subject = :s"), {"s": client_id})


def test_plain_text_history_is_sealed_then_shredded_and_a_restore_erases_again(stack):
    session = stack.session("acme", "admin")
    client = session.post(f"{stack.url}/api/v1/clients", json={
        "kind": "person", "name": NAME, "email": EMAIL, "country": "PL"}).json()
    cid = client["id"]
    session.patch(f"{stack.url}/api/v1/clients/{cid}", json={"notes": f"{NAME} asked"})
    store_in_plain_text(stack, cid)
    assert "wierzbicki" in events_text(stack)
    history = session.get(f"{stack.url}/api/v1/clients/{cid}/history").json()["items"]
    assert history[0]["changes"]["name"] == [None, NAME]  # plain-text events still read

    url = database_url(stack.config("contacts"), "contacts")
    path = url.split("sqlite:///", 1)[1]
    backup = f"{path}.backup"
    with sqlite3.connect(path) as source, sqlite3.connect(backup) as target:
        source.backup(target)

    out = io.StringIO()
    assert cmd_erase(erase_args(file=cid), stack.config("contacts"), out=out) == 2
    assert "--confirm" in out.getvalue()
    out = io.StringIO()
    assert cmd_erase(erase_args(file=cid, confirm="Nobody"), stack.config("contacts"),
                     out=out) == 2
    assert "does not match" in out.getvalue()
    assert cmd_erase(erase_args(file=cid, confirm=NAME), stack.config("contacts"),
                     out=io.StringIO()) == 0
    assert session.get(f"{stack.url}/api/v1/clients/{cid}").status_code == 410
    assert "wierzbicki" not in events_text(stack)
    wait_until(lambda: session.get(f"{stack.url}/api/v1/clients/{cid}/overview")
               .status_code == 410, timeout=20, message="the read model to hear of it")

    # The backup from before the erasure comes back: so does the person, until the
    # recorded erasures are applied again.
    stack.stop("contacts")
    forget_database(url)
    with sqlite3.connect(backup) as source, sqlite3.connect(path) as target:
        source.backup(target)
    stack.start("contacts")
    assert session.get(f"{stack.url}/api/v1/clients/{cid}").json()["name"] == NAME
    out = io.StringIO()
    assert cmd_erase(erase_args(restored=True, workspace=None), stack.config("gateway"),
                     out=out) == 0, out.getvalue()
    assert "1 applied again" in out.getvalue()
    assert session.get(f"{stack.url}/api/v1/clients/{cid}").status_code == 410
    assert "wierzbicki" not in events_text(stack)
    out = io.StringIO()
    assert cmd_erase(erase_args(restored=True), stack.config("gateway"), out=out) == 0
    assert "0 applied again" in out.getvalue()
