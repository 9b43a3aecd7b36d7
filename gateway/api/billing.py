"""Invoices, payments, purchase orders and quotes: forwarded to the billing service.

Reads need the viewer role, writes the member role. Writes answer the
document with ``Location``, ``ETag`` and a ``Consistency-Token``
(``billing:<position>``): 201 when they create it, 200 otherwise. Every write
on an existing document honours ``If-Match`` (412 when it has moved on).
"""
from services.common.web import json_response

from ..http import (api, command_token, date_param, id_param, if_match, json_body, resource,
                    today_utc, written)

LIST_PARAMETERS = ("client_id", "project_id", "status", "limit", "cursor", "updated_since",
                   "sort")
ID_PARAMETERS = ("client_id", "project_id")


def optional_body(request):
    """The JSON object of a request whose body may be left out (``{}`` then)."""
    return json_body(request) if request.get_data(cache=True).strip() else {}


def consistency(service, request, body):
    """The token forwarded with a command, so that billing waits until its replica of
    clients and projects applied the positions it names: the caller's, raised to where
    the body's client and project are now (``http.command_token``)."""
    return command_token(service, request, body.get("client_id"), body.get("project_id"))


def list_filters(request, with_as_of=False):
    filters = {name: request.args[name] for name in LIST_PARAMETERS
               if request.args.get(name) not in (None, "")}
    if with_as_of:
        filters["as_of"] = date_param(request, "as_of", today_utc()).isoformat()
    return filters


def checked_filters(request, with_as_of=False):
    """``list_filters`` with its ids canonical: a malformed one is 400 naming it (billing
    would match nothing and answer an empty page, as if the client had no documents)."""
    filters = list_filters(request, with_as_of)
    filters.update({name: id_param(request, name) for name in ID_PARAMETERS if name in filters})
    return filters


def document_written(result, kind, path, status=200):
    document = result[kind]
    return written(document, status, "billing", result["position"],
                   {"Location": f"/api/v1/{path}/{document['id']}"})


class BillingApi:
    # -- invoices -------------------------------------------------------------------------

    @api("POST", "/api/v1/invoices", role="member")
    def create_invoice(self, request, principal):
        body = json_body(request)
        result = self.billing_rpc.create_invoice(self.command_context(request, principal),
                                                 body, consistency=consistency(self, request,
                                                                               body))
        return document_written(result, "invoice", "invoices", 201)

    @api("GET", "/api/v1/invoices")
    def list_invoices(self, request, principal):
        return json_response(self.billing_rpc.list_invoices(
            self.command_context(request, principal), checked_filters(request, with_as_of=True)))

    @api("GET", "/api/v1/invoices/<string:invoice_id>")
    def get_invoice(self, request, principal, invoice_id):
        as_of = date_param(request, "as_of", today_utc()).isoformat()
        return resource(self.billing_rpc.get_invoice(self.command_context(request, principal),
                                                     invoice_id, as_of))

    @api("PATCH", "/api/v1/invoices/<string:invoice_id>", role="member")
    def update_invoice(self, request, principal, invoice_id):
        body = json_body(request)
        result = self.billing_rpc.update_invoice(self.command_context(request, principal),
                                                 invoice_id, body,
                                                 expected_version=if_match(request),
                                                 consistency=consistency(self, request, body))
        return document_written(result, "invoice", "invoices")

    @api("POST", "/api/v1/invoices/<string:invoice_id>/issue", role="member")
    def issue_invoice(self, request, principal, invoice_id):
        result = self.billing_rpc.issue_invoice(self.command_context(request, principal),
                                                invoice_id, optional_body(request),
                                                expected_version=if_match(request))
        return document_written(result, "invoice", "invoices")

    @api("POST", "/api/v1/invoices/<string:invoice_id>/payments", role="member")
    def record_invoice_payment(self, request, principal, invoice_id):
        result = self.billing_rpc.record_payment(self.command_context(request, principal),
                                                 invoice_id, json_body(request),
                                                 expected_version=if_match(request))
        return document_written(result, "invoice", "invoices")

    @api("POST", "/api/v1/invoices/<string:invoice_id>/void", role="member")
    def void_invoice(self, request, principal, invoice_id):
        result = self.billing_rpc.void_invoice(self.command_context(request, principal),
                                               invoice_id, optional_body(request),
                                               expected_version=if_match(request))
        return document_written(result, "invoice", "invoices")

    # -- purchase orders -----------------------------------------------------------------

    @api("POST", "/api/v1/purchase-orders", role="member")
    def place_purchase_order(self, request, principal):
        body = json_body(request)
        result = self.billing_rpc.place_purchase_order(
            self.command_context(request, principal), body,
            consistency=consistency(self, request, body))
        return document_written(result, "purchase_order", "purchase-orders", 201)

    @api("GET", "/api/v1/purchase-orders")
    def list_purchase_orders(self, request, principal):
        return json_response(self.billing_rpc.list_purchase_orders(
            self.command_context(request, principal), checked_filters(request)))

    @api("GET", "/api/v1/purchase-orders/<string:purchase_order_id>")
    def get_purchase_order(self, request, principal, purchase_order_id):
        return resource(self.billing_rpc.get_purchase_order(
            self.command_context(request, principal), purchase_order_id))

    @api("POST", "/api/v1/purchase-orders/<string:purchase_order_id>/finalize", role="member")
    def finalize_purchase_order(self, request, principal, purchase_order_id):
        result = self.billing_rpc.finalize_purchase_order(
            self.command_context(request, principal), purchase_order_id,
            expected_version=if_match(request))
        return document_written(result, "purchase_order", "purchase-orders")

    # -- quotes ----------------------------------------------------------------------------

    @api("POST", "/api/v1/quotes", role="member")
    def create_quote(self, request, principal):
        body = json_body(request)
        result = self.billing_rpc.create_quote(self.command_context(request, principal),
                                               body, consistency=consistency(self, request, body))
        return document_written(result, "quote", "quotes", 201)

    @api("GET", "/api/v1/quotes")
    def list_quotes(self, request, principal):
        return json_response(self.billing_rpc.list_quotes(
            self.command_context(request, principal), checked_filters(request)))

    @api("GET", "/api/v1/quotes/<string:quote_id>")
    def get_quote(self, request, principal, quote_id):
        return resource(self.billing_rpc.get_quote(self.command_context(request, principal),
                                                   quote_id))

    @api("POST", "/api/v1/quotes/<string:quote_id>/<any(send,accept,reject):action>",
         role="member")
    def change_quote_status(self, request, principal, quote_id, action):
        method = getattr(self.billing_rpc, f"{action}_quote")
        result = method(self.command_context(request, principal), quote_id,
                        expected_version=if_match(request))
        return document_written(result, "quote", "quotes")
