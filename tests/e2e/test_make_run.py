"""The stack started exactly as ``make run`` starts it, used over HTTP like a person would."""
import os
import socket
import re
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack

import requests

from tests.conftest import free_port
from tests.helpers import wait_until


class Output:
    """Collects a child's output lines as they arrive."""

    def __init__(self, stream):
        self.lines = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def find(self, pattern):
        for line in self.lines:
            match = re.search(pattern, line)
            if match:
                return match
        return None


def free_port_base(count):
    """A port ``base`` such that ``base + 1`` .. ``base + count`` can all be bound now
    (the services' internal ports; a random base once met a port in use)."""
    for _ in range(100):
        base = free_port() + 1000
        try:
            with ExitStack() as stack:
                for offset in range(1, count + 1):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("0.0.0.0", base + offset))
            return base
        except OSError:
            continue
    raise RuntimeError("no free run of ports")


def child_serving(parent, service):
    """The pid of ``parent``'s child process running ``clientfolio serve <service>``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = [part for part in handle.read().split(b"\0") if part]
        except (OSError, ValueError):
            continue
        if ppid == parent and command[-2:] == [b"serve", service.encode()]:
            return int(entry)
    raise AssertionError(f"no child of {parent} serves {service}")


def test_clientfolio_run_serves_the_api_and_stops_cleanly(amqp_uri, tmp_path):
    port, base = free_port(), free_port_base(3)
    env = dict(os.environ, AMQP_URI=amqp_uri, CLIENTFOLIO_DATA_DIR=str(tmp_path / "var"),
               CLIENTFOLIO_HTTP_PORT=str(port), CLIENTFOLIO_INTERNAL_PORT_BASE=str(base),
               CLIENTFOLIO_DEMO="1", PYTHONUNBUFFERED="1")
    process = subprocess.Popen([sys.executable, "-m", "clientfolio.cli", "run"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = Output(process.stdout)
    try:
        wait_until(lambda: output.find(r"Clientfolio is running: (http://\S+)")
                   or process.poll() is not None, timeout=120, message="make run to be ready")
        assert process.poll() is None, "\n".join(output.lines[-40:])
        url = output.find(r"Clientfolio is running: (http://\S+)").group(1)
        token = output.find(r"Admin token for the 'demo' workspace: (\S+)").group(1)
        demo = output.find(r"(/api/v1/clients/[0-9a-f-]+/overview)")
        assert demo, "make run prints a curl line for one overview"

        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        def demo_overview():
            response = session.get(f"{url}{demo.group(1)}")
            body = response.json() if response.status_code == 200 else {}
            # Complete once the projector applied every seeded event of the three sources.
            return body if body.get("quotes", {}).get("open", {}).get("count") == 1 else None

        seeded = wait_until(demo_overview, timeout=30, message="the demo overview")
        assert seeded["client"]["name"] == "Alan Insurance"
        assert seeded["projects"]["count"] == 2 and seeded["projects"]["total_hours"] == 28.75
        assert seeded["tasks"] == {"open": 4, "overdue": 1, "due": 1, "upcoming": 2}
        invoices = seeded["invoices"]
        assert [invoices[k]["count"] for k in ("draft", "authorized", "paid", "pending",
                                               "overdue")] == [1, 3, 1, 1, 1]
        assert invoices["overdue"]["amount"] == {"EUR": "1210.00"}
        assert invoices["pending"]["amount"] == {"EUR": "2025.00"}
        assert seeded["purchase_orders"]["finalized"] == {"count": 1, "amount": {"EUR": "4500.00"}}
        created = session.post(f"{url}/api/v1/clients", json={"name": "Müller GmbH"})
        assert created.status_code == 201, created.text
        overview = session.get(f"{url}/api/v1/clients/{created.json()['id']}/overview",
                               headers={"Consistency-Token": created.headers["Consistency-Token"]})
        assert overview.status_code == 200
        assert overview.json()["client"]["name"] == "Müller GmbH"

        # A child that dies is restarted with backoff, and the terminal says so.
        billing = child_serving(process.pid, "billing")
        os.kill(billing, signal.SIGKILL)
        wait_until(lambda: output.find(r"billing exited with code -9; restarting it in")
                   and output.find(r"billing restarted"), timeout=30,
                   message="make run to restart billing")
        drafted = wait_until(lambda: (lambda answer: answer if answer.status_code == 201
                                      else None)(session.post(
                                          f"{url}/api/v1/invoices", timeout=30, json={
                                              "client_id": created.json()["id"],
                                              "currency": "EUR", "lines": [{
                                                  "description": "Beratung", "quantity": "1",
                                                  "unit_price": "100", "tax_rate": "19"}]})),
                             timeout=60, interval=0.5, message="billing to answer again")
        assert drafted.json()["status"] == "draft"
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    assert code == 0, "\n".join(output.lines[-40:])
    assert output.find("Clientfolio stopped.")


def test_clientfolio_run_says_clearly_when_rabbitmq_is_not_there(tmp_path):
    env = dict(os.environ, AMQP_URI=f"amqp://guest:guest@127.0.0.1:{free_port()}//",
               CLIENTFOLIO_DATA_DIR=str(tmp_path / "var"))
    result = subprocess.run([sys.executable, "-m", "clientfolio.cli", "run"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach RabbitMQ" in lines[0]
