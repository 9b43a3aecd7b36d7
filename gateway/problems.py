"""Problems in the caller's language.

Every message of a problem (its ``detail`` and its field ``errors``) is a code, an
English template and params (``services.common.errors.Message``). The gateway's
``errors`` catalogs translate the templates: ``locales/<locale>/LC_MESSAGES/errors.po``
with the code as ``msgctxt`` and the English template as ``msgid``. They are read
as they are (no compiled ``.mo`` files) once per process. ``codes`` never change with
the language; a template a catalog lacks stays English.
"""
import functools
import io
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from services.billing import messages as _billing_messages  # noqa: F401  (registers codes)
from services.common.errors import FIELD_CODE, ClientfolioError, Message
from services.common.web import problem_body, set_problem_localizer
from services.contacts import messages as _contacts_messages  # noqa: F401
from services.projects import messages as _projects_messages  # noqa: F401

LOCALE_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "errors"
DEFAULT_LOCALE = "en"
# Language tag (as Accept-Language and Content-Language write it) -> catalog folder.
LOCALES = {"en": None, "es": "es", "pt-PT": "pt_PT", "pt-BR": "pt_BR", "ca": "ca"}
# A bare language picks its most common variant.
_LANGUAGE_DEFAULTS = {"en": "en", "es": "es", "pt": "pt-PT", "ca": "ca"}


@functools.lru_cache(maxsize=None)
def catalog(locale):
    """The ``errors`` translations of ``locale`` (a key of ``LOCALES``), read from its .po."""
    folder = LOCALES.get(locale)
    path = LOCALE_DIR / (folder or "") / "LC_MESSAGES" / f"{DOMAIN}.po"
    if folder is None or not path.exists():
        return NullTranslations()
    with open(path, "rb") as handle:
        messages = read_po(handle, locale=folder, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def negotiate_locale(accept_language):
    """The best of ``LOCALES`` for an ``Accept-Language`` header (``"en"`` when none fits):
    ``"pt-BR,pt;q=0.9"`` -> ``"pt-BR"``, ``"pt"`` -> ``"pt-PT"``, ``"es-MX"`` -> ``"es"``."""
    ranges = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranges.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(ranges):
        found = _match_tag(tag)
        if found:
            return found
    return DEFAULT_LOCALE


def _match_tag(tag):
    if tag == "*":
        return DEFAULT_LOCALE
    try:
        locale = Locale.parse(tag, sep="-") if "-" in tag else Locale.parse(tag)
    except (ValueError, UnknownLocaleError):
        return None
    if locale.territory:
        exact = f"{locale.language}-{locale.territory}"
        if exact in LOCALES:
            return exact
    return _LANGUAGE_DEFAULTS.get(locale.language)


def translate(message, locale):
    """The text of ``message`` (a ``Message``, its JSON or English text) in ``locale``."""
    message = Message.of(message, FIELD_CODE)
    template = catalog(locale).pgettext(message.code, message.template) \
        if locale != DEFAULT_LOCALE else message.template
    return _fill(template, message.params) if message.params else template


def _fill(template, params):
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def localize_problem(error, locale):
    """The problem+json document of ``error`` (a ``ClientfolioError``) with ``detail`` and
    the ``errors`` messages in ``locale`` (a key of ``LOCALES``); ``code``, ``codes`` and
    ``type`` are the same in every language."""
    body = problem_body(error)
    if locale == DEFAULT_LOCALE or locale not in LOCALES:
        return body
    if error.problem.get("template"):
        body["detail"] = translate(error.problem, locale)
    if error.field_errors:
        body["errors"] = {path: [translate(entry, locale) for entry in entries]
                          for path, entries in error.field_errors.items()}
    return body


def _localizer(error, accept_language):
    locale = negotiate_locale(accept_language)
    if not isinstance(error, ClientfolioError):
        return problem_body(error), None
    return localize_problem(error, locale), locale


set_problem_localizer(_localizer)
