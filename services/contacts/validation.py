"""Normalisation and validation of client fields. Pure functions: no I/O.

Every ``normalize_*`` function takes what a user typed (stray spaces, numbers that
came out of a spreadsheet as ``int``/``float``, any letter case) and returns the one
form the service stores, or raises :class:`InvalidValue` whose ``message`` a
non-technical user understands. A blank value (``None``, ``""``, only spaces)
normalises to ``None``.

The checks rest on maintained libraries rather than hand-written rules:

- tax ids: python-stdnum (one or more number formats per country, EU VAT numbers);
- phones: phonenumbers (Google's libphonenumber metadata);
- countries and languages: pycountry (ISO 3166-1, ISO 639), including the country and
  language names translated into the languages our users write in ("España",
  "Alemanya", "Português");
- emails: email-validator (syntax only, no DNS lookup).

Tax ids
-------
The country whose rule applies is the client's ``country``, falling back to
``address.country`` (the schemas resolve it). Then:

1. A number with an EU VAT country prefix (``ESB58378431``, ``PT 501 964 843``,
   ``EL...``/``GR...`` for Greece, ``XI...`` for Northern Ireland) that is a valid EU
   VAT number is accepted whatever the client's country, and stored with its prefix
   (Greek numbers always as ``EL``).
2. Otherwise, when the country has a rule (see ``TAX_ID_RULES``), the number must be
   valid for one of that country's formats; it is stored in that format's compact
   form (e.g. ``B58378431``, ``16727230000197``), keeping a country prefix the user
   typed (``GB980780684``).

So the stored form follows what was typed: ``B58378431`` and ``ESB58378431`` are both
valid for a Spanish client and stored as such. Compare tax ids (uniqueness, duplicates)
with :func:`tax_id_key`, which gives both ``"ES:B58378431"``.
3. A client without a known country, or of a country without a rule, has its tax id
   stored compact (upper-case, without spaces, dots, dashes or slashes) without
   further checks; but a number with an EU VAT prefix must still be a valid EU VAT
   number.

Duplicate keys
--------------
:func:`duplicate_keys` never raises: it normalises whatever is stored (even values
recorded before a rule existed) into comparable keys. A tax id key is
``"<country>:<number>"`` with any VAT prefix moved into the country part, so
``B-12.345.678`` of a Spanish client and ``ESB12345678`` both give
``"ES:B12345678"``; a tax id whose country is unknown gives just the compact number,
which :func:`same_tax_id` (uniqueness, import matching) takes to be the same tax id
as that number in any country.
"""
import functools
import gettext
import re
import unicodedata
import urllib.parse

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from stdnum import util as stdnum_util
from stdnum.eu import vat as eu_vat

from . import messages  # noqa: F401  (registers the codes of the messages below)


class InvalidValue(ValueError):
    """A value that cannot be accepted; ``message`` is meant for the end user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


# -- text helpers --------------------------------------------------------------------------

# Control characters (NUL breaks PostgreSQL text), byte-order and zero-width marks;
# tabs and line breaks stay.
_INVISIBLE = {code: None for code in (*range(0, 9), 11, 12, *range(14, 32), 127,
                                      0xFEFF, 0x200B, 0x200C, 0x200D, 0x2060)}
_INVISIBLE[ord("\r")] = "\n"


def clean_text(value):
    """``str`` of a user value (numbers from spreadsheets included), NFC, stripped.

    ``None`` and blank strings give ``None``. Whole floats (``612345678.0``) lose
    their ``.0``. Anything else (lists, dicts, booleans) raises :class:`InvalidValue`.
    Control characters, byte-order and zero-width marks are removed; Windows and old
    Mac line ends become ``\\n``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidValue("must be text")
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, float):
        if not value.is_integer():
            raise InvalidValue("must be text")
        value = str(int(value))
    elif not isinstance(value, str):
        raise InvalidValue("must be text")
    value = unicodedata.normalize("NFC", value).replace("\r\n", "\n").translate(_INVISIBLE)
    return value.strip() or None


def collapse_spaces(value):
    """Runs of whitespace (non-breaking spaces and newlines included) -> one space."""
    return " ".join(value.split())


# Letters that Unicode decomposition does not reduce to a base letter.
_EXTRA_FOLDS = str.maketrans({
    "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ł": "l", "Ł": "l",
    "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th", "ı": "i", "ħ": "h",
    "ŀ": "l", "Ŀ": "l",
    "\u00b7": "", "\u2219": "", "\u2027": "",          # Catalan middle dot: col·lectiu
    "\u2018": "'", "\u2019": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-",
})


def search_text(value):
    """Fold ``value`` for case- and accent-insensitive search.

    "São Paulo Seguros" -> "sao paulo seguros", "Fundació Catalana" ->
    "fundacio catalana", "Müller GmbH" -> "muller gmbh", "Col·lectiu" -> "collectiu".
    Whitespace is collapsed; punctuation is kept. Apply it to both the stored text
    and the query, then match by substring. ``None`` gives ``""``.
    """
    if value is None:
        return ""
    return _fold(str(value))


@functools.lru_cache(maxsize=65536)  # a record's name is folded for the sort, search, keys
def _fold(text):
    text = unicodedata.normalize("NFKD", text.translate(_EXTRA_FOLDS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return collapse_spaces(text.casefold().translate(_EXTRA_FOLDS))


# -- countries and languages ---------------------------------------------------------------

# Languages whose country/language names we recognise besides English.
_NAME_LOCALES = ("es", "pt", "pt_BR", "ca", "gl", "eu", "fr", "de", "it", "nl")

# Names people use that are not in ISO 3166-1.
_COUNTRY_ALIASES = {
    "uk": "GB", "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "usa": "US", "united states of america": "US",
    "holland": "NL", "czechia": "CZ", "turkey": "TR", "russia": "RU",
}

# Language names people write (en, es, pt, ca), compared folded (accents optional).
# pycountry's translations miss some ("Castellano", "Euskera") and give others to two
# languages (its Catalan names Breton "Francès" too), which drops them from the index:
# these always win.
_LANGUAGE_ALIASES = {
    "es": ("Spanish", "Castilian", "Español", "Castellano", "Espanhol", "Castelhano",
           "Espanyol", "Castellà"),
    "pt": ("Portuguese", "Portugués", "Português", "Portuguès"),
    "ca": ("Catalan", "Valencian", "Catalán", "Valenciano", "Catalão", "Català", "Valencià"),
    "en": ("English", "Inglés", "Inglês", "Anglès"),
    "fr": ("French", "Francés", "Francês", "Francès"),
    "de": ("German", "Alemán", "Alemão", "Alemany"),
    "it": ("Italian", "Italiano", "Italià"),
    "nl": ("Dutch", "Flemish", "Neerlandés", "Holandés", "Neerlandês", "Holandês",
           "Neerlandès", "Holandès"),
    "eu": ("Basque", "Vasco", "Euskera", "Vascuence", "Basco", "Basc", "Èuscar"),
    "gl": ("Galician", "Gallego", "Galego", "Gallec"),
    "zh": ("Chinese", "Mandarin", "Chino", "Mandarín", "Chinês", "Mandarim", "Xinès",
           "Mandarí"),
    "ja": ("Japanese", "Japonés", "Japonês", "Japonès"),
    "ar": ("Arabic", "Árabe", "Àrab"),
    "ru": ("Russian", "Ruso", "Russo", "Rus"),
    "pl": ("Polish", "Polaco", "Polonês", "Polonès"),
    "ro": ("Romanian", "Rumano", "Romeno", "Romanès"),
    "sv": ("Swedish", "Sueco", "Suec"),
    "da": ("Danish", "Danés", "Dinamarquês", "Danès"),
    "no": ("Norwegian", "Noruego", "Norueguês", "Noruec"),
    "fi": ("Finnish", "Finlandés", "Finés", "Finlandês", "Finès", "Finlandès"),
    "el": ("Greek", "Modern Greek", "Griego", "Grego", "Grec"),
    "tr": ("Turkish", "Turco", "Turc"),
    "he": ("Hebrew", "Hebreo", "Hebraico", "Hebreu"),
    "hi": ("Hindi",),
    "ko": ("Korean", "Coreano", "Coreà"),
}


def _translations(domain):
    found = []
    for locale in _NAME_LOCALES:
        try:
            found.append(gettext.translation(domain, pycountry.LOCALES_DIR, languages=[locale]))
        except OSError:
            continue
    return found


def _name_index(records, domain, code):
    """folded name (English and translated) -> code; names claimed twice are dropped."""
    index, clashes = {}, set()
    translations = _translations(domain)
    for record in records:
        value = code(record)
        if value is None:
            continue
        names = {getattr(record, attr, None) for attr in ("name", "common_name", "official_name")}
        names.discard(None)
        for name in list(names):
            for translation in translations:
                names.add(translation.gettext(name))
        for name in names:
            key = search_text(name)
            if index.get(key, value) != value:
                clashes.add(key)
            index[key] = value
    for key in clashes:
        del index[key]
    return index


@functools.lru_cache(maxsize=1)
def _country_names():
    index = _name_index(pycountry.countries, "iso3166-1", lambda c: c.alpha_2)
    index.update(_COUNTRY_ALIASES)
    return index


@functools.lru_cache(maxsize=1)
def _language_names():
    index = _name_index(pycountry.languages, "iso639-3",
                        lambda lang: getattr(lang, "alpha_2", None))
    index.update({search_text(name): code for code, names in _LANGUAGE_ALIASES.items()
                  for name in names})
    return index


def normalize_country(value):
    """ISO 3166-1 alpha-2, upper-case: "es", "ESP", "Spain", "España" -> "ES"."""
    text = clean_text(value)
    if text is None:
        return None
    upper = text.upper()
    if len(upper) == 2 and pycountry.countries.get(alpha_2=upper):
        return upper
    if len(upper) == 3 and pycountry.countries.get(alpha_3=upper):
        return pycountry.countries.get(alpha_3=upper).alpha_2
    found = _country_names().get(search_text(text))
    if found:
        return found
    raise InvalidValue("not a known country (use a two-letter code such as ES, PT or FR)")


def normalize_language(value):
    """ISO 639-1, lower-case: "ES", "spa", "Spanish", "español", "pt-BR" -> "es"/"pt"."""
    text = clean_text(value)
    if text is None:
        return None
    code = text.lower()
    primary = re.split(r"[-_]", code, maxsplit=1)[0]
    if re.fullmatch(r"[a-z]{2,3}([-_][a-z0-9]{2,8})*", code):
        if len(primary) == 2 and pycountry.languages.get(alpha_2=primary):
            return primary
        if len(primary) == 3:
            language = (pycountry.languages.get(alpha_3=primary)
                        or pycountry.languages.get(bibliographic=primary))
            if language is not None and getattr(language, "alpha_2", None):
                return language.alpha_2
    found = _language_names().get(search_text(text))
    if found:
        return found
    if "/" in text:  # "French / Français", "Spanish (AR) / Español (AR)": Odoo's exports
        for part in text.split("/"):
            found = _language_names().get(search_text(re.sub(r"\(.*?\)", "", part)))
            if found:
                return found
    raise InvalidValue("not a known language (use a two-letter code such as es, pt or en)")


def country_name(code):
    """English short name of an alpha-2 country code, for messages."""
    country = pycountry.countries.get(alpha_2=code) if code else None
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


# -- postal codes --------------------------------------------------------------------------

# Countries whose postal codes are all digits of one length. A spreadsheet that stored
# one as a number dropped its leading zeros (Barcelona's 08001 became 8001). Portugal
# (1000-001, or just 1000) and others with letters or several lengths are not here.
POSTAL_CODE_DIGITS = {
    "ES": 5, "FR": 5, "IT": 5, "DE": 5, "US": 5, "MX": 5, "FI": 5, "TR": 5, "MY": 5,
    "KR": 5, "NO": 4, "DK": 4, "AU": 4, "ZA": 4, "RO": 6, "SG": 6, "KZ": 6, "CN": 6,
    "JP": 7, "BR": 8,
}


def pad_postal_code(value, country):
    """The postal code with the leading zeros a number lost, when ``country`` (alpha-2)
    has fixed-length all-digit codes and ``value`` is only digits and shorter:
    ``8001`` in ES -> ``"08001"``. Anything else is returned as it came."""
    length = POSTAL_CODE_DIGITS.get(country)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if length and isinstance(value, str):
        digits = value.strip()
        if digits.isascii() and digits.isdigit() and len(digits) < length:
            return digits.zfill(length)
    return value


# -- tax ids -------------------------------------------------------------------------------

# Countries whose all-digit tax ids may start with zeros, and those ids' lengths: a
# spreadsheet that stored one as a number dropped them (Partita IVA 00488410010 became
# 488410010). Belgian and Dutch numbers are padded by their own validators.
TAX_ID_DIGITS = {
    "IT": (11,),  # Partita IVA
    "BR": (11, 14),  # CPF, CNPJ
    "US": (9,),  # EIN, SSN, ITIN
    "EC": (10, 13),  # cédula, RUC (provinces 01-09)
    "PL": (9, 11, 14),  # REGON, PESEL (born 2000-2009), long REGON
    "DK": (10,),  # CPR (born on days 1-9)
}
MAX_LOST_ZEROS = 3  # more would make a typo's chance of passing a checksum too likely


def pad_tax_id(value, country):
    """The tax id with the leading zeros a number lost, when ``country`` (alpha-2) has
    all-digit ids that may start with zeros (``TAX_ID_DIGITS``), ``value`` is only digits,
    is not valid as written, and exactly one of the lengths at most three zeros away is
    valid: ``488410010`` in IT -> ``"00488410010"``. Anything else is returned as it came
    (and is judged, and refused if need be, as written)."""
    lengths = TAX_ID_DIGITS.get(country)
    if not lengths or not isinstance(value, str):  # spreadsheet cells arrive as text
        return value
    digits = value.strip()
    if not (digits.isascii() and digits.isdigit()) or len(digits) >= max(lengths):
        return value
    try:
        normalize_tax_id(digits, country)
        return value
    except InvalidValue:
        pass
    valid = []
    for length in lengths:
        if 0 < length - len(digits) <= MAX_LOST_ZEROS:
            try:
                valid.append(normalize_tax_id(digits.zfill(length), country))
            except InvalidValue:
                continue
    return valid[0] if len(valid) == 1 else value



# country -> (what the user should have typed, stdnum modules tried in order).
TAX_ID_RULES = {
    "ES": ("Spanish tax id (NIF/NIE/CIF)", ("es.nif",)),
    "PT": ("Portuguese tax id (NIF/NIPC)", ("pt.nif",)),
    "FR": ("French tax id (SIREN, SIRET, TVA number or numéro fiscal)",
           ("fr.siren", "fr.siret", "fr.tva", "fr.nif")),
    "DE": ("German tax id (USt-IdNr, Steuernummer or Steuer-ID)",
           ("de.vat", "de.stnr", "de.idnr")),
    "IT": ("Italian tax id (Partita IVA or codice fiscale)", ("it.iva", "it.codicefiscale")),
    "GB": ("UK tax id (VAT registration number or UTR)", ("gb.vat", "gb.utr")),
    "BR": ("Brazilian tax id (CNPJ or CPF)", ("br.cnpj", "br.cpf")),
    "AT": ("Austrian tax id (UID or Steuernummer)", ("at.uid", "at.tin")),
    "BE": ("Belgian tax id (enterprise/VAT number or national number)", ("be.vat", "be.nn")),
    "BG": ("Bulgarian tax id (VAT number, EGN or PNF)", ("bg.vat", "bg.egn", "bg.pnf")),
    "CY": ("Cypriot VAT number", ("cy.vat",)),
    "CZ": ("Czech tax id (DIČ)", ("cz.dic",)),
    "DK": ("Danish tax id (CVR or CPR number)", ("dk.cvr", "dk.cpr")),
    "EE": ("Estonian tax id (KMKR, registry code or isikukood)",
           ("ee.kmkr", "ee.registrikood", "ee.ik")),
    "FI": ("Finnish tax id (ALV number, Y-tunnus or HETU)", ("fi.alv", "fi.ytunnus", "fi.hetu")),
    "GR": ("Greek tax id (AFM)", ("gr.vat",)),
    "HR": ("Croatian tax id (OIB)", ("hr.oib",)),
    "HU": ("Hungarian tax id (ANUM)", ("hu.anum",)),
    "IE": ("Irish tax id (VAT number or PPS number)", ("ie.vat", "ie.pps")),
    "LT": ("Lithuanian tax id (PVM code or asmens kodas)", ("lt.pvm", "lt.asmens")),
    "LU": ("Luxembourg VAT number (TVA)", ("lu.tva",)),
    "LV": ("Latvian tax id (PVN)", ("lv.pvn",)),
    "MT": ("Maltese VAT number", ("mt.vat",)),
    "NL": ("Dutch tax id (BTW number or BSN)", ("nl.btw", "nl.bsn")),
    "PL": ("Polish tax id (NIP, PESEL or REGON)", ("pl.nip", "pl.pesel", "pl.regon")),
    "RO": ("Romanian tax id (CIF/CUI or CNP)", ("ro.cf", "ro.cui", "ro.cnp")),
    "SE": ("Swedish tax id (VAT number, organisationsnummer or personnummer)",
           ("se.vat", "se.orgnr", "se.personnummer")),
    "SI": ("Slovenian tax id (DDV number)", ("si.ddv",)),
    "SK": ("Slovak tax id (IČ DPH or rodné číslo)", ("sk.dph", "sk.rc")),
    "CH": ("Swiss tax id (UID or MWST number)", ("ch.uid", "ch.vat")),
    "NO": ("Norwegian tax id (organisasjonsnummer, MVA number or fødselsnummer)",
           ("no.orgnr", "no.mva", "no.fodselsnummer")),
    "IS": ("Icelandic tax id (kennitala or VSK number)", ("is_.kennitala", "is_.vsk")),
    "AD": ("Andorran tax id (NRT)", ("ad.nrt",)),
    "MC": ("Monégasque VAT number", ("mc.tva",)),
    "MX": ("Mexican tax id (RFC)", ("mx.rfc",)),
    "AR": ("Argentinian tax id (CUIT/CUIL)", ("ar.cuit",)),
    "CL": ("Chilean tax id (RUT)", ("cl.rut",)),
    "CO": ("Colombian tax id (NIT)", ("co.nit",)),
    "PE": ("Peruvian tax id (RUC)", ("pe.ruc",)),
    "UY": ("Uruguayan tax id (RUT)", ("uy.rut",)),
    "EC": ("Ecuadorian tax id (RUC or cédula)", ("ec.ruc", "ec.ci")),
    "VE": ("Venezuelan tax id (RIF)", ("ve.rif",)),
    "PY": ("Paraguayan tax id (RUC)", ("py.ruc",)),
    "US": ("US tax id (EIN, SSN or ITIN)", ("us.ein", "us.ssn", "us.itin")),
    "CA": ("Canadian tax id (business number or SIN)", ("ca.bn", "ca.sin")),
    "AU": ("Australian tax id (ABN, ACN or TFN)", ("au.abn", "au.acn", "au.tfn")),
}

# VAT prefix -> ISO country (Greece uses EL, Northern Ireland traders XI).
EU_VAT_PREFIXES = {code.upper(): code.upper() for code in eu_vat.MEMBER_STATES}
EU_VAT_PREFIXES.update({"EL": "GR", "GR": "GR", "XI": "GB"})

_TAX_ID_SEPARATORS = re.compile(r"[\s.\-/\\,_'\u2010-\u2015]+")
_MAX_TAX_ID = 30


@functools.lru_cache(maxsize=None)
def _stdnum_module(dotted):
    package, name = dotted.split(".")
    return stdnum_util.get_cc_module(package.rstrip("_"), name)


def compact_tax_id(value):
    """Upper-case, without spaces, dots, dashes, slashes or commas (no validation)."""
    text = clean_text(value)
    if text is None:
        return None
    return _TAX_ID_SEPARATORS.sub("", text).upper() or None


def _vat_prefix(compact):
    prefix = compact[:2]
    if prefix in EU_VAT_PREFIXES and len(compact) > 2:
        return prefix
    return None


def _valid_eu_vat(compact):
    """The stored form of a valid EU VAT number, or ``None``."""
    try:
        number = eu_vat.validate(compact)
    except stdnum_util.ValidationError:
        return None
    if number.startswith("GR"):
        number = "EL" + number[2:]
    return number


def normalize_tax_id(value, country=None):
    """Validate a tax id for ``country`` (alpha-2 or ``None``); returns its compact form.

    See the module docstring for the rules. Raises :class:`InvalidValue`, e.g.
    "not a valid Spanish tax id (NIF/NIE/CIF)".
    """
    compact = compact_tax_id(value)
    if compact is None:
        return None
    if len(compact) > _MAX_TAX_ID:
        raise InvalidValue(f"a tax id has at most {_MAX_TAX_ID} characters")
    if not compact.isalnum() or not compact.isascii():
        raise InvalidValue("a tax id can only contain letters and digits")
    country = (country or "").strip().upper() or None
    prefix = _vat_prefix(compact)
    if prefix:
        valid = _valid_eu_vat(compact)
        if valid:
            return valid
    rule = TAX_ID_RULES.get(country)
    if rule is not None:
        label, modules = rule
        for dotted in modules:
            module = _stdnum_module(dotted)
            try:
                number = module.validate(compact)
            except stdnum_util.ValidationError:
                continue
            if compact.startswith(country) and not number.startswith(country):
                number = country + number  # keep a typed prefix: GB980780684
            return number
        if prefix and EU_VAT_PREFIXES[prefix] != country:
            raise InvalidValue(f"not a valid {label} or EU VAT number")
        raise InvalidValue(f"not a valid {label}")
    if prefix:
        raise InvalidValue(
            f"not a valid EU VAT number for {country_name(EU_VAT_PREFIXES[prefix])}")
    return compact


def tax_id_key(value, country=None):
    """Matching key of a tax id: ``"ES:B12345678"``; never raises, no checksum check.

    An EU VAT prefix becomes the country part; otherwise ``country`` is used (and a
    leading copy of the country code is dropped, ``GB980780684`` -> ``GB:980780684``).
    Without any country the key is the compact number alone.
    """
    try:
        compact = compact_tax_id(value)
    except InvalidValue:
        return None
    if compact is None:
        return None
    country = (country or "").strip().upper() or None
    prefix = _vat_prefix(compact)
    if prefix and (country is None or EU_VAT_PREFIXES[prefix] == country
                   or _valid_eu_vat(compact)):
        return f"{EU_VAT_PREFIXES[prefix]}:{compact[2:]}"
    if country is None:
        return compact
    if compact.startswith(country) and len(compact) > 2 and compact[2].isdigit():
        compact = compact[2:]
    return f"{country}:{compact}"


def tax_number(key):
    """The number part of a tax id key: ``"ES:B12345678"`` -> ``"B12345678"``."""
    return key.rpartition(":")[2] if key else None


def same_tax_id(key, other):
    """Whether two tax id keys name the same tax id: equal, or the same number where
    one of them has no country (a client recorded without one, common in spreadsheets
    that have no country column, holds ``B12345678`` of a Spanish client's
    ``ES:B12345678``)."""
    if not key or not other:
        return False
    if key == other:
        return True
    return (":" not in key or ":" not in other) and tax_number(key) == tax_number(other)


# -- phones --------------------------------------------------------------------------------

def _memoized(normalize):
    """Cache a normaliser's verdict (value or ``InvalidValue`` message) per input.

    Parsing a phone or checking an email costs tens of microseconds, and a row is
    checked several times (validation, matching keys, projection): an import of
    100,000 rows pays for each distinct value once.
    """
    @functools.lru_cache(maxsize=65536)
    def verdict(*args):
        try:
            return True, normalize(*args)
        except InvalidValue as exc:
            return False, exc.message

    @functools.wraps(normalize)
    def cached(value, *args):
        if not isinstance(value, str):
            return normalize(value, *args)
        ok, result = verdict(value, *args)
        if not ok:
            raise InvalidValue(result)
        return result

    cached.cache_clear = verdict.cache_clear
    return cached


@_memoized
def normalize_phone(value, country=None):
    """E.164 (``+34612345678``) from ``+`` international input or national digits + country.

    ``00``-style international prefixes, spaces, dots, dashes and brackets are fine.
    """
    text = clean_text(value)
    if text is None:
        return None
    country = (country or "").strip().upper() or None
    if text.startswith("00") and not country:
        text = "+" + text[2:]
    if not text.startswith("+") and not country:
        raise InvalidValue(
            "add the client's country, or write the number with its international prefix "
            "(e.g. +34 612 34 56 78)")
    region = None if text.startswith("+") else country
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise InvalidValue("not a valid phone number") from None
    if not phonenumbers.is_valid_number(number):
        if region:
            raise InvalidValue(f"not a valid phone number for {country_name(region)}")
        raise InvalidValue("not a valid phone number")
    if number.extension:
        # E.164 has no extensions: refused rather than silently cut off.
        raise InvalidValue(f"an E.164 number has no extension: leave out "
                           f"'{number.extension}' (write it in the notes)")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_key(value, country=None):
    """E.164 for matching, tolerant of numbers that no longer validate; never raises."""
    try:
        return normalize_phone(value, country)
    except InvalidValue:
        pass
    try:
        text = clean_text(value)
        number = phonenumbers.parse(text, (country or "").upper() or None)
    except (InvalidValue, phonenumbers.NumberParseException):
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# -- emails and websites -------------------------------------------------------------------

@_memoized
def normalize_email(value):
    """The normalised address: domain lower-case (and Unicode-normalised), local part kept.

    Syntax only: no DNS lookup. "mailto:" is dropped.
    """
    text = clean_text(value)
    if text is None:
        return None
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:"):].strip()
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        reason = reason[:1].lower() + reason[1:]
        raise InvalidValue(f"not a valid email address ({reason})") from None
    return result.normalized


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_MAX_URL = 2000


def normalize_website(value):
    """An ``http``/``https`` URL whose host has a dot; ``www.example.com`` gets ``https://``.

    Scheme and host are lower-cased; a bare trailing ``/`` is dropped; the path,
    query and fragment are kept as typed. Internationalised hosts are accepted.
    """
    text = clean_text(value)
    if text is None:
        return None
    message = "not a valid website (e.g. https://www.example.com)"
    if len(text) > _MAX_URL or any(ch.isspace() for ch in text):
        raise InvalidValue(message)
    if "://" not in text:
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:(?!\d)", text):
            raise InvalidValue("only http:// and https:// websites are accepted")
        text = "https://" + text.lstrip("/")
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidValue(message) from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidValue("only http:// and https:// websites are accepted")
    host = (parts.hostname or "").rstrip(".")
    if parts.username is not None or parts.password is not None or "." not in host:
        raise InvalidValue(message)
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidValue(message) from None
    labels = ascii_host.split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels) \
            or not _TLD.fullmatch(labels[-1]):
        raise InvalidValue(message)
    netloc = host if port is None else f"{host}:{port}"
    path = "" if parts.path == "/" and not parts.query and not parts.fragment else parts.path
    return urllib.parse.urlunsplit((scheme, netloc, path, parts.query, parts.fragment))


# -- names and duplicates ------------------------------------------------------------------

# Legal forms, stripped from the end of a name when matching duplicates. Written as
# people write them; they go through the same tokeniser as names, so "S.L.", "SL",
# "S. L." and "s.l" all match.
LEGAL_FORMS = (
    # Spain (and Catalonia)
    "S.L.", "S.L.U.", "S.L.L.", "S.L.P.", "S.L.N.E.", "S.A.", "S.A.U.", "S.A.L.", "S.A.D.",
    "S.A.T.", "S.C.", "S.C.P.", "C.B.", "S.Coop.", "S. Coop.", "Coop.", "S.Coop.And.",
    "Sociedad Limitada", "Sociedad Limitada Unipersonal", "Sociedad Limitada Laboral",
    "Sociedad Anónima", "Sociedad Cooperativa", "Sociedad Civil", "Comunidad de Bienes",
    "SCCL", "S.C.C.L.", "Societat Limitada", "Societat Anònima", "Societat Cooperativa",
    "Societat Cooperativa Catalana Limitada", "Societat Civil Privada",
    # Portugal and Brazil
    "Lda.", "Ltda.", "Unipessoal", "Unipessoal Lda.", "S/A", "SGPS", "S.G.P.S.", "CRL",
    "C.R.L.", "ACE", "Sociedade Limitada", "Sociedade Anónima", "Sociedade Anônima",
    "ME", "EPP", "EIRELI", "MEI",
    # France, Belgium, Luxembourg, Switzerland
    "SARL", "S.A.R.L.", "SAS", "S.A.S.", "SASU", "EURL", "SNC", "SCI", "SCOP", "SCA",
    "SELARL", "SELAS", "GIE", "EI", "EIRL", "Sàrl", "Sagl", "SPRL", "SRL", "BVBA", "CVBA",
    "VZW", "ASBL", "SA/NV",
    # Germany, Austria
    "GmbH", "gGmbH", "mbH", "AG", "KG", "OHG", "GbR", "UG", "UG (haftungsbeschränkt)",
    "e.K.", "e.V.", "eG", "KGaA", "GmbH & Co. KG", "AG & Co. KG", "SE", "PartG",
    # Italy
    "S.p.A.", "S.r.l.", "S.r.l.s.", "S.a.s.", "S.n.c.", "S.s.", "S.c.a.r.l.", "S.c.r.l.",
    "Soc. Coop.", "Società Cooperativa",
    # Netherlands
    "B.V.", "N.V.", "V.O.F.", "C.V.",
    # English-speaking countries
    "Ltd", "Ltd.", "Limited", "PLC", "LLP", "LP", "LLC", "L.L.C.", "PLLC", "Inc", "Inc.",
    "Incorporated", "Corp", "Corp.", "Corporation", "Co", "Co.", "Company", "& Co.",
    "and Company", "Pty Ltd", "Pty. Ltd.", "Pte Ltd", "Pvt Ltd", "Private Limited", "CIC",
    # Nordic countries
    "AB", "AB (publ)", "HB", "KB", "Oy", "Oyj", "Ky", "Ay", "AS", "ASA", "A/S", "ApS",
    "I/S", "K/S", "P/S", "IVS", "ehf.", "hf.",
    # Central and Eastern Europe
    "Sp. z o.o.", "sp.j.", "sp.k.", "S.K.A.", "s.r.o.", "spol. s r.o.", "a.s.", "v.o.s.",
    "k.s.", "Kft.", "Zrt.", "Nyrt.", "Bt.", "d.o.o.", "d.d.", "OÜ", "UAB", "SIA", "OOD",
    "EOOD", "AD", "EAD", "A.E.", "E.P.E.", "I.K.E.", "O.E.",
    # Latin America
    "S.A. de C.V.", "S.A.B. de C.V.", "S.A.P.I. de C.V.", "S. de R.L.",
    "S. de R.L. de C.V.", "SpA", "E.I.R.L.", "S.A.C.", "S.A.A.", "S.R.L.",
    # Asia-Pacific
    "Sdn Bhd", "Sdn. Bhd.", "Bhd", "K.K.",
)

_APOSTROPHES = re.compile(r"['\u2019\u02bc]")
_NOT_WORD = re.compile(r"[^\w]+")


def _name_tokens(name):
    text = _APOSTROPHES.sub("", search_text(name).replace(".", ""))
    tokens = [token for token in _NOT_WORD.sub(" ", text).replace("_", " ").split() if token]
    merged = []
    run = []
    for token in tokens + [None]:
        if token is not None and len(token) == 1:
            run.append(token)
            continue
        if len(run) > 1:
            merged.append("".join(run))
        else:
            merged.extend(run)
        run = []
        if token is not None:
            merged.append(token)
    return merged


@functools.lru_cache(maxsize=1)
def _legal_forms_by_last_token():
    """``{last token: [forms ending with it, longest first]}``: a name is compared only
    with the forms that could end it, not with all of them."""
    forms = {tuple(_name_tokens(form)) for form in LEGAL_FORMS}
    forms.discard(())
    by_last = {}
    for form in sorted(forms, key=len, reverse=True):
        by_last.setdefault(form[-1], []).append(form)
    return by_last


def fold_name(name):
    """Fold a client name for duplicate matching.

    Case, accents, punctuation and trailing legal forms are ignored:
    "Acme, S.L.U." / "ACME SLU" / "acme" -> "acme"; "Müller GmbH & Co. KG" -> "muller";
    "São Paulo Seguros Ltda." -> "sao paulo seguros". A name made only of a legal
    form keeps it ("AG" -> "ag"). ``None``/blank gives ``""``.
    """
    if name is None:
        return ""
    tokens = _name_tokens(str(name))
    by_last = _legal_forms_by_last_token()
    stripped = True
    while stripped and tokens:
        stripped = False
        for form in by_last.get(tokens[-1], ()):
            if len(tokens) > len(form) and tuple(tokens[-len(form):]) == form:
                tokens = tokens[:-len(form)]
                stripped = True
                break
    return " ".join(tokens)


def client_country(client):
    """The country whose rules apply to a client dict: ``country``, else ``address.country``."""
    country = client.get("country")
    if not country:
        address = client.get("address") or {}
        country = address.get("country") if isinstance(address, dict) else None
    if not country:
        return None
    try:
        return normalize_country(country)
    except InvalidValue:
        return None


def email_key(value):
    """Lower-cased normalised email for matching; never raises."""
    try:
        email = normalize_email(value)
    except InvalidValue:
        try:
            email = clean_text(value)
        except InvalidValue:
            return None
        if not email or "@" not in email:
            return None
    return email.lower() if email else None


def duplicate_keys(client):
    """Normalised matching keys of a client dict (stored or about to be).

    Returns ``{"tax_id", "email", "phone", "name"}``, each a string or ``None``:
    tax id ``"ES:B12345678"`` (see :func:`tax_id_key`), email lower-cased, phone in
    E.164, name folded by :func:`fold_name`. Never raises.
    """
    client = client or {}
    country = client_country(client)
    name = fold_name(client.get("name")) if isinstance(client.get("name"), str) else ""
    return {
        "tax_id": tax_id_key(client.get("tax_id"), country),
        "email": email_key(client.get("email")),
        "phone": phone_key(client.get("phone"), country),
        "name": name or None,
    }
