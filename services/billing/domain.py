"""Billing's aggregates and their events: sales invoices, purchase orders, quotes.

Pure: no I/O, no clock. Times (``at``) and invoice numbers are handed in by
the service; every amount leaves as a decimal string (see ``money``) and every
date as ``YYYY-MM-DD``.

Every event's ``data`` is what other services receive, so each one is
self-contained: the document id (``invoice_id`` / ``purchase_order_id`` /
``quote_id``), ``client_id``, ``project_id``, ``currency`` and the document's
amounts are always in it.

Lifecycles (anything else raises ``Conflict``, HTTP 409)::

    Invoice        draft --issue--> authorized --payments--> paid
                   draft --void--> void          authorized (nothing paid) --void--> void
    PurchaseOrder  placed --finalize--> finalized
    Quote          draft --send--> sent --accept--> accepted
                                        --reject--> rejected

``overdue`` and ``pending`` are not states: ``invoice_standing`` derives them
from the due date, what is still owed and the ``as_of`` date only.

Decisions where the product contract is silent:

* A draft may have no lines, but an invoice with no lines cannot be issued
  (409). A zero total may be issued; as nothing is owed it is paid at once
  (``InvoiceIssued`` is followed by ``InvoicePaid``).
* A draft is editable (project, currency, dates, lines) but not re-pointed to
  another client by an edit; ``change_client`` (client merges) works in any
  state. Issuing freezes the invoice: any edit afterwards is a 409.
* ``issue`` takes the issue date (and an optional due date); a missing due
  date defaults to the issue date (due on receipt). ``due_date >= issue_date``
  is always required (422).
* Voiding: a draft may be voided (that is how a draft is discarded; it never
  had a number), an authorized invoice only while nothing at all has been
  paid on it. A voided invoice keeps its number, which is never reused.
  Paid, partly paid and void invoices cannot be voided (409).
* Payments: only on an authorized invoice (draft, paid, void: 409); an amount
  must be > 0, have no more decimals than the currency and not exceed what is
  still owed (422 on ``amount``). The payment date is not checked against the
  issue date (advance payments are recorded when the invoice exists).
* Quotes are accepted or rejected only once sent (draft -> accepted is a
  409: send it first). ``valid_until`` is informative: expiry is not
  enforced by the aggregate (it has no clock).
* Purchase orders and quotes have a total given directly (>= 0, with no more
  decimals than the currency allows).
* A command that changes nothing (an edit with the same values, re-pointing
  to the same client) records no event and returns ``False``.
"""
import re
from datetime import date as Date
from decimal import Decimal

from services.common.aggregate import Aggregate
from services.common.errors import Conflict, NotFound, ValidationFailed

from . import messages  # noqa: F401  (registers the codes of the messages below)
from . import money

# -- event types (services.common.contract lists them for the billing source) ------

INVOICE_DRAFTED = "InvoiceDrafted"
INVOICE_DRAFT_UPDATED = "InvoiceDraftUpdated"
INVOICE_ISSUED = "InvoiceIssued"
INVOICE_PAYMENT_RECORDED = "InvoicePaymentRecorded"
INVOICE_PAID = "InvoicePaid"
INVOICE_VOIDED = "InvoiceVoided"
INVOICE_CLIENT_CHANGED = "InvoiceClientChanged"
PURCHASE_ORDER_PLACED = "PurchaseOrderPlaced"
PURCHASE_ORDER_FINALIZED = "PurchaseOrderFinalized"
PURCHASE_ORDER_CLIENT_CHANGED = "PurchaseOrderClientChanged"
QUOTE_CREATED = "QuoteCreated"
QUOTE_STATUS_CHANGED = "QuoteStatusChanged"
QUOTE_CLIENT_CHANGED = "QuoteClientChanged"

# -- statuses ---------------------------------------------------------------------

DRAFT, AUTHORIZED, PAID, VOID = "draft", "authorized", "paid", "void"
INVOICE_STATUSES = (DRAFT, AUTHORIZED, PAID, VOID)
PENDING, OVERDUE = "pending", "overdue"
INVOICE_STANDINGS = (DRAFT, PAID, PENDING, OVERDUE, VOID)

PLACED, FINALIZED = "placed", "finalized"
PURCHASE_ORDER_STATUSES = (PLACED, FINALIZED)

SENT, ACCEPTED, REJECTED = "sent", "accepted", "rejected"
QUOTE_STATUSES = (DRAFT, SENT, ACCEPTED, REJECTED)
OPEN_QUOTE_STATUSES = (DRAFT, SENT)
QUOTE_TRANSITIONS = {  # command -> (allowed from, to)
    "send": ((DRAFT,), SENT),
    "accept": ((SENT,), ACCEPTED),
    "reject": ((SENT,), REJECTED),
}

MAX_LINES = 1000
MAX_DESCRIPTION = 1000
INVOICE_EDITABLE_FIELDS = ("project_id", "currency", "issue_date", "due_date", "lines")

_NUMBER = re.compile(r"^(\d{4})-(\d{6})$")


# -- small pure helpers --------------------------------------------------------------


def format_invoice_number(year, sequence):
    """``format_invoice_number(2026, 123) == "2026-000123"`` (gap-free per workspace and year)."""
    if not 1 <= int(sequence) <= 999999:
        raise ValueError("an invoice sequence runs from 1 to 999999 in a year")
    return f"{int(year):04d}-{int(sequence):06d}"


def parse_invoice_number(number):
    """``"2026-000123"`` -> ``(2026, 123)``; ``ValueError`` for any other shape."""
    match = _NUMBER.match(number or "") if isinstance(number, str) else None
    if not match or int(match.group(2)) == 0:
        raise ValueError(f"invoice number {number!r} is not of the form YYYY-NNNNNN")
    return int(match.group(1)), int(match.group(2))


def to_date(value):
    """A ``datetime.date`` from a date or a ``YYYY-MM-DD`` string (``None`` stays ``None``)."""
    if value is None or (isinstance(value, Date) and not hasattr(value, "hour")):
        return value
    if hasattr(value, "date") and callable(value.date):  # a datetime
        return value.date()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return Date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError("must be a valid date written YYYY-MM-DD")


def date_text(value):
    """The wire form of a date: ``YYYY-MM-DD`` (``None`` stays ``None``)."""
    value = to_date(value)
    return None if value is None else value.isoformat()


def invoice_standing(status, due_date, outstanding, as_of):
    """What the overview and drill-downs count an invoice as on ``as_of``.

    ``draft`` and ``void`` as they are; ``paid`` when fully paid; an authorized
    invoice still owing something is ``pending`` while ``due_date >= as_of``
    and ``overdue`` once ``due_date < as_of``. Depends on its arguments only,
    so the figures move with ``as_of`` without any new event.
    """
    if status in (DRAFT, VOID, PAID):
        return status
    if status != AUTHORIZED:
        raise ValueError(f"unknown invoice status {status!r}")
    if money.parse_decimal(outstanding) <= 0:
        return PAID
    due, day = to_date(due_date), to_date(as_of)
    if due is None or due >= day:
        return PENDING
    return OVERDUE


def _invalid(path, message, detail="some fields are invalid"):
    return ValidationFailed(detail, {path: [message]})


def _currency(value, path="currency"):
    try:
        return money.normalize_currency(value)
    except money.UnknownCurrency as exc:
        raise _invalid(path, str(exc)) from None


def _amount(value, currency, path, *, allow_zero):
    try:
        return money.parse_amount(value, currency, allow_zero=allow_zero)
    except money.InvalidAmount as exc:
        raise _invalid(path, str(exc)) from None


def _date(value, path, *, required):
    if value is None:
        if required:
            raise _invalid(path, "a date is required")
        return None
    try:
        return date_text(value)
    except ValueError as exc:
        raise _invalid(path, str(exc)) from None


def _id(value, path, *, required=True):
    if value is None:
        if required:
            raise _invalid(path, "an id is required")
        return None
    text = str(value)
    if not text.strip():
        raise _invalid(path, "an id is required")
    return text


def _check_dates(issue_date, due_date, path="due_date"):
    if issue_date and due_date and to_date(due_date) < to_date(issue_date):
        raise _invalid(path, f"due date {due_date} is before the issue date {issue_date}")


def normalize_lines(lines, currency):
    """Validate invoice lines and compute their amounts.

    Returns JSON-safe dicts ``{description, quantity, unit_price, tax_rate, net,
    tax, total}`` (decimal strings); raises ``ValidationFailed`` naming every
    bad field at once by path (``lines.0.quantity``).
    """
    if lines is None:
        lines = []
    if not isinstance(lines, (list, tuple)):
        raise _invalid("lines", "must be a list of lines")
    if len(lines) > MAX_LINES:
        raise _invalid("lines", f"at most {MAX_LINES} lines")
    errors, result = {}, []
    parsers = (("quantity", money.parse_quantity), ("unit_price", money.parse_unit_price),
               ("tax_rate", money.parse_tax_rate))
    places = money.minor_units(currency)
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            errors[f"lines.{index}"] = ["must be an object"]
            continue
        values = {}
        description = line.get("description")
        if not isinstance(description, str) or not description.strip():
            errors[f"lines.{index}.description"] = ["a description is required"]
        elif len(description) > MAX_DESCRIPTION:
            errors[f"lines.{index}.description"] = [
                f"at most {MAX_DESCRIPTION} characters"]
        for name, parse in parsers:
            if line.get(name) is None:
                errors[f"lines.{index}.{name}"] = ["a value is required"]
                continue
            try:
                values[name] = parse(line[name])
            except money.InvalidAmount as exc:
                errors[f"lines.{index}.{name}"] = [str(exc)]
        extra = set(line) - {"description", "quantity", "unit_price", "tax_rate",
                             "net", "tax", "total"}
        for name in sorted(extra):
            errors[f"lines.{index}.{name}"] = ["unknown field"]
        if f"lines.{index}" in errors or any(k.startswith(f"lines.{index}.") for k in errors):
            continue
        amounts = money.line_amounts(values["quantity"], values["unit_price"],
                                     values["tax_rate"], currency)
        result.append({
            "description": description,
            "quantity": money.format_decimal(values["quantity"]),
            "unit_price": money.format_decimal(values["unit_price"], places),
            "tax_rate": money.format_decimal(values["tax_rate"]),
            "net": money.format_amount(amounts.net, currency),
            "tax": money.format_amount(amounts.tax, currency),
            "total": money.format_amount(amounts.total, currency),
        })
    if errors:
        raise ValidationFailed("some invoice lines are invalid", errors)
    return result


def _totals(lines, currency):
    """Totals of already-normalised lines (sums of their rounded amounts)."""
    subtotal = money.sum_amounts(line["net"] for line in lines)
    tax = money.sum_amounts(line["tax"] for line in lines)
    return {"subtotal": money.format_amount(subtotal, currency),
            "tax": money.format_amount(tax, currency),
            "total": money.format_amount(subtotal + tax, currency)}


class _Document(Aggregate):
    """What invoices, orders and quotes share: workspace, client, project, currency."""

    noun = "document"
    id_key = "document_id"
    client_changed_event = None

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.workspace = None
        self.client_id = None
        self.project_id = None
        self.currency = None
        self.status = None
        self.created_at = None
        self.updated_at = None
        self.client_changes = []  # [{client_id, previous_client_id, reason, merge_id}]

    def ensure_in(self, workspace):
        """Raise ``NotFound`` unless the document exists in ``workspace``."""
        if not self.exists or self.workspace != workspace:
            raise NotFound(f"no such {self.noun}")

    def _ensure_exists(self):
        if not self.exists:
            raise NotFound(f"no such {self.noun}")

    def _ensure_new(self):
        if self.exists:
            raise Conflict(f"this {self.noun} already exists")

    def _identity(self):
        """The keys every event of the document carries."""
        return {self.id_key: self.id, "client_id": self.client_id,
                "project_id": self.project_id, "currency": self.currency}

    def _facts(self):
        """The document's amounts (decimal strings) and dates, for self-contained events."""
        raise NotImplementedError

    def change_client(self, new_client_id, reason=None, merge_id=None, at=None):
        """Re-point the document to another client (client merges and unmerges).

        Allowed in every state. Returns ``False`` (no event) when the document
        already belongs to ``new_client_id``.
        """
        self._ensure_exists()
        new_client_id = _id(new_client_id, "client_id")
        if new_client_id == self.client_id:
            return False
        self._record(self.client_changed_event, {
            **self._identity(), "client_id": new_client_id,
            "previous_client_id": self.client_id, "status": self.status,
            **self._facts(), "reason": reason, "merge_id": merge_id, "updated_at": at,
        })
        return True

    def _apply_client_changed(self, data):
        self.client_changes.append({
            "client_id": data["client_id"], "previous_client_id": data["previous_client_id"],
            "reason": data.get("reason"), "merge_id": data.get("merge_id")})
        self.client_id = data["client_id"]
        self.updated_at = data.get("updated_at") or self.updated_at


# -- invoices ---------------------------------------------------------------------------


class Invoice(_Document):
    """A sales invoice: drafted, issued (authorized) with a number, paid or voided."""

    noun = "invoice"
    id_key = "invoice_id"
    client_changed_event = INVOICE_CLIENT_CHANGED

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.number = None
        self.issue_date = None
        self.due_date = None
        self.lines = []
        self.subtotal = self.tax = self.total = None
        self.paid = None
        self.payments = []  # [{"amount", "date"}]
        self.issued_at = None
        self.paid_at = None
        self.voided_at = None
        self.void_reason = None

    # -- derived -----------------------------------------------------------------

    @property
    def outstanding(self):
        """What is still owed, as a decimal string (the total while a draft)."""
        if self.total is None:
            return None
        return money.format_amount(Decimal(self.total) - Decimal(self.paid or 0), self.currency)

    def standing(self, as_of):
        return invoice_standing(self.status, self.due_date, self.outstanding, as_of)

    def _facts(self):
        return {"subtotal": self.subtotal, "tax": self.tax, "total": self.total,
                "paid": self.paid, "outstanding": self.outstanding}

    def _ensure_draft(self, action):
        self._ensure_exists()
        if self.status != DRAFT:
            raise Conflict(f"invoice is {self.status}: only a draft can be {action}"
                           + (f" (invoice {self.number} is issued and frozen)"
                              if self.number else ""))

    # -- commands ----------------------------------------------------------------

    def draft(self, workspace, client_id, currency, lines=(), project_id=None,
              issue_date=None, due_date=None, at=None):
        """Start a draft; ``lines`` are dicts of description, quantity, unit_price, tax_rate."""
        self._ensure_new()
        errors = {}
        values = {}
        for key, check in (
                ("client_id", lambda: _id(client_id, "client_id")),
                ("project_id", lambda: _id(project_id, "project_id", required=False)),
                ("currency", lambda: _currency(currency)),
                ("issue_date", lambda: _date(issue_date, "issue_date", required=False)),
                ("due_date", lambda: _date(due_date, "due_date", required=False))):
            try:
                values[key] = check()
            except ValidationFailed as exc:
                errors.update(exc.errors)
        if "currency" in values:
            try:
                values["lines"] = normalize_lines(list(lines or ()), values["currency"])
            except ValidationFailed as exc:
                errors.update(exc.errors)
        if not errors:
            try:
                _check_dates(values["issue_date"], values["due_date"])
            except ValidationFailed as exc:
                errors.update(exc.errors)
        if errors:
            raise ValidationFailed("some fields are invalid", errors)
        self._record(INVOICE_DRAFTED, {
            "invoice_id": self.id, "workspace": workspace, "client_id": values["client_id"],
            "project_id": values["project_id"], "currency": values["currency"],
            "status": DRAFT, "issue_date": values["issue_date"],
            "due_date": values["due_date"], "lines": values["lines"],
            **_totals(values["lines"], values["currency"]), "created_at": at,
        })

    def update_draft(self, changes, at=None):
        """Edit a draft: any of project_id, currency, issue_date, due_date, lines.

        Lines replace the previous ones as a whole; a new currency re-rounds
        them. Returns ``False`` (no event) when nothing changes.
        """
        self._ensure_draft("edited")
        unknown = sorted(set(changes) - set(INVOICE_EDITABLE_FIELDS))
        if unknown:
            raise ValidationFailed("some fields cannot be changed",
                                   {name: ["cannot be changed on an invoice draft"]
                                    for name in unknown})
        errors, new = {}, {}
        checks = {
            "project_id": lambda v: _id(v, "project_id", required=False),
            "currency": lambda v: _currency(v),
            "issue_date": lambda v: _date(v, "issue_date", required=False),
            "due_date": lambda v: _date(v, "due_date", required=False),
        }
        for key, check in checks.items():
            if key in changes:
                try:
                    new[key] = check(changes[key])
                except ValidationFailed as exc:
                    errors.update(exc.errors)
        currency = new.get("currency", self.currency)
        if "currency" not in errors:
            source = changes["lines"] if "lines" in changes else self.lines
            try:
                new["lines"] = normalize_lines(list(source or ()), currency)
            except ValidationFailed as exc:
                errors.update(exc.errors)
        if not errors:
            try:
                _check_dates(new.get("issue_date", self.issue_date),
                             new.get("due_date", self.due_date))
            except ValidationFailed as exc:
                errors.update(exc.errors)
        if errors:
            raise ValidationFailed("some fields are invalid", errors)
        current = {"project_id": self.project_id, "currency": self.currency,
                   "issue_date": self.issue_date, "due_date": self.due_date,
                   "lines": self.lines}
        state = {**current, **new}
        changed = [key for key in INVOICE_EDITABLE_FIELDS if state[key] != current[key]]
        if not changed:
            return False
        self._record(INVOICE_DRAFT_UPDATED, {
            "invoice_id": self.id, "client_id": self.client_id,
            "project_id": state["project_id"], "currency": state["currency"],
            "status": DRAFT, "issue_date": state["issue_date"], "due_date": state["due_date"],
            "lines": state["lines"], **_totals(state["lines"], state["currency"]),
            "changed": changed,
            "previous": {key: current[key] for key in changed if key != "lines"},
            "updated_at": at,
        })
        return True

    def issue(self, number, issue_date, due_date=None, at=None):
        """Authorize the draft under ``number`` (allocated by the service).

        ``issue_date`` is required; ``due_date`` defaults to the draft's, then
        to the issue date. A zero total is paid at issue (nothing is owed).
        """
        self._ensure_exists()
        if self.status != DRAFT:
            raise Conflict(f"invoice is already {self.status}"
                           + (f" as {self.number}" if self.number else "")
                           + ": only a draft can be issued")
        if not self.lines:
            raise Conflict("an invoice with no lines cannot be issued: add at least one line")
        issue_date = _date(issue_date, "issue_date", required=True)
        due_date = _date(due_date, "due_date", required=False) or self.due_date or issue_date
        _check_dates(issue_date, due_date)
        year, _sequence = parse_invoice_number(number)
        if year != to_date(issue_date).year:
            raise ValueError(f"invoice number {number} is not of the issue year {issue_date}")
        self._record(INVOICE_ISSUED, {
            "invoice_id": self.id, "number": number, "client_id": self.client_id,
            "project_id": self.project_id, "currency": self.currency,
            "subtotal": self.subtotal, "tax": self.tax, "total": self.total,
            "issue_date": issue_date, "due_date": due_date, "status": AUTHORIZED,
            "paid": money.format_amount(0, self.currency), "outstanding": self.total,
            "updated_at": at,
        })
        if Decimal(self.total) == 0:
            self._record_paid(issue_date, at)

    def record_payment(self, amount, date, at=None):
        """Record a payment (partial allowed); the last one that settles it makes it paid."""
        self._ensure_exists()
        if self.status == DRAFT:
            raise Conflict("a draft invoice cannot take payments: issue it first")
        if self.status == VOID:
            raise Conflict(f"invoice {self.number} is void: it cannot take payments")
        if self.status == PAID:
            raise Conflict(f"invoice {self.number} is already fully paid")
        errors = {}
        try:
            amount = _amount(amount, self.currency, "amount", allow_zero=False)
        except ValidationFailed as exc:
            errors.update(exc.errors)
        try:
            date = _date(date, "date", required=True)
        except ValidationFailed as exc:
            errors.update(exc.errors)
        if "amount" not in errors and amount > Decimal(self.outstanding):
            errors["amount"] = [f"exceeds what is still owed: {self.outstanding} {self.currency}"]
        if errors:
            raise ValidationFailed("the payment is invalid", errors)
        paid = Decimal(self.paid) + amount
        outstanding = Decimal(self.total) - paid
        self._record(INVOICE_PAYMENT_RECORDED, {
            "invoice_id": self.id, "number": self.number, "client_id": self.client_id,
            "project_id": self.project_id, "currency": self.currency,
            "amount": money.format_amount(amount, self.currency), "date": date,
            "total": self.total, "paid": money.format_amount(paid, self.currency),
            "outstanding": money.format_amount(outstanding, self.currency),
            "updated_at": at,
        })
        if outstanding == 0:
            self._record_paid(date, at)

    def _record_paid(self, date, at):
        self._record(INVOICE_PAID, {
            "invoice_id": self.id, "number": self.number, "client_id": self.client_id,
            "project_id": self.project_id, "currency": self.currency,
            "total": self.total, "paid": self.paid, "outstanding": self.outstanding,
            "issue_date": self.issue_date, "due_date": self.due_date,
            "paid_date": date, "updated_at": at,
        })

    def void(self, reason=None, at=None):
        """Void a draft (discard it) or an authorized invoice on which nothing was paid."""
        self._ensure_exists()
        if self.status == VOID:
            raise Conflict("invoice is already void")
        if self.status == PAID:
            raise Conflict(f"invoice {self.number} is paid: it cannot be voided")
        if self.status == AUTHORIZED and Decimal(self.paid) > 0:
            raise Conflict(f"invoice {self.number} is partly paid ({self.paid} {self.currency}):"
                           " only an unpaid invoice can be voided")
        self._record(INVOICE_VOIDED, {
            "invoice_id": self.id, "number": self.number, "client_id": self.client_id,
            "project_id": self.project_id, "currency": self.currency,
            "subtotal": self.subtotal, "tax": self.tax, "total": self.total,
            "issue_date": self.issue_date, "due_date": self.due_date,
            "previous_status": self.status, "status": VOID, "reason": reason,
            "updated_at": at,
        })

    # -- state changes ----------------------------------------------------------------

    def _apply_draft_fields(self, data):
        self.project_id = data["project_id"]
        self.currency = data["currency"]
        self.issue_date = data["issue_date"]
        self.due_date = data["due_date"]
        self.lines = [dict(line) for line in data["lines"]]
        self.subtotal, self.tax, self.total = data["subtotal"], data["tax"], data["total"]
        self.paid = money.format_amount(0, self.currency)

    def apply_invoice_drafted(self, data):
        self.workspace = data.get("workspace")
        self.client_id = data["client_id"]
        self.status = DRAFT
        self._apply_draft_fields(data)
        self.created_at = self.updated_at = data.get("created_at")

    def apply_invoice_draft_updated(self, data):
        self._apply_draft_fields(data)
        self.updated_at = data.get("updated_at") or self.updated_at

    def apply_invoice_issued(self, data):
        self.status = AUTHORIZED
        self.number = data["number"]
        self.issue_date = data["issue_date"]
        self.due_date = data["due_date"]
        self.issued_at = data.get("updated_at")
        self.updated_at = data.get("updated_at") or self.updated_at

    def apply_invoice_payment_recorded(self, data):
        self.payments.append({"amount": data["amount"], "date": data["date"]})
        self.paid = data["paid"]
        self.updated_at = data.get("updated_at") or self.updated_at

    def apply_invoice_paid(self, data):
        self.status = PAID
        self.paid_at = data.get("updated_at")
        self.updated_at = data.get("updated_at") or self.updated_at

    def apply_invoice_voided(self, data):
        self.status = VOID
        self.void_reason = data.get("reason")
        self.voided_at = data.get("updated_at")
        self.updated_at = data.get("updated_at") or self.updated_at

    def apply_invoice_client_changed(self, data):
        self._apply_client_changed(data)

    # -- the resource ------------------------------------------------------------------

    def to_dict(self, as_of=None):
        """The invoice as the API returns it (``standing`` too when ``as_of`` is given)."""
        result = {
            "id": self.id, "version": self.next_version, "status": self.status,
            "number": self.number, "client_id": self.client_id,
            "project_id": self.project_id, "currency": self.currency,
            "issue_date": self.issue_date, "due_date": self.due_date,
            "lines": [dict(line) for line in self.lines],
            "subtotal": self.subtotal, "tax": self.tax, "total": self.total,
            "paid": self.paid, "outstanding": self.outstanding,
            "payments": [dict(payment) for payment in self.payments],
            "created_at": self.created_at, "updated_at": self.updated_at,
            "issued_at": self.issued_at, "paid_at": self.paid_at,
            "voided_at": self.voided_at, "void_reason": self.void_reason,
        }
        if as_of is not None:
            result["standing"] = self.standing(as_of)
            result["as_of"] = date_text(as_of)
        return result


# -- purchase orders --------------------------------------------------------------------



def _document_values(client_id, project_id, currency, total, date_field, date_value):
    """The checked fields of a purchase order or a quote; every invalid one reported at once."""
    errors, values = {}, {}
    for key, check in (
            ("client_id", lambda: _id(client_id, "client_id")),
            ("project_id", lambda: _id(project_id, "project_id", required=False)),
            ("currency", lambda: _currency(currency)),
            (date_field, lambda: _date(date_value, date_field, required=True))):
        try:
            values[key] = check()
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if "currency" in values:
        try:
            values["total"] = _amount(total, values["currency"], "total", allow_zero=True)
        except ValidationFailed as exc:
            errors.update(exc.errors)
    if errors:
        raise ValidationFailed("some fields are invalid", errors)
    return values

class PurchaseOrder(_Document):
    """A purchase order of a client: placed, then finalized (once)."""

    noun = "purchase order"
    id_key = "purchase_order_id"
    client_changed_event = PURCHASE_ORDER_CLIENT_CHANGED

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.total = None
        self.date = None
        self.finalized_at = None

    def _facts(self):
        return {"total": self.total, "date": self.date}

    def place(self, workspace, client_id, project_id, currency, total, date, at=None):
        self._ensure_new()
        values = _document_values(client_id, project_id, currency, total, "date", date)
        self._record(PURCHASE_ORDER_PLACED, {
            "purchase_order_id": self.id, "workspace": workspace,
            "client_id": values["client_id"], "project_id": values["project_id"],
            "currency": values["currency"],
            "total": money.format_amount(values["total"], values["currency"]),
            "date": values["date"], "status": PLACED, "created_at": at,
        })

    def finalize(self, at=None):
        self._ensure_exists()
        if self.status == FINALIZED:
            raise Conflict("purchase order is already finalized")
        self._record(PURCHASE_ORDER_FINALIZED, {
            **self._identity(), "total": self.total, "date": self.date,
            "status": FINALIZED, "previous_status": self.status, "updated_at": at,
        })

    def apply_purchase_order_placed(self, data):
        self.workspace = data.get("workspace")
        self.client_id = data["client_id"]
        self.project_id = data["project_id"]
        self.currency = data["currency"]
        self.total = data["total"]
        self.date = data["date"]
        self.status = PLACED
        self.created_at = self.updated_at = data.get("created_at")

    def apply_purchase_order_finalized(self, data):
        self.status = FINALIZED
        self.finalized_at = data.get("updated_at")
        self.updated_at = data.get("updated_at") or self.updated_at

    def apply_purchase_order_client_changed(self, data):
        self._apply_client_changed(data)

    def to_dict(self):
        return {
            "id": self.id, "version": self.next_version, "status": self.status,
            "client_id": self.client_id, "project_id": self.project_id,
            "currency": self.currency, "total": self.total, "date": self.date,
            "created_at": self.created_at, "updated_at": self.updated_at,
            "finalized_at": self.finalized_at,
        }


# -- quotes ----------------------------------------------------------------------------------


class Quote(_Document):
    """A quote (offer) to a client: draft, sent, then accepted or rejected."""

    noun = "quote"
    id_key = "quote_id"
    client_changed_event = QUOTE_CLIENT_CHANGED

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.total = None
        self.valid_until = None

    @property
    def is_open(self):
        """Counted among the overview's open quotes (draft or sent)."""
        return self.status in OPEN_QUOTE_STATUSES

    def _facts(self):
        return {"total": self.total, "valid_until": self.valid_until}

    def create(self, workspace, client_id, project_id, currency, total, valid_until, at=None):
        self._ensure_new()
        values = _document_values(client_id, project_id, currency, total, "valid_until",
                                  valid_until)
        self._record(QUOTE_CREATED, {
            "quote_id": self.id, "workspace": workspace,
            "client_id": values["client_id"], "project_id": values["project_id"],
            "currency": values["currency"],
            "total": money.format_amount(values["total"], values["currency"]),
            "valid_until": values["valid_until"], "status": DRAFT, "created_at": at,
        })

    def _transition(self, command, at):
        self._ensure_exists()
        allowed, target = QUOTE_TRANSITIONS[command]
        if self.status not in allowed:
            raise Conflict(f"a {self.status} quote cannot be {target}"
                           f" (only a {' or '.join(allowed)} quote can)")
        self._record(QUOTE_STATUS_CHANGED, {
            **self._identity(), "total": self.total, "valid_until": self.valid_until,
            "status": target, "previous_status": self.status, "updated_at": at,
        })

    def send(self, at=None):
        self._transition("send", at)

    def accept(self, at=None):
        self._transition("accept", at)

    def reject(self, at=None):
        self._transition("reject", at)

    def apply_quote_created(self, data):
        self.workspace = data.get("workspace")
        self.client_id = data["client_id"]
        self.project_id = data["project_id"]
        self.currency = data["currency"]
        self.total = data["total"]
        self.valid_until = data["valid_until"]
        self.status = DRAFT
        self.created_at = self.updated_at = data.get("created_at")

    def apply_quote_status_changed(self, data):
        self.status = data["status"]
        self.updated_at = data.get("updated_at") or self.updated_at

    def apply_quote_client_changed(self, data):
        self._apply_client_changed(data)

    def to_dict(self):
        return {
            "id": self.id, "version": self.next_version, "status": self.status,
            "client_id": self.client_id, "project_id": self.project_id,
            "currency": self.currency, "total": self.total,
            "valid_until": self.valid_until,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }
