"""Amounts typed in the web app's forms are read in the person's locale, exactly, and
anything unclear is refused rather than guessed."""
from decimal import Decimal

import pytest

from gateway.web.amounts import (AMBIGUOUS, INVALID, AmountError, canonical, example,
                                 local_text, parse_amount)


@pytest.mark.parametrize("locale", ["es", "ca", "pt_PT", "pt_BR"])
@pytest.mark.parametrize("text, expected", [
    ("1.234,56", "1234.56"), ("1234,56", "1234.56"), ("1 234,56", "1234.56"),
    ("1\u00a0234,56", "1234.56"), ("1\u202f234,56", "1234.56"), ("0,5", "0.5"),
    (",5", "0.5"), ("12,50", "12.50"), ("1.234", "1234"), ("1.234.567,8", "1234567.8"),
    ("21", "21"), ("-3,5", "-3.5"), ("  7  ", "7"), ("0,000001", "0.000001"),
    ("999.999.999.999,99", "999999999999.99"),
])
def test_comma_decimal_locales(locale, text, expected):
    value = parse_amount(text, locale)
    assert isinstance(value, Decimal) and canonical(value) == expected


@pytest.mark.parametrize("text, expected", [
    ("1,234.56", "1234.56"), ("1234.56", "1234.56"), ("1 234.56", "1234.56"),
    ("0.5", "0.5"), (".5", "0.5"), ("1,234", "1234"), ("21", "21"), ("12.50", "12.50"),
])
def test_english(text, expected):
    assert canonical(parse_amount(text, "en")) == expected


@pytest.mark.parametrize("locale, text", [
    ("es", "1.5"), ("es", "12.50"), ("es", "1234.56"), ("es", "1,234.56"), ("es", "1,2,3"),
    ("ca", "1.23,4"), ("pt_PT", "1.5"), ("pt_BR", "1.234.5"), ("pt_BR", "1.234 567"),
    ("en", "1,5"), ("en", "1.234,56"), ("en", "1234,56"), ("en", "1.2.3"), ("es", "12.3456,7"),
])
def test_the_other_conventions_separator_is_refused_as_ambiguous(locale, text):
    with pytest.raises(AmountError) as caught:
        parse_amount(text, locale)
    assert caught.value.kind == AMBIGUOUS


@pytest.mark.parametrize("locale", ["es", "ca", "pt_PT", "pt_BR", "en"])
@pytest.mark.parametrize("text", ["abc", "1e5", "12 €", "€12", "NaN", "Infinity", "--1", "-",
                                  ",", "1_000", "١٢٣", "0x10", "1" * 41])
def test_what_is_not_a_number_is_refused(locale, text):
    with pytest.raises(AmountError) as caught:
        parse_amount(text, locale)
    assert caught.value.kind in (INVALID, AMBIGUOUS)


@pytest.mark.parametrize("locale", ["es", "ca", "pt_PT", "pt_BR", "en"])
def test_blank_is_none(locale):
    assert parse_amount("", locale) is None and parse_amount("   ", locale) is None


@pytest.mark.parametrize("locale", ["es", "ca", "pt_PT", "pt_BR", "en"])
@pytest.mark.parametrize("value", ["1234.56", "0.000001", "999999999999.999999", "12.50", "7"])
def test_what_a_form_shows_reads_back_exactly(locale, value):
    assert parse_amount(local_text(value, locale), locale) == Decimal(value)
    assert parse_amount(example(locale), locale) == Decimal("1234.56")


def test_the_example_is_written_as_the_locale_writes_it():
    assert example("es") == example("ca") == example("pt_BR") == "1.234,56"
    assert example("en") == "1,234.56"
