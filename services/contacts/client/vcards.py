"""The export of clients as vCard 3.0 (``text/vcard``), one card per client.

What a vCard has a property for goes there (``FN``, ``N``, ``ORG``, ``EMAIL``, ``TEL``,
``ADR``, ``URL``, ``NOTE``, ``CATEGORIES``, ``PHOTO``, and ``UID`` = ``urn:uuid:`` the
client's id); the rest goes in ``X-CLIENTFOLIO-*`` properties (:data:`EXTENSIONS`), which
other programs keep or ignore and our importer reads back, so an export imports back
(upsert) as the same clients. A company is also marked ``X-ABSHOWAS:COMPANY`` (how
Apple's and several phones' address books tell a company from a person).
"""
import base64

# vCard extension property -> client field path (read back by the importer).
EXTENSIONS = {
    "x-clientfolio-kind": "kind", "x-clientfolio-tax-id": "tax_id",
    "x-clientfolio-country": "country", "x-clientfolio-language": "language",
    "x-clientfolio-gender": "gender", "x-clientfolio-category": "category",
    "x-clientfolio-company-email": "company.email",
    "x-clientfolio-company-phone": "company.phone",
}

MEDIA_TYPE = "text/vcard; charset=utf-8"
_PHOTO_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


def _value(record, path):
    if "." in path:
        outer, inner = path.split(".", 1)
        return (record.get(outer) or {}).get(inner)
    return record.get(path)


def vcard(record, photo=None):
    """The text of one client's card; ``photo``: ``(content_type, bytes)`` or ``None``."""
    import vobject

    card = vobject.vCard()
    card.add("fn").value = record["name"]
    name = card.add("n")
    name.value = vobject.vcard.Name(given=record["name"]) if record.get("kind") == "person" \
        else vobject.vcard.Name()
    company = record.get("company") or {}
    if company.get("name"):
        card.add("org").value = [company["name"]]
    if record.get("kind") == "company":
        card.add("x-abshowas").value = "COMPANY"
    if record.get("email"):
        email = card.add("email")
        email.value = record["email"]
        email.type_param = "INTERNET"
    if record.get("phone"):
        card.add("tel").value = record["phone"]
    address = record.get("address") or {}
    if any(address.get(key) for key in ("street", "city", "postal_code", "region", "country")):
        card.add("adr").value = vobject.vcard.Address(
            street=address.get("street") or "", city=address.get("city") or "",
            region=address.get("region") or "", code=address.get("postal_code") or "",
            country=address.get("country") or "")
    if company.get("website"):
        card.add("url").value = company["website"]
    if record.get("notes"):
        card.add("note").value = record["notes"]
    if record.get("tags"):
        card.add("categories").value = list(record["tags"])
    for prop, path in EXTENSIONS.items():
        value = _value(record, path)
        if value not in (None, ""):
            card.add(prop).value = str(value)
    if record.get("id"):
        card.add("uid").value = f"urn:uuid:{record['id']}"
    if photo is not None:
        content_type, data = photo
        line = card.add("photo")
        line.encoding_param = "b"
        line.type_param = _PHOTO_TYPES.get(content_type, "JPEG")
        line.value = data
    return card.serialize()


def vcard_stream(records, photo_of=None):
    """Encoded cards of ``records`` (UTF-8), one chunk per client. ``photo_of(record)``
    gives a client's photo as ``(content_type, bytes)`` (``None``: none, or not asked)."""
    for record in records:
        photo = photo_of(record) if photo_of is not None and record.get("photo") else None
        yield vcard(record, photo).encode("utf-8")


def photo_of_rpc(get_photo):
    """``photo_of`` for :func:`vcard_stream` from the contacts ``get_photo`` RPC
    (``get_photo(client_id)``); a photo that is gone is left out."""
    def photo_of(record):
        try:
            answer = get_photo(record["id"])
        except Exception:  # noqa: BLE001 - a missing photo leaves the card without one
            return None
        return answer["content_type"], base64.b64decode(answer["data"])
    return photo_of
