"""Every string of the web app's templates and code has a translation in every language,
and numbers, money and dates are formatted by Babel for the page's locale."""
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from gateway.web import i18n

WEB = Path(i18n.__file__).resolve().parent
METHODS = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
TRANSLATED = [locale for locale in i18n.LANGUAGES if locale != "en"]


def extracted():
    ids = set()
    for _, _, message, _, _ in extract_from_dir(str(WEB), METHODS, OPTIONS,
                                                keywords={"_": None, "gettext": None,
                                                          "ngettext": (1, 2), "N_": None}):
        ids.add(message if isinstance(message, str) else message[0])
    return ids


def test_the_strings_are_found():
    ids = extracted()
    assert {"Clients", "Add client", "Purchase orders / Invoices", "Client added",
            "Too many failed attempts. Try again in %(num)d minute."} <= ids


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_string_has_a_translation(locale):
    catalog = i18n.load_catalog(locale)
    translated = {}
    for message in catalog:
        if not message.id:
            continue
        key = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        translated[key] = all(strings) and not message.fuzzy
    missing = sorted(key for key in extracted() if not translated.get(key))
    assert missing == [], f"{locale} lacks translations for {missing}"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_translations_keep_their_placeholders(locale):
    import re

    for message in i18n.load_catalog(locale):
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert set(re.findall(r"%\(\w+\)[sd]", string)) == \
                set(re.findall(r"%\(\w+\)[sd]", source)), (locale, source, string)


def test_money_numbers_and_dates_follow_the_locale():
    assert i18n.Formats("es").money(Decimal("1800"), "EUR") == "1.800,00\xa0€"
    assert i18n.Formats("pt_BR").money("1800.00", "BRL") == "R$\xa01.800,00"
    assert i18n.Formats("en").money("1800.00", "EUR") == "€1,800.00"
    assert i18n.Formats("ca").number("12345.5") == "12.345,5"
    assert i18n.Formats("pt_PT").date(date(2026, 11, 22), "long") == "22 de novembro de 2026"


@pytest.mark.parametrize("header, locale", [
    ("es-ES,es;q=0.9,en;q=0.8", "es"), ("pt-PT", "pt_PT"), ("pt-BR,pt;q=0.9", "pt_BR"),
    ("pt", "pt_BR"), ("ca", "ca"), ("fr-FR,ca;q=0.5", "ca"), ("de", None), ("", None),
    ("en-GB;q=0.2,es;q=0.8", "es")])
def test_accept_language_picks_an_offered_language(header, locale):
    assert i18n.from_accept_language(header) == locale
