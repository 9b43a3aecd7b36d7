"""``clientfolio user create|list|disable`` from a shell."""
import io
import json

import pytest

from clientfolio.cli import main
from gateway import people, sessions
from services.common.db import get_database


@pytest.fixture
def gateway_database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    return url


def test_create_with_a_password_on_stdin_list_and_disable(gateway_database, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "create", "--workspace", "acme", "--email", "Ana@Example.com",
                 "--role", "member"]) == 0
    assert capsys.readouterr().out == "ana@example.com is member of acme\n"
    database = get_database(gateway_database)
    user = people.verify_sign_in(database, "ana@example.com", "a long enough password")
    assert user is not None
    session_id = sessions.start_session(database, user.id, "acme")
    assert main(["user", "list", "--workspace", "acme"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(u["email"], u["workspace"], u["role"], u["disabled"]) for u in listed] == \
        [("ana@example.com", "acme", "member", False)]
    assert main(["user", "disable", "ana@example.com"]) == 0
    assert sessions.session_principal(database, session_id) is None
    assert people.verify_sign_in(database, "ana@example.com", "a long enough password") is None


def test_without_a_password_it_prints_a_one_time_link(gateway_database, capsys, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdin", Terminal())
    assert main(["user", "create", "--workspace", "acme", "--email", "bo@example.com",
                 "--role", "viewer", "--url", "https://crm.example.com/"]) == 0
    link = capsys.readouterr().out.strip()
    assert link.startswith("https://crm.example.com/set-password?token=")
    database = get_database(gateway_database)
    token = link.split("token=")[1]
    assert people.use_password_link(database, token, "chosen by bo himself")
    assert not people.use_password_link(database, token, "a second time, refused")
    assert people.verify_sign_in(database, "bo@example.com", "chosen by bo himself")


@pytest.mark.parametrize("args, message", [
    (["--workspace", "acme", "--email", "not-an-email", "--role", "admin"], "not an email"),
    (["--workspace", "a b", "--email", "x@example.com", "--role", "admin"],
     "invalid workspace name"),
    (["--workspace", "acme", "--role", "admin"], "user create needs"),
])
def test_bad_input_is_one_clear_line(gateway_database, capsys, monkeypatch, args, message):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "create", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def test_a_short_password_is_refused(gateway_database, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "create", "--workspace", "acme", "--email", "c@example.com",
                 "--role", "admin"]) == 2
    assert "at least 10 characters" in capsys.readouterr().err


def test_a_workspace_default_language(gateway_database, capsys):
    assert main(["workspace", "set", "--workspace", "acme", "--language", "pt-BR"]) == 0
    assert "Português (Brasil)" in capsys.readouterr().out
    database = get_database(gateway_database)
    assert people.workspace_locale(database, "acme") == "pt_BR"
    assert main(["workspace", "set", "--workspace", "acme", "--language", "klingon"]) == 2
    assert "--language must be one of" in capsys.readouterr().err
