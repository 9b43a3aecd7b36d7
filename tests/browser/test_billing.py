"""Invoices, quotes and purchase orders in the web app, as a person in Spain or Catalonia
uses them: amounts typed in their language, each action answered within the page, and
the client's overview (its pie chart) moving as the JSON overview says."""
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest

from gateway.web import i18n
from tests.browser.billing_steps import (back_to_the_client, new_client, open_page,
                                         overview_matches_the_json, slice_amount)
from tests.browser.conftest import axe_violations, requests_session, screenshot, sign_in

TODAY = date.today()


def money(amount, locale="es"):
    return i18n.Formats(locale).money(Decimal(amount), "EUR")


def day(offset):
    return (TODAY + timedelta(days=offset)).isoformat()


@pytest.fixture
def person(web):
    return web.user(role="member")


def fill_line(page, row, description, quantity, unit_price, tax_rate):
    page.fill(f"#f-lines-{row}-description", description)
    page.fill(f"#f-lines-{row}-quantity", quantity)
    page.fill(f"#f-lines-{row}-unit_price", unit_price)
    page.fill(f"#f-lines-{row}-tax_rate", tax_rate)


def test_an_invoice_drafted_issued_paid_in_part_and_another_voided_in_spanish(browser, web,
                                                                             person):
    api = web.api(person.workspace)
    client = new_client(web, api, "Muebles Ñandú S.L.", country="ES")
    project = api.post(f"{web.url}/api/v1/projects", json={
        "name": "Catálogo 2027", "client_id": client["id"]}, timeout=10).json()
    context, page, dialogs = open_page(browser, "es")
    sign_in(page, web, person)
    page.goto(f"{web.url}/invoices/new?client_id={client['id']}")
    assert page.input_value("#f-client_id") == client["id"]
    page.select_option("#f-project_id", project["id"])
    page.fill("#f-due_date", day(30))
    fill_line(page, 0, "Diseño del catálogo", "2", "1.234.5", "21")  # ambiguous in Spanish
    fill_line(page, 1, "Horas de maquetación", "1,5", "80", "abc")
    page.locator("button[value=save]").click()
    page.wait_for_selector("#f-lines-0-unit_price-error")  # answered within the page (htmx)
    assert "1.234,56" in page.locator("#f-lines-0-unit_price-error").inner_text()
    assert "," in page.locator("#f-lines-0-unit_price-error").inner_text()
    assert page.locator("#f-lines-1-tax_rate-error").is_visible()
    assert page.input_value("#f-lines-0-unit_price") == "1.234.5"  # what was typed is kept
    assert page.input_value("#f-lines-1-quantity") == "1,5"
    assert page.locator("#f-lines-0-unit_price").get_attribute("aria-invalid") == "true"
    assert page.url.endswith(f"/invoices/new?client_id={client['id']}")
    assert axe_violations(page) == []
    screenshot(page, "es-invoice-form-error")
    page.fill("#f-lines-0-unit_price", "1.234,50")
    page.fill("#f-lines-1-tax_rate", "21")
    page.locator("button[value=save]").click()
    page.wait_for_selector("#document [data-status=draft]")
    invoice_id = re.search(r"/invoices/([0-9a-f-]{36})", page.url).group(1)
    stored = api.get(f"{web.url}/api/v1/invoices/{invoice_id}", timeout=10).json()
    assert [line["unit_price"] for line in stored["lines"]] == ["1234.50", "80.00"]
    assert [line["quantity"] for line in stored["lines"]] == ["2", "1.5"]
    assert stored["total"] == "3132.69" and stored["project_id"] == project["id"]
    assert page.locator("[data-total=total]").inner_text() == money("3132.69")
    assert axe_violations(page) == []
    screenshot(page, "es-invoice-draft")
    # Editing the draft shows its amounts as Spanish writes them and sends them back exactly.
    page.locator(f"a[href='/invoices/{invoice_id}/edit']").click()
    page.wait_for_selector("#f-lines-1-quantity")
    assert page.input_value("#f-lines-1-quantity") == "1,5"
    assert page.input_value("#f-lines-0-unit_price") == "1234,5"
    page.fill("#f-lines-0-description", "Diseño del catálogo de otoño")
    page.locator("button[value=save]").click()
    page.wait_for_selector("#document [role=status]")
    edited = api.get(f"{web.url}/api/v1/invoices/{invoice_id}", timeout=10).json()
    assert edited["lines"][0]["description"] == "Diseño del catálogo de otoño"
    assert [line["unit_price"] for line in edited["lines"]] == ["1234.50", "80.00"]
    assert edited["total"] == "3132.69" and edited["version"] == stored["version"] + 1

    back_to_the_client(page)
    expected = overview_matches_the_json(page, web, api, client["id"], "es")
    assert expected["invoices"]["draft"]["count"] == 1
    assert expected["chart"]["invoices"] == [] or slice_amount(expected, "pending") == 0

    page.goto(f"{web.url}/invoices/{invoice_id}")
    page.locator("form[action$='/issue'] button").click()
    page.wait_for_selector("#document [data-status=authorized]")
    number = api.get(f"{web.url}/api/v1/invoices/{invoice_id}", timeout=10).json()["number"]
    assert re.fullmatch(rf"{TODAY.year}-\d{{6}}", number)
    assert page.locator("[data-field=number]").inner_text() == number
    assert number in page.locator("#document [role=status]").inner_text()
    back_to_the_client(page)
    expected = overview_matches_the_json(page, web, api, client["id"], "es")
    assert slice_amount(expected, "pending") == Decimal("3132.69")

    page.goto(f"{web.url}/invoices/{invoice_id}")
    page.fill("#f-amount", "1.000.5")
    page.locator("form[action$='/payments'] button").click()
    page.wait_for_selector("#f-amount-error")
    assert page.input_value("#f-amount") == "1.000.5"
    page.fill("#f-amount", "1.000,50")
    page.locator("form[action$='/payments'] button").click()
    page.wait_for_selector(f"[data-total=paid]:text-is('{money('1000.50')}')")
    assert page.locator("[data-total=outstanding]").inner_text() == money("2132.19")
    assert page.locator("form[action$='/void']").count() == 0  # paid in part: no voiding
    assert axe_violations(page) == []
    screenshot(page, "es-invoice-paid-in-part")
    back_to_the_client(page)
    expected = overview_matches_the_json(page, web, api, client["id"], "es")
    assert slice_amount(expected, "pending") == Decimal("2132.19")

    # A second invoice, issued and then voided: its slice goes away again.
    page.goto(f"{web.url}/invoices/new?client_id={client['id']}")
    page.fill("#f-due_date", day(10))
    fill_line(page, 0, "Transporte", "1", "300", "21")
    page.locator("button[value=save]").click()
    page.wait_for_selector("#document [data-status=draft]")
    page.locator("form[action$='/issue'] button").click()
    page.wait_for_selector("#document [data-status=authorized]")
    back_to_the_client(page)
    expected = overview_matches_the_json(page, web, api, client["id"], "es")
    assert slice_amount(expected, "pending") == Decimal("2495.19")
    page.go_back()
    page.wait_for_selector("#document [data-status=authorized]")
    page.fill("#f-reason", "Duplicada")
    page.locator("form[action$='/void'] button").click()
    page.wait_for_selector("#document [data-status=void]")
    back_to_the_client(page)
    expected = overview_matches_the_json(page, web, api, client["id"], "es")
    assert slice_amount(expected, "pending") == Decimal("2132.19")
    assert axe_violations(page) == []

    page.goto(f"{web.url}/invoices")
    assert page.locator("table[data-list=invoices] tbody tr").count() == 2
    screenshot(page, "es-invoices")
    page.locator("nav.filter-links a[href='/invoices?status=void']").click()
    page.wait_for_selector("nav.filter-links a[aria-current][href='/invoices?status=void']")
    assert page.locator("table[data-list=invoices] tbody tr").count() == 1
    assert axe_violations(page) == []
    context.close()
    assert dialogs == []


def test_quotes_accepted_and_rejected_and_an_order_finalized_in_catalan(browser, web, person):
    api = web.api(person.workspace)
    client = new_client(web, api, "Fusteria Puig SCCL", country="ES")
    context, page, dialogs = open_page(browser, "ca")
    sign_in(page, web, person)
    quotes = []
    for total in ("1.500", "2.250,75"):
        page.goto(f"{web.url}/quotes/new?client_id={client['id']}")
        page.fill("#f-total", total)
        page.fill("#f-valid_until", day(20))
        page.locator("button[value=save]").click()
        page.wait_for_selector("#document [data-status=draft]")
        quotes.append(re.search(r"/quotes/([0-9a-f-]{36})", page.url).group(1))
        page.locator("form[action$='/send'] button").click()
        page.wait_for_selector("#document [data-status=sent]")
    assert api.get(f"{web.url}/api/v1/quotes/{quotes[1]}", timeout=10).json()["total"] == \
        "2250.75"
    assert axe_violations(page) == []
    screenshot(page, "ca-quote")
    page.locator("form[action$='/reject'] button").click()
    page.wait_for_selector("#document [data-status=rejected]")
    page.goto(f"{web.url}/quotes/{quotes[0]}")
    page.locator("form[action$='/accept'] button").click()
    page.wait_for_selector("#document [data-status=accepted]")
    back_to_the_client(page)
    expected = overview_matches_the_json(page, web, api, client["id"], "ca")
    assert expected["quotes"]["accepted"] == {"count": 1, "amount": {"EUR": "1500.00"}}

    page.goto(f"{web.url}/purchase-orders/new")
    page.fill("#f-client_q", "puig")  # the search narrows the list as one types (htmx)
    page.wait_for_selector(f"#f-client_id option[value='{client['id']}']", state="attached")
    page.select_option("#f-client_id", client["id"])
    page.fill("#f-total", "2.000,5.0")
    page.locator("button[value=save]").click()
    page.wait_for_selector("#f-total-error")
    assert axe_violations(page) == []
    screenshot(page, "ca-purchase-order-form-error")
    page.fill("#f-total", "2.000,50")
    page.locator("button[value=save]").click()
    page.wait_for_selector("#document [data-status=placed]")
    page.locator("form[action$='/finalize'] button").click()
    page.wait_for_selector("#document [data-status=finalized]")
    assert axe_violations(page) == []
    screenshot(page, "ca-purchase-order")
    back_to_the_client(page)
    expected = overview_matches_the_json(page, web, api, client["id"], "ca")
    assert expected["purchase_orders"]["finalized"] == {"count": 1,
                                                        "amount": {"EUR": "2000.50"}}
    for path, shot in (("/quotes", "ca-quotes"), ("/purchase-orders", "ca-purchase-orders"),
                       (f"/quotes/new?client_id={client['id']}", "ca-quote-form"),
                       (f"/invoices/new?client_id={client['id']}", "ca-invoice-form")):
        page.goto(f"{web.url}{path}")
        assert axe_violations(page) == [], path
        screenshot(page, shot)
    context.close()
    assert dialogs == []


def test_bad_input_answers_a_message_next_to_the_field_never_a_500(web, person):
    api = web.api(person.workspace)
    client = new_client(web, api, "Errores S.A.")
    session = requests_session(web, person)
    session.headers["Accept-Language"] = "es"
    page = session.get(f"{web.url}/invoices/new", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    cases = [
        ("/invoices/new", {"client_id": client["id"], "currency": "EUR",
                           "lines.0.description": "x", "lines.0.quantity": "1e5",
                           "lines.0.unit_price": "1", "lines.0.tax_rate": "21"},
         "f-lines-0-quantity-error"),
        ("/invoices/new", {"client_id": "not-an-id", "currency": "EUR",
                           "lines.0.description": "x", "lines.0.quantity": "1",
                           "lines.0.unit_price": "1", "lines.0.tax_rate": "21"},
         "f-client_id-error"),
        ("/invoices/new", {"client_id": client["id"], "currency": "XXX"}, "f-currency-error"),
        ("/invoices/new", {"client_id": client["id"], "currency": "EUR",
                           "issue_date": "2026-13-45"}, "f-issue_date-error"),
        ("/invoices/new", {"client_id": client["id"], "currency": "EUR",
                           "issue_date": day(5), "due_date": day(0)}, "f-due_date-error"),
        ("/invoices/new", {"client_id": client["id"], "currency": "EUR",
                           "lines.3.description": "x", "lines.3.quantity": "-1",
                           "lines.3.unit_price": "1", "lines.3.tax_rate": "150"},
         "f-lines-3-quantity-error"),
        ("/invoices/new", {"currency": "EUR"}, "f-client_id-error"),
        ("/invoices/new", {"client_id": client["id"], "currency": "EUR",
                           "lines.1.description": "nul\x00", "lines.1.quantity": "1",
                           "lines.1.unit_price": "1", "lines.1.tax_rate": "21"},
         "f-lines-1-description-error"),
        ("/quotes/new", {"client_id": client["id"], "currency": "EUR", "total": "mil",
                         "valid_until": day(3)}, "f-total-error"),
        ("/quotes/new", {"client_id": client["id"], "currency": "EUR", "total": "-5",
                         "valid_until": day(3)}, "f-total-error"),
        ("/purchase-orders/new", {"client_id": client["id"], "currency": "JPY",
                                  "total": "10,5", "date": day(0)}, "f-total-error"),
        ("/purchase-orders/new", {"client_id": client["id"], "currency": "EUR",
                                  "total": "10", "date": ""}, "f-date-error"),
    ]
    for path, form, error_id in cases:
        answer = session.post(f"{web.url}{path}", data={"csrf_token": token, **form},
                              timeout=15, allow_redirects=False)
        assert answer.status_code == 422, (path, form, answer.status_code)
        assert f'id="{error_id}"' in answer.text, (path, form)
    invoice = api.post(f"{web.url}/api/v1/invoices", json={
        "client_id": client["id"], "currency": "EUR", "lines": [
            {"description": "x", "quantity": "1", "unit_price": "10", "tax_rate": "0"}]},
        timeout=10).json()
    answer = session.post(f"{web.url}/invoices/{invoice['id']}/payments",
                          data={"csrf_token": token, "amount": "5", "date": day(0)}, timeout=10)
    assert answer.status_code == 409 and 'role="alert"' in answer.text  # a draft takes none
    api.post(f"{web.url}/api/v1/invoices/{invoice['id']}/issue", json={}, timeout=10)
    for amount, status in (("cinco", 422), ("50", 422), ("1.5", 422)):
        answer = session.post(f"{web.url}/invoices/{invoice['id']}/payments",
                              data={"csrf_token": token, "amount": amount, "date": day(0)},
                              timeout=10)
        assert answer.status_code == status and 'id="f-amount-error"' in answer.text, amount
    answer = session.post(f"{web.url}/invoices/{invoice['id']}/void",
                          data={"csrf_token": token, "reason": "x\x00"}, timeout=10)
    assert answer.status_code == 422 and 'id="f-reason-error"' in answer.text
    answer = session.post(f"{web.url}/invoices/{invoice['id']}/issue",
                          data={"csrf_token": token}, timeout=10)
    assert answer.status_code == 409  # issued already: said on the page
    assert session.post(f"{web.url}/invoices/{invoice['id']}/void", data={},
                        timeout=10).status_code == 403  # no CSRF token
    other = web.api("another-ws").post(f"{web.url}/api/v1/clients", json={"name": "Ajeno"},
                                        timeout=10).json()
    foreign = web.api("another-ws").post(f"{web.url}/api/v1/invoices", json={
        "client_id": other["id"], "currency": "EUR"}, timeout=10).json()
    for path in (f"/invoices/{foreign['id']}", f"/invoices/{foreign['id']}/edit",
                 "/invoices/not-an-id", "/quotes/00000000-0000-0000-0000-000000000000"):
        assert session.get(f"{web.url}{path}", timeout=10).status_code == 404, path
    answer = session.post(f"{web.url}/invoices/{foreign['id']}/void",
                          data={"csrf_token": token}, timeout=10)
    assert answer.status_code == 404
    answer = session.get(f"{web.url}/invoices?status=nonsense&client_id=zzz&cursor=bad",
                         timeout=10)
    assert answer.status_code == 200 and "Ajeno" not in answer.text
    for path in ("/billing/client-options?client_q=%00&client_id=%00",
                 f"/billing/project-options?client_id={other['id']}", "/quotes?cursor=%00",
                 "/duplicates?cursor=%00"):
        answer = session.get(f"{web.url}{path}", timeout=10)
        assert answer.status_code in (200, 400) and "Ajeno" not in answer.text, path
    viewer = requests_session(web, web.user(person.workspace, role="viewer"))
    assert viewer.get(f"{web.url}/invoices/new", timeout=10).status_code == 403
    seen = viewer.get(f"{web.url}/invoices/{invoice['id']}", timeout=10)
    assert seen.status_code == 200 and "/payments" not in seen.text  # reads, no actions
    own_token = re.search(r'name="csrf_token" value="([^"]+)"', seen.text).group(1)
    assert viewer.post(f"{web.url}/invoices/{invoice['id']}/void",
                       data={"csrf_token": own_token}, timeout=10).status_code == 403
    assert api.get(f"{web.url}/api/v1/invoices/{invoice['id']}",
                   timeout=10).json()["status"] == "authorized"


@pytest.fixture(scope="module")
def documents(web):
    """A workspace with one document of each kind in each state that has its own actions,
    and a pair of likely duplicates."""
    person = web.user(role="member")
    api = web.api(person.workspace)
    client = new_client(web, api, "Estudi Rovira SCP", email="hola@rovira.example")
    new_client(web, api, "Estudi Rovira", email="hola@rovira.example")
    line = {"description": "Disseny", "quantity": "1", "unit_price": "900", "tax_rate": "21"}

    def post(path, body):
        answer = api.post(f"{web.url}/api/v1/{path}", json=body, timeout=10)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    draft = post("invoices", {"client_id": client["id"], "currency": "EUR", "lines": [line]})
    issued = post("invoices", {"client_id": client["id"], "currency": "EUR", "lines": [line]})
    post(f"invoices/{issued['id']}/issue", {})
    quote = post("quotes", {"client_id": client["id"], "currency": "EUR", "total": "10",
                            "valid_until": day(9)})
    post(f"quotes/{quote['id']}/send", {})
    order = post("purchase-orders", {"client_id": client["id"], "currency": "EUR",
                                     "total": "10", "date": day(0)})
    return {"person": person, "client": client, "draft": draft, "issued": issued,
            "quote": quote, "order": order}


@pytest.mark.parametrize("locale", ["es", "pt_PT", "pt_BR", "ca"])
def test_every_billing_and_duplicates_screen_speaks_the_language(browser, web, documents,
                                                                 locale):
    english = {message.id for message in i18n.load_catalog(locale)
               if isinstance(message.id, str) and " " in message.id
               and message.string and message.string != message.id}
    context, page, dialogs = open_page(browser, locale)
    sign_in(page, web, documents["person"])
    client_id = documents["client"]["id"]
    draft = documents["draft"]["id"]
    screens = ["/invoices", "/invoices?status=authorized", f"/invoices/new?client_id={client_id}",
               f"/invoices/{draft}", f"/invoices/{draft}/edit",
               f"/invoices/{documents['issued']['id']}", "/quotes", "/quotes/new",
               f"/quotes/{documents['quote']['id']}", "/purchase-orders", "/purchase-orders/new",
               f"/purchase-orders/{documents['order']['id']}", "/duplicates",
               f"/clients/{client_id}/documents", f"/clients/{client_id}/offers"]
    for path in screens:
        page.goto(f"{web.url}{path}")
        assert page.locator("html").get_attribute("lang") == locale.replace("_", "-")
        text = page.locator("body").inner_text()
        left = sorted(phrase for phrase in english if phrase in text)
        assert left == [], f"{path} in {locale} still shows {left}"
    page.goto(f"{web.url}/duplicates")
    page.locator("section.duplicate-group a.button").first.click()
    page.wait_for_selector("table.merge-fields")
    text = page.locator("body").inner_text()
    assert sorted(phrase for phrase in english if phrase in text) == []
    if locale == "pt_BR":
        assert axe_violations(page) == []
        screenshot(page, "pt_BR-merge-preview")
        page.goto(f"{web.url}/invoices/{documents['issued']['id']}")
        screenshot(page, "pt_BR-invoice")
    context.close()
    assert dialogs == []


def test_a_form_sent_twice_creates_one_document(web, person):
    api = web.api(person.workspace)
    client = new_client(web, api, "Doble Clic S.L.")
    session = requests_session(web, person)
    for path, fields, listing in (
            ("/quotes/new", {"total": "10", "valid_until": day(3)}, "quotes"),
            ("/invoices/new", {"lines.0.description": "x", "lines.0.quantity": "1",
                               "lines.0.unit_price": "5", "lines.0.tax_rate": "0"},
             "invoices")):
        form = session.get(f"{web.url}{path}?client_id={client['id']}", timeout=10).text
        hidden = dict(re.findall(r'name="(csrf_token|form_id)" value="([^"]+)"', form))
        body = {**hidden, "client_id": client["id"], "currency": "EUR", **fields}
        answers = [session.post(f"{web.url}{path}", data=body, allow_redirects=False,
                                timeout=15) for _ in range(2)]
        assert [answer.status_code for answer in answers] == [303, 303]
        locations = {answer.headers["Location"].split("?")[0] for answer in answers}
        assert len(locations) == 1
        found = api.get(f"{web.url}/api/v1/{listing}", params={"client_id": client["id"]},
                        timeout=10).json()["items"]
        assert len(found) == 1, listing
