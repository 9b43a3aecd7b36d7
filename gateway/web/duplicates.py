"""Duplicates in the web app (UI screen 7): the standing list of likely duplicates, a
merge preview with the value that wins for each field, the merge, and undoing a merge
from the surviving client's History tab. Composed into the gateway like ``WebApp``.

The contacts service decides everything (which clients match, what a merge changes,
whether it may happen): the preview is its dry run, the merge and unmerge its
commands. A merge answers a Consistency-Token naming the positions at which projects
and billing had moved the duplicates' records too (``ClientsApi.merge_positions``),
so the survivor's page waits until its overview counts them.
"""
import json
import urllib.parse

from babel.numbers import format_percent

from services.common.consistency import format_token
from services.common.errors import BadRequest, Conflict, NotFound, ValidationFailed
from services.common.paging import canonical_id
from services.common.schemas import text_fault

from .billing import form_status, go_to
from .pages import localized, page

LIST_SIZE = 25
MAX_CLIENTS = 50  # the most duplicates one merge takes (the contacts service's limit)
# The client fields a merge chooses between, in the order the form shows them.
MERGE_FIELDS = ("name", "kind", "tax_id", "country", "email", "phone", "address", "company",
                "category", "language", "gender", "tags", "notes")
MOVED = ("projects", "invoices", "purchase_orders", "quotes")


def is_blank(value):
    return value in (None, "", [], {}) or (isinstance(value, dict) and
                                           all(is_blank(v) for v in value.values()))


def comparable(value):
    """One text per value, equal for equal values (blank ones all alike)."""
    return "" if is_blank(value) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def comparison(clients, survivor_id, chosen):
    """``(rows, same)``: a row per field whose values differ among ``clients`` (each value,
    and the id of the client whose value wins: the person's choice, else the survivor's
    value, else, when the survivor has none, the first duplicate that has one); ``same``
    lists the fields every client holds alike."""
    rows, same = [], []
    for field in MERGE_FIELDS:
        values = [(client["id"], client.get(field)) for client in clients]
        if len({comparable(value) for _, value in values}) <= 1:
            same.append(field)
            continue
        ids = [client_id for client_id, _ in values]
        winner = chosen.get(field) if chosen.get(field) in ids else None
        if winner is None:
            survivor_value = dict(values)[survivor_id]
            winner = survivor_id
            if is_blank(survivor_value):
                winner = next((client_id for client_id, value in values
                               if not is_blank(value)), survivor_id)
        rows.append({"field": field, "values": values, "winner": winner})
    return rows, same


def choices_of(rows, survivor_id):
    """The ``fields`` of the merge command: each field whose winner is not the survivor."""
    return {row["field"]: row["winner"] for row in rows if row["winner"] != survivor_id}


class DuplicatePages:
    # Method names are unique across the gateway's mixins (one class composes them all).

    @page("GET", "/duplicates")
    def web_duplicates(self, view):
        request = view.request
        error, groups, next_cursor = None, [], None
        try:
            cursor = request.args.get("cursor") or None
            if cursor and text_fault(cursor):
                raise BadRequest("the page is not valid", {"cursor": ["not a page of this list"]})
            answer = self.contacts_rpc.duplicates(view.ctx, str(LIST_SIZE), cursor)
            groups, next_cursor = answer["items"], answer.get("next_cursor")
        except BadRequest as exc:
            error = localized(exc, view.locale)[0]
        ids = sorted({client_id for group in groups for client_id in group["client_ids"]})
        clients = self.contacts_rpc.get_clients(view.ctx, ids) if ids else {}
        shown = []
        for group in groups:
            members = [clients[i] for i in group["client_ids"] if i in clients]
            if len(members) < 2:
                continue
            shown.append({**group, "clients": members,
                          "likelihood": format_percent(group["score"], locale=view.locale),
                          "merge_url": "/duplicates/merge?" + urllib.parse.urlencode(
                              [("ids", client["id"]) for client in members])})
        return view.render("duplicates.html", groups=shown, error=error,
                           next_url="/duplicates?" + urllib.parse.urlencode(
                               {"cursor": next_cursor}) if next_cursor else None,
                           first_url="/duplicates" if request.args.get("cursor") else None)

    # -- the merge preview and the merge ------------------------------------------------

    def _merge_page_clients(self, view, values):
        """The clients named by ``ids`` (order kept, each once) and the survivor's id."""
        ids = []
        for value in values.getlist("ids")[:MAX_CLIENTS + 1]:
            client_id = canonical_id(value.strip())
            if client_id and client_id not in ids:
                ids.append(client_id)
        if len(ids) < 2:
            raise BadRequest("choose at least two clients to merge",
                             {"ids": ["choose at least two clients to merge"]})
        found = self.contacts_rpc.get_clients(view.ctx, ids)
        clients = [found[i] for i in ids if i in found]
        if len(clients) < len(ids):
            raise NotFound("no such client")
        survivor_id = canonical_id((values.get("survivor") or "").strip()) or ids[0]
        if survivor_id not in ids:
            survivor_id = ids[0]
        return clients, survivor_id

    def _merge_preview(self, view, clients, survivor_id, chosen, status=200, detail=None):
        rows, same = comparison(clients, survivor_id, chosen)
        duplicate_ids = [client["id"] for client in clients if client["id"] != survivor_id]
        result, error = None, detail
        if error is None:
            try:
                result = self.contacts_rpc.merge_clients(view.ctx, survivor_id, duplicate_ids,
                                                         choices_of(rows, survivor_id), True)
            except (Conflict, ValidationFailed, NotFound) as exc:
                detail, fields = localized(exc, view.locale)
                error = " ".join([detail, *[" ".join(m) for m in fields.values()]]).strip()
                status = exc.status
        counts = (result or {}).get("moves", {}).get("counts", {})
        return view.render("duplicates_merge.html", form_status(view, status),
                           clients=clients, survivor_id=survivor_id,
                           survivor=next(c for c in clients if c["id"] == survivor_id),
                           rows=rows, same=same, result=result and result["client"],
                           counts=counts, moved=MOVED, error=error,
                           ids_query=urllib.parse.urlencode(
                               [("ids", client["id"]) for client in clients]))

    @page("GET", "/duplicates/merge", role="member")
    def web_merge_preview(self, view):
        clients, survivor_id = self._merge_page_clients(view, view.request.args)
        return self._merge_preview(view, clients, survivor_id, {})

    @page("POST", "/duplicates/merge", role="member")
    def web_merge(self, view):
        form = view.request.form
        clients, survivor_id = self._merge_page_clients(view, form)
        chosen = {name[len("fields."):]: value for name, value in form.items()
                  if name.startswith("fields.")}
        if form.get("action") != "merge":
            return self._merge_preview(view, clients, survivor_id, chosen)
        rows, _ = comparison(clients, survivor_id, chosen)
        duplicate_ids = [client["id"] for client in clients if client["id"] != survivor_id]
        try:
            result = self.contacts_rpc.merge_clients(view.ctx, survivor_id, duplicate_ids,
                                                     choices_of(rows, survivor_id), False)
        except (Conflict, ValidationFailed) as exc:
            detail, fields = localized(exc, view.locale)
            detail = " ".join([detail, *[" ".join(m) for m in fields.values()]]).strip()
            return self._merge_preview(view, clients, survivor_id, chosen, exc.status, detail)
        token = format_token(self.merge_positions(result["position"]))
        return go_to(view, f"/clients/{survivor_id}/history?" + urllib.parse.urlencode(
            {"ct": token, "merged": "1"}))

    # -- undoing a merge --------------------------------------------------------------------

    @page("POST", "/clients/<string:client_id>/unmerge", role="member")
    def web_unmerge(self, view, client_id):
        merge_id = (view.request.form.get("merge_id") or "").strip()
        try:
            result = self.contacts_rpc.unmerge_clients(view.ctx, client_id, merge_id)
        except (Conflict, ValidationFailed) as exc:
            outcome = "refused" if isinstance(exc, Conflict) else "invalid"
            return go_to(view, f"/clients/{client_id}/history?unmerge={outcome}")
        except NotFound:
            self.contacts_rpc.get_client(view.ctx, client_id)  # 404 for another's client
            return go_to(view, f"/clients/{client_id}/history?unmerge=unknown")
        token = format_token(self.merge_positions(result["position"]))
        return go_to(view, f"/clients/{client_id}/history?" + urllib.parse.urlencode(
            {"ct": token, "unmerge": "done"}))
