"""The Duplicates screen: the standing list, a merge preview where the person picks the
value that stays, the merge, and undoing it from the survivor's History tab; the
survivor's overview follows each step as the JSON overview says."""
import re
from datetime import date, timedelta

import pytest

from tests.browser.billing_steps import (new_client, open_page, overview_matches_the_json,
                                         slice_amount)
from tests.browser.conftest import axe_violations, requests_session, screenshot, sign_in


def issued_invoice(web, api, client_id, unit_price, due_in_days=15):
    invoice = api.post(f"{web.url}/api/v1/invoices", json={
        "client_id": client_id, "currency": "EUR",
        "due_date": (date.today() + timedelta(days=due_in_days)).isoformat(),
        "lines": [{"description": "Obra", "quantity": "1", "unit_price": unit_price,
                   "tax_rate": "0"}]}, timeout=10).json()
    answer = api.post(f"{web.url}/api/v1/invoices/{invoice['id']}/issue", json={}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.headers["Consistency-Token"]


@pytest.mark.parametrize("locale", ["ca", "es"])
def test_merge_two_clients_and_undo_it(browser, web, locale):
    person = web.user(role="member")
    api = web.api(person.workspace)
    survivor = new_client(web, api, "Fusteria Puig S.L.", email="hola@puig.example",
                          country="ES")
    duplicate = new_client(web, api, "Fustería Puig", email="HOLA@puig.example",
                           category="fusteria", phone="+34612345678")
    issued_invoice(web, api, survivor["id"], "100.00")
    token = issued_invoice(web, api, duplicate["id"], "250.00")
    api.get(f"{web.url}/api/v1/clients/{duplicate['id']}/overview",
            headers={"Consistency-Token": token}, timeout=10)
    context, page, dialogs = open_page(browser, locale)
    sign_in(page, web, person)
    page.goto(f"{web.url}/duplicates")
    group = page.locator("section.duplicate-group")
    assert group.count() == 1
    assert "Fusteria Puig S.L." in group.inner_text() and "Fustería Puig" in group.inner_text()
    assert axe_violations(page) == []
    screenshot(page, f"{locale}-duplicates")

    group.locator("a.button").click()
    page.wait_for_selector("table.merge-fields")
    assert page.input_value("#survivor") == survivor["id"]  # the oldest stays by default
    name_row = page.locator("tr[data-field=name]")
    assert name_row.locator("input:checked").get_attribute("value") == survivor["id"]
    # A field the survivor lacks takes the duplicate's value unless the person says otherwise.
    assert page.locator("tr[data-field=category] input:checked").get_attribute("value") == \
        duplicate["id"]
    assert page.locator("[data-result=category]").inner_text() == "fusteria"
    assert page.locator("[data-moves=invoices] strong").inner_text() == "1"
    name_row.locator(f"input[value='{duplicate['id']}']").check()  # htmx: a new preview
    page.wait_for_selector("[data-result=name]:text-is('Fustería Puig')")
    assert axe_violations(page) == []
    screenshot(page, f"{locale}-merge-preview")

    page.locator("button[value=merge]").click()
    page.wait_for_url(re.compile(rf".*/clients/{survivor['id']}/history.*"))
    page.wait_for_selector("form.unmerge")
    merged = api.get(f"{web.url}/api/v1/clients/{duplicate['id']}", timeout=10).json()
    assert merged["archived"] is True and merged["merged_into"] == survivor["id"]
    stored = api.get(f"{web.url}/api/v1/clients/{survivor['id']}", timeout=10).json()
    assert (stored["name"], stored["category"]) == ("Fustería Puig", "fusteria")
    assert axe_violations(page) == []
    screenshot(page, f"{locale}-history-merged")
    page.locator("nav.tabs a").first.click()
    page.wait_for_selector("[data-figure='invoices.draft']")
    expected = overview_matches_the_json(page, web, api, survivor["id"], locale)
    assert slice_amount(expected, "pending") == 350  # the duplicate's invoice moved here

    page.goto(f"{web.url}/clients/{survivor['id']}/history")
    page.locator("form.unmerge button").click()
    page.wait_for_selector("#client-main .alert.success")
    assert page.locator("form.unmerge").count() == 0
    restored = api.get(f"{web.url}/api/v1/clients/{duplicate['id']}", timeout=10).json()
    assert restored["archived"] is False
    stored = api.get(f"{web.url}/api/v1/clients/{survivor['id']}", timeout=10).json()
    assert (stored["name"], stored["category"]) == ("Fusteria Puig S.L.", None)
    page.locator("nav.tabs a").first.click()
    page.wait_for_selector("[data-figure='invoices.draft']")
    expected = overview_matches_the_json(page, web, api, survivor["id"], locale)
    assert slice_amount(expected, "pending") == 100  # and went back
    page.goto(f"{web.url}/duplicates")
    assert page.locator("section.duplicate-group").count() == 1  # a standing pair again
    context.close()
    assert dialogs == []


def test_a_merge_refused_says_why_on_the_page(browser, web):
    person = web.user(role="member")
    api = web.api(person.workspace)
    first = new_client(web, api, "Tallers Serra", email="info@serra.example")
    second = new_client(web, api, "Tallers Serra SL", email="info@serra.example")
    context, page, dialogs = open_page(browser, "es")
    sign_in(page, web, person)
    page.goto(f"{web.url}/duplicates/merge?ids={first['id']}&ids={second['id']}")
    page.wait_for_selector("table.merge-fields")
    api.post(f"{web.url}/api/v1/clients/{second['id']}/archive", timeout=10)
    page.locator("button[value=merge]").click()
    page.wait_for_selector("#merge-preview [role=alert]")
    assert api.get(f"{web.url}/api/v1/clients/{first['id']}",
                   timeout=10).json()["archived"] is False
    for query in ("ids=x", f"ids={first['id']}", "ids=00000000-0000-0000-0000-000000000000"
                  f"&ids={first['id']}"):
        answer = page.goto(f"{web.url}/duplicates/merge?{query}")
        assert answer.status in (400, 404), query
    session = requests_session(web, person)
    history = session.get(f"{web.url}/clients/{first['id']}/history", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', history).group(1)
    answer = session.post(f"{web.url}/clients/{first['id']}/unmerge",
                          data={"csrf_token": token, "merge_id": "nonsense"}, timeout=10)
    assert answer.status_code == 200 and answer.url.endswith("unmerge=unknown")
    assert 'role="alert"' in answer.text
    context.close()
    assert dialogs == []
