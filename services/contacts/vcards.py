"""vCard files (3.0 and 4.0, ``.vcf``) read as a table of clients.

:func:`vcard_table` turns a file of contacts into a ``spreadsheets.Table`` whose header
is the export's own (``VCARD_HEADER``) plus ``Photo``, one row per contact, numbered as
the rows of a spreadsheet with a header (the first contact is row 2), so a vCard file
goes through the same checks, verdicts, dry run and errors.csv as a spreadsheet.

Each contact is parsed on its own (``vobject``): a contact that cannot be read is that
row's error, not the file's. What a card says maps as follows: ``FN`` (else ``N``) the
name; ``ORG`` the company's name; ``KIND:org`` (4.0) or ``X-ABShowAs:COMPANY`` (Apple),
or a card whose only name is its organisation, a company, else a person; the preferred
(else first) ``EMAIL``, ``TEL`` and ``ADR``; ``URL`` the website; ``NOTE``;
``CATEGORIES`` the tags; ``GENDER`` and ``LANG`` (4.0); ``UID`` an export's client id;
``PHOTO`` (base64, or a ``data:`` URI) the profile photo, a link to a photo elsewhere is
not fetched. The ``X-CLIENTFOLIO-*`` properties are what our export adds for the fields
a vCard has no property for (tax id, kind, country, language, category...).
"""
import base64
import binascii
import logging
import re

import vobject

from services.common.errors import PayloadTooLarge, UnsupportedMediaType, ValidationFailed

from .client.spreadsheet import EXPORT_COLUMNS
from .client.vcards import EXTENSIONS
from .writes import canonical_uuid

VCARD_HEADER = [title for title, path in EXPORT_COLUMNS if path != "created_at"] + ["Photo",
                                                                                       "Problem"]
_INDEX = {title: index for index, title in enumerate(VCARD_HEADER)}
_PATH_INDEX = {path: _INDEX[title] for title, path in EXPORT_COLUMNS if title in _INDEX}
PHOTO_COLUMN = _INDEX["Photo"]
PROBLEM_COLUMN = _INDEX["Problem"]

# vobject logs every line it skips at ERROR (a level it sets when imported): a file of
# many odd cards would flood the service's log with what the import's verdicts say.
logging.getLogger("vobject.base").setLevel(logging.CRITICAL)

NO_CONTACTS = ("This vCard file holds no contacts: it needs at least one BEGIN:VCARD ... "
               "END:VCARD.")
_BEGIN = re.compile(r"^BEGIN:VCARD\s*$", re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^END:VCARD\s*$", re.IGNORECASE | re.MULTILINE)


def is_vcard(text):
    return text.lstrip("\ufeff \t\r\n")[:11].upper() == "BEGIN:VCARD"


def no_contacts():
    return ValidationFailed(NO_CONTACTS, {"file": [NO_CONTACTS]})


class Photo:
    """A contact's photo as the card gives it: ``data`` (bytes) or ``uri`` (text). It
    is no cell's text: errors.csv leaves it out (``str`` is empty)."""

    __slots__ = ("data", "uri")

    def __init__(self, data=None, uri=None):
        self.data, self.uri = data, uri

    def __str__(self):
        return ""

    def __bool__(self):
        return bool(self.data or self.uri)


class PhotoProblem(Exception):
    """Why a row's photo cannot be the client's photo (its row's error)."""


def photo_content(value):
    """``(content_type, bytes)`` of a row's photo (a :class:`Photo`, a ``data:`` URI or
    base64 text); ``None`` for a link to a photo elsewhere (not fetched);
    :class:`PhotoProblem` for anything that is not a PNG, JPEG or WebP of the allowed
    size."""
    from . import files

    data = value.data if isinstance(value, Photo) else None
    text = value.uri if isinstance(value, Photo) else value
    if data is None and isinstance(text, str):
        text = text.strip()
        if re.match(r"(?i)https?://", text):
            return None
        if text[:5].lower() == "data:":
            _, _, text = text.partition(",")
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            raise PhotoProblem("the photo could not be read (it is neither base64 nor a "
                               "data: URI)") from None
    if not data:
        raise PhotoProblem("the photo is empty")
    try:
        return files.photo_type(data), data
    except PayloadTooLarge:
        raise PhotoProblem(f"the photo is larger than {files.MAX_PHOTO_BYTES // files.MiB} "
                           "MiB") from None
    except UnsupportedMediaType:
        raise PhotoProblem("the photo is not a PNG, JPEG or WebP image") from None


def split_cards(text):
    """The text of each card of a file, in order (lines outside cards are skipped)."""
    cards, position = [], 0
    while True:
        begin = _BEGIN.search(text, position)
        if begin is None:
            return cards
        end = _END.search(text, begin.end())
        stop = end.end() if end else len(text)
        nested = _BEGIN.search(text, begin.end(), stop)
        if nested is not None:  # a card without its END: it stops where the next begins
            stop = nested.start()
        cards.append(text[begin.start():stop])
        position = stop


def _params(line, name):
    return [str(value).lower() for value in line.params.get(name, [])
            for value in str(value).split(",")]


def _preferred(lines):
    """The line a card prefers (TYPE=pref in 3.0, PREF=1 in 4.0), else its first."""
    for line in lines:
        if "pref" in _params(line, "TYPE") or _params(line, "PREF")[:1] == ["1"]:
            return line
    return lines[0] if lines else None


def _text(value):
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        value = " ".join(str(part) for part in value if part)
    value = str(value).strip()
    return value or None


def _values(card, name):
    return card.contents.get(name.lower(), [])


def _first(card, name):
    line = _preferred(_values(card, name))
    return _text(line.value) if line is not None else None


def card_cells(card):
    """The row of one parsed card, in VCARD_HEADER's order."""
    cells = [None] * len(VCARD_HEADER)

    def put(path, value):
        if value not in (None, ""):
            cells[_PATH_INDEX[path]] = value

    given = family = None
    names = _values(card, "n")
    if names:
        n = names[0].value
        parts = [getattr(n, attr, "") for attr in ("prefix", "given", "additional", "family",
                                                    "suffix")]
        given, family = _text(getattr(n, "given", None)), _text(getattr(n, "family", None))
        from_n = _text([_text(part) for part in parts])
    else:
        from_n = None
    organisation = None
    orgs = _values(card, "org")
    if orgs:
        value = orgs[0].value
        organisation = _text(value[0] if isinstance(value, (list, tuple)) and value else value)
    name = _first(card, "fn") or from_n or organisation
    put("name", name)
    put("company.name", organisation)
    kind = (_first(card, "kind") or "").lower()
    show_as = (_first(card, "x-abshowas") or "").lower()
    ours = _first(card, "x-clientfolio-kind")
    if ours:
        put("kind", ours)
    elif kind in ("org", "organization") or show_as == "company" or (
            organisation and not (given or family) and name == organisation):
        put("kind", "company")
    elif name:
        put("kind", "person")
    put("email", _first(card, "email"))
    phone = _first(card, "tel")
    put("phone", phone[4:] if phone and phone.lower().startswith("tel:") else phone)
    address = _preferred(_values(card, "adr"))
    if address is not None:
        value = address.value
        street = [_text(getattr(value, attr, None)) for attr in ("box", "extended", "street")]
        put("address.street", ", ".join(part for part in street if part) or None)
        put("address.city", _text(getattr(value, "city", None)))
        put("address.region", _text(getattr(value, "region", None)))
        put("address.postal_code", _text(getattr(value, "code", None)))
        put("address.country", _text(getattr(value, "country", None)))
    put("company.website", _first(card, "url"))
    notes = [_text(line.value) for line in _values(card, "note")]
    put("notes", "\n".join(note for note in notes if note) or None)
    tags = []
    for line in _values(card, "categories"):
        value = line.value
        tags.extend(part.strip() for part in (value if isinstance(value, (list, tuple))
                                              else str(value).split(",")) if part.strip())
    put("tags", "; ".join(tags) or None)
    gender = _first(card, "gender")
    if gender:
        sex = gender.split(";")[0].strip().upper()
        gender = {"M": "male", "F": "female", "O": "other"}.get(sex, gender)
        put("gender", None if sex in ("N", "U") else gender)
    put("language", _first(card, "lang"))
    uid = _first(card, "uid") or ""
    put("id", canonical_uuid(uid[9:] if uid.lower().startswith("urn:uuid:") else uid))
    for extension, path in EXTENSIONS.items():
        value = _first(card, extension)
        if value is not None:
            put(path, value)
    photos = _values(card, "photo")
    if photos:
        line = _preferred(photos)
        value = line.value
        if isinstance(value, bytes):
            cells[PHOTO_COLUMN] = Photo(data=value)
        elif value:
            cells[PHOTO_COLUMN] = Photo(uri=str(value))
    return cells


def _card_problem(text, exc):
    reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    cells = [None] * len(VCARD_HEADER)
    cells[PROBLEM_COLUMN] = f"this contact could not be read ({reason})"
    match = re.search(r"(?im)^FN[^:]*:(.*)$", text)
    if match:
        cells[_PATH_INDEX["name"]] = match.group(1).strip()[:200] or None
    return cells


_FOLD = re.compile(r"\r?\n[ \t]")
_PHOTO_LINE = re.compile(r"(?im)^PHOTO(?P<params>;[^:\r\n]*)?:(?P<value>.*)$")


def _raw_photo(text):
    """The value of a card's first PHOTO line as written (a data: URI holds a comma,
    which vobject takes for a list separator)."""
    match = _PHOTO_LINE.search(_FOLD.sub("", text))
    return match.group("value").strip() if match else None


def parse_card(text):
    """The row of one card's text (its problem in the Problem cell when it is not a
    card ``vobject`` can read; a photo that is not one is the photo's problem)."""
    try:
        cells = card_cells(vobject.readOne(text, ignoreUnreadable=True))
    except Exception as exc:  # vobject raises many kinds for a malformed card
        raw = _raw_photo(text)
        if raw is None:
            return _card_problem(text, exc)
        try:
            cells = card_cells(vobject.readOne(_PHOTO_LINE.sub("", _FOLD.sub("", text)),
                                               ignoreUnreadable=True))
        except Exception:
            return _card_problem(text, exc)
        cells[PHOTO_COLUMN] = Photo(uri=raw)
        return cells
    photo = cells[PHOTO_COLUMN]
    if photo is not None and photo.uri is not None:
        cells[PHOTO_COLUMN] = Photo(uri=_raw_photo(text) or photo.uri)
    return cells


def vcard_table(text, limits, table_type, check_row, too_many_rows):
    """A ``Table`` of the cards in ``text``; 422 when it holds none, 413 past the rows
    allowed (counted before any card is parsed)."""
    cards = split_cards(text)
    if not cards:
        raise no_contacts()
    if len(cards) > limits.rows:
        raise too_many_rows(limits)

    def rows():
        for index, card in enumerate(cards, start=2):
            cells = parse_card(card)
            check_row(limits, index, cells)
            yield index, cells

    return table_type("vcf", list(VCARD_HEADER), rows, count=len(cards))
