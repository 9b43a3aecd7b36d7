"""Money for billing: ISO 4217 currencies, exact decimal arithmetic, rounding.

Amounts are ``decimal.Decimal`` inside the service and decimal *strings* on
the wire (``"1210.00"``, ``"1500"`` for JPY); a float is never accepted.

Currency minor units
--------------------
The number of decimals of each currency comes from the ``iso4217`` package,
which ships the ISO 4217 maintenance agency's own published table ("list
one", the currencies and funds in use) and is republished when that table
changes. It was chosen over the alternatives because it matches ISO 4217
exactly:

* Babel's ``get_currency_precision`` follows CLDR, whose "digits" differ from
  ISO 4217 for several currencies (e.g. IQD, RSD, LAK are given 0 decimals by
  CLDR and 3, 2 and 2 by ISO 4217);
* ``pycountry`` lists the currency codes but has no minor units at all.

A code that is not in the table (a withdrawn currency, a typo, a lower-case
spelling is normalised first) is refused, and so are the codes whose minor
unit ISO 4217 gives as "N.A." (gold ``XAU``, ``XDR``, test code ``XTS``,
``XXX``...): an invoice cannot be rounded in them.

Rounding rule
-------------
Only *computed* amounts are rounded, each to the currency's minor unit with
``ROUND_HALF_UP`` (half away from zero: 0.125 EUR -> 0.13, 2.5 JPY -> 3):

* line net   = round(quantity x unit_price)
* line tax   = round(line net x tax_rate / 100)   (from the rounded net)
* line total = line net + line tax
* subtotal   = sum of line nets, tax = sum of line taxes,
  total      = subtotal + tax                      (sums of rounded amounts are exact)

Inputs are never rounded: a quantity may carry up to 4 decimals and a unit
price up to 6 (0.125 per unit), a tax rate up to 4 (a percentage: "21",
"5.5"); an amount given in a currency (a payment, an order or quote total)
may not carry more decimals than the currency has (``"10.005"`` EUR is
refused, ``"10.50"`` and ``"10.500"`` are the same ten euros fifty).

All arithmetic runs in a decimal context wide enough (60 digits) that no
intermediate product or sum is ever rounded, given the magnitude limits
below.
"""
import decimal
import re
from collections import namedtuple
from decimal import ROUND_HALF_UP, Decimal

from iso4217 import Currency

__all__ = [
    "UnknownCurrency", "InvalidAmount", "LineAmounts", "Totals", "ZERO",
    "normalize_currency", "minor_units", "is_known_currency", "quantum",
    "round_amount", "format_amount", "format_decimal", "parse_decimal",
    "parse_quantity", "parse_unit_price", "parse_tax_rate", "parse_amount",
    "line_amounts", "invoice_totals", "sum_amounts",
    "QUANTITY_PLACES", "UNIT_PRICE_PLACES", "TAX_RATE_PLACES",
    "MAX_QUANTITY", "MAX_UNIT_PRICE", "MAX_AMOUNT",
]

ZERO = Decimal(0)

#: Decimals accepted in inputs (computed amounts use the currency's minor unit).
QUANTITY_PLACES = 4
UNIT_PRICE_PLACES = 6
TAX_RATE_PLACES = 4

#: Magnitude limits (exclusive) that keep every computation exact.
MAX_QUANTITY = Decimal(10) ** 9
MAX_UNIT_PRICE = Decimal(10) ** 12
MAX_AMOUNT = Decimal(10) ** 15

#: Wide enough for 1e9 x 1e12 with 10 decimals, summed over any number of lines.
_EXACT = decimal.Context(prec=60, rounding=ROUND_HALF_UP,
                         traps=[decimal.InvalidOperation, decimal.DivisionByZero,
                                decimal.Overflow])

_DECIMAL_TEXT = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$")

LineAmounts = namedtuple("LineAmounts", "net tax total")
Totals = namedtuple("Totals", "subtotal tax total")


class UnknownCurrency(ValueError):
    """Not an ISO 4217 code, or one without a minor unit (XAU, XXX...)."""


class InvalidAmount(ValueError):
    """A decimal input that is malformed, out of range or too precise."""


# -- currencies --------------------------------------------------------------------


def normalize_currency(code):
    """``" eur"`` -> ``"EUR"``; ``UnknownCurrency`` unless ISO 4217 gives it a minor unit."""
    if not isinstance(code, str) or not re.fullmatch(r"[A-Za-z]{3}", code.strip()):
        raise UnknownCurrency("must be a three-letter ISO 4217 currency code")
    code = code.strip().upper()
    try:
        currency = Currency(code)
    except ValueError:
        raise UnknownCurrency(f"{code} is not an ISO 4217 currency code") from None
    if currency.exponent is None:
        raise UnknownCurrency(f"{code} has no minor unit in ISO 4217 and cannot be invoiced")
    return code


def minor_units(code):
    """Decimals of ``code`` per ISO 4217: JPY 0, EUR 2, BHD 3, CLF 4."""
    return Currency(normalize_currency(code)).exponent


def is_known_currency(code):
    try:
        normalize_currency(code)
    except UnknownCurrency:
        return False
    return True


def quantum(code):
    """The smallest amount of ``code``: ``Decimal("0.01")`` for EUR, ``Decimal("1")`` for JPY."""
    return Decimal(1).scaleb(-minor_units(code))


# -- rounding and formatting -----------------------------------------------------


def round_amount(value, code):
    """Round ``value`` to the minor unit of ``code``, half away from zero."""
    return _EXACT.quantize(Decimal(value), quantum(code))


def format_amount(value, code):
    """The wire form of an amount: exactly the currency's decimals, never an exponent.

    ``format_amount(Decimal("1210"), "EUR") == "1210.00"``;
    ``format_amount(Decimal("1500"), "JPY") == "1500"``.
    """
    rounded = round_amount(value, code)
    if rounded == 0:
        rounded = abs(rounded)  # never "-0.00"
    return format(rounded, "f")


def format_decimal(value, min_places=0):
    """A plain decimal string without trailing zeros beyond ``min_places``.

    ``format_decimal(Decimal("21.0")) == "21"``; ``format_decimal(Decimal("12.5"), 2) == "12.50"``.
    """
    value = Decimal(value)
    if value == 0:
        value = abs(value)
    normal = value.normalize(_EXACT)
    if normal.as_tuple().exponent > -min_places:
        normal = normal.quantize(Decimal(1).scaleb(-min_places), context=_EXACT)
    return format(normal, "f")


# -- parsing inputs --------------------------------------------------------------


def parse_decimal(value):
    """A finite ``Decimal`` from a decimal string, an int or a Decimal.

    Floats are refused (money is exchanged as strings), so are booleans,
    exponent notation, blanks, NaN and infinities.
    """
    if isinstance(value, bool):
        raise InvalidAmount("must be a decimal number written as a string, e.g. \"12.50\"")
    if isinstance(value, float):
        raise InvalidAmount("must be a decimal string such as \"12.50\", not a JSON float")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidAmount("must be a finite decimal number")
        return value
    if isinstance(value, str) and _DECIMAL_TEXT.match(value):
        return Decimal(value)
    raise InvalidAmount("must be a decimal number written as a string, e.g. \"12.50\"")


def _places(value):
    """Significant decimals of ``value`` (trailing zeros do not count)."""
    if value == 0:
        return 0
    exponent = value.normalize(_EXACT).as_tuple().exponent
    return max(0, -exponent)


def _check(value, *, places, minimum, minimum_inclusive, maximum, places_message=None):
    if _places(value) > places:
        raise InvalidAmount(places_message
                            or f"at most {places} decimal{'s' if places != 1 else ''} allowed")
    if minimum_inclusive and value < minimum:
        raise InvalidAmount(f"must be at least {format_decimal(minimum)}")
    if not minimum_inclusive and value <= minimum:
        raise InvalidAmount(f"must be greater than {format_decimal(minimum)}")
    if maximum is not None and value >= maximum:
        raise InvalidAmount(f"must be less than {format_decimal(maximum)}")
    if value == 0:
        value = abs(value)
    return value


def parse_quantity(value):
    """A line quantity: > 0, at most 4 decimals."""
    return _check(parse_decimal(value), places=QUANTITY_PLACES, minimum=ZERO,
                  minimum_inclusive=False, maximum=MAX_QUANTITY)


def parse_unit_price(value):
    """A unit price: >= 0, at most 6 decimals (whatever the currency)."""
    return _check(parse_decimal(value), places=UNIT_PRICE_PLACES, minimum=ZERO,
                  minimum_inclusive=True, maximum=MAX_UNIT_PRICE)


def parse_tax_rate(value):
    """A tax rate in percent: 0 <= rate <= 100, at most 4 decimals ("21", "21.0", "5.5")."""
    rate = _check(parse_decimal(value), places=TAX_RATE_PLACES, minimum=ZERO,
                  minimum_inclusive=True, maximum=None)
    if rate > 100:
        raise InvalidAmount("must be a percentage between 0 and 100")
    return rate


def parse_amount(value, code, *, allow_zero=True):
    """An amount in ``code``: no more decimals than the currency has, >= 0 (or > 0).

    Returned with exactly the currency's decimals (``"10.5"`` EUR -> ``Decimal("10.50")``).
    """
    code = normalize_currency(code)
    places = minor_units(code)
    if places == 0:
        message = f"{code} has no minor unit: whole amounts only"
    else:
        message = f"at most {places} decimals allowed in {code}"
    amount = _check(parse_decimal(value), places=places, minimum=ZERO,
                    minimum_inclusive=allow_zero, maximum=MAX_AMOUNT, places_message=message)
    return _EXACT.quantize(amount, quantum(code))


# -- computations ----------------------------------------------------------------


def line_amounts(quantity, unit_price, tax_rate, code):
    """Net, tax and total of one invoice line, each rounded to the currency's minor unit."""
    net = round_amount(_EXACT.multiply(Decimal(quantity), Decimal(unit_price)), code)
    tax = round_amount(_EXACT.divide(_EXACT.multiply(net, Decimal(tax_rate)), Decimal(100)),
                       code)
    return LineAmounts(net, tax, _EXACT.add(net, tax))


def sum_amounts(values):
    """Exact sum of already-rounded amounts (Decimals or decimal strings)."""
    total = ZERO
    for value in values:
        total = _EXACT.add(total, Decimal(value))
    return total


def invoice_totals(lines, code):
    """Subtotal, tax and total of ``lines``: iterables of (quantity, unit_price, tax_rate)."""
    subtotal = tax = ZERO
    q = quantum(code)
    for quantity, unit_price, tax_rate in lines:
        amounts = line_amounts(quantity, unit_price, tax_rate, code)
        subtotal = _EXACT.add(subtotal, amounts.net)
        tax = _EXACT.add(tax, amounts.tax)
    subtotal = _EXACT.quantize(subtotal, q)
    tax = _EXACT.quantize(tax, q)
    return Totals(subtotal, tax, _EXACT.add(subtotal, tax))
