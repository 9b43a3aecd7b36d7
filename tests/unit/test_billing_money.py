"""Money arithmetic of billing: currencies, rounding, parsing, exact sums."""
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.billing import money
from services.billing.money import InvalidAmount, UnknownCurrency

D = Decimal


# -- currencies ------------------------------------------------------------------------


@pytest.mark.parametrize("code, places", [
    ("EUR", 2), ("USD", 2), ("GBP", 2),
    ("JPY", 0), ("KRW", 0), ("CLP", 0), ("ISK", 0), ("VND", 0),
    ("BHD", 3), ("KWD", 3), ("JOD", 3), ("TND", 3), ("OMR", 3), ("IQD", 3), ("LYD", 3),
    ("CLF", 4), ("UYW", 4),
    ("RSD", 2), ("LAK", 2),  # ISO 4217, not CLDR (which says 0)
    ("eur", 2), (" jpy ", 0),
])
def test_minor_units_follow_iso_4217(code, places):
    assert money.minor_units(code) == places


@pytest.mark.parametrize("code", [
    "ABC", "EURO", "EU", "", "E1R", None, 978, "XAU", "XXX", "XTS", "XDR",
    "DEM", "ESP", "FRF",  # withdrawn currencies are not in the current list
])
def test_unknown_or_unroundable_currencies_are_refused(code):
    assert not money.is_known_currency(code)
    with pytest.raises(UnknownCurrency):
        money.minor_units(code)


def test_normalize_currency_upper_cases():
    assert money.normalize_currency("usd") == "USD"
    assert money.quantum("EUR") == D("0.01")
    assert money.quantum("JPY") == D("1")
    assert money.quantum("KWD") == D("0.001")


# -- rounding and formatting ----------------------------------------------------------------


@pytest.mark.parametrize("value, code, expected", [
    ("0.125", "EUR", "0.13"),     # half up at the minor unit
    ("0.124999", "EUR", "0.12"),
    ("0.135", "EUR", "0.14"),     # not banker's rounding
    ("2.5", "JPY", "3"),
    ("3.5", "JPY", "4"),
    ("2.4999", "KRW", "2"),
    ("1.0005", "BHD", "1.001"),
    ("1.00049", "KWD", "1.000"),
    ("1210", "EUR", "1210.00"),
    ("1500", "JPY", "1500"),
    ("0", "EUR", "0.00"),
    ("-0", "EUR", "0.00"),
    ("-0.001", "EUR", "0.00"),    # never "-0.00"
    ("-0.125", "EUR", "-0.13"),   # half away from zero
    ("123456789012345.675", "USD", "123456789012345.68"),
    ("1E+3", "EUR", "1000.00"),   # never an exponent on the wire
])
def test_format_amount_rounds_half_up(value, code, expected):
    assert money.format_amount(D(value), code) == expected


@pytest.mark.parametrize("value, min_places, expected", [
    ("21.0", 0, "21"), ("21", 0, "21"), ("5.50", 0, "5.5"), ("100", 0, "100"),
    ("1E+2", 0, "100"), ("12.5", 2, "12.50"), ("0.125", 2, "0.125"), ("0", 2, "0.00"),
    ("1500", 0, "1500"), ("-0", 0, "0"),
])
def test_format_decimal(value, min_places, expected):
    assert money.format_decimal(D(value), min_places) == expected


# -- line amounts and totals ----------------------------------------------------------------


@pytest.mark.parametrize("quantity, unit_price, rate, code, net, tax, total", [
    ("1", "1000", "21", "EUR", "1000.00", "210.00", "1210.00"),
    ("3", "0.125", "21", "EUR", "0.38", "0.08", "0.46"),       # 0.375 -> 0.38; 0.0798 -> 0.08
    ("1", "0.05", "10", "EUR", "0.05", "0.01", "0.06"),        # 0.005 tax -> 0.01
    ("1", "0.04", "10", "EUR", "0.04", "0.00", "0.04"),        # 0.004 tax -> 0.00
    ("2", "1500", "10", "JPY", "3000", "300", "3300"),
    ("1", "15", "10", "JPY", "15", "2", "17"),                 # 1.5 yen tax -> 2
    ("3", "333", "10", "KRW", "999", "100", "1099"),           # 99.9 -> 100
    ("1", "1005", "19", "CLP", "1005", "191", "1196"),         # 190.95 -> 191
    ("1", "1.2345", "5", "BHD", "1.235", "0.062", "1.297"),    # 1.2345 -> 1.235; 0.06175 -> 0.062
    ("2.5", "0.333", "0", "KWD", "0.833", "0.000", "0.833"),   # 0.8325 -> 0.833
    ("1.5", "10", "21.0", "EUR", "15.00", "3.15", "18.15"),
    ("0.0001", "0.000001", "21", "EUR", "0.00", "0.00", "0.00"),
    ("1", "0", "21", "EUR", "0.00", "0.00", "0.00"),
    ("10", "9.99", "5.5", "EUR", "99.90", "5.49", "105.39"),   # 5.4945 -> 5.49
    ("7", "14.285714", "21", "USD", "100.00", "21.00", "121.00"),  # 99.999998 -> 100.00
    ("999999999.9999", "999999999999.999999", "100", "EUR",
     "999999999999899999000.00", "999999999999899999000.00",
     "1999999999999799998000.00"),  # product ...000.0000000001: 31 digits, kept exact
    ("999999999", "999999999999.995", "0", "EUR",  # product ...000000.005: half up
     "999999998999995000000.01", "0.00", "999999998999995000000.01"),
])
def test_line_amounts(quantity, unit_price, rate, code, net, tax, total):
    amounts = money.line_amounts(D(quantity), D(unit_price), D(rate), code)
    assert [money.format_amount(a, code) for a in amounts] == [net, tax, total]


def test_tax_is_computed_from_the_rounded_net():
    # net 0.145 -> 0.15; 30 % of 0.15 = 0.045 -> 0.05 (30 % of the unrounded 0.145 would be 0.04)
    amounts = money.line_amounts(D("1"), D("0.145"), D("30"), "EUR")
    assert amounts == (D("0.15"), D("0.05"), D("0.20"))


def test_invoice_totals_sum_rounded_line_amounts():
    lines = [(D("3"), D("0.125"), D("21")), (D("1"), D("0.125"), D("21"))]
    totals = money.invoice_totals(lines, "EUR")
    # per line: 0.38 + 0.13 nets; 0.08 + 0.03 taxes (not round(0.5 * 1.21))
    assert totals == (D("0.51"), D("0.11"), D("0.62"))


def test_invoice_totals_of_no_lines_are_zero():
    assert money.invoice_totals([], "JPY") == (D(0), D(0), D(0))
    assert money.format_amount(money.invoice_totals([], "BHD").total, "BHD") == "0.000"


def test_one_thousand_lines_sum_exactly():
    # 0.1 is not exact in binary floating point: 1,000 x 0.10 must be 100.00 exactly.
    lines = [(D("1"), D("0.10"), D("21"))] * 1000
    totals = money.invoice_totals(lines, "EUR")
    assert totals.subtotal == D("100.00")
    assert totals.tax == D("20.00")     # 1,000 x round(0.021) = 1,000 x 0.02
    assert totals.total == D("120.00")
    assert money.format_amount(totals.total, "EUR") == "120.00"


def test_one_thousand_distinct_lines_sum_exactly():
    lines = [(D(i), D("0.01") * i, D("21")) for i in range(1, 1001)]
    expected_net = sum((D(i) * D("0.01") * i) for i in range(1, 1001))
    totals = money.invoice_totals(lines, "EUR")
    assert totals.subtotal == expected_net  # every net is already whole cents
    assert totals.total == totals.subtotal + totals.tax
    assert totals.tax == sum(money.line_amounts(q, p, r, "EUR").tax for q, p, r in lines)


decimals = st.decimals(min_value=0, max_value=10 ** 6, places=6, allow_nan=False)
quantities = st.decimals(min_value=D("0.0001"), max_value=10 ** 4, places=4, allow_nan=False)
rates = st.decimals(min_value=0, max_value=100, places=2, allow_nan=False)
codes = st.sampled_from(["EUR", "JPY", "KWD", "CLF"])


@given(st.lists(st.tuples(quantities, decimals, rates), max_size=40), codes)
def test_totals_are_the_exact_sums_of_line_amounts(lines, code):
    totals = money.invoice_totals(lines, code)
    amounts = [money.line_amounts(q, p, r, code) for q, p, r in lines]
    assert totals.subtotal == sum((a.net for a in amounts), D(0))
    assert totals.tax == sum((a.tax for a in amounts), D(0))
    assert totals.total == totals.subtotal + totals.tax
    q = money.quantum(code)
    for (quantity, unit_price, _rate), a in zip(lines, amounts):
        assert a.net == a.net.quantize(q) and a.tax == a.tax.quantize(q)
        assert abs(a.net - quantity * unit_price) <= q / 2  # rounded to the nearest minor unit


# -- parsing inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    ("12.50", D("12.50")), ("12", D("12")), (12, D("12")), ("0", D("0")), (".5", D("0.5")),
    ("5.", D("5")), ("-3", D("-3")), ("+3", D("3")), (D("1.25"), D("1.25")),
])
def test_parse_decimal_accepts_strings_ints_decimals(value, expected):
    assert money.parse_decimal(value) == expected


@pytest.mark.parametrize("value", [
    1.5, 0.1, True, False, None, "", " 1", "1 ", "1,5", "1e3", "1E-2", "NaN", "Infinity",
    "abc", "1.2.3", D("NaN"), D("Infinity"), [], {},
])
def test_parse_decimal_refuses_floats_and_garbage(value):
    with pytest.raises(InvalidAmount):
        money.parse_decimal(value)


@pytest.mark.parametrize("parse, value, expected", [
    (money.parse_quantity, "1", D("1")),
    (money.parse_quantity, "0.0001", D("0.0001")),
    (money.parse_quantity, "2.50000", D("2.5")),  # trailing zeros are not precision
    (money.parse_quantity, "999999999.9999", D("999999999.9999")),
    (money.parse_unit_price, "0", D("0")),
    (money.parse_unit_price, "0.125", D("0.125")),
    (money.parse_unit_price, "0.000001", D("0.000001")),
    (money.parse_tax_rate, "0", D("0")),
    (money.parse_tax_rate, "21", D("21")),
    (money.parse_tax_rate, "21.0", D("21")),
    (money.parse_tax_rate, "5.5", D("5.5")),
    (money.parse_tax_rate, "100", D("100")),
    (money.parse_tax_rate, "7.0625", D("7.0625")),
])
def test_line_inputs_accepted(parse, value, expected):
    assert parse(value) == expected


@pytest.mark.parametrize("parse, value, message", [
    (money.parse_quantity, "0", "greater than 0"),
    (money.parse_quantity, "-1", "greater than 0"),
    (money.parse_quantity, "0.00001", "at most 4 decimals"),
    (money.parse_quantity, "1000000000", "less than"),
    (money.parse_quantity, 1.0, "float"),
    (money.parse_unit_price, "-0.01", "at least 0"),
    (money.parse_unit_price, "0.0000001", "at most 6 decimals"),
    (money.parse_unit_price, "1000000000000", "less than"),
    (money.parse_tax_rate, "-1", "at least 0"),
    (money.parse_tax_rate, "100.01", "between 0 and 100"),
    (money.parse_tax_rate, "21.00001", "at most 4 decimals"),
])
def test_line_inputs_refused(parse, value, message):
    with pytest.raises(InvalidAmount, match=message):
        parse(value)


@pytest.mark.parametrize("value, code, expected", [
    ("10", "EUR", "10.00"), ("10.5", "EUR", "10.50"), ("10.500", "EUR", "10.50"),
    ("1500", "JPY", "1500"), ("1500.0", "JPY", "1500"), ("0.125", "KWD", "0.125"),
    ("0", "EUR", "0.00"), ("1.2345", "CLF", "1.2345"),
])
def test_parse_amount_in_currency(value, code, expected):
    assert format(money.parse_amount(value, code), "f") == expected


@pytest.mark.parametrize("value, code, allow_zero, message", [
    ("10.005", "EUR", True, "at most 2 decimals allowed in EUR"),
    ("1.5", "JPY", True, "JPY has no minor unit"),
    ("0.5", "CLP", True, "CLP has no minor unit"),
    ("0.0001", "BHD", True, "at most 3 decimals allowed in BHD"),
    ("-1", "EUR", True, "at least 0"),
    ("0", "EUR", False, "greater than 0"),
    ("1000000000000000", "EUR", True, "less than"),
    (10.5, "EUR", True, "float"),
])
def test_parse_amount_refuses(value, code, allow_zero, message):
    with pytest.raises(InvalidAmount, match=message):
        money.parse_amount(value, code, allow_zero=allow_zero)


def test_parse_amount_refuses_unknown_currency():
    with pytest.raises(UnknownCurrency):
        money.parse_amount("1", "ZZZ")
