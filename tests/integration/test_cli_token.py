"""``clientfolio token create`` from a shell: what it accepts as a workspace name."""
import pytest

from clientfolio.cli import main
from gateway import auth
from gateway.service import migrate
from services.common.db import get_database


@pytest.fixture
def gateway_database(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
    return url


@pytest.mark.parametrize("workspace", ["demo", "ws-abc123", "imp0", "acme.eu_2", "a" * 100])
def test_a_valid_workspace_name_gets_a_token(gateway_database, capsys, workspace):
    assert main(["token", "create", "--workspace", workspace, "--role", "viewer"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith(auth.TOKEN_PREFIX)
    tokens = auth.list_tokens(get_database(gateway_database))
    assert [(t["workspace"], t["role"]) for t in tokens] == [(workspace, "viewer")]


@pytest.mark.parametrize("workspace", ["a b/c", " demo", "demo\n", "../x", "a" * 101,
                                       "café", "a:b"])
def test_a_bad_workspace_name_is_refused_in_one_line_and_no_token(gateway_database, capsys,
                                                                   workspace):
    assert main(["token", "create", "--workspace", workspace, "--role", "viewer"]) == 2
    out, err = capsys.readouterr()
    assert out == ""  # no token
    assert err.count("\n") == 1 and err.startswith("clientfolio: invalid workspace name ")
    assert "letters, digits" in err and "Traceback" not in err
    # Refused before the gateway's database is even opened: nothing was stored.
    migrate(gateway_database)
    assert auth.list_tokens(get_database(gateway_database)) == []
