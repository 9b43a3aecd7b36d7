"""Random business histories for the overview tests, and an independent reference.

A history is a list of operations (clients, projects, reassignments, time,
tasks, invoices, payments, voids, purchase orders, quotes, merges). ``Driver``
turns each operation into the integration events the services publish (see
docs/events.md) and appends them to the sources' event stores; ``Reference``
computes every overview figure from the same operations, directly from the
product contract's definitions, with no read model.
"""
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import strategies as st

from services.common.envelope import NewEvent

BASE_DAY = date(2026, 11, 1)
CURRENCIES = {"EUR": Decimal("0.01"), "USD": Decimal("0.01"), "JPY": Decimal("1")}


def amount(whole, currency):
    """A whole amount written with the currency's minor unit, as billing answers it."""
    return str(Decimal(whole).quantize(CURRENCIES[currency]))


def day(offset):
    return (BASE_DAY + timedelta(days=offset)).isoformat()


@dataclass
class Op:
    kind: str
    args: dict = field(default_factory=dict)


@st.composite
def histories(draw, max_ops=40):
    """A random, valid history: every operation refers to things that exist."""
    ops, clients, projects, tasks, invoices, orders, quotes = [], [], [], [], {}, {}, {}
    merged = set()
    for _ in range(draw(st.integers(2, 4))):
        clients.append(f"c{len(clients)}")
        ops.append(Op("client", {"id": clients[-1]}))
    for _ in range(draw(st.integers(5, max_ops))):
        live = [c for c in clients if c not in merged]
        choice = draw(st.sampled_from(["project", "assign", "unassign", "time", "task",
                                       "task_update", "invoice", "issue", "pay", "void",
                                       "order", "finalize", "quote", "quote_status", "merge",
                                       "client"]))
        if choice == "client":
            clients.append(f"c{len(clients)}")
            ops.append(Op("client", {"id": clients[-1]}))
        elif choice == "project" or (not projects and choice in ("assign", "unassign", "time",
                                                                 "task")):
            projects.append(f"p{len(projects)}")
            client = draw(st.one_of(st.none(), st.sampled_from(live)))
            ops.append(Op("project", {"id": projects[-1], "client": client}))
        elif choice == "assign":
            ops.append(Op("assign", {"project": draw(st.sampled_from(projects)),
                                     "client": draw(st.sampled_from(live))}))
        elif choice == "unassign":
            ops.append(Op("unassign", {"project": draw(st.sampled_from(projects))}))
        elif choice == "time":
            hours = draw(st.sampled_from(["0.25", "1", "1.5", "7.75", "8", "24"]))
            ops.append(Op("time", {"project": draw(st.sampled_from(projects)), "hours": hours}))
        elif choice == "task":
            tasks.append(f"t{len(tasks)}")
            ops.append(Op("task", {"id": tasks[-1], "project": draw(st.sampled_from(projects)),
                                   "due": draw(st.one_of(st.none(), st.integers(0, 40)))}))
        elif choice == "task_update" and tasks:
            ops.append(Op("task_update", {"id": draw(st.sampled_from(tasks)),
                                          "due": draw(st.one_of(st.none(), st.integers(0, 40))),
                                          "done": draw(st.booleans())}))
        elif choice == "invoice":
            key = f"i{len(invoices)}"
            currency = draw(st.sampled_from(sorted(CURRENCIES)))
            units = draw(st.integers(1, 500000))
            total = str(Decimal(units) * CURRENCIES[currency])
            project = draw(st.one_of(st.none(), st.sampled_from(projects))) if projects else None
            invoices[key] = "draft"
            ops.append(Op("invoice", {"id": key, "client": draw(st.sampled_from(live)),
                                      "project": project, "currency": currency, "total": total}))
        elif choice == "issue" and "draft" in invoices.values():
            key = draw(st.sampled_from(sorted(k for k, s in invoices.items() if s == "draft")))
            invoices[key] = "authorized"
            ops.append(Op("issue", {"id": key, "issue": draw(st.integers(0, 20)),
                                    "terms": draw(st.integers(0, 30))}))
        elif choice == "pay" and "authorized" in invoices.values():
            key = draw(st.sampled_from(sorted(k for k, s in invoices.items()
                                              if s == "authorized")))
            ops.append(Op("pay", {"id": key, "fraction": draw(st.sampled_from(
                [Decimal("0.25"), Decimal("0.5"), Decimal("1")]))}))
        elif choice == "void" and any(s in ("draft", "authorized") for s in invoices.values()):
            key = draw(st.sampled_from(sorted(k for k, s in invoices.items()
                                              if s in ("draft", "authorized"))))
            ops.append(Op("void", {"id": key}))
        elif choice == "order":
            key = f"o{len(orders)}"
            orders[key] = "placed"
            currency = draw(st.sampled_from(sorted(CURRENCIES)))
            ops.append(Op("order", {"id": key, "client": draw(st.sampled_from(live)),
                                    "currency": currency,
                                    "total": amount(draw(st.integers(1, 9999)), currency)}))
        elif choice == "finalize" and "placed" in orders.values():
            key = draw(st.sampled_from(sorted(k for k, s in orders.items() if s == "placed")))
            orders[key] = "finalized"
            ops.append(Op("finalize", {"id": key}))
        elif choice == "quote":
            key = f"q{len(quotes)}"
            quotes[key] = "draft"
            currency = draw(st.sampled_from(sorted(CURRENCIES)))
            ops.append(Op("quote", {"id": key, "client": draw(st.sampled_from(live)),
                                    "currency": currency,
                                    "total": amount(draw(st.integers(1, 9999)), currency)}))
        elif choice == "quote_status" and quotes:
            key = draw(st.sampled_from(sorted(quotes)))
            status = draw(st.sampled_from(["sent", "accepted", "rejected"]))
            quotes[key] = status
            ops.append(Op("quote_status", {"id": key, "status": status}))
        elif choice == "merge" and len(live) >= 2:
            survivor = draw(st.sampled_from(live))
            duplicate = draw(st.sampled_from([c for c in live if c != survivor]))
            merged.add(duplicate)
            ops.append(Op("merge", {"survivor": survivor, "duplicate": duplicate}))
    return ops


class State:
    """What the history did, in plain dictionaries (shared by driver and reference)."""

    def __init__(self):
        self.clients = {}
        self.projects = {}
        self.tasks = {}
        self.invoices = {}
        self.orders = {}
        self.quotes = {}
        self.numbers = 0

    def apply(self, op):
        a = op.args
        if op.kind == "client":
            self.clients[a["id"]] = {"archived": False, "merged_into": None}
        elif op.kind == "project":
            self.projects[a["id"]] = {"client": a["client"], "hours": Decimal(0)}
        elif op.kind == "assign":
            self.projects[a["project"]]["client"] = a["client"]
        elif op.kind == "unassign":
            self.projects[a["project"]]["client"] = None
        elif op.kind == "time":
            self.projects[a["project"]]["hours"] += Decimal(a["hours"])
        elif op.kind == "task":
            self.tasks[a["id"]] = {"project": a["project"], "due": a["due"], "done": False}
        elif op.kind == "task_update":
            self.tasks[a["id"]].update(due=a["due"], done=a["done"])
        elif op.kind == "invoice":
            self.invoices[a["id"]] = {"client": a["client"], "project": a["project"],
                                      "currency": a["currency"], "total": Decimal(a["total"]),
                                      "status": "draft", "paid": Decimal(0), "due": None}
        elif op.kind == "issue":
            invoice = self.invoices[a["id"]]
            self.numbers += 1
            invoice.update(status="authorized", number=f"2026-{self.numbers:06d}",
                           issue=a["issue"], due=a["issue"] + a["terms"])
        elif op.kind == "pay":
            invoice = self.invoices[a["id"]]
            owed = invoice["total"] - invoice["paid"]
            amount = (invoice["total"] * a["fraction"]).quantize(CURRENCIES[invoice["currency"]])
            amount = min(max(amount, CURRENCIES[invoice["currency"]]), owed)
            invoice["last_payment"] = amount
            invoice["paid"] += amount
            if invoice["paid"] == invoice["total"]:
                invoice["status"] = "paid"
        elif op.kind == "void":
            self.invoices[a["id"]]["status"] = "void"
        elif op.kind == "order":
            self.orders[a["id"]] = {"client": a["client"], "currency": a["currency"],
                                    "total": Decimal(a["total"]), "status": "placed"}
        elif op.kind == "finalize":
            self.orders[a["id"]]["status"] = "finalized"
        elif op.kind == "quote":
            self.quotes[a["id"]] = {"client": a["client"], "currency": a["currency"],
                                    "total": Decimal(a["total"]), "status": "draft"}
        elif op.kind == "quote_status":
            self.quotes[a["id"]]["status"] = a["status"]
        elif op.kind == "merge":
            survivor, duplicate = a["survivor"], a["duplicate"]
            self.clients[duplicate].update(archived=True, merged_into=survivor)
            for table in (self.projects, self.invoices, self.orders, self.quotes):
                for item in table.values():
                    if item.get("client") == duplicate:
                        item["client"] = survivor


def reference_overview(state, client, as_of):
    """Every figure of the overview, straight from API.md's definitions."""
    as_of_offset = (as_of - BASE_DAY).days

    def money(pairs):
        sums = defaultdict(Decimal)
        for currency, amount in pairs:
            sums[currency] += amount
        return {c: str(a) for c, a in sorted(sums.items())}

    def summary(items, amount):
        items = list(items)
        return {"count": len(items), "amount": money((i["currency"], amount(i)) for i in items)}

    projects = {k: p for k, p in state.projects.items() if p["client"] == client}
    open_tasks = [t for t in state.tasks.values()
                  if t["project"] in projects and not t["done"]]
    invoices = [i for i in state.invoices.values() if i["client"] == client]
    authorized = [i for i in invoices if i["status"] in ("authorized", "paid")]
    unpaid = [i for i in invoices if i["status"] == "authorized"]

    def hours(value):
        return int(value) if value == value.to_integral_value() else float(value)

    figures = {
        "draft": summary([i for i in invoices if i["status"] == "draft"], lambda i: i["total"]),
        "authorized": summary(authorized, lambda i: i["total"]),
        "paid": summary([i for i in invoices if i["status"] == "paid"], lambda i: i["total"]),
        "pending": summary([i for i in unpaid if i["due"] >= as_of_offset],
                           lambda i: i["total"] - i["paid"]),
        "overdue": summary([i for i in unpaid if i["due"] < as_of_offset],
                           lambda i: i["total"] - i["paid"]),
    }
    orders = [o for o in state.orders.values() if o["client"] == client]
    quotes = [q for q in state.quotes.values() if q["client"] == client]
    return {
        "projects": {
            "count": len(projects),
            "total_hours": hours(sum((p["hours"] for p in projects.values()), Decimal(0))),
            "items": sorted(
                ({"id": key, "hours": hours(p["hours"]),
                  "invoiced": money((i["currency"], i["total"]) for i in authorized
                                    if i["project"] == key)}
                 for key, p in projects.items()), key=lambda item: item["id"]),
        },
        "tasks": {
            "open": len(open_tasks),
            "overdue": sum(1 for t in open_tasks if t["due"] is not None
                           and t["due"] < as_of_offset),
            "due": sum(1 for t in open_tasks if t["due"] == as_of_offset),
            "upcoming": sum(1 for t in open_tasks if t["due"] is not None
                            and t["due"] > as_of_offset),
        },
        "purchase_orders": {
            "total": summary(orders, lambda o: o["total"]),
            "finalized": summary([o for o in orders if o["status"] == "finalized"],
                                 lambda o: o["total"]),
        },
        "quotes": {
            "open": summary([q for q in quotes if q["status"] in ("draft", "sent")],
                            lambda q: q["total"]),
            "accepted": summary([q for q in quotes if q["status"] == "accepted"],
                                lambda q: q["total"]),
        },
        "invoices": figures,
        "chart": {"invoices": [{"label": label, **figures[label]}
                               for label in ("paid", "pending", "overdue")]},
        "client": {"archived": state.clients[client]["archived"]},
    }


def comparable(overview, ids):
    """The served overview in the reference's shape (ids mapped back to history keys)."""
    names = {v: k for k, v in ids.items()}
    result = {key: overview[key] for key in ("tasks", "purchase_orders", "quotes", "invoices",
                                             "chart")}
    result["projects"] = {
        "count": overview["projects"]["count"],
        "total_hours": overview["projects"]["total_hours"],
        "items": sorted(({"id": names[p["id"]], "hours": p["hours"], "invoiced": p["invoiced"]}
                         for p in overview["projects"]["items"]), key=lambda item: item["id"]),
    }
    result["client"] = {"archived": overview["client"]["archived"]}
    return result


class Driver:
    """Turns operations into the events the services publish, appended to their stores."""

    def __init__(self, stores, workspace):
        self.stores = stores  # {"contacts": EventStore, "projects": ..., "billing": ...}
        self.workspace = workspace
        self.ids = defaultdict(lambda: str(uuid.uuid4()))
        self.versions = defaultdict(int)
        self.state = State()

    def emit(self, source, key, event_type, data):
        stream = self.ids[key]
        self.stores[source].append(stream, self.versions[stream], [NewEvent(event_type, data)],
                                   workspace=self.workspace)
        self.versions[stream] += 1

    def run(self, ops):
        for op in ops:
            self.do(op)
            self.state.apply(op)

    def do(self, op):  # noqa: C901 -- one branch per operation, mirrors docs/events.md
        a, ids, s = op.args, self.ids, self.state
        if op.kind == "client":
            self.emit("contacts", a["id"], "ClientRegistered", {
                "client_id": ids[a["id"]], "workspace": self.workspace, "kind": "company",
                "name": f"Client {a['id']} São", "created_at": "2026-11-01T00:00:00.000000Z"})
        elif op.kind == "project":
            client = ids[a["client"]] if a["client"] else None
            self.emit("projects", a["id"], "ProjectCreated", {
                "project_id": ids[a["id"]], "name": f"Project {a['id']}", "code": None,
                "client_id": client, "status": "active"})
            if client:
                self.emit("projects", a["id"], "ClientAssigned", {
                    "project_id": ids[a["id"]], "client_id": client,
                    "previous_client_id": None, "via": "create"})
        elif op.kind == "assign":
            previous = s.projects[a["project"]]["client"]
            self.emit("projects", a["project"], "ClientAssigned", {
                "project_id": ids[a["project"]], "client_id": ids[a["client"]],
                "previous_client_id": ids[previous] if previous else None, "via": "settings"})
        elif op.kind == "unassign":
            previous = s.projects[a["project"]]["client"]
            self.emit("projects", a["project"], "ClientUnassigned", {
                "project_id": ids[a["project"]],
                "previous_client_id": ids[previous] if previous else None, "via": "settings"})
        elif op.kind == "time":
            self.emit("projects", a["project"], "TimeLogged", {
                "project_id": ids[a["project"]], "entry_id": str(uuid.uuid4()),
                "client_id": None, "date": day(0), "hours": a["hours"], "description": "work"})
        elif op.kind in ("task", "task_update"):
            task = s.tasks.get(a["id"], {"project": a.get("project")})
            self.emit("projects", task["project"], "TaskAdded" if op.kind == "task"
                      else "TaskUpdated", {
                          "project_id": ids[task["project"]], "task_id": ids[a["id"]],
                          "title": "Revisar factura", "due_date": None if a["due"] is None
                          else day(a["due"]),
                          "status": "done" if a.get("done") else "open"})
        elif op.kind == "invoice":
            self.emit("billing", a["id"], "InvoiceDrafted", {
                "invoice_id": ids[a["id"]], "client_id": ids[a["client"]],
                "project_id": ids[a["project"]] if a["project"] else None,
                "currency": a["currency"], "total": a["total"], "issue_date": None,
                "due_date": None})
        elif op.kind in ("issue", "pay", "void"):
            invoice = s.invoices[a["id"]]
            common = {"invoice_id": ids[a["id"]], "client_id": ids[invoice["client"]],
                      "project_id": ids[invoice["project"]] if invoice["project"] else None,
                      "currency": invoice["currency"], "total": str(invoice["total"])}
            if op.kind == "issue":
                self.emit("billing", a["id"], "InvoiceIssued", {
                    **common, "number": f"2026-{s.numbers + 1:06d}",
                    "issue_date": day(a["issue"]), "due_date": day(a["issue"] + a["terms"])})
            elif op.kind == "void":
                self.emit("billing", a["id"], "InvoiceVoided", common)
            else:
                probe = State()
                probe.invoices[a["id"]] = dict(invoice)
                probe.apply(op)
                after = probe.invoices[a["id"]]
                self.emit("billing", a["id"], "InvoicePaymentRecorded", {
                    **common, "amount": str(after["last_payment"]), "date": day(5),
                    "paid": str(after["paid"]),
                    "outstanding": str(after["total"] - after["paid"])})
                if after["status"] == "paid":
                    self.emit("billing", a["id"], "InvoicePaid", {**common, "date": day(5)})
        elif op.kind == "order":
            self.emit("billing", a["id"], "PurchaseOrderPlaced", {
                "purchase_order_id": ids[a["id"]], "client_id": ids[a["client"]],
                "project_id": None, "currency": a["currency"], "total": a["total"],
                "date": day(1)})
        elif op.kind == "finalize":
            order = s.orders[a["id"]]
            self.emit("billing", a["id"], "PurchaseOrderFinalized", {
                "purchase_order_id": ids[a["id"]], "client_id": ids[order["client"]],
                "project_id": None, "currency": order["currency"], "total": str(order["total"])})
        elif op.kind == "quote":
            self.emit("billing", a["id"], "QuoteCreated", {
                "quote_id": ids[a["id"]], "client_id": ids[a["client"]], "project_id": None,
                "currency": a["currency"], "total": a["total"], "valid_until": day(30),
                "status": "draft"})
        elif op.kind == "quote_status":
            quote = s.quotes[a["id"]]
            self.emit("billing", a["id"], "QuoteStatusChanged", {
                "quote_id": ids[a["id"]], "client_id": ids[quote["client"]], "project_id": None,
                "currency": quote["currency"], "total": str(quote["total"]),
                "status": a["status"], "previous_status": quote["status"]})
        elif op.kind == "merge":
            survivor, duplicate = a["survivor"], a["duplicate"]
            merge_id = str(uuid.uuid4())
            self.emit("contacts", duplicate, "ClientArchived", {
                "client_id": ids[duplicate], "merged_into": ids[survivor], "merge_id": merge_id})
            self.emit("contacts", f"merge-{merge_id}", "ClientsMerged", {
                "survivor_id": ids[survivor], "merged_ids": [ids[duplicate]],
                "merge_id": merge_id, "fields": {}})
            for key, project in s.projects.items():
                if project["client"] == duplicate:
                    self.emit("projects", key, "ClientAssigned", {
                        "project_id": ids[key], "client_id": ids[survivor],
                        "previous_client_id": ids[duplicate], "via": "merge"})
            for table, event_type, id_field in (
                    (s.invoices, "InvoiceClientChanged", "invoice_id"),
                    (s.orders, "PurchaseOrderClientChanged", "purchase_order_id"),
                    (s.quotes, "QuoteClientChanged", "quote_id")):
                for key, item in table.items():
                    if item["client"] == duplicate:
                        self.emit("billing", key, event_type, {
                            id_field: ids[key], "client_id": ids[survivor],
                            "previous_client_id": ids[duplicate], "reason": "merge",
                            "merge_id": merge_id})
