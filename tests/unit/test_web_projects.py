"""The Projects screens' form handling: what a person types, turned into what the projects
service takes (the service alone judges it)."""
import pytest

from gateway.web import i18n
from gateway.web.projects import decimal_text, project_data, project_values


@pytest.mark.parametrize("locale, typed, sent", [
    ("es", "7,5", "7.5"), ("ca", "1.234,25", "1234.25"), ("pt_BR", "0,25", "0.25"),
    ("en", "7.5", "7.5"), ("en", "1,234.5", "1234.5"), ("pt_PT", "8", "8"),
    # What cannot be read in the locale goes as typed: the service names the fault.
    ("en", "7,5", "7,5"), ("es", "siete", "siete"), ("es", " ", "")])
def test_hours_are_read_in_the_persons_locale(locale, typed, sent):
    assert decimal_text(typed, locale) == sent


def test_a_new_project_leaves_blank_fields_out():
    values = {"name": "Web", "code": "", "status": "active", "start_date": "",
              "end_date": "", "budget_hours": "120,5", "client_id": "c-1"}
    assert project_data(values, "es") == {"name": "Web", "status": "active",
                                          "budget_hours": "120.5", "client_id": "c-1"}


def test_settings_send_only_what_changed_and_blank_clears():
    stored = {"name": "Web", "code": "W-1", "status": "active", "start_date": "2026-01-05",
              "end_date": None, "budget_hours": 120.5, "client_id": "c-1"}
    current = project_values(stored)
    same = dict(current, budget_hours="120,50")
    assert project_data(same, "es", current=current) == {}
    changed = dict(current, code="", client_id="", end_date="2026-02-01")
    assert project_data(changed, "es", current=current) == {
        "code": None, "end_date": "2026-02-01", "client_id": None}
    assert project_data(dict(current, client_id="c-2"), "es", current=current) == \
        {"client_id": "c-2"}


def test_numbers_and_dates_keep_their_locale_when_formatted_again():
    spanish, english = i18n.Formats("es"), i18n.Formats("en")
    for _ in range(2):  # the second time from the per-language memory
        assert spanish.number("1234.5") == "1.234,5"
        assert english.number(1234.5) == "1,234.5"
        assert spanish.date("2026-11-22") == "22 nov 2026"
        assert english.date("2026-11-22", "long") == "November 22, 2026"
