"""Invoices, purchase orders and quotes in the web app (UI screen 6), composed into the
gateway service like ``pages.WebApp``.

The pages decide no billing rule: they read the forms (amounts in the person's
language, ``amounts``), call the billing service's RPC commands the JSON API calls, and
show what it answers, its refusals next to the field they name. Each write answers
a ``Consistency-Token`` position (``billing:N``) that the link back to the client
carries (``?ct=``), so the client's overview shows the write when the person returns.
Actions on a document (issue, pay, void, finalize, send, accept, reject) answer
within the page with htmx; every form also works as a plain POST.
"""
import functools
import re
import secrets
import urllib.parse
from decimal import Decimal

from werkzeug.wrappers import Response

from services.common.consistency import format_token
from services.common.errors import (ClientfolioError, Conflict, NotFound, PreconditionFailed,
                                    ValidationFailed)
from services.common.paging import canonical_id
from services.common.schemas import text_fault, text_faults

from ..http import COMMAND_ID, command_token, today_utc
from . import amounts, i18n
from .labels import N_
from .pages import is_htmx, localized, page
from .render import redirect, secure

INVOICE_FILTERS = ("draft", "authorized", "paid", "pending", "overdue", "void")
ORDER_FILTERS = ("placed", "finalized")
QUOTE_FILTERS = ("open", "draft", "sent", "accepted", "rejected")
# The currencies the forms offer (a draft in another one keeps it).
CURRENCIES = ("EUR", "BRL", "USD", "GBP", "CHF")
LOCALE_CURRENCY = {"pt_BR": "BRL"}
LIST_SIZE = 50
PICKER_SIZE = 50
BLANK_LINES = 3
MAX_FORM_LINES = 200
LINE_FIELDS = ("description", "quantity", "unit_price", "tax_rate")
LINE_AMOUNTS = ("quantity", "unit_price", "tax_rate")
DONE = ("created", "saved", "issued", "payment", "voided", "finalized", "sent", "accepted",
        "rejected")

CHOOSE_CLIENT = N_("Choose the client.")
NOT_AN_AMOUNT = N_("This is not a number. Write it like %(example)s.")
AMBIGUOUS_AMOUNT = N_("This number is unclear: the decimal separator is “%(separator)s”. "
                      "Write it like %(example)s.")
REQUIRED = N_("Required.")


@functools.lru_cache(maxsize=None)
def _gettext(locale):
    return i18n.translations(locale).gettext


def amount_message(error, locale):
    """The words, in ``locale``, for an amount that could not be read."""
    gettext = _gettext(locale)
    if error.kind == amounts.AMBIGUOUS:
        return gettext(AMBIGUOUS_AMOUNT) % {"separator": amounts.separators(locale)[0],
                                            "example": amounts.example(locale)}
    return gettext(NOT_AN_AMOUNT) % {"example": amounts.example(locale)}


def read_amount(values, name, locale, errors, required=True):
    """The canonical decimal string typed in ``values[name]``, or None (an error noted)."""
    try:
        value = amounts.parse_amount(values.get(name), locale)
    except amounts.AmountError as exc:
        errors[name] = [amount_message(exc, locale)]
        return None
    if value is None:
        if required:
            errors[name] = [_gettext(locale)(REQUIRED)]
        return None
    return amounts.canonical(value)


def form_status(view, status):
    """htmx swaps only 2xx answers: a refused form is answered 200 to htmx (its words say
    what is wrong), with its real status to a plain POST."""
    return 200 if is_htmx(view.request) else status


def go_to(view, location):
    """After a write: htmx loads ``location`` into the page (and the address bar); a
    plain POST is redirected there."""
    if is_htmx(view.request):
        return secure(Response("", 200, headers={"HX-Location": location}))
    return redirect(location)


def done_url(path, position, done):
    return f"{path}?" + urllib.parse.urlencode({"ct": format_token({"billing": position}),
                                                "done": done})


def storable(data):
    """``data`` as is, or ``ValidationFailed`` naming each text no database can store (a
    NUL, an unpaired surrogate), as the JSON API refuses them before any service."""
    faults = text_faults(data)
    if faults:
        raise ValidationFailed("some fields are invalid", faults)
    return data


FORM_ID = re.compile(r"[0-9a-f]{32}")


def new_form_id():
    """The id a rendered form sends back: its command's id (see ``once_per_form``)."""
    return secrets.token_hex(16)


def once_per_form(view):
    """A new document's form creates it once, however often it is sent (a double click,
    a browser's retry): the command id comes from the form's ``form_id``, so billing
    answers the first result again. A refused form is rendered with a new id."""
    form_id = view.request.form.get("form_id") or ""
    if FORM_ID.fullmatch(form_id):
        view.request.environ[COMMAND_ID] = f"form:{view.principal.user_id}:{form_id}"


def currency_choices(current):
    choices = list(CURRENCIES)
    if current and current not in choices:
        choices.append(current)
    return choices


def invoice_values(form):
    """The invoice form as typed: header fields and its lines (``lines.N.field``)."""
    values = {name: (form.get(name) or "").strip()
              for name in ("client_id", "project_id", "currency", "issue_date", "due_date",
                           "client_q", "version")}
    count = 0
    for key in form:
        if key.startswith("lines.") and key.count(".") == 2:
            index = key.split(".")[1]
            if index.isdigit():
                count = max(count, int(index) + 1)
    count = min(count, MAX_FORM_LINES)
    values["lines"] = [{field: (form.get(f"lines.{i}.{field}") or "").strip()
                        for field in LINE_FIELDS} for i in range(count)]
    return values


def invoice_lines(values, locale, errors):
    """The lines to send (blank rows left out) and, for each, its row in the form (the
    service's ``lines.K`` errors are shown on row ``rows[K]``)."""
    lines, rows = [], []
    for index, line in enumerate(values["lines"]):
        if not any(line.values()):
            continue
        sent = {"description": line["description"]}
        found = {}
        for field in LINE_AMOUNTS:
            sent[field] = read_amount(line, field, locale, found)
        errors.update({f"lines.{index}.{field}": messages
                       for field, messages in found.items()})
        lines.append(sent)
        rows.append(index)
    return lines, rows


def row_errors(errors, rows):
    """The service's ``lines.K.field`` errors moved to the form's row numbers."""
    moved = {}
    for path, messages in errors.items():
        parts = path.split(".")
        if parts[0] == "lines" and len(parts) > 1 and parts[1].isdigit() and \
                int(parts[1]) < len(rows):
            parts[1] = str(rows[int(parts[1])])
        moved.setdefault(".".join(parts), []).extend(messages)
    return moved


def lines_of(invoice, locale):
    """A stored invoice's lines as form values, written for ``locale``."""
    return [{"description": line["description"],
             **{field: amounts.local_text(line[field], locale, group=False)
                for field in LINE_AMOUNTS}} for line in invoice["lines"]]


class BillingPages:
    # Method names are unique across the gateway's mixins (one class composes them all).

    # -- the client and project pickers -----------------------------------------------

    def _billing_clients(self, view, query="", selected=None):
        """Clients to offer: those whose name, tax id, email or company matches ``query``
        (the first ``PICKER_SIZE`` by name), the selected one always among them."""
        params = {"sort": "name", "limit": str(PICKER_SIZE)}
        if query and not text_fault(query):
            params["q"] = query[:200]
        try:
            items = self.contacts_rpc.list_clients(view.ctx, params)["items"]
        except ClientfolioError:
            items = []
        if selected and all(item["id"] != selected for item in items):
            try:
                items.insert(0, self.contacts_rpc.get_client(view.ctx, selected))
            except ClientfolioError:  # not ours, or not an id: nothing chosen
                pass
        return [item for item in items if not item.get("archived") or item["id"] == selected]

    def _billing_projects(self, view, client_id):
        if not client_id:
            return []
        try:
            return self.projects_rpc.list_projects(view.ctx, {"client_id": client_id},
                                                   PICKER_SIZE * 4, None)["items"]
        except ClientfolioError:
            return []

    @page("GET", "/billing/client-options")
    def web_billing_client_options(self, view):
        args = view.request.args
        return view.render("billing_options.html", kind="clients",
                           clients=self._billing_clients(view, (args.get("client_q") or "")
                                                         .strip(), args.get("client_id")),
                           selected=args.get("client_id") or "")

    @page("GET", "/billing/project-options")
    def web_billing_project_options(self, view):
        client_id = (view.request.args.get("client_id") or "").strip()
        return view.render("billing_options.html", kind="projects",
                           projects=self._billing_projects(view, client_id), selected="")

    def _billing_client_names(self, view, items):
        ids = sorted({item["client_id"] for item in items if item.get("client_id")})
        if not ids:
            return {}
        try:
            found = self.contacts_rpc.get_clients(view.ctx, ids)
        except ClientfolioError:
            return {}
        return {client_id: client["name"] for client_id, client in found.items()}

    # -- lists ------------------------------------------------------------------------------

    def _billing_list(self, view, kind, method, statuses, **extra):
        args = view.request.args
        status = args.get("status") or ""
        if status not in statuses:
            status = ""
        client_id = canonical_id((args.get("client_id") or "").strip()) or ""
        filters = {"limit": str(LIST_SIZE)}
        if status:
            filters["status"] = status
        if client_id:
            filters["client_id"] = client_id
        if args.get("cursor") and not text_fault(args["cursor"]):
            filters["cursor"] = args["cursor"]
        if kind == "invoices":
            filters["as_of"] = today_utc().isoformat()
        error = None
        try:
            answer = getattr(self.billing_rpc, method)(view.ctx, filters)
        except ClientfolioError as exc:
            if isinstance(exc, NotFound):
                raise
            answer, error = {"items": [], "next_cursor": None}, localized(exc, view.locale)[0]
        items = answer["items"]
        query = {key: value for key, value in (("status", status), ("client_id", client_id))
                 if value}
        next_cursor = answer.get("next_cursor")
        client = None
        if client_id:
            try:
                client = self.contacts_rpc.get_client(view.ctx, client_id)
            except ClientfolioError:
                client = None
        return view.render("billing_list.html",
                           kind=kind, items=items, names=self._billing_client_names(view, items),
                           status=status, statuses=statuses, client_id=client_id,
                           client=client, error=error, query=query,
                           next_url=f"/{kind}?" + urllib.parse.urlencode(
                               {**query, "cursor": next_cursor}) if next_cursor else None,
                           first_url=f"/{kind}?" + urllib.parse.urlencode(query)
                           if args.get("cursor") else None, **extra)

    @page("GET", "/invoices")
    def web_invoices(self, view):
        return self._billing_list(view, "invoices", "list_invoices", INVOICE_FILTERS)

    @page("GET", "/purchase-orders")
    def web_purchase_orders(self, view):
        return self._billing_list(view, "purchase-orders", "list_purchase_orders",
                                  ORDER_FILTERS)

    @page("GET", "/quotes")
    def web_quotes(self, view):
        return self._billing_list(view, "quotes", "list_quotes", QUOTE_FILTERS)

    # -- invoices: the form ---------------------------------------------------------------

    def _invoice_form(self, view, values, errors, status=200, invoice=None, detail=None):
        lines = values["lines"]
        while len(lines) < BLANK_LINES or (lines and any(lines[-1].values())
                                           and len(lines) < MAX_FORM_LINES):
            lines.append({field: "" for field in LINE_FIELDS})
        client_id = invoice["client_id"] if invoice else values.get("client_id")
        return view.render("invoice_form.html", form_status(view, status), values=values,
                           form_id=new_form_id(),
                           errors=errors, invoice=invoice, detail=detail,
                           clients=self._billing_clients(view, values.get("client_q", ""),
                                                         client_id),
                           projects=self._billing_projects(view, client_id),
                           currencies=currency_choices(values.get("currency")),
                           example=amounts.example(view.locale))

    @page("GET,POST", "/invoices/new", role="member")
    def web_new_invoice(self, view):
        request = view.request
        if request.method == "GET":
            values = {"client_id": (request.args.get("client_id") or "").strip(),
                      "project_id": (request.args.get("project_id") or "").strip(),
                      "currency": LOCALE_CURRENCY.get(view.locale, "EUR"),
                      "issue_date": today_utc().isoformat(), "due_date": "", "client_q": "",
                      "lines": []}
            return self._invoice_form(view, values, {})
        values = invoice_values(request.form)
        if request.form.get("action") == "add_line":
            values["lines"].append({field: "" for field in LINE_FIELDS})
            return self._invoice_form(view, values, {})
        errors = {}
        if not values["client_id"]:
            errors["client_id"] = [_gettext(view.locale)(CHOOSE_CLIENT)]
        lines, rows = invoice_lines(values, view.locale, errors)
        if errors:
            return self._invoice_form(view, values, errors, 422)
        once_per_form(view)
        data = {"client_id": values["client_id"], "currency": values["currency"],
                "lines": lines,
                **{name: values[name] for name in ("project_id", "issue_date", "due_date")
                   if values[name]}}
        try:
            consistency = command_token(self, request, values["client_id"],
                                        values["project_id"] or None)
            result = self.billing_rpc.create_invoice(view.ctx, storable(data),
                                                     consistency=consistency)
        except ValidationFailed as exc:
            detail, found = localized(exc, view.locale)
            return self._invoice_form(view, values, row_errors(found, rows) or
                                      {"_form": [detail]}, 422)
        invoice = result["invoice"]
        return go_to(view, done_url(f"/invoices/{invoice['id']}", result["position"],
                                    "created"))

    @page("GET,POST", "/invoices/<string:invoice_id>/edit", role="member")
    def web_edit_invoice(self, view, invoice_id):
        request = view.request
        invoice = self.billing_rpc.get_invoice(view.ctx, invoice_id)
        if request.method == "GET" or invoice["status"] != "draft":
            values = {"client_id": invoice["client_id"],
                      "project_id": invoice.get("project_id") or "",
                      "currency": invoice["currency"],
                      "issue_date": invoice.get("issue_date") or "",
                      "due_date": invoice.get("due_date") or "", "client_q": "",
                      "version": str(invoice["version"]),
                      "lines": lines_of(invoice, view.locale)}
            if invoice["status"] != "draft":
                return redirect(f"/invoices/{invoice_id}")
            return self._invoice_form(view, values, {}, invoice=invoice)
        values = invoice_values(request.form)
        values["client_id"] = invoice["client_id"]
        if (request.form.get("action") or "save") == "add_line":
            values["lines"].append({field: "" for field in LINE_FIELDS})
            return self._invoice_form(view, values, {}, invoice=invoice)
        errors = {}
        lines, rows = invoice_lines(values, view.locale, errors)
        if errors:
            return self._invoice_form(view, values, errors, 422, invoice=invoice)
        changes = {"currency": values["currency"], "lines": lines,
                   "project_id": values["project_id"] or None,
                   "issue_date": values["issue_date"] or None,
                   "due_date": values["due_date"] or None}
        version = int(values["version"]) if values["version"].isdigit() else None
        try:
            result = self.billing_rpc.update_invoice(
                view.ctx, invoice_id, storable(changes), expected_version=version,
                consistency=command_token(self, request, invoice["client_id"],
                                          values["project_id"] or None))
        except ValidationFailed as exc:
            detail, found = localized(exc, view.locale)
            return self._invoice_form(view, values, row_errors(found, rows) or
                                      {"_form": [detail]}, 422, invoice=invoice)
        except (PreconditionFailed, Conflict) as exc:
            current = self.billing_rpc.get_invoice(view.ctx, invoice_id)
            values["version"] = str(current["version"])
            return self._invoice_form(view, values, {}, 409, invoice=current,
                                      detail=localized(exc, view.locale)[0])
        return go_to(view, done_url(f"/invoices/{invoice_id}", result["position"], "saved"))

    # -- invoices: the page and its actions --------------------------------------------

    def _invoice_page(self, view, invoice_id, status=200, errors=None, detail=None,
                      values=None, invoice=None):
        invoice = invoice or self.billing_rpc.get_invoice(view.ctx, invoice_id)
        client = self._billing_document_client(view, invoice)
        done = view.request.args.get("done") if status == 200 else None
        token = view.request.args.get("ct") or ""
        owed = Decimal(invoice.get("outstanding") or "0")
        unpaid = Decimal(invoice.get("paid") or "0") == 0
        return view.render("invoice.html", form_status(view, status), invoice=invoice,
                           can_pay=invoice["status"] == "authorized" and owed > 0,
                           can_void=invoice["status"] == "draft" or
                           (invoice["status"] == "authorized" and unpaid),
                           client=client, errors=errors or {}, detail=detail,
                           values=values or {"amount": amounts.local_text(
                               invoice.get("outstanding"), view.locale),
                               "date": today_utc().isoformat()},
                           done=done if done in DONE else None,
                           client_url=self._billing_client_url(invoice["client_id"], token),
                           today=today_utc().isoformat())

    def _billing_document_client(self, view, document):
        try:
            return self.contacts_rpc.get_client(view.ctx, document["client_id"])
        except NotFound:
            return None

    @staticmethod
    def _billing_client_url(client_id, token):
        """The client's page; with the write's token it waits until the overview shows it."""
        query = "?" + urllib.parse.urlencode({"ct": token}) if token else ""
        return f"/clients/{client_id}{query}"

    @page("GET", "/invoices/<string:invoice_id>")
    def web_invoice(self, view, invoice_id):
        return self._invoice_page(view, invoice_id)

    def _invoice_action(self, view, invoice_id, command, data, done, values=None):
        """Run ``command(ctx, invoice_id, data, expected_version=...)``; the invoice page
        again, with the refusal's words where they belong."""
        version = view.request.form.get("version") or ""
        try:
            result = command(view.ctx, invoice_id, storable(data),
                             expected_version=int(version) if version.isdigit() else None)
        except ValidationFailed as exc:
            detail, errors = localized(exc, view.locale)
            return self._invoice_page(view, invoice_id, 422, errors=errors or None,
                                      detail=None if errors else detail, values=values)
        except (Conflict, PreconditionFailed) as exc:
            return self._invoice_page(view, invoice_id, exc.status,
                                      detail=localized(exc, view.locale)[0])
        return go_to(view, done_url(f"/invoices/{invoice_id}", result["position"], done))

    @page("POST", "/invoices/<string:invoice_id>/issue", role="member")
    def web_issue_invoice(self, view, invoice_id):
        form = view.request.form
        data = {name: form.get(name).strip() for name in ("issue_date", "due_date")
                if (form.get(name) or "").strip()}
        return self._invoice_action(view, invoice_id, self.billing_rpc.issue_invoice, data,
                                    "issued")

    @page("POST", "/invoices/<string:invoice_id>/payments", role="member")
    def web_record_payment(self, view, invoice_id):
        form = view.request.form
        values = {"amount": (form.get("amount") or "").strip(),
                  "date": (form.get("date") or "").strip()}
        errors = {}
        amount = read_amount(values, "amount", view.locale, errors)
        if not values["date"]:
            errors["date"] = [_gettext(view.locale)(REQUIRED)]
        if errors:
            return self._invoice_page(view, invoice_id, 422, errors=errors, values=values)
        return self._invoice_action(view, invoice_id, self.billing_rpc.record_payment,
                                    {"amount": amount, "date": values["date"]}, "payment",
                                    values=values)

    @page("POST", "/invoices/<string:invoice_id>/void", role="member")
    def web_void_invoice(self, view, invoice_id):
        reason = (view.request.form.get("reason") or "").strip()
        return self._invoice_action(view, invoice_id, self.billing_rpc.void_invoice,
                                    {"reason": reason} if reason else {}, "voided")

    # -- purchase orders and quotes ------------------------------------------------------

    def _simple_form(self, view, kind, values, errors, status=200):
        return view.render("billing_form.html", form_status(view, status), kind=kind,
                           form_id=new_form_id(),
                           values=values, errors=errors,
                           clients=self._billing_clients(view, values.get("client_q", ""),
                                                         values.get("client_id")),
                           projects=self._billing_projects(view, values.get("client_id")),
                           currencies=currency_choices(values.get("currency")),
                           example=amounts.example(view.locale))

    def _new_simple(self, view, kind, date_field, create, key):
        request = view.request
        names = ("client_id", "project_id", "currency", "total", date_field, "client_q")
        if request.method == "GET":
            values = {name: (request.args.get(name) or "").strip() for name in names}
            values["currency"] = values["currency"] or LOCALE_CURRENCY.get(view.locale, "EUR")
            values[date_field] = values[date_field] or today_utc().isoformat()
            return self._simple_form(view, kind, values, {})
        values = {name: (request.form.get(name) or "").strip() for name in names}
        errors = {}
        if not values["client_id"]:
            errors["client_id"] = [_gettext(view.locale)(CHOOSE_CLIENT)]
        total = read_amount(values, "total", view.locale, errors)
        if not values[date_field]:
            errors[date_field] = [_gettext(view.locale)(REQUIRED)]
        if errors:
            return self._simple_form(view, kind, values, errors, 422)
        once_per_form(view)
        data = {"client_id": values["client_id"], "currency": values["currency"],
                "total": total, date_field: values[date_field]}
        if values["project_id"]:
            data["project_id"] = values["project_id"]
        try:
            result = create(view.ctx, storable(data), consistency=command_token(
                self, request, values["client_id"], values["project_id"] or None))
        except ValidationFailed as exc:
            detail, found = localized(exc, view.locale)
            return self._simple_form(view, kind, values, found or {"_form": [detail]}, 422)
        document = result[key]
        return go_to(view, done_url(f"/{kind}/{document['id']}", result["position"],
                                    "created"))

    @page("GET,POST", "/purchase-orders/new", role="member")
    def web_new_purchase_order(self, view):
        return self._new_simple(view, "purchase-orders", "date",
                                self.billing_rpc.place_purchase_order, "purchase_order")

    @page("GET,POST", "/quotes/new", role="member")
    def web_new_quote(self, view):
        return self._new_simple(view, "quotes", "valid_until", self.billing_rpc.create_quote,
                                "quote")

    def _simple_page(self, view, kind, document, status=200, detail=None):
        done = view.request.args.get("done") if status == 200 else None
        return view.render("billing_document.html", form_status(view, status), kind=kind,
                           document=document, client=self._billing_document_client(view, document),
                           detail=detail, done=done if done in DONE else None,
                           client_url=self._billing_client_url(document["client_id"],
                                                       view.request.args.get("ct") or ""))

    @page("GET", "/purchase-orders/<string:order_id>")
    def web_purchase_order(self, view, order_id):
        return self._simple_page(view, "purchase-orders",
                                 self.billing_rpc.get_purchase_order(view.ctx, order_id))

    @page("GET", "/quotes/<string:quote_id>")
    def web_quote(self, view, quote_id):
        return self._simple_page(view, "quotes", self.billing_rpc.get_quote(view.ctx, quote_id))

    def _simple_action(self, view, kind, document_id, command, read, done):
        version = view.request.form.get("version") or ""
        try:
            result = command(view.ctx, document_id,
                             expected_version=int(version) if version.isdigit() else None)
        except (Conflict, PreconditionFailed) as exc:
            return self._simple_page(view, kind, read(view.ctx, document_id), exc.status,
                                     detail=localized(exc, view.locale)[0])
        return go_to(view, done_url(f"/{kind}/{document_id}", result["position"], done))

    @page("POST", "/purchase-orders/<string:order_id>/finalize", role="member")
    def web_finalize_purchase_order(self, view, order_id):
        return self._simple_action(view, "purchase-orders", order_id,
                                   self.billing_rpc.finalize_purchase_order,
                                   self.billing_rpc.get_purchase_order, "finalized")

    @page("POST", "/quotes/<string:quote_id>/<any(send,accept,reject):action>", role="member")
    def web_quote_action(self, view, quote_id, action):
        done = {"send": "sent", "accept": "accepted", "reject": "rejected"}[action]
        return self._simple_action(view, "quotes", quote_id,
                                   getattr(self.billing_rpc, f"{action}_quote"),
                                   self.billing_rpc.get_quote, done)
