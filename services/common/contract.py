"""The integration event types each service publishes (the product contract).

A consumer parks an event whose type is not listed for its source; a listed
type it has no handler for is simply passed over (its position still counts).
"""
EVENT_TYPES = {
    "contacts": frozenset({
        "ClientRegistered", "ClientUpdated", "ClientArchived", "ClientRestored",
        "ClientsMerged", "ClientsUnmerged",
        # file and photo metadata changes of a client's record
        "ClientPhotoChanged", "ClientFileAttached", "ClientFileRemoved",
        # the client's personal data was erased (its key destroyed; docs/privacy.md)
        "ClientErased",
    }),
    "projects": frozenset({
        "ProjectCreated", "ProjectUpdated", "ClientAssigned", "ClientUnassigned",
        "TimeLogged", "TaskAdded", "TaskUpdated",
    }),
    "billing": frozenset({
        "InvoiceDrafted", "InvoiceDraftUpdated", "InvoiceIssued", "InvoicePaymentRecorded",
        "InvoicePaid", "InvoiceVoided", "InvoiceClientChanged",
        "PurchaseOrderPlaced", "PurchaseOrderFinalized", "PurchaseOrderClientChanged",
        "QuoteCreated", "QuoteStatusChanged", "QuoteClientChanged",
    }),
}
