"""Invoices, payments, purchase orders and quotes: forwarded to the billing service."""


class BillingApi:
    pass
