"""``clientfolio dead-letters`` from a shell: what it lists, retries and refuses."""
import json

import pytest

from clientfolio.cli import main
from services.common.db import get_database
from services.common.inbox import Inbox
from services.contacts.service import migrate
from services.contacts.timeline import HANDLERS


@pytest.fixture
def contacts_inbox(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'contacts.db'}"
    monkeypatch.setenv("CONTACTS_DATABASE_URL", url)
    migrate(url)
    return Inbox(get_database(url), "contacts", HANDLERS)


def test_list_retry_and_an_unknown_id(contacts_inbox, capsys):
    contacts_inbox.park("projects", b"\xff not json", "not UTF-8")
    letter_id = contacts_inbox.dead_letters()[0]["id"]
    assert main(["dead-letters", "list", "--consumer", "contacts"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(letter["id"], letter["source"]) for letter in listed] == [(letter_id, "projects")]
    # Retrying it fails again (the body is still not an event) and says why: exit code 1.
    assert main(["dead-letters", "retry", "--consumer", "contacts", "--id", str(letter_id)]) == 1
    assert capsys.readouterr().out.startswith(f"{letter_id}: ")
    assert contacts_inbox.dead_letters()[0]["attempts"] == 2
    # An id that is not there is a mistake of the user's, said as such: exit code 2.
    assert main(["dead-letters", "retry", "--consumer", "contacts", "--id", "999"]) == 2
    assert "no unresolved dead letter with id 999 for contacts" in capsys.readouterr().err
