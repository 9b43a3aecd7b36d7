"""Amounts typed by a person in their language, read exactly (``Decimal``, never float).

The separators come from Babel (CLDR) for the page's locale: ``1.234,56`` in Spanish,
Catalan and Portuguese, ``1,234.56`` in English. Besides the locale's own grouping
symbol, a space (any kind) groups thousands everywhere, and ``.`` does where the
decimal separator is ``,`` (people in Portugal write ``1.234,56`` as often as
``1 234,56``).

What is refused, rather than guessed:

- anything but digits, one sign, separators and spaces (``1e5``, ``12 €``, ``NaN``);
- a decimal separator twice, or a grouping symbol after it;
- grouping that is not in threes (``1.5`` and ``12.50`` in Spanish, ``1,5`` in
  English): the person most likely used the other convention's decimal separator,
  so the page says which separator this language uses (``AMBIGUOUS``).

A well-grouped number is read as grouped: ``1.234`` in Spanish is one thousand two
hundred and thirty-four (as Babel and every Spanish reader read it).
"""
import re
from decimal import Decimal, InvalidOperation

from babel.numbers import format_decimal, get_decimal_symbol, get_group_symbol

INVALID = "invalid"
AMBIGUOUS = "ambiguous"
MAX_LENGTH = 40
SPACES = "\u0020\u00a0\u202f\u2009\u2007"
MINUS = "-\u2212"


class AmountError(ValueError):
    """Typed text that is not an amount in the locale: ``kind`` is INVALID or AMBIGUOUS."""

    def __init__(self, kind, text):
        super().__init__(f"{kind}: {text!r}")
        self.kind = kind
        self.text = text


def separators(locale):
    """``(decimal symbol, grouping symbols accepted)`` of ``locale``."""
    decimal = get_decimal_symbol(locale)
    groups = set(SPACES)
    group = get_group_symbol(locale)
    if group not in SPACES:
        groups.add(group)
    if decimal == ",":
        groups.add(".")
    else:
        groups.add(",")
    groups.discard(decimal)
    return decimal, groups


def parse_amount(text, locale):
    """The ``Decimal`` written in ``text`` (``None`` when blank); ``AmountError`` when the
    text is not a number written as ``locale`` writes numbers."""
    text = (text or "").strip()
    if not text:
        return None
    if len(text) > MAX_LENGTH:
        raise AmountError(INVALID, text)
    decimal, groups = separators(locale)
    sign, body = "", text
    if body[0] in MINUS or body[0] == "+":
        sign, body = ("-" if body[0] in MINUS else ""), body[1:].lstrip(SPACES)
    if not body or any(not (char.isdigit() and char.isascii()) and char != decimal
                       and char not in groups for char in body):
        raise AmountError(INVALID, text)
    whole, _, fraction = body.partition(decimal)
    if decimal in fraction or not (whole or fraction):
        raise AmountError(AMBIGUOUS if decimal in fraction else INVALID, text)
    if fraction and not fraction.isdigit():
        raise AmountError(AMBIGUOUS, text)  # a grouping symbol after the decimal separator
    if whole and not whole.isdigit():
        # Grouped: one kind of symbol, groups of three after the first (1 to 3 digits).
        used = {char for char in whole if not char.isdigit()}
        used = {" " if char in SPACES else char for char in used}
        parts = re.split(f"[{re.escape(''.join(groups))}]", whole)
        if len(used) != 1 or not 1 <= len(parts[0]) <= 3 or \
                any(len(part) != 3 for part in parts[1:]):
            raise AmountError(AMBIGUOUS, text)
        whole = "".join(parts)
    try:
        value = Decimal(f"{sign}{whole or '0'}.{fraction or '0'}")
    except InvalidOperation:
        raise AmountError(INVALID, text) from None
    # Keep the places the person wrote (``12,50`` is 12.50): ``Decimal("12.0")`` for ``12``.
    return value if fraction else value.quantize(Decimal(1))


def canonical(value):
    """A ``Decimal`` as the services take it: a plain decimal string (``"1234.56"``)."""
    return format(value, "f")


def local_text(value, locale, group=True):
    """A decimal string or ``Decimal`` written for ``locale``, every place kept (for the
    value of a form field the person may edit and send back)."""
    if value is None or value == "":
        return ""
    return format_decimal(Decimal(str(value)), locale=locale, group_separator=group,
                          decimal_quantization=False)


def example(locale):
    """How ``locale`` writes one thousand two hundred and thirty-four and 56 cents."""
    return format_decimal(Decimal("1234.56"), locale=locale)
