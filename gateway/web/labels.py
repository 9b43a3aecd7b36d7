"""Words the pages show for the system's names (statuses, event types, field paths), marked
for translation here and translated when a page renders."""


def N_(text):
    """Marks ``text`` for the catalogs; it is translated where it is shown."""
    return text


LABELS = {
    # kinds, genders, roles
    "kind.company": N_("Company"), "kind.person": N_("Person"),
    "female": N_("Female"), "male": N_("Male"), "non-binary": N_("Non-binary"),
    "undisclosed": N_("Prefers not to say"),
    "admin": N_("Administrator"), "member": N_("Member"), "viewer": N_("Viewer"),
    # project and document statuses
    "active": N_("Active"), "completed": N_("Completed"), "archived": N_("Archived"),
    "placed": N_("Placed"), "finalized": N_("Finalized"),
    "invoices.draft": N_("Draft"), "invoices.authorized": N_("Authorized"),
    "invoices.paid": N_("Paid"), "invoices.pending": N_("Pending"),
    "invoices.overdue": N_("Overdue"), "invoices.void": N_("Void"),
    "quotes.open": N_("Open"), "quotes.draft": N_("Draft"), "quotes.sent": N_("Sent"),
    "quotes.accepted": N_("Accepted"), "quotes.rejected": N_("Rejected"),
    # fields
    "kind": N_("Type"), "name": N_("Legal name"), "tax_id": N_("Tax id"),
    "country": N_("Country"), "email": N_("Email"), "phone": N_("Mobile"),
    "gender": N_("Gender"), "category": N_("Client category"), "language": N_("Language"),
    "tags": N_("Tags"), "notes": N_("Notes"), "address": N_("Address"),
    "company": N_("Company details"), "photo": N_("Profile photo"),
    "archived_flag": N_("Archived"), "merged_into": N_("Merged into"),
    "address.street": N_("Street"), "address.postal_code": N_("Postal code"),
    "address.city": N_("City"), "address.region": N_("Region"),
    "address.country": N_("Country of the address"),
    "company.name": N_("Company name"), "company.website": N_("Website"),
    "company.email": N_("Contact email"), "company.phone": N_("Contact phone"),
    # events
    "ClientRegistered": N_("Client added"), "ClientUpdated": N_("Client changed"),
    "ClientArchived": N_("Client archived"), "ClientRestored": N_("Client restored"),
    "ClientsMerged": N_("Clients merged"), "ClientsUnmerged": N_("Merge undone"),
    "ClientPhotoChanged": N_("Photo changed"), "ClientFileAttached": N_("File attached"),
    "ClientFileRemoved": N_("File removed"),
    "ProjectCreated": N_("Project created"), "ProjectUpdated": N_("Project changed"),
    "ClientAssigned": N_("Assigned to a project"),
    "ClientUnassigned": N_("Removed from a project"),
    "TimeLogged": N_("Hours logged"), "TaskAdded": N_("Task added"),
    "TaskUpdated": N_("Task changed"),
    "InvoiceCreated": N_("Invoice drafted"), "InvoiceIssued": N_("Invoice issued"),
    "InvoicePaymentRecorded": N_("Payment recorded"), "InvoicePaid": N_("Invoice paid"),
    "InvoiceVoided": N_("Invoice voided"),
    "PurchaseOrderPlaced": N_("Purchase order placed"),
    "PurchaseOrderFinalized": N_("Purchase order finalized"),
    "QuoteCreated": N_("Quote created"), "QuoteStatusChanged": N_("Quote status changed"),
    # documents re-pointed by a merge or its undoing
    "InvoiceClientChanged": N_("Invoice moved to another client"),
    "PurchaseOrderClientChanged": N_("Purchase order moved to another client"),
    "QuoteClientChanged": N_("Quote moved to another client"),
}

API_TOKEN = N_("API token %(id)s")
SYSTEM = N_("the system")
YES, NO, EMPTY = N_("yes"), N_("no"), "—"


def helpers(translations, locale):
    """The template globals that name things in ``locale``."""
    from babel import Locale

    gettext = translations.gettext
    names = Locale.parse(locale)

    def label(key):
        text = LABELS.get(key)
        return gettext(text) if text else key

    def actor_name(actor):
        if not actor:
            return gettext(SYSTEM)
        kind, _, rest = str(actor).partition(":")
        if kind == "user":
            return rest
        if kind == "token":
            return gettext(API_TOKEN) % {"id": rest}
        return str(actor)

    def change_text(value):
        if value is None or value == "" or value == []:
            return EMPTY
        if value is True:
            return gettext(YES)
        if value is False:
            return gettext(NO)
        if isinstance(value, dict):
            return ", ".join(str(v) for v in value.values() if v) or EMPTY
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    return {"label": label, "role_name": label, "actor_name": actor_name,
            "change_text": change_text,
            "country_name": lambda code: names.territories.get(code, code),
            "language_name": lambda code: names.languages.get(code, code)}
