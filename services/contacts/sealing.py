"""Which fields of contacts' events are personal data, sealed with a key per client
(``services.common.personal``, docs/privacy.md)."""
from services.common.personal import PersonalData, PersonalFields

from .domain import CLIENT_FILE_ATTACHED, CLIENT_REGISTERED, CLIENT_UPDATED, CLIENTS_MERGED

#: A client's fields that describe a person (sealed in events, blanked on erasure).
PERSONAL_FIELDS = ("name", "tax_id", "email", "phone", "address", "company", "notes",
                   "gender", "tags")

PERSONAL = PersonalData({
    CLIENT_REGISTERED: PersonalFields("client_id", PERSONAL_FIELDS),
    CLIENT_UPDATED: PersonalFields("client_id", PERSONAL_FIELDS, within=("changes", "previous")),
    # A merge's field changes become the survivor's record: the survivor's key.
    CLIENTS_MERGED: PersonalFields("survivor_id", PERSONAL_FIELDS, within=("fields",)),
    # An attachment's file name often names the person.
    CLIENT_FILE_ATTACHED: PersonalFields("client_id", ("name",)),
})
