"""The ``demo`` workspace seeded by ``make run``, so a newcomer sees a real overview at once.

Seeded once per data directory (a second ``make run`` finds "Alan Insurance"
and leaves the workspace as it is). Dates are relative to today, so the demo
always has overdue, due and upcoming tasks and invoices.
"""
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import date, timedelta

CLIENTS = [
    {"name": "Alan Insurance", "kind": "company", "country": "ES", "tax_id": "B58378431",
     "email": "finance@alan-insurance.example.com", "category": "insurance",
     "tags": ["key account"], "phone": "612 34 56 78", "language": "es"},
    {"name": "São Paulo Seguros Ltda.", "kind": "company", "country": "BR",
     "email": "contato@sps.example.com", "category": "insurance"},
    {"name": "Fundació Catalana de Disseny", "kind": "company", "country": "ES",
     "email": "hola@fcd.example.com", "category": "non-profit", "language": "ca"},
]


class Api:
    def __init__(self, base, token):
        self.base, self.token = base.rstrip("/"), token

    def call(self, method, path, body=None, key=None):
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null"), response.headers
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"demo seed: {method} {path} answered {error.code}: "
                               f"{error.read().decode(errors='replace')[:300]}") from None


def seed_demo(gateway_url, token, today=None):
    """Create the demo data once; return the first client's id and name."""
    api = Api(gateway_url, token)
    today = today or date.today()
    day = lambda offset: (today + timedelta(days=offset)).isoformat()  # noqa: E731
    found, _ = api.call("GET", "/api/v1/clients?" + urllib.parse.urlencode(
        {"q": "Alan Insurance", "archived": "all"}))
    if found["items"]:
        return {"client_id": found["items"][0]["id"], "name": found["items"][0]["name"]}

    ids = []
    for index, client in enumerate(CLIENTS):
        created, _ = api.call("POST", "/api/v1/clients", client, key=f"demo-client-{index}")
        ids.append(created["id"])
    alan, sps, fcd = ids

    website, _ = api.call("POST", "/api/v1/projects", {
        "name": "Website relaunch", "code": "WEB", "client_id": alan,
        "start_date": day(-60), "budget_hours": 120})
    app, _ = api.call("POST", "/api/v1/projects", {"name": "Claims app", "code": "APP"})
    api.call("PATCH", f"/api/v1/projects/{app['id']}", {"client_id": alan})  # from the settings
    brand, _ = api.call("POST", "/api/v1/projects", {"name": "Brand book", "code": "BRD"})
    audit, _ = api.call("POST", "/api/v1/projects", {"name": "Accessibility audit"})
    api.call("POST", "/api/v1/projects/assign-client",  # in bulk
             {"client_id": fcd, "project_ids": [brand["id"], audit["id"]]})

    for project, hours in ((website, ["7.5", "6", "8"]), (app, ["4", "3.25"]),
                           (brand, ["5"])):
        for offset, amount in enumerate(hours):
            api.call("POST", f"/api/v1/projects/{project['id']}/time-entries",
                     {"date": day(-offset - 1), "hours": amount, "description": "Development"})
    for title, offset in (("Send the sitemap for review", -3), ("Kick-off with claims team", 0),
                          ("Accessibility fixes", 7), ("Go-live checklist", 21)):
        api.call("POST", f"/api/v1/projects/{website['id']}/tasks",
                 {"title": title, "due_date": day(offset)})

    def invoice(client, project, currency, price, issued_days_ago, terms):
        created, _ = api.call("POST", "/api/v1/invoices", {
            "client_id": client, "project_id": project, "currency": currency,
            "issue_date": day(-issued_days_ago), "due_date": day(-issued_days_ago + terms),
            "lines": [{"description": "Professional services", "quantity": "10",
                       "unit_price": price, "tax_rate": "21"}]})
        return created

    overdue = invoice(alan, website["id"], "EUR", "100.00", 45, 30)
    api.call("POST", f"/api/v1/invoices/{overdue['id']}/issue", {"issue_date": day(-45)})
    pending = invoice(alan, app["id"], "EUR", "250.00", 5, 30)
    api.call("POST", f"/api/v1/invoices/{pending['id']}/issue", {"issue_date": day(-5)})
    api.call("POST", f"/api/v1/invoices/{pending['id']}/payments",
             {"amount": "1000.00", "date": day(-1)})
    paid = invoice(alan, website["id"], "USD", "80.00", 20, 15)
    issued, _ = api.call("POST", f"/api/v1/invoices/{paid['id']}/issue", {"issue_date": day(-20)})
    api.call("POST", f"/api/v1/invoices/{paid['id']}/payments",
             {"amount": issued["total"], "date": day(-2)})
    invoice(alan, None, "EUR", "50.00", 0, 30)  # stays a draft
    brl = invoice(sps, None, "BRL", "900.00", 10, 30)
    api.call("POST", f"/api/v1/invoices/{brl['id']}/issue", {"issue_date": day(-10)})

    order, _ = api.call("POST", "/api/v1/purchase-orders", {
        "client_id": alan, "project_id": website["id"], "currency": "EUR", "total": "4500.00",
        "date": day(-50)})
    api.call("POST", f"/api/v1/purchase-orders/{order['id']}/finalize", {})
    api.call("POST", "/api/v1/purchase-orders", {
        "client_id": alan, "project_id": app["id"], "currency": "EUR", "total": "2000.00",
        "date": day(-3)})
    quote, _ = api.call("POST", "/api/v1/quotes", {
        "client_id": alan, "project_id": None, "currency": "EUR", "total": "7800.00",
        "valid_until": day(30)})
    api.call("POST", f"/api/v1/quotes/{quote['id']}/send", {})
    return {"client_id": alan, "name": CLIENTS[0]["name"]}
