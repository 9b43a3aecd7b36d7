"""Languages of the web app: gettext catalogs read from ``gateway/locales`` with Babel, and
numbers, money and dates formatted by Babel for the request's locale.

The ``.po`` files are the catalogs (domain ``messages``); they are read at start-up,
so adding or changing a string needs no build step.
"""
import functools
import io
from decimal import Decimal, InvalidOperation
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
# The languages offered, with their names as their speakers write them.
LANGUAGES = {"en": "English", "es": "Español", "pt_PT": "Português (Portugal)",
             "pt_BR": "Português (Brasil)", "ca": "Català"}
DEFAULT_LOCALE = "en"
# A bare language in Accept-Language: the variant most of its readers use.
BARE = {"en": "en", "es": "es", "pt": "pt_BR", "ca": "ca"}


def load_catalog(locale):
    """The ``messages`` catalog of ``locale`` (empty for English, the source language)."""
    path = LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return None
    with open(path, "rb") as handle:
        return read_po(handle, locale=locale, domain=DOMAIN)


def translations(locale):
    catalog = load_catalog(locale)
    if catalog is None:
        return Translations()
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def supported(code):
    """``code`` (``pt-BR``, ``pt_br``, ``es``) as one of ``LANGUAGES``, or None."""
    if not code:
        return None
    code = code.strip().replace("-", "_")
    try:
        locale = Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        return None
    full = f"{locale.language}_{locale.territory}" if locale.territory else locale.language
    if full in LANGUAGES:
        return full
    if locale.territory and locale.language == "pt":
        return "pt_BR" if locale.territory == "BR" else "pt_PT"
    return BARE.get(locale.language)


def from_accept_language(header):
    """The best of ``LANGUAGES`` for an ``Accept-Language`` header, or None."""
    choices = []
    for index, part in enumerate((header or "").split(",")[:20]):
        code, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if code and code != "*" and quality > 0:
            choices.append((-quality, index, code))
    for _, _, code in sorted(choices):
        found = supported(code)
        if found:
            return found
    return None


class Formats:
    """Babel's formatting for one locale, as template filters."""

    def __init__(self, locale):
        self.locale = locale
        # A list page formats the same few values many times (hours, dates): each text
        # is formatted once per language.
        self._number_text = functools.lru_cache(maxsize=8192)(self._format_number)
        self._date_text = functools.lru_cache(maxsize=8192)(self._format_date)

    def money(self, amount, currency):
        try:
            return format_currency(Decimal(str(amount)), currency, locale=self.locale)
        except (InvalidOperation, ValueError):
            return f"{amount} {currency}"

    def number(self, value):
        if value is None or value == "":
            return ""
        return self._number_text(str(value))

    def _format_number(self, text):
        return format_decimal(Decimal(text), locale=self.locale)

    def date(self, value, form="medium"):
        if not value:
            return ""
        if isinstance(value, str):
            return self._date_text(value, form)
        return self._format_date(value, form)

    def _format_date(self, value, form):
        from datetime import date, datetime

        if isinstance(value, str):
            try:
                value = (datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value
                         else date.fromisoformat(value))
            except ValueError:
                return value
        if isinstance(value, datetime):
            return format_datetime(value, "medium", locale=self.locale)
        return format_date(value, form, locale=self.locale)

    def day(self, value):
        """A timestamp's date only."""
        return self.date((value or "")[:10])
