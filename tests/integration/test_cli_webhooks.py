"""``clientfolio webhooks``: the command line manages a workspace's subscriptions with
the API's rules, and says plainly what is wrong."""
import json
import os
import subprocess
import sys


def clientfolio(tmp_path, *args, allow_private=False):
    env = dict(os.environ, CLIENTFOLIO_DATA_DIR=str(tmp_path),
               CLIENTFOLIO_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true" if allow_private else "false")
    env.pop("GATEWAY_DATABASE_URL", None)
    env.pop("CLIENTFOLIO_CONFIG", None)
    return subprocess.run([sys.executable, "-m", "clientfolio.cli", "webhooks", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_create_list_show_rotate_disable_deliveries_delete(tmp_path):
    refused = clientfolio(tmp_path, "create", "--workspace", "acme", "--url",
                          "https://127.0.0.1/in", "--events", "*")
    assert refused.returncode == 2 and "private network address" in refused.stderr
    assert "Traceback" not in refused.stderr
    unknown = clientfolio(tmp_path, "create", "--workspace", "acme", "--url",
                          "https://127.0.0.1/in", "--events", "ClientRegistered,Nope",
                          allow_private=True)
    assert unknown.returncode == 2 and "unknown event type Nope" in unknown.stderr

    created = clientfolio(tmp_path, "create", "--workspace", "acme", "--url",
                          "https://127.0.0.1/in", "--events", "ClientRegistered,InvoicePaid",
                          "--description", "ERP", allow_private=True)
    assert created.returncode == 0, created.stderr
    sub = json.loads(created.stdout)
    assert sub["secret"].startswith("whsec_")
    assert sub["event_types"] == ["ClientRegistered", "InvoicePaid"]
    listed = clientfolio(tmp_path, "list", "--workspace", "acme")
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [sub["id"]]
    assert '"secret"' not in listed.stdout
    assert clientfolio(tmp_path, "list", "--workspace", "globex").stdout == ""
    other = clientfolio(tmp_path, "show", sub["id"], "--workspace", "globex")
    assert other.returncode == 2 and "no webhook subscription" in other.stderr

    rotated = json.loads(clientfolio(tmp_path, "rotate-secret", sub["id"], "--workspace",
                                     "acme").stdout)
    assert rotated["secret"] != sub["secret"] and rotated["previous_secret_expires_at"]
    disabled = json.loads(clientfolio(tmp_path, "disable", sub["id"], "--workspace",
                                      "acme").stdout)
    assert disabled["enabled"] is False
    shown = json.loads(clientfolio(tmp_path, "show", sub["id"], "--workspace", "acme").stdout)
    assert shown["enabled"] is False and shown["description"] == "ERP"
    assert clientfolio(tmp_path, "deliveries", sub["id"], "--workspace", "acme").stdout == ""
    bad_since = clientfolio(tmp_path, "redeliver", sub["id"], "--workspace", "acme",
                            "--since", "yesterday")
    assert bad_since.returncode == 2 and "RFC 3339" in bad_since.stderr
    none = clientfolio(tmp_path, "redeliver", sub["id"], "--workspace", "acme", "--since",
                       "2026-01-01T00:00:00Z")
    assert none.returncode == 0 and none.stdout.startswith("0 event(s)")
    assert clientfolio(tmp_path, "delete", sub["id"], "--workspace", "acme").returncode == 0
    assert clientfolio(tmp_path, "list", "--workspace", "acme").stdout == ""
    missing_id = clientfolio(tmp_path, "show", "--workspace", "acme")
    assert missing_id.returncode == 2 and "needs the subscription's id" in missing_id.stderr
