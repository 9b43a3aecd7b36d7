"""The billing forms' reading (lines in the person's language, the service's errors put
back on the form's rows) and the merge preview's choice of the value that stays."""
from werkzeug.datastructures import MultiDict

from gateway.web.billing import invoice_lines, invoice_values, row_errors
from gateway.web.duplicates import choices_of, comparison


def test_lines_are_read_in_the_locale_and_blank_rows_left_out():
    form = MultiDict({"client_id": "c", "currency": "EUR",
                      "lines.0.description": "Diseño", "lines.0.quantity": "1,5",
                      "lines.0.unit_price": "1.234,50", "lines.0.tax_rate": "21",
                      "lines.1.description": "", "lines.1.quantity": "",
                      "lines.1.unit_price": "", "lines.1.tax_rate": "",
                      "lines.2.description": "Horas", "lines.2.quantity": "2",
                      "lines.2.unit_price": "12.50", "lines.2.tax_rate": "10"})
    values = invoice_values(form)
    errors = {}
    lines, rows = invoice_lines(values, "es", errors)
    assert lines[0] == {"description": "Diseño", "quantity": "1.5", "unit_price": "1234.50",
                        "tax_rate": "21"}
    assert rows == [0, 2]
    assert list(errors) == ["lines.2.unit_price"]  # 12.50 is unclear in Spanish
    assert "1.234,56" in errors["lines.2.unit_price"][0]


def test_the_services_line_errors_land_on_the_forms_rows():
    moved = row_errors({"lines.1.quantity": ["must be greater than 0"],
                        "currency": ["unknown"], "lines": ["at most 1000 lines"]}, [0, 3])
    assert moved == {"lines.3.quantity": ["must be greater than 0"], "currency": ["unknown"],
                     "lines": ["at most 1000 lines"]}


def test_the_form_keeps_at_most_its_limit_of_rows():
    values = invoice_values(MultiDict({"lines.100000.quantity": "1"}))
    assert len(values["lines"]) == 200


def test_the_survivors_value_stays_unless_it_has_none_or_the_person_chooses():
    survivor = {"id": "a", "name": "Puig S.L.", "email": None, "category": "x",
                "address": {"city": "Reus", "street": None}, "tags": []}
    duplicate = {"id": "b", "name": "Puig", "email": "hola@puig.example", "category": "y",
                 "address": {"street": None, "city": "Reus"}, "tags": None}
    rows, same = comparison([survivor, duplicate], "a", {"category": "b", "name": "zzz"})
    winners = {row["field"]: row["winner"] for row in rows}
    assert winners == {"name": "a", "email": "b", "category": "b"}
    assert "address" in same and "tags" in same
    assert choices_of(rows, "a") == {"email": "b", "category": "b"}
